import * as k8s from '@kubernetes/client-node'
import {ARGOCD, LABELS, type Application} from './argocd.js'
import type {Kube} from './client.js'
import {kubeError} from './errors.js'
import {waitFor} from './wait.js'
import {KplatError} from '../ui/errors.js'

const FIELD_MANAGER = 'kplat'

/** Fails, before anything is created, when Argo CD is missing or RBAC would refuse a step. */
export async function checkArgoCd(kube: Kube, namespace: string, needs: Array<{verb: string; group: string; resource: string}>): Promise<void> {
  const server = kube.config.getCurrentCluster()?.server
  try {
    await kube.api(k8s.CustomObjectsApi).listNamespacedCustomObject({...ARGOCD, namespace, limit: 1})
  } catch (error) {
    if ((error as {code?: number}).code === 404) {
      throw new KplatError('Argo CD is not installed in this cluster (it serves no applications.argoproj.io)', {hint: 'Ask your platform team to install Argo CD, or pick another --context'})
    }

    throw kubeError(error, {verb: 'list', resource: 'applications.argoproj.io', namespace, server})
  }

  const reviews = kube.api(k8s.AuthorizationV1Api)
  for (const need of needs) {
    const review = await reviews.createSelfSubjectAccessReview({body: {spec: {resourceAttributes: {namespace, ...need}}}})
      .catch((error) => {
        throw kubeError(error, {verb: 'create', resource: 'selfsubjectaccessreviews', server})
      })
    if (!review.status?.allowed) {
      const resource = need.group ? `${need.resource}.${need.group}` : need.resource
      throw new KplatError(`forbidden: you may not ${need.verb} ${resource} in namespace ${namespace}`, {hint: `Ask your platform team for the "${need.verb}" right on ${resource} in ${namespace}, or pick another --context`})
    }
  }
}

export async function findApplication(kube: Kube, namespace: string, name: string): Promise<Application | undefined> {
  try {
    return await kube.api(k8s.CustomObjectsApi).getNamespacedCustomObject({...ARGOCD, namespace, name}) as Application
  } catch (error) {
    if ((error as {code?: number}).code === 404) return undefined
    throw kubeError(error, {verb: 'get', resource: 'applications.argoproj.io', namespace})
  }
}

export function isOurs(object: {metadata?: {labels?: Record<string, string>}} | undefined, app: string): boolean {
  return object?.metadata?.labels?.[LABELS.managedBy] === 'kplat' && object.metadata.labels[LABELS.app] === app
}

/** Creates or updates an object kplat owns, with server-side apply. */
export async function apply(kube: Kube, object: k8s.KubernetesObject): Promise<void> {
  try {
    await kube.objects.patch(object, undefined, undefined, FIELD_MANAGER, true, k8s.PatchStrategy.ServerSideApply)
  } catch (error) {
    throw kubeError(error, {verb: 'apply', resource: object.kind!.toLowerCase(), namespace: object.metadata?.namespace})
  }
}

export interface DeployWaitOptions {
  timeoutMs: number
  onStatus: (status: string) => void
}

/**
 * Waits, with a watch, until the Application has synced `revision` and is Healthy; fails
 * with Argo CD's own words when it reports an error or the app turns Degraded.
 */
export async function waitForDeploy(kube: Kube, namespace: string, name: string, revision: string, opts: DeployWaitOptions): Promise<Application> {
  let last = ''
  return waitFor(kube, {apiVersion: 'argoproj.io/v1alpha1', kind: 'Application', plural: 'applications', namespace, name}, (object) => {
    const app = object as Application | undefined
    if (!app) return undefined
    const s = app.status
    const status = `sync ${s?.sync?.status ?? 'Unknown'} at ${s?.sync?.revision?.slice(0, 7) ?? '-'}, health ${s?.health?.status ?? 'Unknown'}`
    if (status !== last) opts.onStatus(status)
    last = status
    const error = s?.conditions?.find((c) => /Error$/.test(c.type))
    if (error) throw new KplatError(`Argo CD reports ${error.type}: ${error.message ?? ''}`, {hint: `Fix the chart and push, then run \`kplat apps:info --app ${name}\``})
    if (s?.sync?.revision !== revision) return undefined
    if (s.health?.status === 'Degraded') {
      const bad = (s as {resources?: Array<{kind: string; name: string; health?: {status?: string; message?: string}}>}).resources?.find((r) => r.health?.status === 'Degraded')
      throw new KplatError(`the app is Degraded${bad ? `: ${bad.kind} ${bad.name}: ${bad.health?.message ?? ''}` : ''}`, {hint: `Run \`kplat apps:info --app ${name}\` for details`})
    }

    return s.sync.status === 'Synced' && s.health?.status === 'Healthy' ? app : undefined
  }, {timeoutMs: opts.timeoutMs})
}
