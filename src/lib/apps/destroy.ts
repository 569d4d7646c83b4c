// `kplat apps:destroy`: everything kplat made for an app, found by its labels, deleted in an
// order that loses nothing by surprise, each step looking before it acts so that a rerun
// after an interruption finishes the job. What kplat did not make is left and reported.
import type {Context} from '../context.js'
import {isOurs, madeByKplatFor, type Application} from '../kube/argocd.js'
import * as k8s from '../kube/k8s.js'
import {kubeError} from '../kube/errors.js'
import {findObject} from '../kube/argocd-apps.js'
import {deleteAndWait} from '../kube/delete.js'
import {KplatError} from '../errors.js'
import type {AddonInstance} from '../addons/instances.js'
import {
  CATALOG_LOCATION,
  catalogOf,
  catalogTarget,
  findLocation,
  getEntity,
  removeLocation,
  type Catalog,
} from '../templates/catalog.js'
import type {AppRemains} from '../shared/target.js'
import {step, warn} from '../progress.js'

export interface DestroyPlan {
  app: string
  /** Where the app is, and what is left of it. */
  remains: AppRemains
  application?: Application
  namespace?: {name: string; ours: boolean}
  /** A team app's namespace is the team's: kplat deletes only what it made there for the app. */
  teamNamespace?: string
  addons: AddonInstance[]
  repoSecret?: string
  repository?: {owner: string; name: string; url: string; createdByKplat: boolean}
  /** The local git remote `kplat` that points at the app's repository, in this folder's repository. */
  remote?: {dir: string; url: string}
  /** The location kplat registered in the platform's Backstage catalog, and that catalog. */
  catalog?: {id: string; target: string; in: Catalog; rerunFinds: boolean}
}

export interface DestroyResult {
  app: string
  deleted: string[]
  kept: string[]
}

/** The Argo CD repository Secret create writes for a private repository (see create.ts). */
const repoSecretName = (app: string) => `repo-${app}`

/** What there is of the app: the Application, its namespace, add-ons, repository Secret, repository and remote. */
export async function planDestroy(
  ctx: Context,
  remains: AppRemains,
  opts: {deleteRepository: boolean},
): Promise<DestroyPlan> {
  const {kube, settings, name: app, application} = remains
  const {listAddons} = await import('../addons/instances.js')
  const home = application?.metadata.namespace ?? settings.argocdNamespace
  const plan: DestroyPlan = {app, remains, application, addons: []}
  // An app whose Application is gone (a destroy that was interrupted): what is left in the
  // teams' namespaces, found by kplat's labels: a developer's own teams, or, for whoever may
  // read Argo CD's namespace (the platform team), every team's.
  if (!application) {
    const {listTeams} = await import('../teams/teams.js')
    const teams = remains.teams ?? (await listTeams(remains))
    if (teams !== 'forbidden') plan.teamNamespace = await leftoversIn(kube, teams, app)
  }
  if (home !== settings.argocdNamespace || plan.teamNamespace) {
    // A team's app: its Application and processes share the team's namespace, which is not
    // the app's to delete (nor the developer's: a namespace is cluster-wide).
    plan.teamNamespace ??= home
    plan.addons = (await listAddons(remains, {app, namespace: plan.teamNamespace, application})).filter(
      (a) => a.origin === 'kplat',
    )
  } else {
    const [namespace, secret] = await Promise.all([
      findObject(kube, {apiVersion: 'v1', kind: 'Namespace', name: app}),
      findObject(kube, {
        apiVersion: 'v1',
        kind: 'Secret',
        namespace: settings.argocdNamespace,
        name: repoSecretName(app),
      }),
    ])
    const nsName = application?.spec.destination.namespace ?? app
    const ns = nsName === app ? namespace : await findObject(kube, {apiVersion: 'v1', kind: 'Namespace', name: nsName})
    if (ns && isOurs(ns, app))
      plan.addons = (await listAddons(remains, {app, namespace: nsName, application})).filter(
        (a) => a.origin === 'kplat',
      )
    plan.namespace = ns ? {name: nsName, ours: isOurs(ns, app)} : undefined
    plan.repoSecret = secret && isOurs(secret, app) ? repoSecretName(app) : undefined
  }

  // A team's developer, with no Application to go by, may delete the repository and catalog
  // entry of an app only when it is their team's: leftovers in their team's namespace, or the
  // catalog naming one of their teams its owner. Another team's app is not found, as for any
  // other command.
  if (!application && remains.teams && !plan.teamNamespace && !(await ownedByTeams(ctx, remains, remains.teams)))
    throw new KplatError(
      `app "${app}" not found among the apps you may see (in namespace ${remains.teams.map((t) => t.namespace).join(', ') || 'none'})`,
      {hint: 'Run `kplat apps` to list your apps'},
    )

  const repoUrl = application?.spec.source?.repoURL
  const {githubApiUrl, githubHost} = await import('../github/auth.js')
  const {parseGitHubRemote, remotes, workTreeRoot} = await import('../git/repo.js')
  const host = githubHost(ctx.env)
  const parsed = repoUrl ? parseGitHubRemote(repoUrl, host) : undefined
  // Only a repository named after the app is the app's: an Application edited to deploy from
  // another repository (even one kplat made for another app) does not make that one its own.
  if (opts.deleteRepository && parsed && parsed.repo.toLowerCase() !== app) {
    throw new KplatError(
      `${app}'s Application deploys from ${parsed.owner}/${parsed.repo}, not from a repository named ${app}, so kplat will not delete that repository; nothing was deleted`,
      {
        hint: `Destroy without --delete-repository, and delete ${parsed.owner}/${parsed.repo} yourself if it is this app's`,
      },
    )
  }

  if (opts.deleteRepository) {
    const github = await ctx.github()
    const {findRepository} = await import('../github/repo.js')
    const owner = parsed?.owner ?? settings.githubOwner ?? (await github.rest.users.getAuthenticated()).data.login
    const found = await findRepository(github, owner, parsed?.repo ?? app)
    if (found)
      plan.repository = {owner: found.owner, name: found.name, url: found.htmlUrl, createdByKplat: found.createdByKplat}
  }

  // The app's catalog-info.yaml, as create registered it (an app made before create recorded
  // it registered the default file): only that location is removed.
  const catalog = catalogOf(ctx, settings)
  const owner = parsed?.owner ?? settings.githubOwner
  if (catalog && owner) {
    const ownRepository = `${new URL(githubApiUrl(ctx.env)).protocol}//${host}/${owner}/${app}`
    const fallback = catalogTarget(repoUrl && parsed ? repoUrl : ownRepository)
    const recorded = application?.metadata.annotations?.[CATALOG_LOCATION]
    // create records only a location inside the app's own repository; any other is not kplat's to remove.
    const inOwn = recorded?.toLowerCase().startsWith(catalogTarget(ownRepository, 'main', '').toLowerCase())
    if (recorded && !inOwn)
      warn(
        ctx.progress,
        `${app}'s Application names the catalog location ${recorded}, which is not in ${owner}/${app}: it is left in Backstage`,
      )
    const target = inOwn ? recorded! : fallback
    try {
      const location = await findLocation(catalog, target)
      if (location) plan.catalog = {...location, in: catalog, rerunFinds: target === fallback}
    } catch (error) {
      warn(ctx.progress, `cannot look ${app} up in the Backstage catalog: ${(error as Error).message}`)
    }
  }

  const root = await workTreeRoot(ctx.cwd)
  const remote = root
    ? (await remotes(root)).find((r) => r.name === 'kplat' && parseGitHubRemote(r.url, host)?.repo === app)
    : undefined
  if (root && remote) plan.remote = {dir: root, url: remote.url}
  if (!application && !plan.namespace?.ours && !plan.repoSecret && !plan.repository && !plan.remote && !plan.catalog) {
    throw new KplatError(`app "${app}" not found: kplat made nothing of that name in this cluster`, {
      hint: 'Run `kplat apps` to list your apps',
    })
  }

  return plan
}

/** The team namespace of these teams that holds kplat's objects of the app, if one does. */
async function leftoversIn(
  kube: AppRemains['kube'],
  teams: Array<{namespace: string}>,
  app: string,
): Promise<string | undefined> {
  const labelSelector = madeByKplatFor(app)
  const found = await Promise.all(
    teams.map((t) =>
      kube
        .api(k8s.CoreV1Api)
        .listNamespacedConfigMap({namespace: t.namespace, labelSelector, limit: 1})
        .then((l) => l.items.length > 0)
        .catch(() => false),
    ),
  )
  return teams.find((_, i) => found[i])?.namespace
}

/** Whether the platform's catalog says one of these teams owns the app. */
async function ownedByTeams(ctx: Context, remains: AppRemains, teams: Array<{name: string}>): Promise<boolean> {
  const catalog = catalogOf(ctx, remains.settings)
  if (!catalog || teams.length === 0) return false
  const entity = await getEntity(catalog, {kind: 'Component', namespace: 'default', name: remains.name}).catch(
    () => undefined,
  )
  const owner = (entity as {spec?: {owner?: string}} | undefined)?.spec?.owner
  return teams.some((t) => owner === `group:default/${t.name}`)
}

/** Before anything is deleted: the token may delete the repository. */
export async function checkRepositoryScope(ctx: Context): Promise<void> {
  const github = await ctx.github()
  const response = await github.rest.users.getAuthenticated()
  const header = response.headers['x-oauth-scopes']
  // Fine-grained tokens send no scopes; GitHub checks their permission when asked.
  if (header === undefined) return
  const scopes = header
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
  if (!scopes.includes('delete_repo')) {
    throw new KplatError(
      `your GitHub token lacks the delete_repo scope that --delete-repository needs (it has: ${scopes.join(', ') || 'none'}); nothing was deleted`,
      {
        hint: 'Run `gh auth refresh -s delete_repo`, or destroy without --delete-repository to keep the repository',
      },
    )
  }
}

/** What the confirmation says will be lost. */
export function describeLoss(plan: DestroyPlan): string {
  const parts = [`Destroying ${plan.app} deletes its processes`]
  if (plan.namespace?.ours) parts.push(`its namespace ${plan.namespace.name}`)
  if (plan.addons.length > 0)
    parts.push(
      `its add-on${plan.addons.length > 1 ? 's' : ''} ${plan.addons.map((a) => a.name).join(', ')} with their data`,
    )
  if (plan.repository?.createdByKplat)
    parts.push(`and its GitHub repository ${plan.repository.owner}/${plan.repository.name}`)
  return parts.join(', ')
}

/**
 * What kplat wrote for an app in a namespace it shares with others (the release ConfigMaps,
 * the config vars' Secrets, the release Lease): the objects that carry kplat's labels for
 * this app, and nothing else.
 */
async function deleteKplatObjects(kube: AppRemains['kube'], namespace: string, app: string): Promise<void> {
  const labelSelector = madeByKplatFor(app)
  const core = kube.api(k8s.CoreV1Api)
  const leases = kube.api(k8s.CoordinationV1Api)
  const kinds = [
    ['configmaps', () => core.deleteCollectionNamespacedConfigMap({namespace, labelSelector})],
    ['secrets', () => core.deleteCollectionNamespacedSecret({namespace, labelSelector})],
    ['leases.coordination.k8s.io', () => leases.deleteCollectionNamespacedLease({namespace, labelSelector})],
  ] as const
  await Promise.all(
    kinds.map(async ([resource, remove]) => {
      try {
        await remove()
      } catch (error) {
        throw kubeError(error, {verb: 'deletecollection', resource, namespace})
      }
    }),
  )
}

export async function destroyApp(ctx: Context, plan: DestroyPlan, opts: {timeoutMs: number}): Promise<DestroyResult> {
  const {kube, settings} = plan.remains
  const progress = ctx.progress
  const deleted: string[] = []
  const kept: string[] = []
  const {app} = plan
  // First, so that an interruption later leaves no catalog entry pointing at a gone app.
  if (plan.catalog) {
    const {id, in: catalog} = plan.catalog
    try {
      await step(progress, `Removing ${app} from the Backstage catalog`, () => removeLocation(catalog, id))
      deleted.push(`Backstage catalog location ${plan.catalog.target}`)
    } catch (error) {
      // A rerun finds the default file's location by itself; another file's was known only
      // from the Application, which is about to go.
      const retry = plan.catalog.rerunFinds
        ? `Run \`kplat apps:destroy --app ${app}\` again to retry`
        : `Once Backstage answers, unregister the location ${plan.catalog.target} there: with the app gone, kplat no longer knows it`
      warn(progress, `${app} stays in the Backstage catalog: ${(error as Error).message}. ${retry}`)
      kept.push(`Backstage catalog location ${plan.catalog.target}`)
    }
  }

  if (plan.application) {
    // The resources finalizer makes Argo CD delete everything it deployed before the Application goes.
    await step(progress, `Deleting the Argo CD Application ${app} and what it deployed`, (update) =>
      deleteAndWait(
        kube,
        {
          apiVersion: 'argoproj.io/v1alpha1',
          kind: 'Application',
          plural: 'applications',
          namespace: plan.application!.metadata.namespace,
          name: app,
        },
        {timeoutMs: opts.timeoutMs, onStatus: update},
      ),
    )
    deleted.push(`Application ${plan.application.metadata.namespace}/${app}`)
  }

  if (plan.addons.length > 0) {
    await step(
      progress,
      `Deleting ${plan.addons.length} add-on${plan.addons.length > 1 ? 's' : ''} and what Crossplane made for them`,
      (update) =>
        Promise.all(
          plan.addons.map((a) =>
            deleteAndWait(
              kube,
              {apiVersion: a.apiVersion, kind: a.kind, plural: a.plural, namespace: a.namespace, name: a.name},
              {timeoutMs: opts.timeoutMs, onStatus: update, propagationPolicy: 'Foreground'},
            ),
          ),
        ),
    )
    deleted.push(...plan.addons.map((a) => `${a.kind} ${a.namespace}/${a.name}`))
  }

  if (plan.teamNamespace) {
    const namespace = plan.teamNamespace
    await step(progress, `Deleting ${app}'s releases, config vars and lock in the namespace ${namespace}`, () =>
      deleteKplatObjects(kube, namespace, app),
    )
    deleted.push(`${app}'s releases, config vars and lock in namespace ${namespace}`)
  }

  if (plan.namespace?.ours) {
    await step(progress, `Deleting the namespace ${plan.namespace.name}`, (update) =>
      deleteAndWait(
        kube,
        {apiVersion: 'v1', kind: 'Namespace', plural: 'namespaces', name: plan.namespace!.name},
        {timeoutMs: opts.timeoutMs, onStatus: update},
      ),
    )
    deleted.push(`Namespace ${plan.namespace.name}`)
  } else if (plan.namespace) {
    warn(progress, `the namespace ${plan.namespace.name} was not created by kplat for ${app}, so it is left as it is`)
    kept.push(`Namespace ${plan.namespace.name} (not kplat's)`)
  }

  if (plan.repoSecret) {
    await deleteAndWait(
      kube,
      {apiVersion: 'v1', kind: 'Secret', plural: 'secrets', namespace: settings.argocdNamespace, name: plan.repoSecret},
      {timeoutMs: opts.timeoutMs, onStatus: () => {}},
    )
    deleted.push(`Secret ${settings.argocdNamespace}/${plan.repoSecret} (Argo CD's credential for the repository)`)
  }

  if (plan.repository) {
    const repo = plan.repository
    if (repo.createdByKplat) {
      const github = await ctx.github()
      const {githubError} = await import('../github/errors.js')
      await step(progress, `Deleting the GitHub repository ${repo.owner}/${repo.name}`, async () => {
        try {
          await github.rest.repos.delete({owner: repo.owner, repo: repo.name})
        } catch (error) {
          if ((error as {status?: number}).status !== 404) throw githubError(error, `delete ${repo.owner}/${repo.name}`)
        }
      })
      deleted.push(`repository ${repo.url}`)
    } else {
      warn(progress, `the repository ${repo.url} was not created by kplat, so it is kept`)
      kept.push(`repository ${repo.url} (not kplat's)`)
    }
  }

  if (plan.remote) {
    const {simpleGit} = await import('simple-git')
    await simpleGit(plan.remote.dir).removeRemote('kplat')
    deleted.push(`git remote kplat (${plan.remote.url})`)
  }

  return {app, deleted, kept}
}
