import type {Kube} from '../kube/client.js'
import {listCompositions, listXrds, type Composition, type Schema, type Xrd} from '../kube/crossplane.js'
import {UsageError} from '../errors.js'

/** Annotations and labels a platform team puts on its XRDs and Compositions (platform-kit/README.md). */
export const ADDON = {
  label: 'kplat.dev/addon',
  name: 'kplat.dev/addon-name',
  description: 'kplat.dev/description',
  keys: 'kplat.dev/connection-secret-keys',
  plan: 'kplat.dev/plan',
} as const

/**
 * What an app can be given. `namespaced` is a Crossplane v2 XR created in the app's namespace;
 * `claim` a v1 claim there (the XR is cluster-scoped); `cluster` a cluster-scoped XR, which
 * an app cannot own, listed so that nobody wonders where it went.
 */
export type Shape = 'namespaced' | 'claim' | 'cluster'

export interface AddonParameter {
  name: string
  type: string
  description?: string
  enum?: unknown[]
  default?: unknown
  required: boolean
}

export interface AddonService {
  name: string
  /** The kind kplat creates: the v2 XR's, or the v1 claim's. */
  kind: string
  plural: string
  apiVersion: string
  shape: Shape
  description: string
  parameters: AddonParameter[]
  /** The connection Secret's keys: the env vars an app gets, when the XRD says. */
  envVars: string[]
  /** Where the parameters go in the instance's spec. */
  parametersAt: 'spec' | 'spec.parameters'
  /** The XRD carries kplat's label (an XRD without it, as in the KubeCon talk, is offered too). */
  labelled: boolean
  xrd: string
}

export interface AddonPlan {
  name: string
  composition: string
  default: boolean
  provider?: string
  description?: string
}

// Fields Crossplane reserves in an XR's or claim's spec: not the developer's to set.
const RESERVED = new Set([
  'crossplane',
  'compositionRef',
  'compositionSelector',
  'compositionRevisionRef',
  'compositionRevisionSelector',
  'compositionUpdatePolicy',
  'compositeDeletePolicy',
  'resourceRef',
  'resourceRefs',
  'claimRef',
  'writeConnectionSecretToRef',
  'publishConnectionDetailsTo',
])

/** The version kplat creates instances of: the referenceable one, else the first served. */
function versionOf(xrd: Xrd): Xrd['spec']['versions'][number] | undefined {
  const {versions} = xrd.spec
  return versions.find((v) => v.referenceable) ?? versions.find((v) => v.served !== false) ?? versions[0]
}

/**
 * The schema of an instance's spec, and of the part of it that holds the parameters: many
 * XRDs (the v1 ones of the KubeCon talk among them) put what the developer chooses under
 * spec.parameters, the others straight under spec.
 */
export function schemasOf(xrd: Xrd): {spec?: Schema; parameters?: Schema; at: 'spec' | 'spec.parameters'} {
  const spec = versionOf(xrd)?.schema?.openAPIV3Schema?.properties?.spec
  const nested = spec?.properties?.parameters
  return nested?.type === 'object' && nested.properties
    ? {spec, parameters: nested, at: 'spec.parameters'}
    : {spec, parameters: spec, at: 'spec'}
}

export function toService(xrd: Xrd): AddonService {
  const {spec, metadata} = xrd
  // Read through the v2 API every XRD has a scope (a v1 one is LegacyCluster); through v1 none has.
  const shape: Shape = spec.claimNames ? 'claim' : spec.scope === 'Namespaced' ? 'namespaced' : 'cluster'
  const kind = spec.claimNames?.kind ?? spec.names.kind
  const version = versionOf(xrd)
  const schema = version?.schema?.openAPIV3Schema
  const {parameters: holder, at} = schemasOf(xrd)
  const required = new Set(holder?.required ?? [])
  const parameters = Object.entries(holder?.properties ?? {})
    .filter(([name]) => !RESERVED.has(name))
    .map(([name, p]) => ({
      name,
      type: p.type ?? 'object',
      description: p.description,
      enum: p.enum,
      default: p.default,
      required: required.has(name),
    }))
  const keys = spec.connectionSecretKeys?.length
    ? spec.connectionSecretKeys
    : (metadata.annotations?.[ADDON.keys] ?? '')
        .split(',')
        .map((k) => k.trim())
        .filter(Boolean)
  return {
    name: metadata.annotations?.[ADDON.name] ?? kind.toLowerCase(),
    kind,
    plural: spec.claimNames?.plural ?? spec.names.plural,
    apiVersion: `${spec.group}/${version?.name ?? 'v1'}`,
    shape,
    description: metadata.annotations?.[ADDON.description] ?? schema?.description ?? '',
    parameters,
    envVars: keys,
    parametersAt: at,
    labelled: metadata.labels?.[ADDON.label] === 'true',
    xrd: metadata.name,
  }
}

/** The add-on types the cluster offers, discovered from its XRDs, by name. */
export async function listServices(kube: Kube): Promise<AddonService[]> {
  const xrds = await listXrds(kube)
  return xrds.map(toService).sort((a, b) => a.name.localeCompare(b.name))
}

/** One service by the name a developer types; an unknown one lists those there are. */
export async function findService(kube: Kube, name: string): Promise<{service: AddonService; xrd: Xrd}> {
  const all = (await listXrds(kube)).map((xrd) => ({xrd, service: toService(xrd)}))
  const named = all.filter((s) => s.service.name === name)
  if (named.length > 1) {
    throw new UsageError(
      `several add-on services are named "${name}" (XRDs ${named.map((s) => s.xrd.metadata.name).join(', ')})`,
      `Ask your platform team to tell them apart with the ${ADDON.name} annotation`,
    )
  }

  if (named.length === 0) {
    const offered = all.map((s) => s.service.name).sort()
    throw new UsageError(
      `no add-on service named "${name}" in this cluster`,
      offered.length > 0
        ? `Services offered: ${offered.join(', ')} (\`kplat addons:services\` describes them)`
        : 'This cluster offers none yet: ask your platform team to install some (Crossplane XRDs)',
    )
  }

  return named[0]
}

/**
 * The Compositions that can back a service: Heroku's plans. A plan's name is the
 * Composition's kplat.dev/plan label, else its name less the XR's plural (gcsbuckets-gcp: gcp).
 */
export async function listPlans(kube: Kube, serviceName: string): Promise<{service: AddonService; plans: AddonPlan[]}> {
  const {service, xrd} = await findService(kube, serviceName)
  return {service, plans: await plansOf(kube, xrd)}
}

/** The default plan first, then by name. */
export async function plansOf(kube: Kube, xrd: Xrd): Promise<AddonPlan[]> {
  const compositions = await listCompositions(kube, xrd.spec.group, xrd.spec.names.kind)
  return compositions
    .map((c) => toPlan(c, xrd))
    .sort((a, b) => Number(b.default) - Number(a.default) || a.name.localeCompare(b.name))
}

function toPlan(c: Composition, xrd: Xrd): AddonPlan {
  return {
    name: c.metadata.labels?.[ADDON.plan] ?? planName(c.metadata.name, xrd),
    composition: c.metadata.name,
    default: xrd.spec.defaultCompositionRef?.name === c.metadata.name,
    provider: c.metadata.labels?.provider,
    description: c.metadata.annotations?.[ADDON.description],
  }
}

/** A Composition's name as a plan's: less the XR's plural (gcsbuckets-gcp is gcp). */
export function planName(composition: string, xrd: Xrd): string {
  const prefix = `${xrd.spec.names.plural}-`
  return composition.startsWith(prefix) ? composition.slice(prefix.length) : composition
}

/** "enum EU|US, default EU, required": a parameter in one cell. */
export function describeParameter(p: AddonParameter): string {
  const parts = [p.type]
  if (p.enum) parts.push(`one of ${p.enum.map(String).join('|')}`)
  if (p.default !== undefined)
    parts.push(`default ${typeof p.default === 'object' ? JSON.stringify(p.default) : String(p.default)}`)
  if (p.required) parts.push('required')
  return parts.join(', ')
}
