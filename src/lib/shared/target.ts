import type {Application} from '../kube/argocd.js'
import type {Kube} from '../kube/client.js'
import type {Context} from '../context.js'
import type {Progress} from '../progress.js'
import {getApplication} from './applications.js'
import {ledgerFor, type Ledger} from '../releases/ledger.js'
import {checkRemotes, resolveApp} from './resolve-app.js'
import {loadSettings, type PlatformSettings} from './settings.js'

/** Everything a command about one app needs: which app, on which cluster, under which platform settings. */
export interface AppTarget {
  name: string
  kube: Kube
  settings: PlatformSettings
  application: Application
  /** The namespace the app's processes run in. */
  namespace: string
  /** Where its releases are recorded. */
  ledger: Ledger
  /** Where the operation reports what it is doing (the command renders it). */
  progress: Progress
}

/**
 * The wiring every app command shares, in one call: the app from -a/KPLAT_APP/the git
 * clone, the cluster of --context, the platform's settings, and the app's Argo CD
 * Application (which must be kplat's).
 */
export async function resolveTarget(ctx: Context, flags: {app?: string; context?: string}): Promise<AppTarget> {
  const [resolved, kube] = await Promise.all([resolveApp(ctx, flags.app), ctx.kube(flags.context)])
  const {name} = resolved
  const settings = await loadSettings(kube, ctx.env)
  const application = await getApplication(kube, settings, name)
  await checkRemotes(ctx, resolved, application.spec.source?.repoURL)

  const namespace = application.spec.destination.namespace ?? name
  return {name, kube, settings, application, namespace, ledger: ledgerFor(ctx, {name, kube, namespace, application}), progress: ctx.progress}
}
