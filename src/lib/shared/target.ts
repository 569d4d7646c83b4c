// The one wiring of every command that acts on an app: a command gets its app only from
// here, so none can skip the checks (a valid name, the command line's own checks before any
// cluster is touched, a fork is not the platform's app).
import type {Application} from '../kube/argocd.js'
import type {Kube} from '../kube/client.js'
import {kubeError} from '../kube/errors.js'
import type {Context} from '../context.js'
import type {Progress} from '../progress.js'
import {getApplication, refuseForeign} from './applications.js'
import {ledgerFor, type Ledger} from '../releases/ledger.js'
import {checkRemotes, resolveApp} from './resolve-app.js'
import {loadSettings, type PlatformSettings} from './settings.js'

/** The cluster kplat talks to and the platform's settings there: the scope of any operation, about one app or many. */
export interface Platform {
  kube: Kube
  settings: PlatformSettings
  /** Where the operation reports what it is doing (the command renders it). */
  progress: Progress
}

/** Everything a command about one app needs: which app, on which cluster, under which platform settings. */
export interface AppTarget extends Platform {
  name: string
  application: Application
  /** The namespace the app's processes run in. */
  namespace: string
  /** Where its releases are recorded. */
  ledger: Ledger
}

/** An app that may be half gone (apps:destroy after an interruption): its Application, when there still is one. */
export interface AppRemains extends Platform {
  name: string
  application?: Application
  /**
   * For a user who may not read Argo CD's own namespace (a team's developer): the teams they
   * are in, and so the only owners whose leftovers are theirs to delete.
   */
  teams?: Array<{name: string; namespace: string}>
}

export interface TargetFlags {
  app?: string
  context?: string
  /** The team whose namespace holds the app (default: $KPLAT_TEAM, else looked up). */
  team?: string
}

export interface TargetOptions {
  /** The command line's own checks that need the app's name: run before any cluster is touched. */
  check?: (app: string) => void
}

/** The cluster of --context and the platform's settings there. */
export async function resolvePlatform(ctx: Context, flags: {context?: string}): Promise<Platform> {
  const kube = await ctx.kube(flags.context)
  return {kube, settings: await loadSettings(kube, ctx.env, ctx.progress), progress: ctx.progress}
}

/**
 * The app from -a/KPLAT_APP/the git clone, its cluster and settings, and its Argo CD
 * Application (which must be kplat's and, for a name taken from git remotes, deploy from
 * one of them).
 */
export async function resolveTarget(ctx: Context, flags: TargetFlags, opts: TargetOptions = {}): Promise<AppTarget> {
  const resolved = await resolveApp(ctx, flags.app)
  opts.check?.(resolved.name)
  const platform = await resolvePlatform(ctx, flags)
  const {name} = resolved
  const application = await getApplication(platform, name, flags.team ?? ctx.env.KPLAT_TEAM)
  await checkRemotes(ctx, resolved, application.spec.source?.repoURL)
  const namespace = application.spec.destination.namespace ?? name
  return {
    ...platform,
    name,
    application,
    namespace,
    ledger: ledgerFor(ctx, {name, kube: platform.kube, namespace, application}),
  }
}

/** resolveTarget for an app whose Application may be gone already; the same checks on what is left. */
export async function resolveRemains(ctx: Context, flags: TargetFlags, opts: TargetOptions = {}): Promise<AppRemains> {
  const resolved = await resolveApp(ctx, flags.app)
  opts.check?.(resolved.name)
  const platform = await resolvePlatform(ctx, flags)
  const {name} = resolved
  const {locateApplication} = await import('../teams/teams.js')
  const {application, refused, searched} = await locateApplication(platform, name, flags.team ?? ctx.env.KPLAT_TEAM)
  // Where the user may read no place the app could be, what is left of it cannot be known either.
  if (!application && refused)
    throw kubeError(refused.error, {verb: 'get', resource: 'applications.argoproj.io', namespace: refused.namespace})
  if (application) refuseForeign(application, name)
  await checkRemotes(ctx, resolved, application?.spec.source?.repoURL)
  if (application || searched.includes(platform.settings.argocdNamespace)) return {...platform, name, application}
  const {listTeams, memberships} = await import('../teams/teams.js')
  const teams = await listTeams(platform)
  return {...platform, name, teams: teams === 'forbidden' ? [] : await memberships(platform, teams)}
}
