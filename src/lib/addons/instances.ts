import * as k8s from '../kube/k8s.js'
import {LABELS, type Application} from '../kube/argocd.js'
import {findObject} from '../kube/argocd-apps.js'
import type {Kube} from '../kube/client.js'
import {listXrds, type Xrd} from '../kube/crossplane.js'
import {kubeError} from '../kube/errors.js'
import {KplatError} from '../errors.js'
import {warn} from '../progress.js'
import {listApplications} from '../shared/applications.js'
import {sharesNamespace} from '../shared/app-selector.js'
import type {AppTarget, Platform} from '../shared/target.js'
import {bindingsOf} from './bindings.js'
import {planName, toService, type AddonService} from './services.js'

export interface Instance extends k8s.KubernetesObject {
  status?: {conditions?: Array<{type: string; status: string; reason?: string; message?: string}>}
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
  metadata: {
    name: string
    namespace: string
    labels?: Record<string, string>
    annotations?: Record<string, string>
    creationTimestamp?: string
    uid?: string
  }
  spec?: {
    crossplane?: {compositionRef?: {name: string}}
    compositionRef?: {name: string}
    writeConnectionSecretToRef?: {name: string}
  }
}

/**
 * Add-ons: of one app, in that app's own namespace only (an XR or claim elsewhere that
 * carries its labels is not its add-on, and kplat never deletes it); or, with no app, of every
 * app the user can see, one list of each service's kind across namespaces, whatever the number
 * of instances.
 */
export async function listAddons(
  platform: Platform,
  of?: {app: string; namespace: string; application?: Application},
): Promise<AddonInstance[]> {
  const {kube} = platform
  const [xrds, applications] = await Promise.all([
    listXrds(kube),
    of ? (of.application ? [of.application] : []) : listApplications(platform),
  ])
  const byNamespace = new Map(applications.map((a) => [a.spec.destination.namespace ?? a.metadata.name, a]))
  const services = xrds.map((x) => ({xrd: x, service: toService(x)})).filter((s) => s.service.shape !== 'cluster')
  const custom = kube.api(k8s.CustomObjectsApi)
  const lists = await Promise.all(
    services.map(async ({xrd, service}) => {
      const [group, version] = service.apiVersion.split('/')
      const plural = service.plural
      try {
        const list = (await (of
          ? custom.listNamespacedCustomObject({group, version, plural, namespace: of.namespace})
          : custom.listClusterCustomObject({group, version, plural}))) as {items: InstanceObject[]}
        return list.items.map((o) => ({o, xrd, service}))
      } catch (error) {
        const code = (error as {code?: number}).code
        // A kind whose controller has not started yet: none to show.
        if (code === 404) return []
        // In one app's namespace a refusal is told: its add-ons would silently go missing.
        if (code === 403 && !of) {
          // A team's developer may list only in the namespaces of their apps: one list in each.
          const namespaces = [...byNamespace.keys()]
          const each = await Promise.allSettled(
            namespaces.map(
              (namespace) =>
                custom.listNamespacedCustomObject({group, version, plural, namespace}) as Promise<{
                  items: InstanceObject[]
                }>,
            ),
          )
          if (each.some((r) => r.status === 'rejected'))
            warn(
              platform.progress,
              `you may not list ${plural}.${group} in every namespace of your apps, so some add-ons of that kind are not shown`,
            )
          return each.flatMap((r) => (r.status === 'fulfilled' ? r.value.items.map((o) => ({o, xrd, service})) : []))
        }
        throw kubeError(error, {verb: 'list', resource: `${plural}.${group}`, namespace: of?.namespace})
      }
    }),
  )
  return lists
    .flat()
    .map(({o, xrd, service}) => toInstance(o, xrd, service, byNamespace.get(o.metadata.namespace)))
    .filter((a) => (of ? a.app === of.app : byNamespace.has(a.namespace)))
    .sort((a, b) => a.app.localeCompare(b.app) || a.name.localeCompare(b.name))
}

function toInstance(
  o: InstanceObject,
  xrd: Xrd,
  service: AddonService,
  application: Application | undefined,
): AddonInstance {
  // In a namespace of the app's own, what is there is the app's; in a team's, shared by its
  // apps, only what carries the app's label.
  const shared =
    application &&
    sharesNamespace({
      name: application.metadata.name,
      namespace: application.spec.destination.namespace ?? application.metadata.name,
      application,
    })
  const app =
    o.metadata.labels?.[LABELS.app] ??
    (shared ? undefined : application?.metadata.labels?.[LABELS.app]) ??
    o.metadata.namespace
  const {state, message} = addonState(o.status?.conditions ?? [])
  const secret = o.spec?.writeConnectionSecretToRef?.name ?? `${o.metadata.name}-connection`
  const binding = application ? bindingsOf(application).find((b) => b.secret === secret) : undefined
  const composition = o.spec?.crossplane?.compositionRef?.name ?? o.spec?.compositionRef?.name
  return {
    name: o.metadata.name,
    app,
    service: service.name,
    plan: composition ? planName(composition, xrd) : undefined,
    kind: service.kind,
    apiVersion: service.apiVersion,
    plural: service.plural,
    namespace: o.metadata.namespace,
    state,
    ...(message ? {message} : {}),
    envVars: binding ? service.envVars.map((k) => `${binding.prefix ?? ''}${k}`) : [],
    secret,
    origin:
      o.metadata.labels?.[LABELS.managedBy] === 'kplat'
        ? 'kplat'
        : o.metadata.annotations?.['argocd.argoproj.io/tracking-id']
          ? 'chart'
          : 'other',
    createdAt: o.metadata.creationTimestamp,
  }
}

type Condition = NonNullable<NonNullable<Instance['status']>['conditions']>[number] & {lastTransitionTime?: string}

/** An add-on's state from Crossplane's conditions, with Crossplane's words and when it changed. */
export function addonState(conditions: Condition[]): {state: AddonInstance['state']; message?: string; since?: string} {
  const synced = conditions.find((c) => c.type === 'Synced')
  const ready = conditions.find((c) => c.type === 'Ready')
  if (synced?.status === 'False') return {state: 'failed', message: synced.message, since: synced.lastTransitionTime}
  if (ready?.status === 'True') return {state: 'ready', since: ready.lastTransitionTime}
  return {state: 'provisioning', message: ready?.message ?? ready?.reason, since: ready?.lastTransitionTime}
}

export interface AddonDetails extends AddonInstance {
  conditions: Array<{type: string; status: string; reason?: string; message?: string}>
  /** What Crossplane composed for it, each with its state. */
  resources: Array<{kind: string; name: string; ready?: string; synced?: string; message?: string}>
  /** The connection Secret's keys: never its values. */
  secretKeys: string[]
}

/** One add-on of an app by name; an unknown name says how to list them. */
export async function findAddon(target: AppTarget, name: string): Promise<AddonInstance> {
  const app = target.name
  const addon = (await listAddons(target, {app, namespace: target.namespace, application: target.application})).find(
    (a) => a.name === name,
  )
  if (!addon)
    throw new KplatError(`${app} has no add-on named "${name}"`, {
      hint: `\`kplat addons --app ${app}\` lists its add-ons`,
    })
  return addon
}

/** An add-on with its conditions, what Crossplane composed for it, and its Secret's keys. */
export async function addonDetails(target: AppTarget, name: string): Promise<AddonDetails> {
  const {kube} = target
  const addon = await findAddon(target, name)
  const custom = kube.api(k8s.CustomObjectsApi)
  const [group, version] = addon.apiVersion.split('/')
  const object = (await custom.getNamespacedCustomObject({
    group,
    version,
    plural: addon.plural,
    namespace: addon.namespace,
    name,
  })) as ComposedBy
  const [resources, secret] = await Promise.all([
    composedResources(kube, object, addon.namespace),
    kube
      .api(k8s.CoreV1Api)
      .readNamespacedSecret({namespace: addon.namespace, name: addon.secret})
      .catch(() => undefined),
  ])
  return {
    ...addon,
    conditions: (object.status?.conditions ?? []).map((c) => ({
      type: c.type,
      status: c.status,
      reason: c.reason,
      message: c.message,
    })),
    resources,
    secretKeys: Object.keys(secret?.data ?? {}).sort(),
  }
}

interface Ref {
  apiVersion: string
  kind: string
  name: string
  namespace?: string
}

export type ComposedBy = InstanceObject & {spec?: {crossplane?: {resourceRefs?: Ref[]}; resourceRef?: Ref}}
type Composed = AddonDetails['resources'][number]

/** What Crossplane composed for an XR or a claim (a claim's are its cluster-scoped XR's), each with its state. */
async function composedResources(kube: Kube, object: ComposedBy, namespace: string): Promise<Composed[]> {
  let refs = object.spec?.crossplane?.resourceRefs ?? []
  if (object.spec?.resourceRef) {
    const xr = (await findObject(kube, object.spec.resourceRef)) as
      {spec?: {resourceRefs?: Ref[]; crossplane?: {resourceRefs?: Ref[]}}} | undefined
    refs = xr?.spec?.crossplane?.resourceRefs ?? xr?.spec?.resourceRefs ?? []
  }

  return Promise.all(
    refs.map(async (ref) => {
      // A claim's XR is cluster-scoped, and so is what it composes unless its ref names a namespace.
      const composed = (await findObject(kube, {
        ...ref,
        namespace: ref.namespace ?? (object.spec?.resourceRef ? undefined : namespace),
      })) as Instance | undefined
      const c = (type: string) => composed?.status?.conditions?.find((x) => x.type === type)
      const failing = [c('Synced'), c('Ready')].find((x) => x && x.status !== 'True')
      return {
        kind: ref.kind,
        name: ref.name,
        ready: c('Ready')?.status,
        synced: c('Synced')?.status,
        ...(failing?.message ? {message: failing.message} : {}),
      }
    }),
  )
}

/** "; first failing resource NopResource/x: why", when Crossplane composed one that is failing. */
export async function firstFailing(kube: Kube, object: ComposedBy | undefined, namespace: string): Promise<string> {
  if (!object) return ''
  const failing = (await composedResources(kube, object, namespace).catch(() => [])).find(
    (r) => r.synced === 'False' || r.ready === 'False',
  )
  return failing
    ? `; first failing resource ${failing.kind}/${failing.name}${failing.message ? `: ${failing.message}` : ` (Ready ${failing.ready ?? 'Unknown'})`}`
    : ''
}
