// How an add-on reaches the app: its Secret's name in the Argo CD Application's Helm values,
// which the app's chart turns into envFrom (docs/chart-contract.md).
import * as k8s from '../kube/k8s.js'
import {kplatValues, type Application, type KplatValues} from '../kube/argocd.js'
import {applyKplatValues, findApplication, waitForKplatValues} from '../kube/argocd-apps.js'
import {KplatError} from '../errors.js'
import type {AppTarget} from '../shared/target.js'
import {appSelector} from '../shared/app-selector.js'

/** The binding of one add-on, as the app's chart reads it from `.Values.kplat.addons`. */
export type Binding = NonNullable<KplatValues['addons']>[number]

/** The Application's binding values have a manager of their own, so a rerun of create (which applies the whole Application as `kplat`) leaves them alone. */
const BINDING_MANAGER = 'kplat-addons'

/**
 * Binds an add-on to the app: its Secret joins the list the app's chart turns into envFrom
 * (`.Values.kplat.addons`), kept in the Argo CD Application's Helm values. The Application is
 * the desired state, so self-heal keeps the binding and a git push cannot drop it; a changed
 * list changes the pod template, so the app restarts once.
 */
export async function bind(target: AppTarget, binding: Binding): Promise<Binding[]> {
  return setBindings(target, (current) => [...current.filter((b) => b.name !== binding.name), binding])
}

export async function unbind(target: AppTarget, name: string): Promise<Binding[]> {
  return setBindings(target, (current) => current.filter((b) => b.name !== name))
}

async function setBindings(
  {kube, application: found, name: app}: AppTarget,
  change: (current: Binding[]) => Binding[],
): Promise<Binding[]> {
  const namespace = found.metadata.namespace!
  const application = await findApplication(kube, namespace, app)
  if (!application) throw new KplatError(`app "${app}" not found`, {hint: 'Run `kplat apps` to list your apps'})
  const next = change(bindingsOf(application))
  await applyKplatValues(kube, {name: app, namespace}, {addons: next}, BINDING_MANAGER)
  return next
}

export function bindingsOf(application: Application): Binding[] {
  return kplatValues(application.spec.source).addons ?? []
}

/**
 * Waits until Argo CD has deployed a binding list with this one change in it (`bound`: the
 * binding is there as asked; else: the add-on is gone from it), whatever else a later change
 * queued behind this one added, and, unless `healthy` is false, the app is Healthy again.
 */
export async function waitForBindings(
  {kube, application, name: app}: AppTarget,
  change: {bound: Binding} | {unbound: string},
  opts: {timeoutMs: number; onStatus: (s: string) => void; healthy?: boolean; signal?: AbortSignal},
): Promise<void> {
  // Compared field by field: the API server gives the values back with their keys sorted.
  const same = (a: Binding, b: Binding) =>
    a.name === b.name && a.secret === b.secret && (a.prefix ?? '') === (b.prefix ?? '')
  const done = (list: Binding[]) =>
    'bound' in change ? list.some((b) => same(b, change.bound)) : !list.some((b) => b.name === change.unbound)
  await waitForKplatValues(
    kube,
    {name: app, namespace: application.metadata.namespace!},
    (values) => done(values.addons ?? []),
    opts,
  )
}

/** Whether any Deployment of the app takes the Secret as env vars: the chart meets kplat's contract. */
export async function chartReads(target: AppTarget, secret: string): Promise<boolean> {
  const {kube, namespace} = target
  try {
    const deployments = await kube
      .api(k8s.AppsV1Api)
      .listNamespacedDeployment({namespace, labelSelector: appSelector(target)})
    return deployments.items.some((d) =>
      (d.spec?.template.spec?.containers ?? []).some((c) =>
        (c.envFrom ?? []).some((e) => e.secretRef?.name === secret),
      ),
    )
  } catch {
    // Not allowed to look: nothing to warn about.
    return true
  }
}
