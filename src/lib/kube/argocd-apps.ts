import * as k8s from './k8s.js'
import {ARGOCD, kplatValues, type Application, type KplatValues} from './argocd.js'
import type {Kube} from './client.js'
import {kubeError} from './errors.js'
import {waitFor} from './wait.js'
import {KplatError} from '../errors.js'

const FIELD_MANAGER = 'kplat'

/** Fails, before anything is created, when Argo CD is missing or RBAC would refuse a step. */
export async function checkArgoCd(
  kube: Kube,
  namespace: string,
  needs: Array<{verb: string; group: string; resource: string}>,
): Promise<void> {
  const server = kube.config.getCurrentCluster()?.server
  const reviews = kube.api(k8s.AuthorizationV1Api)
  // All questions go out together; the answers are read in order, so "not installed"
  // wins over "forbidden".
  const [listed, ...answers] = await Promise.allSettled([
    kube.api(k8s.CustomObjectsApi).listNamespacedCustomObject({...ARGOCD, namespace, limit: 1}),
    ...needs.map((need) =>
      reviews.createSelfSubjectAccessReview({body: {spec: {resourceAttributes: {namespace, ...need}}}}),
    ),
  ])
  if (listed.status === 'rejected') {
    if ((listed.reason as {code?: number}).code === 404) {
      throw new KplatError('Argo CD is not installed in this cluster (it serves no applications.argoproj.io)', {
        hint: 'Ask your platform team to install Argo CD, or pick another --context',
      })
    }

    throw kubeError(listed.reason, {verb: 'list', resource: 'applications.argoproj.io', namespace, server})
  }

  for (const [i, answer] of answers.entries()) {
    if (answer.status === 'rejected')
      throw kubeError(answer.reason, {verb: 'create', resource: 'selfsubjectaccessreviews', server})
    if (!answer.value.status?.allowed) {
      const need = needs[i]
      const resource = need.group ? `${need.resource}.${need.group}` : need.resource
      throw new KplatError(`forbidden: you may not ${need.verb} ${resource} in namespace ${namespace}`, {
        hint: `Ask your platform team for the "${need.verb}" right on ${resource} in ${namespace}, or pick another --context`,
      })
    }
  }
}

export async function findApplication(kube: Kube, namespace: string, name: string): Promise<Application | undefined> {
  try {
    return (await kube.api(k8s.CustomObjectsApi).getNamespacedCustomObject({...ARGOCD, namespace, name})) as Application
  } catch (error) {
    if ((error as {code?: number}).code === 404) return undefined
    throw kubeError(error, {verb: 'get', resource: 'applications.argoproj.io', namespace})
  }
}

/**
 * An object kplat is about to create, if it exists already; undefined when it does not, or
 * when this user may not read it (then there is nothing to tell).
 */
export async function findObject(
  kube: Kube,
  ref: {apiVersion: string; kind: string; name: string; namespace?: string},
): Promise<k8s.KubernetesObject | undefined> {
  try {
    return await kube.objects.read({
      apiVersion: ref.apiVersion,
      kind: ref.kind,
      metadata: {name: ref.name, namespace: ref.namespace},
    })
  } catch (error) {
    const code = (error as {code?: number}).code
    if (code === 404 || code === 403) return undefined
    throw kubeError(error, {
      verb: 'get',
      resource: `${ref.kind.toLowerCase()}s`,
      namespace: ref.namespace,
      server: kube.config.getCurrentCluster()?.server,
    })
  }
}

/**
 * Creates or updates an object kplat owns, with server-side apply. A part of an object that
 * another kplat command keeps (an app's add-on bindings) is applied under a manager of its own.
 */
export async function apply(kube: Kube, object: k8s.KubernetesObject, manager = FIELD_MANAGER): Promise<void> {
  try {
    await kube.objects.patch(object, undefined, undefined, manager, true, k8s.PatchStrategy.ServerSideApply)
  } catch (error) {
    throw kubeError(error, {verb: 'apply', resource: object.kind!.toLowerCase(), namespace: object.metadata?.namespace})
  }
}

/**
 * Sets a part of kplat's Helm values in an app's Application under that part's own field
 * manager, so that create's apply of the whole Application, and the other parts, leave it be.
 * The Application is the desired state: self-heal keeps it and a git push cannot drop it.
 */
export async function applyKplatValues(
  kube: Kube,
  application: {name: string; namespace: string},
  values: KplatValues,
  manager: string,
): Promise<void> {
  await apply(
    kube,
    {
      apiVersion: 'argoproj.io/v1alpha1',
      kind: 'Application',
      metadata: application,
      spec: {source: {helm: {valuesObject: {kplat: values}}}},
    } as never,
    manager,
  )
}

/**
 * Waits until Argo CD has synced Helm values that `deployed` accepts (it reads what Argo CD
 * compared with, not the spec), at `revision` when given, and, unless told otherwise, the app
 * is Healthy again. A later change counts too: when the Application's values no longer
 * satisfy `deployed` (someone changed them after this change was written) and Argo CD has
 * synced exactly those, this change was deployed and then replaced, and waiting for it to
 * appear would only run out the timeout.
 */
export async function waitForKplatValues(
  kube: Kube,
  application: {name: string; namespace: string},
  deployed: (values: KplatValues) => boolean,
  opts: {
    timeoutMs: number
    healthy?: boolean
    revision?: string
    onStatus?: (status: string) => void
    signal?: AbortSignal
  },
): Promise<void> {
  let last = ''
  await waitFor(
    kube,
    {apiVersion: 'argoproj.io/v1alpha1', kind: 'Application', plural: 'applications', ...application},
    (object) => {
      const app = object as Application | undefined
      if (!app) return undefined
      const status = `sync ${app.status?.sync?.status || 'Unknown'}, health ${app.status?.health?.status || 'Unknown'}`
      if (status !== last) opts.onStatus?.(status)
      last = status
      const synced = kplatValues(app.status?.sync?.comparedTo?.source)
      const desired = kplatValues(app.spec?.source)
      const later = !deployed(desired) && JSON.stringify(synced) === JSON.stringify(desired)
      const done =
        (deployed(synced) || later) &&
        (opts.revision === undefined || app.status?.sync?.revision === opts.revision) &&
        app.status?.sync?.status === 'Synced' &&
        (opts.healthy === false || app.status.health?.status === 'Healthy')
      return done ? true : undefined
    },
    {timeoutMs: opts.timeoutMs, signal: opts.signal},
  )
}

export interface DeployWaitOptions {
  timeoutMs: number
  onStatus: (status: string) => void
}

/**
 * Waits, with a watch, until the Application has synced `revision` and is Healthy; fails
 * with Argo CD's own words when it reports an error, and with the live objects' words
 * when the app turns Degraded.
 */
export async function waitForDeploy(
  kube: Kube,
  namespace: string,
  name: string,
  revision: string,
  opts: DeployWaitOptions,
): Promise<Application> {
  let last = ''
  const started = Date.now()
  const outcome = await waitFor(
    kube,
    {apiVersion: 'argoproj.io/v1alpha1', kind: 'Application', plural: 'applications', namespace, name},
    (object) => {
      const app = object as Application | undefined
      if (!app) return undefined
      const s = app.status
      const status = `sync ${s?.sync?.status || 'Unknown'} at ${s?.sync?.revision?.slice(0, 7) || '-'}, health ${s?.health?.status || 'Unknown'}`
      if (status !== last) opts.onStatus(status)
      last = status
      // Until CI first moves the deploy branch, Argo CD cannot resolve it; the run that does so has
      // just ended when this wait starts, and Argo CD's refresh follows within seconds.
      const error = s?.conditions?.find(
        (c) => /Error$/.test(c.type) && !(unresolved(c.message) && Date.now() - started < 30_000),
      )
      if (error)
        throw new KplatError(`Argo CD reports ${error.type}: ${error.message ?? ''}`, {
          hint: `Fix the chart and push, then run \`kplat apps:info --app ${name}\``,
        })
      if (s?.sync?.revision !== revision) return undefined
      if (s.health?.status === 'Degraded') return {app, degraded: true}
      return s.sync.status === 'Synced' && s.health?.status === 'Healthy' ? {app, degraded: false} : undefined
    },
    {timeoutMs: opts.timeoutMs},
  )
  if (!outcome.degraded) return outcome.app
  const {whyDegraded} = await import('./workload-health.js')
  const why = await whyDegraded(kube, outcome.app)
  throw new KplatError(`the app is Degraded${why ? `: ${why}` : ''}`, {
    hint: `Fix it and push; \`kplat apps:info --app ${name}\` shows the app's state`,
  })
}

/** Argo CD's words for a branch that does not exist (yet). */
function unresolved(message: string | undefined): boolean {
  return /unable to resolve '[^']+' to a commit SHA/i.test(message ?? '')
}
