import {spawn} from 'node:child_process'
import {mkdtempSync, readdirSync, rmSync} from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {fileURLToPath} from 'node:url'
import {startArgoCd} from './argocd.js'
import {provideBackstage, startBackstage, type BackstageGround} from './backstage.js'
import {applyDocuments, readYamlDir, startCluster, type Cluster, type Manifest} from './cluster.js'
import {startCrossplane} from './crossplane.js'
import {control, startGitHub, type GitHubGround} from './github.js'
import {startNetns} from './netns.js'
import {freePort, ProcessGroup} from './processes.js'
import {startRuntime, type Runtime} from './runtime.js'
import {onboardTeams} from './teams.js'

export const REPO = fileURLToPath(new URL('../..', import.meta.url))
export const SHARED = path.resolve(REPO, '..', 'shared')

export interface Ground {
  dir: string
  cluster: Cluster
  github: GitHubGround
  processes: ProcessGroup
  /** The variables that point kplat (and kubectl, Octokit, git) at this ground. */
  env: Record<string, string>
  startedInMs: number
  /** Ends every process it started; keeps the folder (logs) when asked to. */
  stop(keep?: boolean): Promise<void>
}

export const DEVELOPER = 'developer'
export const ORG = 'acme'

/** The bot whose token Argo CD reads the organisation's private repositories with. */
export const READER = 'argocd-reader'

/** The platform defaults a platform team would set once: ConfigMap kplat-system/kplat. */
function platformSettings(github: GitHubGround) {
  return [
    {apiVersion: 'v1', kind: 'Namespace', metadata: {name: 'kplat-system'}},
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {name: 'kplat', namespace: 'kplat-system'},
      data: {
        githubOwner: ORG,
        registry: 'ghcr.io',
        appsDomain: 'apps.ground.test',
        argocdNamespace: 'argocd',
        argocdProject: 'default',
        repoCredentials: `${github.web}/${ORG}/`,
      },
    },
    // Who may read them: every developer, as the kit's access/ folder says.
    ...readYamlDir(path.join(REPO, 'platform-kit', 'access')),
  ]
}

/**
 * Argo CD's credential template for the organisation's repositories, as a platform team sets
 * it up: a bot's token (the ground's GitHub has no read-only tokens; on github.com a
 * fine-grained token with contents:read, or a GitHub App).
 */
function credentialTemplate(github: GitHubGround, token: string) {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {name: 'repo-creds-acme', namespace: 'argocd', labels: {'argocd.argoproj.io/secret-type': 'repo-creds'}},
    stringData: {type: 'git', url: `${github.web}/${ORG}/`, username: READER, password: token},
  }
}

/**
 * The sample platform kit as a platform team installs it, except that each add-on's default
 * plan is its local one: the ground has provider-nop where a cloud would be.
 */
export function platformKit(): Manifest[] {
  const kinds = new Set(['CompositeResourceDefinition', 'Composition'])
  const walk = (dir: string): string[] => [
    dir,
    ...readdirSync(dir, {withFileTypes: true})
      .filter((e) => e.isDirectory())
      .flatMap((e) => walk(path.join(dir, e.name))),
  ]
  const objects = walk(path.join(REPO, 'platform-kit'))
    .flatMap(readYamlDir)
    .filter((o) => kinds.has(o.kind!))
  const local = new Map(
    objects
      .filter((o) => o.kind === 'Composition' && o.metadata?.labels?.provider === 'local')
      .map((c) => [(c.spec as {compositeTypeRef: {kind: string}}).compositeTypeRef.kind, c.metadata!.name!]),
  )
  return objects.map((o) => {
    if (o.kind !== 'CompositeResourceDefinition') return o
    const spec = o.spec as {names: {kind: string}}
    const plan = local.get(spec.names.kind)
    return plan ? {...o, spec: {...spec, defaultCompositionRef: {name: plan}}} : o
  })
}

/**
 * Runs scripts/provide-binaries.sh (a cache check after the first time) and returns the
 * folder. Its progress goes straight to stderr: a first run builds for many minutes, and
 * says so as it goes. The sandbox needs less than the tests.
 */
export function provideBinaries(purpose: 'tests' | 'sandbox' = 'tests'): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [path.join(REPO, 'scripts', 'provide-binaries.sh'), '--for', purpose], {
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    let stdout = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.on('error', reject)
    child.on('close', (code) => {
      if (code === 0) resolve(stdout.trim().split('\n').pop()!)
      else reject(new Error(`provide-binaries.sh failed (exit ${code}): what it printed above says why`))
    })
  })
}

/** Starts the whole proving ground in a fresh folder; stop() ends every process it started. */
export async function startGround(opts: {dir?: string; purpose?: 'tests' | 'sandbox'} = {}): Promise<Ground> {
  const installing = provideBackstage()
  installing.catch(() => {})
  const binDir = await provideBinaries(opts.purpose)
  const dir = opts.dir ?? mkdtempSync(path.join(os.tmpdir(), 'kplat-ground-'))
  const processes = new ProcessGroup(path.join(dir, 'logs'), path.join(dir, 'pids'))
  const started = performance.now()
  let cluster: Cluster
  let github: GitHubGround
  let token: string
  let runtime: Runtime
  let backstage: BackstageGround
  try {
    const githubStarting = startGitHub(processes, dir, REPO)
    githubStarting.catch(() => {})
    const users = githubStarting.then(async (gh) => {
      // A developer who belongs to the organisation the platform puts apps in.
      await control(gh, 'POST', 'users', {login: DEVELOPER})
      await control(gh, 'POST', 'users', {login: READER})
      await control(gh, 'POST', 'users', {login: ORG, type: 'Organization', members: [DEVELOPER, READER]})
      return (
        await control<{token: string}>(gh, 'POST', 'tokens', {
          login: DEVELOPER,
          scopes: ['repo', 'workflow', 'read:org'],
        })
      ).token
    })
    users.catch(() => {})
    const reader = users.then(
      async () =>
        (await control<{token: string}>(await githubStarting, 'POST', 'tokens', {login: READER, scopes: ['repo']}))
          .token,
    )
    reader.catch(() => {})
    let webhook = ''
    // Backstage reads the organisation's repositories with the bot's token, as Argo CD does.
    const backstageStarting = Promise.all([installing, githubStarting, reader]).then(([installed, gh, readerToken]) =>
      startBackstage(processes, dir, installed, {...gh, token: readerToken}),
    )
    backstageStarting.catch(() => {})
    ;[cluster, github, backstage] = await Promise.all([
      startCluster({
        dir,
        binDir,
        processes,
        alongside: async ({port, componentsConfig, kubeconfig, admin}) => {
          // The real controllers live in a network namespace of the ground's own (see netns.ts):
          // the API server and GitHub are bridged in, Argo CD's webhook is bridged out.
          const [argocdServerPort, gh] = await Promise.all([freePort(), githubStarting])
          const netns = await startNetns(processes, dir, {
            out: [port, Number(new URL(gh.web).port)],
            in: [argocdServerPort],
          })
          const controllers = {dir, binDir, netns, admin, componentsConfig}
          const [argocd] = await Promise.all([
            startArgoCd({
              ...controllers,
              serverPort: argocdServerPort,
              // The teams, onboarded by the kit's one step; their apps come from the
              // organisation's repositories (clone URLs <web>/acme/<name>.git).
              withCrds: () =>
                onboardTeams({dir, binDir, processes, repo: REPO, kubeconfig, repos: [`${gh.web}/${ORG}/*`]}),
            }),
            // With the sample platform kit, installed as a platform team would.
            startCrossplane({...controllers, kit: platformKit()}),
            applyDocuments(admin, platformSettings(gh)),
          ])
          await applyDocuments(admin, [credentialTemplate(gh, await reader)])
          webhook = argocd.webhook
        },
      }),
      githubStarting,
      backstageStarting,
    ])
    token = await users
    // GitHub tells Argo CD of every push through its webhook, as a platform team sets it up
    // with GitHub Enterprise Server's global webhooks.
    await control(github, 'POST', 'hooks', {url: webhook})
    // Each pod's logs and HTTP server (kwok runs no containers).
    runtime = await startRuntime(cluster.adminConfig(), dir)
  } catch (error) {
    await processes.stop()
    throw error
  }

  return {
    dir,
    cluster,
    github,
    processes,
    env: {
      KUBECONFIG: cluster.kubeconfig,
      GITHUB_API_URL: github.api,
      GITHUB_TOKEN: token,
      KPLAT_GROUND_DIR: dir,
      KPLAT_GROUND_GITHUB: JSON.stringify(github),
      KPLAT_GROUND_ETCD: cluster.etcd,
      // What a developer sets to have kplat use the platform's Backstage (the ground's shared
      // ConfigMap leaves it out, so only the tests that mean to register do).
      KPLAT_GROUND_BACKSTAGE_URL: backstage.url,
      KPLAT_GROUND_BACKSTAGE_TOKEN: backstage.token,
    },
    startedInMs: performance.now() - started,
    async stop(keep = false) {
      await runtime.stop()
      await processes.stop()
      if (!keep && !opts.dir) rmSync(dir, {recursive: true, force: true})
    },
  }
}
