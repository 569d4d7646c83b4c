import {execFile} from 'node:child_process'
import {mkdtempSync, readdirSync, rmSync} from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {fileURLToPath} from 'node:url'
import {applyDocuments, readYamlDir, startCluster, type Cluster} from './cluster.js'
import {control, startGitHub, type GitHubGround} from './github.js'
import {freePort, ProcessGroup} from './processes.js'

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

/** The platform defaults a platform team would set once: ConfigMap kplat-system/kplat. */
function platformSettings() {
  return [
    {apiVersion: 'v1', kind: 'Namespace', metadata: {name: 'kplat-system'}},
    {apiVersion: 'v1', kind: 'Namespace', metadata: {name: 'argocd'}},
    {apiVersion: 'v1', kind: 'ConfigMap', metadata: {name: 'kplat', namespace: 'kplat-system'},
      data: {githubOwner: ORG, registry: 'ghcr.io', appsDomain: 'apps.ground.test', argocdNamespace: 'argocd', argocdProject: 'default'}},
  ]
}

function platformKit() {
  const kinds = new Set(['CompositeResourceDefinition', 'Composition'])
  const walk = (dir: string): string[] => [dir, ...readdirSync(dir, {withFileTypes: true}).filter((e) => e.isDirectory()).flatMap((e) => walk(path.join(dir, e.name)))]
  return walk(path.join(REPO, 'platform')).flatMap(readYamlDir).filter((o) => kinds.has(o.kind!))
}

/** Runs scripts/provide-binaries.sh (a cache check after the first time) and returns the folder. */
export function provideBinaries(): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('bash', [path.join(REPO, 'scripts', 'provide-binaries.sh')], {maxBuffer: 64 << 20}, (error, stdout, stderr) => {
      if (error) reject(new Error(`provide-binaries.sh failed: ${stderr.slice(-4000)}`))
      else resolve(stdout.trim().split('\n').pop()!)
    })
  })
}

/** Starts the whole proving ground in a fresh folder; stop() ends every process it started. */
export async function startGround(opts: {dir?: string} = {}): Promise<Ground> {
  const binDir = await provideBinaries()
  const dir = opts.dir ?? mkdtempSync(path.join(os.tmpdir(), 'kplat-ground-'))
  const processes = new ProcessGroup(path.join(dir, 'logs'), path.join(dir, 'pids'))
  const started = performance.now()
  let cluster: Cluster
  let github: GitHubGround
  let token: string
  try {
    ;[cluster, github] = await Promise.all([
      startCluster({dir, binDir, crdDir: path.join(SHARED, 'crds'), processes}),
      startGitHub(processes, dir, REPO),
    ])
    // A developer who belongs to the organisation the platform puts apps in.
    await control(github, 'POST', 'users', {login: DEVELOPER})
    await control(github, 'POST', 'users', {login: ORG, type: 'Organization', members: [DEVELOPER]})
    token = (await control<{token: string}>(github, 'POST', 'tokens', {login: DEVELOPER, scopes: ['repo', 'workflow', 'read:org']})).token
    await applyDocuments(cluster.adminConfig(), platformSettings())
    // The stand-ins for Argo CD's and Crossplane's controllers, each a process of its own.
    // GitHub tells Argo CD of every push through its webhook, as a platform team sets it
    // up; the poll is only the safety net (polling every app each second kept both cores
    // busy with git processes once a test run had made a dozen apps).
    const tsx = ['--import', 'tsx']
    const webhookPort = await freePort()
    processes.start('argocd', process.execPath, [...tsx, path.join(REPO, 'test/ground/argocd/main.ts'), '--kubeconfig', cluster.kubeconfig,
      '--helm', path.join(binDir, 'helm'), '--work-dir', path.join(dir, 'argocd'), '--poll-ms', '15000', '--webhook-port', String(webhookPort)], process.env, REPO)
    await control(github, 'POST', 'hooks', {url: `http://127.0.0.1:${webhookPort}/api/webhook`})
    processes.start('crossplane', process.execPath, [...tsx, path.join(REPO, 'test/ground/crossplane/main.ts'), '--kubeconfig', cluster.kubeconfig], process.env, REPO)
    // The sample platform kit, installed as a platform team would.
    await applyDocuments(cluster.adminConfig(), platformKit())
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
      KUBECONFIG: cluster.kubeconfig, GITHUB_API_URL: github.api, GITHUB_TOKEN: token,
      KPLAT_GROUND_LOGS_FILE: cluster.logsFile, KPLAT_GROUND_DIR: dir, KPLAT_GROUND_GITHUB: JSON.stringify(github),
    },
    startedInMs: performance.now() - started,
    async stop(keep = false) {
      await processes.stop()
      if (!keep && !opts.dir) rmSync(dir, {recursive: true, force: true})
    },
  }
}
