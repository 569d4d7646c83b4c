import {existsSync, readdirSync} from 'node:fs'
import * as path from 'node:path'
import type {Context} from '../context.js'
import {isOurs, LABELS} from '../kube/argocd.js'
import type {Question} from '../skeleton/parameters.js'
import type {RenderedFile} from '../skeleton/render.js'
import {
  CATALOG_ENTITY,
  CATALOG_LOCATION,
  catalogOf,
  catalogTarget,
  registerLocation,
  stringifyRef,
} from '../templates/catalog.js'
import type {PlatformSettings} from '../shared/settings.js'
import {KplatError, UsageError} from '../errors.js'
import {generateAppName, validateAppName} from '../shared/app-names.js'
import {step, warn} from '../progress.js'

const RESOURCES_FINALIZER = 'resources-finalizer.argocd.argoproj.io'
const RELEASE_HISTORY_LIMIT = 100
/** GitHub's rule for user and organization names. */
const GITHUB_OWNER = /^[A-Za-z0-9](?:-?[A-Za-z0-9]){0,38}$/

export interface CreateOptions {
  name?: string
  owner?: string
  private: boolean
  template: string
  params: string[]
  wait: boolean
  clone: boolean
  dryRun: boolean
  context?: string
  /** The team that owns the app (default: $KPLAT_TEAM, else see teamForNewApp). */
  team?: string
  timeoutMs: number
}

export interface Plan {
  files: string[]
  kubernetes: Array<{kind: string; namespace: string; name: string}>
  github: string[]
}

export interface CreateResult {
  name: string
  owner: string
  repository: string
  cloneUrl: string
  /** Where its processes run. */
  namespace: string
  team?: string
  commit?: string
  revision?: string
  url?: string
  dir?: string
  run?: string
  /** The app's entity in the platform's Backstage catalog. */
  catalog?: string
  dryRun?: Plan
}

/**
 * `kplat create`: resolve and check everything, then repository, first commit,
 * Argo CD Application, first CI run, first sync, local clone. Each step looks before it
 * acts, so running it again after a failure or Ctrl-C finishes the job.
 */
export async function createApp(ctx: Context, opts: CreateOptions): Promise<CreateResult> {
  const name = opts.name ? validateAppName(opts.name) : generateAppName()
  if (opts.owner !== undefined && !GITHUB_OWNER.test(opts.owner)) {
    throw new UsageError(
      `--owner "${opts.owner}" is not a GitHub user or organization name`,
      'Letters, digits and single dashes, at most 39: for example --owner acme',
    )
  }

  // GitHub's first answer travels while the Kubernetes client and the templating load; a
  // missing token is told only after what is wrong with the command line.
  const connecting = ctx.github()
  const asked = connecting.then(whoami)
  for (const p of [connecting, asked]) p.catch(() => {})
  const [{loadSettings}, repo, runs, argo, {fetchFolder, findTemplate}, {runTemplate}, params] = await Promise.all([
    import('../shared/settings.js'),
    import('../github/repo.js'),
    import('../github/runs.js'),
    import('../kube/argocd-apps.js'),
    import('../templates/templates.js'),
    import('../skeleton/render.js'),
    import('../skeleton/parameters.js'),
  ])
  const progress = ctx.progress

  // 1. Resolve, and fail here, before anything exists, on anything missing.
  const given = params.parseParams(opts.params)
  // Local and independent of the look-ups below; its verdict is told after theirs.
  const local = opts.clone ? settle(cloneTarget(ctx.cwd, name)) : undefined
  // The settings are read once: for the template when it is the platform's, and for the rest.
  let settingsRead: Promise<PlatformSettings> | undefined
  const readSettings = () =>
    (settingsRead ??= ctx.kube(opts.context).then((kube) => loadSettings(kube, ctx.env, ctx.progress)))
  const template = await findTemplate(ctx, opts.template, {settings: readSettings})
  const github = await connecting
  const kube = await ctx.kube(opts.context)
  const [me, settings] = await Promise.all([asked, readSettings()])
  checkScopes(me.scopes)
  const owner = opts.owner ?? settings.githubOwner ?? me.login
  const {teamForNewApp, repoAllowed, TEAM_LABEL} = await import('../teams/teams.js')
  const team = await teamForNewApp({kube, settings, progress}, opts.team ?? ctx.env.KPLAT_TEAM, (choices) =>
    ctx.ask.select(
      'Which team owns the app?',
      choices.map((t) => ({name: t.name, value: t})),
      `You are in several teams: ${choices.map((t) => t.name).join(', ')}. Pass --team ${choices[0].name} (or another of them)`,
    ),
  )
  // A team's app lives in the team's namespace, Application and processes both; a platform
  // app has its Application in Argo CD's namespace and a namespace of its own.
  const namespace = team?.namespace ?? settings.argocdNamespace
  const destination = team?.namespace ?? name
  const needs = [
    {verb: 'create', group: 'argoproj.io', resource: 'applications'},
    {verb: 'patch', group: 'argoproj.io', resource: 'applications'},
  ]
  // Independent look-ups go out together; "Argo CD is missing" or "forbidden" is told
  // before anything the Application and namespace look-ups would say.
  const found = settle(
    Promise.all([
      argo.findApplication(kube, namespace, name),
      team ? undefined : argo.findObject(kube, {apiVersion: 'v1', kind: 'Namespace', name}),
    ]),
  )
  const [organization, existing, [application, ownNamespace]] = await Promise.all([
    repo.isOrganization(github, owner),
    repo.findRepository(github, owner, name),
    argo.checkArgoCd(kube, namespace, needs).then(() => found),
  ])
  checkNameIsOurs(name, {
    owner,
    argocdNamespace: namespace,
    repository: existing,
    application,
    destination: ownNamespace,
  })
  // App names are the platform's, not a team's: a repository kplat made for another team's
  // app (its catalog owner says whose) is not this team's to take over by a "rerun".
  if (team && existing && !application) await checkRepositoryTeam(github, existing, name, team.name)
  const target = await local

  const known = {
    name,
    owner,
    // Only a team's app names one: a template's own `team` parameter is otherwise left alone.
    ...(team ? {team: team.name} : {}),
    registry: settings.registry,
    appsDomain: settings.appsDomain ?? '',
  }
  const {githubApiUrl, githubHost} = await import('../github/auth.js')
  const host = githubHost(ctx.env)
  // Argo CD would refuse the Application for its project; said before the repository exists.
  const {cloneUrlFor} = await import('./repo-credentials.js')
  const repoUrl = existing?.cloneUrl ?? cloneUrlFor(githubApiUrl(ctx.env), owner, name)
  if (team && !repoAllowed(repoUrl, team.repos))
    throw new KplatError(
      `the team ${team.name} may not deploy from ${repoUrl}: its Argo CD project allows only ${team.repos.join(', ') || 'no repository'}`,
      {
        hint: `Pass an --owner its project allows, or ask the platform team to add the repository to ${team.name}'s project; nothing was created`,
      },
    )
  const parameters = await params.resolveParameters(
    template,
    known,
    given,
    ctx.interactive ? (q) => askQuestion(ctx, q) : undefined,
    {name, owner, host, secrets: (v) => ctx.redactor.add(v)},
  )
  const rendered = await runTemplate(template, parameters, {host, owner, name}, (url) => fetchFolder(ctx, url))
  const files = rendered.files
  const description = String(rendered.publish?.description ?? parameters.description ?? `${name}, created with kplat`)
  // The template may ask for a private repository itself (publish:github's repoVisibility).
  const isPrivate = opts.private || ['private', 'internal'].includes(rendered.publish?.repoVisibility ?? '')
  if (isPrivate) {
    const {checkRepoCredentials} = await import('./repo-credentials.js')
    await checkRepoCredentials(kube, settings, repoUrl)
  }

  // Said before anything exists: kplat's own flow does the work of these (Argo CD, waiting for CI).
  // catalog:register is kplat's own step when the platform has a catalog (after the repository exists, below).
  const catalog = catalogOf(ctx, settings)
  if (rendered.register && !catalog)
    warn(
      progress,
      "the template's catalog:register step is not run: the platform has no Backstage configured (backstageUrl); the catalog-info.yaml is in the repository for Backstage to discover",
    )
  if (rendered.publish?.defaultBranch && rendered.publish.defaultBranch !== 'main')
    warn(
      progress,
      `publish:github's defaultBranch ${rendered.publish.defaultBranch} is not honoured: kplat's flow (CI on main, Argo CD on deploy) uses main`,
    )
  for (const step of rendered.skipped)
    warn(
      progress,
      `the template's step "${step.id}" (${step.action}) is not run by kplat: its own flow registers the app with Argo CD and waits for CI and the first deploy`,
    )

  if (opts.dryRun) {
    const plan = dryRunPlan(files, {
      owner,
      name,
      namespace,
      team: Boolean(team),
      organization,
      existing: Boolean(existing),
    })
    return {
      name,
      owner,
      ...(team ? {team: team.name} : {}),
      repository: existing?.htmlUrl ?? `(new) ${owner}/${name}`,
      cloneUrl: existing?.cloneUrl ?? '',
      namespace: destination,
      dryRun: plan,
    }
  }

  // 2. The repository and its first commit (one commit, so one push event and one CI run).
  const repository =
    existing ??
    (await step(progress, `Creating the repository ${owner}/${name}`, () =>
      repo.createRepository(github, {owner, name, description, private: isPrivate, organization}),
    ))
  const topics = rendered.publish?.topics
  if (Array.isArray(topics) && topics.length > 0)
    await step(progress, `Setting the repository's topics (${topics.join(', ')})`, () =>
      repo.setTopics(github, repository, topics.map(String)),
    )
  const commit = await step(progress, 'Writing the first commit', async (update) => {
    // A repository made just now holds only its auto_init commit: nothing to look at.
    const head = existing ? await repo.branchHead(github, repository) : {hasApp: false, sha: ''}
    if (!head.hasApp) {
      update(`${files.length} files in one commit`)
      return repo.commitTree(github, repository, files, `Create ${name} from the ${template.name} skeleton`)
    }

    update('already there')
    return application?.metadata.annotations?.[SOURCE_COMMIT] ?? head.sha
  })

  // The catalog-info.yaml kplat registers below. One in the app's own repository is recorded
  // on the Application, so that apps:destroy removes that location wherever the template put
  // the file; a file elsewhere (catalogInfoUrl) may be shared, and is never kplat's to remove.
  // A rerun registers and keeps what the first run recorded, whichever template it renders.
  const previous = application?.metadata.annotations?.[CATALOG_LOCATION]
  const catalogLocation = catalog
    ? (previous ??
      (rendered.register?.catalogInfoUrl ||
        catalogTarget(
          repository.htmlUrl,
          'main',
          rendered.register?.catalogInfoPath?.replace(/^\/+/, '') || 'catalog-info.yaml',
        )))
    : undefined
  const recorded =
    previous ??
    (catalogLocation?.startsWith(`${repository.htmlUrl.replace(/\.git$/, '')}/`) ? catalogLocation : undefined)

  // 3. Argo CD: the app's chart, a namespace of its own, automated sync with prune and
  // self-heal, the resources finalizer. A private repository is read with the platform's
  // credential template (checked above), never with the developer's token.
  await step(progress, 'Registering the app with Argo CD', async () => {
    const labels = {[LABELS.managedBy]: 'kplat', [LABELS.app]: name, ...(team ? {[TEAM_LABEL]: team.name} : {})}
    const annotations = {[SOURCE_COMMIT]: commit, ...(recorded ? {[CATALOG_LOCATION]: recorded} : {})}
    await argo.apply(
      kube,
      applicationFor({
        name,
        namespace,
        destination,
        team: Boolean(team),
        project: team?.name ?? settings.argocdProject,
        repoUrl: repository.cloneUrl,
        annotations,
        labels,
      }),
    )
  })

  const result: CreateResult = {
    name,
    owner,
    repository: repository.htmlUrl,
    cloneUrl: repository.cloneUrl,
    namespace: destination,
    ...(team ? {team: team.name} : {}),
    commit,
  }
  // The platform's Backstage catalog. The app exists by now: a failure here is a warning
  // that says how to retry, never a reason to undo the app.
  // A location in the app's own repository names a file the template wrote, or none: then
  // Backstage has nothing to read, and a rerun (the same template) would not make one.
  const ownFolder = catalogTarget(repository.htmlUrl, 'main', '')
  const inRepository = catalogLocation?.startsWith(ownFolder) ? catalogLocation.slice(ownFolder.length) : undefined
  if (
    catalog &&
    catalogLocation &&
    inRepository !== undefined &&
    !previous &&
    !files.some((f) => f.path === inRepository)
  ) {
    warn(
      progress,
      `${name} is not in the Backstage catalog: the ${template.name} template makes no ${inRepository}, so there is nothing to register. Add a catalog-info.yaml to the template (or to the repository, then register it in Backstage)`,
    )
  } else if (catalog && catalogLocation) {
    try {
      const registered = await step(progress, `Registering ${name} in the Backstage catalog`, async () => {
        const r = await registerLocation(catalog, catalogLocation)
        // Under a field manager of its own: create's apply of the whole Application leaves it be.
        await argo.apply(
          kube,
          {
            apiVersion: 'argoproj.io/v1alpha1',
            kind: 'Application',
            metadata: {name, namespace, annotations: {[CATALOG_ENTITY]: stringifyRef(r.ref)}},
          },
          CATALOG_MANAGER,
        )
        return r
      })
      result.catalog = registered.url
    } catch (error) {
      warn(
        progress,
        `${name} is not in the Backstage catalog: ${(error as Error).message}. Run \`kplat create ${name}\` again to retry; it finishes what is missing`,
      )
    }
  }

  if (opts.wait) {
    // 4. The first CI run, found by the commit's SHA; then the first sync of what it deployed.
    const run = await step(progress, `Waiting for CI on ${commit.slice(0, 7)}`, (update) =>
      runs.waitForRun(github, repository, commit, {timeoutMs: opts.timeoutMs, onStatus: update}),
    )
    result.run = run.url
    // The run moved the deploy branch to the commit: that is what Argo CD deploys.
    result.revision = commit
  }

  // 5. The code on the developer's machine: a clone, or a remote on the current repository.
  // It needs nothing from Argo CD, so it is fetched while Argo CD deploys; a failed deploy
  // still waits for it, so that the rerun finds a whole clone, never half of one.
  const code = settle(fetchCode(ctx, target, repository.cloneUrl))
  if (result.revision) {
    const revision = result.revision
    const [deployed] = await Promise.allSettled([
      step(progress, `Waiting for Argo CD to deploy ${revision.slice(0, 7)}`, (update) =>
        argo.waitForDeploy(kube, namespace, name, revision, {timeoutMs: opts.timeoutMs, onStatus: update}),
      ),
      code,
    ])
    if (deployed.status === 'rejected') throw deployed.reason
    result.url = deployed.value.status?.summary?.externalURLs?.[0]
  }

  result.url ??= settings.appsDomain ? `http://${name}.${settings.appsDomain}` : undefined
  if (target?.kind === 'skip') result.dir = target.dir
  else if (target)
    result.dir = await step(
      progress,
      target.kind === 'clone' ? `Cloning into ./${path.relative(ctx.cwd, target.dir)}` : 'Adding the git remote kplat',
      () => code,
    )
  return result
}

export const SOURCE_COMMIT = 'kplat.dev/source-commit'

/** The field manager of the catalog entity's annotation on the Application. */
const CATALOG_MANAGER = 'kplat-catalog'

/** The branch an app's Application tracks: CI moves it, fast-forward only, once an image exists. */
export const DEPLOY_BRANCH = 'deploy'

/**
 * A name is free, or everything of that name is kplat's for this app (a rerun): otherwise
 * it is taken, and kplat touches none of it.
 */
function checkNameIsOurs(
  name: string,
  found: {
    owner: string
    argocdNamespace: string
    repository?: {createdByKplat: boolean}
    application?: object
    destination?: object
  },
): void {
  const taken = (what: string) => new UsageError(`the name "${name}" is taken: ${what}`, 'Pick another app name')
  if (found.repository && !found.repository.createdByKplat)
    throw taken(`the repository ${found.owner}/${name} exists and kplat did not create it`)
  if (found.application && !isOurs(found.application, name))
    throw taken(`an Argo CD Application ${found.argocdNamespace}/${name} exists that kplat did not create`)
  // An app deploys into a namespace of its own, never into someone else's. Once kplat's
  // Application exists, the run that made it checked the namespace, and Argo CD may have
  // created it without the labels yet.
  if (found.destination && !found.application && !isOurs(found.destination, name))
    throw taken(`the namespace ${name} exists and kplat did not create it for this app`)
}

async function checkRepositoryTeam(
  github: Awaited<ReturnType<Context['github']>>,
  repository: {owner: string; name: string},
  name: string,
  team: string,
): Promise<void> {
  let text: string | undefined
  try {
    const {data} = await github.rest.repos.getContent({
      owner: repository.owner,
      repo: repository.name,
      path: 'catalog-info.yaml',
    })
    if (!Array.isArray(data) && data.type === 'file' && 'content' in data)
      text = Buffer.from(data.content, 'base64').toString('utf8')
  } catch (error) {
    // No catalog-info.yaml: a repository whose first commit was never written, nobody's app yet.
    if ((error as {status?: number}).status === 404) return
    throw error
  }

  const {parseAllDocuments} = await import('yaml')
  // The catalog's own reading: the file's entities, and the owner of the one named after the app.
  const entities = text
    ? parseAllDocuments(text).flatMap((d) =>
        d.errors.length > 0 ? [] : [d.toJS() as {metadata?: {name?: string}; spec?: {owner?: unknown}} | null],
      )
    : []
  const entity = entities.find((e) => e?.metadata?.name === name) ?? entities[0]
  const owner = typeof entity?.spec?.owner === 'string' ? entity.spec.owner : undefined
  if (owner && owner !== `group:default/${team}`)
    throw new UsageError(
      `the name "${name}" is taken: the repository ${repository.owner}/${repository.name} is the app of ${owner.replace(/^group:default\//, '')}, not of the team ${team}`,
      'Pick another app name',
    )
}

/** The app's code on the developer's machine: a clone, a `kplat` remote, or last run's clone. */
async function fetchCode(ctx: Context, target: CloneTarget | undefined, cloneUrl: string): Promise<string | undefined> {
  if (!target) return undefined
  const {cloneWithToken, addRemote} = await import('../git/clone.js')
  if (target.kind === 'clone') await cloneWithToken(cloneUrl, target.dir, await ctx.githubToken())
  if (target.kind === 'remote') await addRemote(target.dir, 'kplat', cloneUrl)
  return target.dir
}

/** The same promise, marked as handled, so that awaiting it later cannot crash the process. */
function settle<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => {})
  return promise
}

function applicationFor(a: {
  name: string
  namespace: string
  destination: string
  /** A team's app deploys into the team's namespace, which exists: nothing to create or label. */
  team: boolean
  project: string
  repoUrl: string
  annotations: Record<string, string>
  labels: Record<string, string>
}) {
  return {
    apiVersion: 'argoproj.io/v1alpha1',
    kind: 'Application',
    metadata: {
      name: a.name,
      namespace: a.namespace,
      labels: a.labels,
      annotations: a.annotations,
      finalizers: [RESOURCES_FINALIZER],
    },
    spec: {
      project: a.project,
      // CI moves the branch `deploy` to a commit once its image exists (the skeleton's
      // workflow), and the chart takes the image tag from the commit Argo CD deploys: main is
      // never written to by CI, so a push is never rejected for kplat's sake.
      source: {
        repoURL: a.repoUrl,
        path: 'chart',
        targetRevision: DEPLOY_BRANCH,
        helm: {
          releaseName: a.name,
          parameters: [{name: 'image.tag', value: '$ARGOCD_APP_REVISION', forceString: true}],
        },
      },
      destination: {server: 'https://kubernetes.default.svc', namespace: a.destination},
      // The labels mark the namespace Argo CD creates as this app's, for a rerun to know it.
      syncPolicy: a.team
        ? {automated: {prune: true, selfHeal: true}}
        : {
            automated: {prune: true, selfHeal: true},
            syncOptions: ['CreateNamespace=true'],
            managedNamespaceMetadata: {labels: a.labels},
          },
      // kplat copies deploys from this history into the app's releases when a command next
      // runs (releases.ts): 100 entries is how many syncs may pass between two commands.
      revisionHistoryLimit: RELEASE_HISTORY_LIMIT,
    },
  }
}

function dryRunPlan(
  files: RenderedFile[],
  a: {owner: string; name: string; namespace: string; team: boolean; organization: boolean; existing: boolean},
): Plan {
  const repoPath = `/repos/${a.owner}/${a.name}`
  const binaries = files.filter((f) => f.binary).length
  return {
    files: files.map((f) => f.path),
    kubernetes: [
      {kind: 'Application', namespace: a.namespace, name: a.name},
      ...(a.team ? [] : [{kind: 'Namespace', namespace: '', name: a.name}]),
    ],
    github: [
      ...(a.existing ? [] : [a.organization ? `POST /orgs/${a.owner}/repos` : 'POST /user/repos']),
      ...Array.from({length: binaries}, () => `POST ${repoPath}/git/blobs`),
      `POST ${repoPath}/git/trees`,
      `POST ${repoPath}/git/commits`,
      `PATCH ${repoPath}/git/refs/heads/main`,
    ],
  }
}

interface CloneTarget {
  kind: 'clone' | 'remote' | 'skip'
  dir: string
}

async function cloneTarget(cwd: string, name: string): Promise<CloneTarget> {
  const {workTreeRoot, remotes} = await import('../git/repo.js')
  const root = await workTreeRoot(cwd)
  if (root) {
    // Told now, before anything exists, rather than after the app is made.
    const taken = (await remotes(root)).find((r) => r.name === 'kplat' && !r.url.endsWith(`/${name}.git`))
    if (taken)
      throw new UsageError(
        `this git repository's remote "kplat" already points at ${taken.url}`,
        'Remove it with `git remote remove kplat`, run kplat create outside this repository, or pass --no-clone',
      )
    return {kind: 'remote', dir: root}
  }

  const dir = path.join(cwd, name)
  if (!existsSync(dir) || readdirSync(dir).length === 0) return {kind: 'clone', dir}
  // A rerun finds its own clone from last time.
  const own = (await workTreeRoot(dir)) === dir && (await remotes(dir)).some((r) => r.url.endsWith(`/${name}.git`))
  if (own) return {kind: 'skip', dir}
  throw new UsageError(
    `./${name} already exists and is not a clone of this app`,
    'Run kplat create from another folder, or pass --no-clone',
  )
}

async function whoami(
  github: Awaited<ReturnType<Context['github']>>,
): Promise<{login: string; scopes: string[] | undefined}> {
  const {githubError} = await import('../github/errors.js')
  try {
    const response = await github.rest.users.getAuthenticated()
    const header = response.headers['x-oauth-scopes']
    return {
      login: response.data.login,
      scopes:
        header === undefined
          ? undefined
          : header
              .split(',')
              .map((s) => s.trim())
              .filter(Boolean),
    }
  } catch (error) {
    throw githubError(error, 'read the authenticated user')
  }
}

function checkScopes(scopes: string[] | undefined): void {
  // Fine-grained tokens send no scopes; GitHub checks their permissions per request.
  if (scopes === undefined) return
  const missing = ['repo', 'workflow'].filter((s) => !scopes.includes(s))
  if (missing.length > 0) {
    throw new KplatError(
      `your GitHub token lacks the ${missing.join(' and ')} scope${missing.length > 1 ? 's' : ''} (it has: ${scopes.join(', ') || 'none'})`,
      {
        hint: 'Create a token with the repo and workflow scopes, or run `gh auth refresh -s repo,workflow`',
      },
    )
  }
}

/** Asks the person at the terminal one of the template's questions. */
function askQuestion(ctx: Context, q: Question): Promise<unknown> {
  if (q.kind === 'password') return ctx.ask.password(q.message, q.flagHint)
  if (q.kind === 'select')
    return ctx.ask.select(
      q.message,
      (q.choices ?? []).map((v) => ({name: String(v), value: v})),
      q.flagHint,
    )
  return ctx.ask.input(q.message, q.flagHint)
}
