import {Validator} from '@cfworker/json-schema'
import * as k8s from '../kube/k8s.js'
import {isOurs, LABELS, type Application} from '../kube/argocd.js'
import {apply, findApplication} from '../kube/argocd-apps.js'
import type {Kube} from '../kube/client.js'
import {listCompositions, listXrds, type Composition, type Schema, type Xrd} from '../kube/crossplane.js'
import {kubeError} from '../kube/errors.js'
import {waitFor} from '../kube/wait.js'
import {coerce, parseParams, schemaProblem} from '../skeleton/parameters.js'
import type {ParameterSchema} from '../skeleton/template.js'
import type {Output} from '../ui/output.js'
import {KplatError, UsageError} from '../ui/errors.js'
import {getApp} from './apps.js'
import type {PlatformSettings} from './settings.js'

/** Annotations and labels a platform team puts on its XRDs and Compositions (platform/README.md). */
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
const RESERVED = new Set(['crossplane', 'compositionRef', 'compositionSelector', 'compositionRevisionRef', 'compositionRevisionSelector',
  'compositionUpdatePolicy', 'compositeDeletePolicy', 'resourceRef', 'resourceRefs', 'claimRef', 'writeConnectionSecretToRef', 'publishConnectionDetailsTo'])

export function toService(xrd: Xrd): AddonService {
  const {spec, metadata} = xrd
  // Read through the v2 API every XRD has a scope (a v1 one is LegacyCluster); through v1 none has.
  const shape: Shape = spec.claimNames ? 'claim' : spec.scope === 'Namespaced' ? 'namespaced' : 'cluster'
  const kind = spec.claimNames?.kind ?? spec.names.kind
  const version = spec.versions.find((v) => v.referenceable) ?? spec.versions.find((v) => v.served !== false) ?? spec.versions[0]
  const schema = version?.schema?.openAPIV3Schema
  const specSchema = schema?.properties?.spec
  // Many XRDs (the v1 ones of the KubeCon talk among them) put what the developer chooses
  // under spec.parameters; the others straight under spec.
  const nested = specSchema?.properties?.parameters
  const holder = nested?.type === 'object' && nested.properties ? nested : specSchema
  const required = new Set(holder?.required ?? [])
  const parameters = Object.entries(holder?.properties ?? {})
    .filter(([name]) => !RESERVED.has(name))
    .map(([name, p]) => ({name, type: p.type ?? 'object', description: p.description, enum: p.enum, default: p.default, required: required.has(name)}))
  const keys = spec.connectionSecretKeys?.length ? spec.connectionSecretKeys : (metadata.annotations?.[ADDON.keys] ?? '').split(',').map((k) => k.trim()).filter(Boolean)
  return {
    name: metadata.annotations?.[ADDON.name] ?? kind.toLowerCase(),
    kind,
    plural: spec.claimNames?.plural ?? spec.names.plural,
    apiVersion: `${spec.group}/${version?.name ?? 'v1'}`,
    shape,
    description: metadata.annotations?.[ADDON.description] ?? schema?.description ?? '',
    parameters,
    envVars: keys,
    parametersAt: holder === nested ? 'spec.parameters' : 'spec',
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
  const xrds = await listXrds(kube)
  const named = xrds.filter((x) => toService(x).name === name)
  if (named.length > 1) {
    throw new UsageError(`several add-on services are named "${name}" (XRDs ${named.map((x) => x.metadata.name).join(', ')})`,
      `Ask your platform team to tell them apart with the ${ADDON.name} annotation`)
  }

  const xrd = named[0]
  if (!xrd) {
    const offered = xrds.map((x) => toService(x).name).sort()
    throw new UsageError(`no add-on service named "${name}" in this cluster`, offered.length > 0
      ? `Services offered: ${offered.join(', ')} (\`kplat addons:services\` describes them)`
      : 'This cluster offers none yet: ask your platform team to install some (Crossplane XRDs)')
  }

  return {service: toService(xrd), xrd}
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
async function plansOf(kube: Kube, xrd: Xrd): Promise<AddonPlan[]> {
  const compositions = await listCompositions(kube, xrd.spec.group, xrd.spec.names.kind)
  return compositions.map((c) => toPlan(c, xrd)).sort((a, b) => Number(b.default) - Number(a.default) || a.name.localeCompare(b.name))
}

function toPlan(c: Composition, xrd: Xrd): AddonPlan {
  const prefix = `${xrd.spec.names.plural}-`
  const name = c.metadata.labels?.[ADDON.plan] ?? (c.metadata.name.startsWith(prefix) ? c.metadata.name.slice(prefix.length) : c.metadata.name)
  return {
    name,
    composition: c.metadata.name,
    default: xrd.spec.defaultCompositionRef?.name === c.metadata.name,
    provider: c.metadata.labels?.provider,
    description: c.metadata.annotations?.[ADDON.description],
  }
}

/** "enum EU|US, default EU, required": a parameter in one cell. */
export function describeParameter(p: AddonParameter): string {
  const parts = [p.type]
  if (p.enum) parts.push(`one of ${p.enum.map(String).join('|')}`)
  if (p.default !== undefined) parts.push(`default ${typeof p.default === 'object' ? JSON.stringify(p.default) : String(p.default)}`)
  if (p.required) parts.push('required')
  return parts.join(', ')
}

export interface CreateAddonOptions {
  app: string
  /** SERVICE or SERVICE:PLAN, as typed. */
  service: string
  name?: string
  /** Env var prefix: with DB, the key PGHOST reaches the app as DB_PGHOST. */
  as?: string
  params: string[]
  wait: boolean
  timeoutMs: number
}

export interface AddonResult {
  name: string
  app: string
  service: string
  plan?: string
  kind: string
  namespace: string
  /** The connection Secret, in the app's namespace: its keys, never its values, are shown. */
  secret: string
  /** The env vars the app's processes get. */
  envVars: string[]
  state: 'ready' | 'provisioning'
}

/** The binding of one add-on, as the app's chart reads it from `.Values.kplat.addons`. */
export interface Binding {
  name: string
  secret: string
  prefix?: string
}

export const ADDON_LABEL = 'kplat.dev/addon-service'
/** The Application's binding values have a manager of their own, so a rerun of create (which applies the whole Application as `kplat`) leaves them alone. */
const BINDING_MANAGER = 'kplat-addons'
const NAME = /^[a-z]([a-z0-9-]{0,51}[a-z0-9])?$/
const PREFIX = /^[A-Z][A-Z0-9_]*$/

/**
 * Creates an add-on for an app, Heroku's addons:create: checks everything it can before
 * anything exists, creates the XR (or claim) in the app's namespace, waits until Crossplane
 * says it is Ready, and binds its connection Secret to the app. Running it again finishes
 * the job.
 */
export async function createAddon(kube: Kube, settings: PlatformSettings, out: Output, opts: CreateAddonOptions): Promise<AddonResult> {
  const [serviceName, planName] = opts.service.split(':', 2)
  if (opts.as !== undefined && !PREFIX.test(opts.as)) throw new UsageError(`--as "${opts.as}" is not an env var prefix`, 'Use capital letters, digits and underscores, starting with a letter: --as DB')
  const [{service, xrd}, app] = await Promise.all([findService(kube, serviceName), getApp(kube, settings, opts.app)])
  if (service.shape === 'cluster') {
    throw new UsageError(`${service.name} makes cluster-scoped resources (${xrd.metadata.name}), which an app cannot own`, 'Ask your platform team for a namespaced XRD (Crossplane v2) or a claim')
  }

  const spec = schemaOf(xrd)
  const parameters = validateParameters(service, spec, parseParams(opts.params))
  const plan = planName === undefined ? undefined : await findPlan(kube, service, xrd, planName)
  const name = opts.name ?? `${opts.app}-${service.name}`
  if (!NAME.test(name)) throw new UsageError(`invalid add-on name "${name}"`, 'Use lowercase letters, digits and dashes, starting with a letter, at most 53: --name NAME')
  const namespace = app.namespace ?? opts.app
  const secret = `${name}-connection`
  const ref = {apiVersion: service.apiVersion, kind: service.kind, metadata: {name, namespace}}

  const [existing] = await Promise.all([findInstance(kube, service, namespace, name), checkNamespace(kube, namespace, opts.app)])
  if (existing && !(isOurs(existing, opts.app) && existing.metadata?.labels?.[ADDON_LABEL] === service.name)) {
    throw new KplatError(`the name "${name}" is taken: a ${service.kind} ${namespace}/${name} exists that kplat did not create for ${opts.app}`, {hint: 'Pick another name with --name NAME'})
  }

  if (!existing) {
    const labels = {[LABELS.managedBy]: 'kplat', [LABELS.app]: opts.app, [ADDON_LABEL]: service.name}
    const instanceSpec: Record<string, unknown> = service.parametersAt === 'spec.parameters' ? {parameters} : {...parameters}
    // A v1 claim always names its Secret; a v2 XR does when its XRD lets it (function-patch-
    // and-transform names it <name>-connection otherwise, the same name).
    if (service.shape === 'claim' || spec?.properties?.writeConnectionSecretToRef) instanceSpec.writeConnectionSecretToRef = {name: secret}
    if (plan) Object.assign(instanceSpec, service.shape === 'claim' ? {compositionRef: {name: plan.composition}} : {crossplane: {compositionRef: {name: plan.composition}}})
    await out.step(`Creating ${service.name}${plan ? `:${plan.name}` : ''} ${name} for ${opts.app}`, () =>
      apply(kube, {...ref, metadata: {...ref.metadata, labels}, spec: instanceSpec} as never))
  }

  const result: AddonResult = {name, app: opts.app, service: service.name, plan: plan?.name, kind: service.kind, namespace, secret,
    envVars: service.envVars.map((k) => `${opts.as ? `${opts.as}_` : ''}${k}`), state: 'provisioning'}
  if (!opts.wait) return result

  await out.step(`Waiting for ${name} to be ready`, (update) => waitForReady(kube, service, namespace, name, {timeoutMs: opts.timeoutMs, onStatus: update}))
  result.state = 'ready'
  const bindings = await out.step(`Binding ${name} to ${opts.app}`, () => bind(kube, settings, opts.app, {name, secret, ...(opts.as ? {prefix: `${opts.as}_`} : {})}))
  await out.step(`Restarting ${opts.app} with ${name}'s env vars`, (update) =>
    waitForBindings(kube, settings, opts.app, bindings, {timeoutMs: opts.timeoutMs, onStatus: update}))
  if (!(await chartReads(kube, namespace, secret))) {
    out.warn(`${opts.app}'s chart does not read kplat.addons, so ${name}'s env vars do not reach its processes. Its Deployments need envFrom from .Values.kplat.addons: see "The chart contract" in kplat's README`)
  }

  return result
}

/** Waits until Argo CD has deployed exactly these bindings and the app is Healthy again: the one restart. */
async function waitForBindings(kube: Kube, settings: PlatformSettings, app: string, bindings: Binding[], opts: {timeoutMs: number; onStatus: (s: string) => void}): Promise<void> {
  // Compared field by field: the API server gives the values back with their keys sorted.
  const key = (list: Binding[]) => list.map((b) => `${b.name}|${b.secret}|${b.prefix ?? ''}`).join(',')
  const want = key(bindings)
  let last = ''
  await waitFor(kube, {apiVersion: 'argoproj.io/v1alpha1', kind: 'Application', plural: 'applications', namespace: settings.argocdNamespace, name: app}, (object) => {
    const application = object as (Application & {status?: {sync?: {comparedTo?: {source?: Application['spec']['source']}}}}) | undefined
    if (!application) return undefined
    const compared = application.status?.sync?.comparedTo?.source as {helm?: {valuesObject?: {kplat?: {addons?: Binding[]}}}} | undefined
    const deployed = key(compared?.helm?.valuesObject?.kplat?.addons ?? [])
    const status = `sync ${application.status?.sync?.status ?? 'Unknown'}, health ${application.status?.health?.status ?? 'Unknown'}`
    if (status !== last) opts.onStatus(status)
    last = status
    return deployed === want && application.status?.sync?.status === 'Synced' && application.status.health?.status === 'Healthy' ? true : undefined
  }, {timeoutMs: opts.timeoutMs})
}

/** Whether any Deployment of the app takes the Secret as env vars: the chart meets kplat's contract. */
async function chartReads(kube: Kube, namespace: string, secret: string): Promise<boolean> {
  try {
    const deployments = await kube.api(k8s.AppsV1Api).listNamespacedDeployment({namespace})
    return deployments.items.some((d) => (d.spec?.template.spec?.containers ?? []).some((c) => (c.envFrom ?? []).some((e) => e.secretRef?.name === secret)))
  } catch {
    // Not allowed to look: nothing to warn about.
    return true
  }
}

/** The app's namespace exists once Argo CD first deployed the app; an add-on needs it. */
async function checkNamespace(kube: Kube, namespace: string, app: string): Promise<void> {
  try {
    await kube.api(k8s.CoreV1Api).readNamespace({name: namespace})
  } catch (error) {
    const code = (error as {code?: number}).code
    // A developer may not be allowed to read namespaces; then creating the add-on will tell.
    if (code === 403) return
    if (code === 404) throw new KplatError(`the app's namespace ${namespace} does not exist yet: Argo CD creates it when it first deploys ${app}`, {hint: `Wait for the first deploy (\`kplat apps:info --app ${app}\`), then run this again`})
    throw kubeError(error, {verb: 'get', resource: 'namespaces', server: kube.config.getCurrentCluster()?.server})
  }
}

function schemaOf(xrd: Xrd): Schema | undefined {
  const version = xrd.spec.versions.find((v) => v.referenceable) ?? xrd.spec.versions[0]
  return version?.schema?.openAPIV3Schema?.properties?.spec
}

/** --param values against the XRD's own schema, before anything exists. */
function validateParameters(service: AddonService, spec: Schema | undefined, given: Record<string, string>): Record<string, unknown> {
  const holder = service.parametersAt === 'spec.parameters' ? spec?.properties?.parameters : spec
  const known = new Map(service.parameters.map((p) => [p.name, p]))
  const values: Record<string, unknown> = {}
  for (const [key, raw] of Object.entries(given)) {
    const parameter = known.get(key)
    if (!parameter) throw new UsageError(`${service.name} has no parameter "${key}"`, `Its parameters: ${[...known.keys()].join(', ') || 'none'} (\`kplat addons:services\`)`)
    const schema = holder!.properties![key]
    const value = coerce(raw, parameter.type)
    const {valid, errors} = new Validator(schema as Record<string, unknown>, '2020-12', false).validate(value)
    if (!valid) throw new UsageError(`${service.name} parameter "${key}" ${schemaProblem(schema as ParameterSchema, errors)}`, `Pass --param ${key}=VALUE`)
    values[key] = value
  }

  for (const p of service.parameters) {
    if (p.required && p.default === undefined && !(p.name in values)) throw new UsageError(`${service.name} parameter "${p.name}" is required`, `Pass --param ${p.name}=VALUE`)
  }

  return values
}

async function findPlan(kube: Kube, service: AddonService, xrd: Xrd, name: string): Promise<AddonPlan> {
  const plans = await plansOf(kube, xrd)
  const plan = plans.find((p) => p.name === name)
  if (!plan) throw new UsageError(`${service.name} has no plan "${name}"`, `Its plans: ${plans.map((p) => `${service.name}:${p.name}`).join(', ') || 'none'}`)
  return plan
}

function instanceTarget(service: AddonService, namespace: string, name: string) {
  return {apiVersion: service.apiVersion, kind: service.kind, plural: service.plural, namespace, name}
}

async function findInstance(kube: Kube, service: AddonService, namespace: string, name: string): Promise<Instance | undefined> {
  const [group, version] = service.apiVersion.split('/')
  try {
    return await kube.api(k8s.CustomObjectsApi).getNamespacedCustomObject({group, version, plural: service.plural, namespace, name}) as Instance
  } catch (error) {
    if ((error as {code?: number}).code === 404) return undefined
    throw kubeError(error, {verb: 'get', resource: `${service.plural}.${group}`, namespace})
  }
}

interface Instance extends k8s.KubernetesObject {
  status?: {conditions?: Array<{type: string; status: string; reason?: string; message?: string}>}
}

/** Waits, with a watch, for Synced and Ready; a Synced=False is a failure with Crossplane's own message. */
async function waitForReady(kube: Kube, service: AddonService, namespace: string, name: string, opts: {timeoutMs: number; onStatus: (s: string) => void}): Promise<void> {
  let last = ''
  let notReady = 'no Ready condition yet'
  let seen: ComposedBy | undefined
  let failed: string | undefined
  try {
    await waitFor(kube, instanceTarget(service, namespace, name), (object) => {
      seen = object as ComposedBy | undefined
      const conditions = seen?.status?.conditions ?? []
      const synced = conditions.find((c) => c.type === 'Synced')
      const ready = conditions.find((c) => c.type === 'Ready')
      if (synced?.status === 'False') {
        failed = synced.message ?? synced.reason ?? 'Synced is False'
        return true
      }

      notReady = ready ? `${ready.reason ?? ready.status}${ready.message ? `: ${ready.message}` : ''}` : 'no Ready condition yet'
      const status = `Synced ${synced?.status ?? 'Unknown'}, Ready ${notReady}`
      if (status !== last) opts.onStatus(status)
      last = status
      return ready?.status === 'True' ? true : undefined
    }, {timeoutMs: opts.timeoutMs})
  } catch (error) {
    if (error instanceof KplatError && /timed out/.test(error.message)) {
      throw new KplatError(`timed out after ${Math.round(opts.timeoutMs / 1000)}s waiting for ${name} to be ready (${notReady})${await firstFailing(kube, seen, namespace)}`, {hint: 'Run the same command again to keep waiting, with a longer --timeout if provisioning is slow'})
    }

    throw error
  }

  if (failed !== undefined) {
    throw new KplatError(`provisioning ${name} failed: ${failed}${await firstFailing(kube, seen, namespace)}`, {hint: `Fix it with your platform team, then rerun; \`kplat addons:destroy ${name}\` removes it`})
  }
}

/**
 * Binds an add-on to the app: its Secret joins the list the app's chart turns into envFrom
 * (`.Values.kplat.addons`), kept in the Argo CD Application's Helm values. The Application is
 * the desired state, so self-heal keeps the binding and a git push cannot drop it; a changed
 * list changes the pod template, so the app restarts once.
 */
export async function bind(kube: Kube, settings: PlatformSettings, app: string, binding: Binding): Promise<Binding[]> {
  return setBindings(kube, settings, app, (current) => [...current.filter((b) => b.name !== binding.name), binding])
}

export async function unbind(kube: Kube, settings: PlatformSettings, app: string, name: string): Promise<Binding[]> {
  return setBindings(kube, settings, app, (current) => current.filter((b) => b.name !== name))
}

async function setBindings(kube: Kube, settings: PlatformSettings, app: string, change: (current: Binding[]) => Binding[]): Promise<Binding[]> {
  const namespace = settings.argocdNamespace
  const application = await findApplication(kube, namespace, app)
  if (!application) throw new KplatError(`app "${app}" not found`, {hint: 'Run `kplat apps` to list your apps'})
  const next = change(bindingsOf(application))
  await apply(kube, {apiVersion: 'argoproj.io/v1alpha1', kind: 'Application', metadata: {name: app, namespace},
    spec: {source: {helm: {valuesObject: {kplat: {addons: next}}}}}} as never, BINDING_MANAGER)
  return next
}

export function bindingsOf(application: Application): Binding[] {
  const values = (application.spec.source as {helm?: {valuesObject?: {kplat?: {addons?: Binding[]}}}} | undefined)?.helm?.valuesObject
  return values?.kplat?.addons ?? []
}

export interface AddonInstance {
  name: string
  app: string
  service: string
  plan?: string
  kind: string
  apiVersion: string
  plural: string
  namespace: string
  state: 'provisioning' | 'ready' | 'failed'
  /** Crossplane's message when not ready, or why it failed. */
  message?: string
  /** The env vars the app gets from it: empty when it is not bound. */
  envVars: string[]
  secret: string
  /** kplat made it; or the app's own chart declares it (Argo CD deployed it); or neither. */
  origin: 'kplat' | 'chart' | 'other'
  createdAt?: string
}

interface InstanceObject {
  status?: Instance['status']
  metadata: {name: string; namespace: string; labels?: Record<string, string>; annotations?: Record<string, string>; creationTimestamp?: string; uid?: string}
  spec?: {crossplane?: {compositionRef?: {name: string}}; compositionRef?: {name: string}; writeConnectionSecretToRef?: {name: string}}
}

/**
 * The add-ons of some apps (every app's with no names): one list of each service's kind
 * across namespaces, whatever the number of instances, plus the XRDs and the Applications.
 */
export async function listAddons(kube: Kube, settings: PlatformSettings, apps?: string[]): Promise<AddonInstance[]> {
  const [xrds, applications] = await Promise.all([listXrds(kube), listApplications(kube, settings)])
  const byNamespace = new Map(applications.map((a) => [a.spec.destination.namespace ?? a.metadata.name, a]))
  const wanted = apps ? new Set(apps) : undefined
  const services = xrds.map((x) => ({xrd: x, service: toService(x)})).filter((s) => s.service.shape !== 'cluster')
  const lists = await Promise.all(services.map(async ({xrd, service}) => {
    const [group, version] = service.apiVersion.split('/')
    try {
      const list = await kube.api(k8s.CustomObjectsApi).listClusterCustomObject({group, version, plural: service.plural}) as {items: InstanceObject[]}
      return list.items.map((o) => ({o, xrd, service}))
    } catch (error) {
      // A kind whose controller has not started yet, or that this user may not list: none to show.
      if ([403, 404].includes((error as {code?: number}).code ?? 0)) return []
      throw kubeError(error, {verb: 'list', resource: `${service.plural}.${group}`})
    }
  }))
  return lists.flat()
    .map(({o, xrd, service}) => toInstance(o, xrd, service, byNamespace.get(o.metadata.namespace)))
    .filter((a) => (wanted ? wanted.has(a.app) : byNamespace.has(a.namespace)))
    .sort((a, b) => a.app.localeCompare(b.app) || a.name.localeCompare(b.name))
}

async function listApplications(kube: Kube, settings: PlatformSettings): Promise<Application[]> {
  const namespace = settings.argocdNamespace
  try {
    return (await kube.api(k8s.CustomObjectsApi).listNamespacedCustomObject({group: 'argoproj.io', version: 'v1alpha1', plural: 'applications', namespace, labelSelector: `${LABELS.managedBy}=kplat`}) as {items: Application[]}).items
  } catch (error) {
    throw kubeError(error, {verb: 'list', resource: 'applications.argoproj.io', namespace})
  }
}

function toInstance(o: InstanceObject, xrd: Xrd, service: AddonService, application: Application | undefined): AddonInstance {
  const app = o.metadata.labels?.[LABELS.app] ?? application?.metadata.labels?.[LABELS.app] ?? o.metadata.namespace
  const conditions = o.status?.conditions ?? []
  const synced = conditions.find((c) => c.type === 'Synced')
  const ready = conditions.find((c) => c.type === 'Ready')
  const state = synced?.status === 'False' ? 'failed' : ready?.status === 'True' ? 'ready' : 'provisioning'
  const message = state === 'failed' ? synced?.message : state === 'provisioning' ? ready?.message ?? ready?.reason : undefined
  const secret = o.spec?.writeConnectionSecretToRef?.name ?? `${o.metadata.name}-connection`
  const binding = application ? bindingsOf(application).find((b) => b.secret === secret) : undefined
  const composition = o.spec?.crossplane?.compositionRef?.name ?? o.spec?.compositionRef?.name
  const prefix = `${xrd.spec.names.plural}-`
  return {
    name: o.metadata.name, app, service: service.name,
    plan: composition ? (composition.startsWith(prefix) ? composition.slice(prefix.length) : composition) : undefined,
    kind: service.kind, apiVersion: service.apiVersion, plural: service.plural, namespace: o.metadata.namespace, state, ...(message ? {message} : {}),
    envVars: binding ? service.envVars.map((k) => `${binding.prefix ?? ''}${k}`) : [],
    secret,
    origin: o.metadata.labels?.[LABELS.managedBy] === 'kplat' ? 'kplat' : o.metadata.annotations?.['argocd.argoproj.io/tracking-id'] ? 'chart' : 'other',
    createdAt: o.metadata.creationTimestamp,
  }
}

export interface AddonDetails extends AddonInstance {
  conditions: Array<{type: string; status: string; reason?: string; message?: string}>
  /** What Crossplane composed for it, each with its state. */
  resources: Array<{kind: string; name: string; ready?: string; synced?: string; message?: string}>
  /** The connection Secret's keys: never its values. */
  secretKeys: string[]
}

/** One add-on of an app by name; an unknown name says how to list them. */
export async function findAddon(kube: Kube, settings: PlatformSettings, app: string, name: string): Promise<AddonInstance> {
  const addon = (await listAddons(kube, settings, [app])).find((a) => a.name === name)
  if (!addon) throw new KplatError(`${app} has no add-on named "${name}"`, {hint: `\`kplat addons --app ${app}\` lists its add-ons`})
  return addon
}

/** An add-on with its conditions, what Crossplane composed for it, and its Secret's keys. */
export async function addonDetails(kube: Kube, settings: PlatformSettings, app: string, name: string): Promise<AddonDetails> {
  const addon = await findAddon(kube, settings, app, name)
  const custom = kube.api(k8s.CustomObjectsApi)
  const [group, version] = addon.apiVersion.split('/')
  const object = await custom.getNamespacedCustomObject({group, version, plural: addon.plural, namespace: addon.namespace, name}) as ComposedBy
  const [resources, secret] = await Promise.all([
    composedResources(kube, object, addon.namespace),
    kube.api(k8s.CoreV1Api).readNamespacedSecret({namespace: addon.namespace, name: addon.secret}).catch(() => undefined),
  ])
  return {...addon, conditions: (object.status?.conditions ?? []).map((c) => ({type: c.type, status: c.status, reason: c.reason, message: c.message})),
    resources, secretKeys: Object.keys(secret?.data ?? {}).sort()}
}

interface Ref {apiVersion: string; kind: string; name: string; namespace?: string}

type ComposedBy = InstanceObject & {spec?: {crossplane?: {resourceRefs?: Ref[]}; resourceRef?: Ref}}
type Composed = AddonDetails['resources'][number]

/** What Crossplane composed for an XR or a claim (a claim's are its cluster-scoped XR's), each with its state. */
async function composedResources(kube: Kube, object: ComposedBy, namespace: string): Promise<Composed[]> {
  let refs = object.spec?.crossplane?.resourceRefs ?? []
  if (object.spec?.resourceRef) {
    const xr = await get(kube, object.spec.resourceRef) as {spec?: {resourceRefs?: Ref[]; crossplane?: {resourceRefs?: Ref[]}}} | undefined
    refs = xr?.spec?.crossplane?.resourceRefs ?? xr?.spec?.resourceRefs ?? []
  }

  return Promise.all(refs.map(async (ref) => {
    // A claim's XR is cluster-scoped, and so is what it composes unless its ref names a namespace.
    const composed = await get(kube, {...ref, namespace: ref.namespace ?? (object.spec?.resourceRef ? undefined : namespace)}) as Instance | undefined
    const c = (type: string) => composed?.status?.conditions?.find((x) => x.type === type)
    const failing = [c('Synced'), c('Ready')].find((x) => x && x.status !== 'True')
    return {kind: ref.kind, name: ref.name, ready: c('Ready')?.status, synced: c('Synced')?.status, ...(failing?.message ? {message: failing.message} : {})}
  }))
}

/** "; first failing resource NopResource/x: why", when Crossplane composed one that is failing. */
async function firstFailing(kube: Kube, object: ComposedBy | undefined, namespace: string): Promise<string> {
  if (!object) return ''
  const failing = (await composedResources(kube, object, namespace).catch(() => [])).find((r) => r.synced === 'False' || r.ready === 'False')
  return failing ? `; first failing resource ${failing.kind}/${failing.name}${failing.message ? `: ${failing.message}` : ` (Ready ${failing.ready ?? 'Unknown'})`}` : ''
}

async function get(kube: Kube, ref: Ref): Promise<k8s.KubernetesObject | undefined> {
  try {
    return await kube.objects.read({apiVersion: ref.apiVersion, kind: ref.kind, metadata: {name: ref.name, ...(ref.namespace ? {namespace: ref.namespace} : {})}})
  } catch {
    return undefined
  }
}

export interface DestroyAddonOptions {
  app: string
  name: string
  timeoutMs: number
}

/**
 * Destroys an add-on kplat made: unbinds it first (Argo CD rolls the app without its env
 * vars, so no new process asks for a Secret about to go), then deletes it in the foreground
 * and waits until it and what Crossplane composed for it are gone.
 */
export async function destroyAddon(kube: Kube, settings: PlatformSettings, out: Output, addon: AddonInstance, opts: DestroyAddonOptions): Promise<void> {
  const bindings = await out.step(`Unbinding ${addon.name} from ${opts.app}`, () => unbind(kube, settings, opts.app, addon.name))
  await out.step(`Restarting ${opts.app} without ${addon.name}'s env vars`, (update) =>
    waitForBindings(kube, settings, opts.app, bindings, {timeoutMs: opts.timeoutMs, onStatus: update}))
  const [group, version] = addon.apiVersion.split('/')
  await out.step(`Deleting ${addon.name} and what Crossplane made for it`, async (update) => {
    try {
      await kube.api(k8s.CustomObjectsApi).deleteNamespacedCustomObject({group, version, plural: addon.plural, namespace: addon.namespace, name: addon.name, propagationPolicy: 'Foreground'})
    } catch (error) {
      if ((error as {code?: number}).code !== 404) throw kubeError(error, {verb: 'delete', resource: `${addon.plural}.${group}`, namespace: addon.namespace})
    }

    await waitFor(kube, {apiVersion: addon.apiVersion, kind: addon.kind, plural: addon.plural, namespace: addon.namespace, name: addon.name}, (object) => {
      if (!object) return true
      update(`still there: ${(object as {metadata?: {finalizers?: string[]}}).metadata?.finalizers?.join(', ') || 'deleting'}`)
      return undefined
    }, {timeoutMs: opts.timeoutMs})
  })
}

/** Whether an add-on may be destroyed by kplat: only what kplat made. */
export function checkDestroyable(addon: AddonInstance): void {
  if (addon.origin === 'chart') {
    throw new KplatError(`${addon.name} is declared in ${addon.app}'s chart: Argo CD deployed it, and would bring it back`, {hint: `Remove the ${addon.kind} named ${addon.name} from the chart in ${addon.app}'s repository and push`})
  }

  if (addon.origin === 'other') throw new KplatError(`${addon.name} was not created by kplat, so kplat leaves it alone`, {hint: 'Ask whoever created it (your platform team) to remove it'})
}
