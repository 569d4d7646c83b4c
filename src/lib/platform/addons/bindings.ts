// How an add-on reaches the app: its Secret's name in the Argo CD Application's Helm values,
// which the app's chart turns into envFrom (the README's chart contract).
import * as k8s from '../../kube/k8s.js'
import type {Application, ApplicationSource} from '../../kube/argocd.js'
import {apply, findApplication} from '../../kube/argocd-apps.js'
import type {Kube} from '../../kube/client.js'
import {waitFor} from '../../kube/wait.js'
import {KplatError} from '../../ui/errors.js'
import type {PlatformSettings} from '../settings.js'

/** The binding of one add-on, as the app's chart reads it from `.Values.kplat.addons`. */
export interface Binding {
  name: string
  secret: string
  prefix?: string
}

/** The Application's binding values have a manager of their own, so a rerun of create (which applies the whole Application as `kplat`) leaves them alone. */
const BINDING_MANAGER = 'kplat-addons'

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
  return bindingsIn(application.spec.source)
}

/** The bindings a source's Helm values carry. */
function bindingsIn(source: ApplicationSource | undefined): Binding[] {
  return (source?.helm?.valuesObject as {kplat?: {addons?: Binding[]}} | undefined)?.kplat?.addons ?? []
}

/** Waits until Argo CD has deployed exactly these bindings and the app is Healthy again: the one restart. */
export async function waitForBindings(kube: Kube, settings: PlatformSettings, app: string, bindings: Binding[], opts: {timeoutMs: number; onStatus: (s: string) => void}): Promise<void> {
  // Compared field by field: the API server gives the values back with their keys sorted.
  const key = (list: Binding[]) => list.map((b) => `${b.name}|${b.secret}|${b.prefix ?? ''}`).join(',')
  const want = key(bindings)
  let last = ''
  await waitFor(kube, {apiVersion: 'argoproj.io/v1alpha1', kind: 'Application', plural: 'applications', namespace: settings.argocdNamespace, name: app}, (object) => {
    const application = object as Application | undefined
    if (!application) return undefined
    const deployed = key(bindingsIn(application.status?.sync?.comparedTo?.source))
    const status = `sync ${application.status?.sync?.status ?? 'Unknown'}, health ${application.status?.health?.status ?? 'Unknown'}`
    if (status !== last) opts.onStatus(status)
    last = status
    return deployed === want && application.status?.sync?.status === 'Synced' && application.status.health?.status === 'Healthy' ? true : undefined
  }, {timeoutMs: opts.timeoutMs})
}

/** Whether any Deployment of the app takes the Secret as env vars: the chart meets kplat's contract. */
export async function chartReads(kube: Kube, namespace: string, secret: string): Promise<boolean> {
  try {
    const deployments = await kube.api(k8s.AppsV1Api).listNamespacedDeployment({namespace})
    return deployments.items.some((d) => (d.spec?.template.spec?.containers ?? []).some((c) => (c.envFrom ?? []).some((e) => e.secretRef?.name === secret)))
  } catch {
    // Not allowed to look: nothing to warn about.
    return true
  }
}
