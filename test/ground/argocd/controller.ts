// The ground's Argo CD: a stand-in for Argo CD's application-controller and repo-server that
// does to Application objects what the real ones (3.x, the version of the installed CRDs) do,
// with real git and the real helm. Learnt from Argo CD's controller/appcontroller.go,
// controller/state.go, controller/sync.go, controller/cache/info.go and gitops-engine's health
// checks:
// - watches Applications in its namespace; refreshes on spec/operation changes, on the
//   `argocd.argoproj.io/refresh` annotation, every pollMs (git ls-remote), every second while
//   an app is Progressing;
// - the repo-server's part: resolves targetRevision (branch, tag, SHA, HEAD) with
//   `git ls-remote`, fetches into a mirror with the credentials of `repository` /
//   `repo-creds` Secrets (sent as an http.extraHeader, never in a URL or a log), renders
//   `helm template` (valueFiles, values, valuesObject, parameters, fileParameters) or a
//   plain YAML directory; Helm and Argo CD hooks are left out, as Argo CD leaves them out of
//   the app's resources;
// - compares with a server-side diff (dry-run apply), applies with server-side apply
//   (field manager `argocd-controller`), tracks by annotation and/or the instance label,
//   prunes, creates the namespace (CreateNamespace=true, with managedNamespaceMetadata),
//   auto-syncs (prune, selfHeal, allowEmpty, retry with backoff), runs `operation.sync`
//   requests (sync, partial sync, rollback), writes operationState, history, sync, health,
//   resources, summary and conditions as Argo CD does, and honours the resources finalizer
//   on deletion.
// Not emulated: running hooks, waiting for health between sync waves, kustomize, plugins,
// multi-source apps, Helm repository or OCI charts, clusters other than in-cluster, sync
// windows, ignoreDifferences, Kubernetes Events, the API server and its resource tree.
import {execFile, spawn} from 'node:child_process'
import {createHash, randomBytes} from 'node:crypto'
import {setMaxListeners} from 'node:events'
import {existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync} from 'node:fs'
import * as http from 'node:http'
import * as https from 'node:https'
import * as path from 'node:path'
import type {KubeConfig} from '@kubernetes/client-node'
import {parseAllDocuments, stringify} from 'yaml'

export type TrackingMethod = 'annotation' | 'label' | 'annotation+label'

export interface ArgoCdOptions {
  /** The helm binary (scripts/provide-binaries.sh provides one). */
  helm: string
  /** Where repositories are mirrored and checked out; created when missing. */
  workDir: string
  /** The namespace of Applications, AppProjects and repository Secrets. Default `argocd`. */
  namespace?: string
  /** How often a branch is checked for new commits (`git ls-remote`). Default 3000 ms. */
  pollMs?: number
  /**
   * Resource tracking (argocd-cm `application.resourceTrackingMethod`). Argo CD 3.x defaults to
   * `annotation`; the default here, `annotation+label`, also writes the
   * `app.kubernetes.io/instance` label, as the label method does.
   */
  tracking?: TrackingMethod
  /**
   * Write each resource's health into `status.resources[].health`
   * (`controller.resource.health.persist`). Argo CD 3.x defaults to false and writes
   * `status.resourceHealthSource: appTree` instead.
   */
  persistResourceHealth?: boolean
  /**
   * Plays the cluster's ingress controller: publishes this address in the status of the
   * Ingresses it applies (as ingress-nginx does with --publish-status-address), without which
   * Argo CD reports an Ingress, and so its app, as Progressing forever. `false` turns it off.
   * Default `127.0.0.1`.
   */
  ingressAddress?: string | false
  /** Where log lines go; default stderr. Secrets never reach them. */
  log?: (line: string) => void
  /**
   * Serve Argo CD's webhook (`POST /api/webhook`, GitHub push events) on 127.0.0.1 at this
   * port (0: any free one): a push refreshes the apps of its repository at once, as in an
   * Argo CD that GitHub notifies, instead of at the next poll.
   */
  webhookPort?: number
}

export interface ArgoCd {
  /** The webhook's URL, when webhookPort was given. */
  webhookUrl?: string
  stop(): Promise<void>
}

/** Starts the controller; resolves once the existing Applications have been listed. */
export async function startArgoCd(kc: KubeConfig, opts: ArgoCdOptions): Promise<ArgoCd> {
  const controller = new Controller(kc, opts)
  try {
    await controller.start()
  } catch (error) {
    await controller.stop()
    throw error
  }

  return {webhookUrl: controller.webhookUrl, stop: () => controller.stop()}
}

// ---------------------------------------------------------------------------------------------
// Constants and types (field names as in the Application CRD)

const FIELD_MANAGER = 'argocd-controller'
const RESOURCES_FINALIZER = 'resources-finalizer.argocd.argoproj.io'
const INSTANCE_LABEL = 'app.kubernetes.io/instance'
const TRACKING_ANNOTATION = 'argocd.argoproj.io/tracking-id'
const REFRESH_ANNOTATION = 'argocd.argoproj.io/refresh'
const SECRET_TYPE_LABEL = 'argocd.argoproj.io/secret-type'
const LINK_PREFIX = 'link.argocd.argoproj.io/'
const IN_CLUSTER_SERVER = 'https://kubernetes.default.svc'
const SELF_HEAL_MS = 5000
const FAST_MS = 1000

type Dict = Record<string, unknown>

interface Meta {
  name: string
  namespace?: string
  uid?: string
  resourceVersion?: string
  generation?: number
  labels?: Record<string, string>
  annotations?: Record<string, string>
  finalizers?: string[]
  deletionTimestamp?: string
  ownerReferences?: Array<{uid: string}>
  [key: string]: unknown
}

interface KObject {
  apiVersion: string
  kind: string
  metadata: Meta
  [key: string]: unknown
}

interface HelmSource {
  releaseName?: string
  namespace?: string
  valueFiles?: string[]
  values?: string
  valuesObject?: Dict
  parameters?: Array<{name: string; value?: string; forceString?: boolean}>
  fileParameters?: Array<{name: string; path: string}>
  ignoreMissingValueFiles?: boolean
  skipCrds?: boolean
  skipTests?: boolean
  skipSchemaValidation?: boolean
  kubeVersion?: string
  apiVersions?: string[]
}

interface Source {
  repoURL: string
  path?: string
  targetRevision?: string
  chart?: string
  helm?: HelmSource
  directory?: {recurse?: boolean}
  kustomize?: unknown
  plugin?: unknown
}

interface Destination {
  server?: string
  name?: string
  namespace?: string
}

interface SyncOperation {
  revision?: string
  prune?: boolean
  dryRun?: boolean
  resources?: Array<{group?: string; kind: string; name: string; namespace?: string}>
  source?: Source
  syncOptions?: string[]
  [key: string]: unknown
}

interface Operation {
  sync?: SyncOperation
  initiatedBy?: {username?: string; automated?: boolean}
  retry?: {limit?: number; backoff?: {duration?: string; factor?: number; maxDuration?: string}}
  [key: string]: unknown
}

type Phase = 'Running' | 'Succeeded' | 'Failed' | 'Error' | 'Terminating'

interface ResourceResult {
  group: string
  version: string
  kind: string
  namespace: string
  name: string
  status: 'Synced' | 'SyncFailed' | 'Pruned' | 'PruneSkipped'
  message: string
  hookPhase: string
  syncPhase: string
}

interface OperationState {
  operation: Operation
  phase: Phase
  message?: string
  startedAt: string
  finishedAt?: string
  retryCount?: number
  syncResult?: {resources?: ResourceResult[]; revision: string; source?: Source}
}

interface Health {
  status: string
  message?: string
  lastTransitionTime?: string
}

interface Condition {
  type: string
  message: string
  lastTransitionTime?: string
}

interface ResourceStatus {
  group?: string
  version: string
  kind: string
  namespace?: string
  name: string
  status: string
  health?: Health
  requiresPruning?: boolean
}

interface HistoryEntry {
  id: number
  revision: string
  deployedAt: string
  deployStartedAt: string
  source: Source
  initiatedBy?: {username?: string; automated?: boolean}
}

interface AppStatus {
  sync?: {status: string; revision?: string; comparedTo?: {source?: Source; destination?: Destination}}
  health?: Health
  resources?: ResourceStatus[]
  conditions?: Condition[]
  history?: HistoryEntry[]
  operationState?: OperationState
  summary?: {externalURLs?: string[]; images?: string[]}
  reconciledAt?: string
  sourceType?: string
  controllerNamespace?: string
  resourceHealthSource?: string
  [key: string]: unknown
}

interface Application extends KObject {
  spec: {
    project?: string
    source?: Source
    sources?: Source[]
    destination: Destination
    syncPolicy?: {
      automated?: {prune?: boolean; selfHeal?: boolean; allowEmpty?: boolean; enabled?: boolean}
      syncOptions?: string[]
      retry?: Operation['retry']
      managedNamespaceMetadata?: {labels?: Record<string, string>; annotations?: Record<string, string>}
    }
    revisionHistoryLimit?: number
  }
  operation?: Operation
  status?: AppStatus
}

/** One rendered revision of an app: what the repo-server would answer. */
interface Target {
  key: string
  revision: string
  sourceType: string
  objects: KObject[]
  warnings: string[]
}

/** Per-application memory of the controller (Argo CD keeps the equivalent in its caches). */
interface AppState {
  name: string
  /** spec.source.repoURL, which the webhook matches pushes against. */
  repoUrl?: string
  fingerprint?: string
  pending: boolean
  wantFull: boolean
  wakeNow?: () => void
  gone: boolean
  fast: boolean
  lastFull: number
  target?: Target
  kinds: Set<string>
  summary?: {key: string; value: NonNullable<AppStatus['summary']>}
}

// ---------------------------------------------------------------------------------------------
// The controller

class Controller {
  private readonly namespace: string
  private readonly pollMs: number
  private readonly tracking: TrackingMethod
  private readonly kube: Kube
  private readonly discovery: Discovery
  private readonly repos: Repos
  private readonly apps = new Map<string, AppState>()
  private readonly timers = new Set<NodeJS.Timeout>()
  private readonly loops = new Set<Promise<void>>()
  private readonly slots = new Semaphore(2)
  private readonly renders = new Lru<Promise<Target>>(64)
  private readonly diffs = new Lru<boolean>(512)
  private readonly abort = new AbortController()
  private readonly log: (line: string) => void
  private stopped = false
  private watcher?: Promise<void>
  private webhook?: http.Server
  webhookUrl?: string

  constructor(kc: KubeConfig, private readonly opts: ArgoCdOptions) {
    this.namespace = opts.namespace ?? 'argocd'
    this.pollMs = opts.pollMs ?? 3000
    this.tracking = opts.tracking ?? 'annotation+label'
    const write = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`))
    this.log = (line) => write(`[argocd] ${line}`)
    setMaxListeners(0, this.abort.signal) // every request and child process listens to it
    this.kube = new Kube(kc, this.abort.signal)
    this.discovery = new Discovery(this.kube)
    mkdirSync(opts.workDir, {recursive: true})
    this.repos = new Repos(path.resolve(opts.workDir), this.kube, this.namespace, this.abort.signal)
  }

  async start(): Promise<void> {
    await this.kube.init()
    await this.discovery.refresh()
    await this.ensureInstalled()
    const resourceVersion = await this.listApplications()
    this.watcher = this.watchApplications(resourceVersion)
    if (this.opts.webhookPort !== undefined) await this.serveWebhook(this.opts.webhookPort)
    this.log(`watching Applications in namespace ${this.namespace}${this.webhookUrl ? `; webhook at ${this.webhookUrl}` : ''}`)
  }

  /** Argo CD's /api/webhook: a GitHub push refreshes every app whose source is that repository. */
  private async serveWebhook(port: number): Promise<void> {
    this.webhook = http.createServer((req, res) => {
      const chunks: Buffer[] = []
      req.on('data', (c: Buffer) => chunks.push(c))
      req.on('end', () => {
        if (req.method !== 'POST' || req.url !== '/api/webhook') {
          res.writeHead(404).end()
          return
        }

        let urls: string[] = []
        try {
          const repository = (JSON.parse(Buffer.concat(chunks).toString('utf8')) as {repository?: {clone_url?: string; html_url?: string}}).repository
          urls = [repository?.clone_url, repository?.html_url].filter((u): u is string => Boolean(u)).map(normalizeGitUrl)
        } catch {
          res.writeHead(400).end()
          return
        }

        const apps = req.headers['x-github-event'] === 'push' ? [...this.apps.values()].filter((st) => st.repoUrl && urls.includes(normalizeGitUrl(st.repoUrl))) : []
        for (const st of apps) this.wake(st, true)
        res.writeHead(200, {'content-type': 'text/plain'}).end(`refreshed ${apps.length}\n`)
      })
    })
    await new Promise<void>((resolve, reject) => {
      this.webhook!.once('error', reject)
      this.webhook!.listen(port, '127.0.0.1', () => resolve())
    })
    this.webhookUrl = `http://127.0.0.1:${(this.webhook.address() as {port: number}).port}/api/webhook`
  }

  async stop(): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    this.abort.abort()
    for (const t of this.timers) clearTimeout(t)
    for (const st of this.apps.values()) st.wakeNow?.()
    this.webhook?.closeAllConnections()
    await new Promise((resolve) => (this.webhook ? this.webhook.close(resolve) : resolve(undefined)))
    await this.watcher
    await Promise.all(this.loops)
    this.kube.close()
    this.log('stopped')
  }

  /** What an Argo CD install provides: its namespace and the `default` AppProject. */
  private async ensureInstalled(): Promise<void> {
    await this.kube.createIfMissing('/api/v1/namespaces', {apiVersion: 'v1', kind: 'Namespace', metadata: {name: this.namespace}})
    await this.kube.createIfMissing(`/apis/argoproj.io/v1alpha1/namespaces/${this.namespace}/appprojects`, {
      apiVersion: 'argoproj.io/v1alpha1', kind: 'AppProject', metadata: {name: 'default', namespace: this.namespace},
      spec: {sourceRepos: ['*'], destinations: [{server: '*', namespace: '*'}], clusterResourceWhitelist: [{group: '*', kind: '*'}]},
    })
  }

  private get appsPath(): string {
    return `/apis/argoproj.io/v1alpha1/namespaces/${this.namespace}/applications`
  }

  // --- the Application watch ---------------------------------------------------------------

  /** Lists the Applications (forgetting the ones gone); resolves the list's resourceVersion. */
  private async listApplications(): Promise<string> {
    const list = await this.kube.get<{metadata: {resourceVersion: string}; items: Application[]}>(this.appsPath)
    const names = new Set(list.items.map((a) => a.metadata.name))
    for (const [name, st] of this.apps) if (!names.has(name)) this.forget(st)
    for (const app of list.items) this.observe(app)
    return list.metadata.resourceVersion
  }

  /** Watches from a resourceVersion; lists again after 410 Gone, resumes after errors. */
  private async watchApplications(from: string): Promise<void> {
    let resourceVersion: string | undefined = from
    while (!this.stopped) {
      try {
        resourceVersion ??= await this.listApplications()
        await this.kube.watch(this.appsPath, resourceVersion, (type, object) => {
          if (type === 'ERROR') {
            resourceVersion = undefined // 410 Gone (or another error): list again
            return false
          }

          resourceVersion = object.metadata.resourceVersion
          if (type === 'ADDED' || type === 'MODIFIED') this.observe(object as Application)
          else if (type === 'DELETED') {
            const st = this.apps.get(object.metadata.name)
            if (st) this.forget(st)
          }

          return true
        })
      } catch (error) {
        if (this.stopped) break
        if (error instanceof KubeError && error.code === 410) resourceVersion = undefined
        else if (error instanceof KubeError && error.code === 429) await sleep((error.retryAfter ?? 1) * 1000, this.abort.signal)
        else {
          this.log(`watch of Applications failed, resuming: ${errorMessage(error)}`)
          await sleep(1000, this.abort.signal)
        }
      }
    }
  }

  private observe(app: Application): void {
    let st = this.apps.get(app.metadata.name)
    if (!st) {
      st = {name: app.metadata.name, pending: false, wantFull: true, gone: false, fast: true, lastFull: 0, kinds: new Set()}
      this.apps.set(st.name, st)
      const loop = this.runLoop(st).finally(() => this.loops.delete(loop))
      this.loops.add(loop)
    }

    st.repoUrl = app.spec.source?.repoURL
    // Our own status writes come back as events too; only what Argo CD reacts to counts.
    const fingerprint = JSON.stringify([app.spec, app.operation ?? null, app.metadata.annotations?.[REFRESH_ANNOTATION] ?? null,
      app.metadata.deletionTimestamp ?? null, app.metadata.finalizers ?? null])
    if (fingerprint !== st.fingerprint) {
      st.fingerprint = fingerprint
      this.wake(st, true)
    }
  }

  private forget(st: AppState): void {
    st.gone = true
    this.apps.delete(st.name)
    st.wakeNow?.()
  }

  private wake(st: AppState, full: boolean): void {
    if (full) st.wantFull = true
    st.pending = true
    st.wakeNow?.()
  }

  private wakeLater(st: AppState, ms: number, full = false): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer)
      this.wake(st, full)
    }, Math.max(0, ms))
    this.timers.add(timer)
  }

  private async runLoop(st: AppState): Promise<void> {
    while (!this.stopped && !st.gone) {
      if (!st.pending) {
        const delay = st.fast ? FAST_MS : Math.max(0, this.pollMs - (Date.now() - st.lastFull))
        await new Promise<void>((resolve) => {
          const timer = setTimeout(done, delay)
          st.wakeNow = done
          function done() {
            clearTimeout(timer)
            st.wakeNow = undefined
            resolve()
          }
        })
      }

      if (this.stopped || st.gone) break
      st.pending = false
      const full = st.wantFull || Date.now() - st.lastFull >= this.pollMs
      st.wantFull = false
      if (full) st.lastFull = Date.now()
      try {
        await this.slots.run(() => this.reconcile(st, full))
      } catch (error) {
        if (this.stopped) break
        if (!(error instanceof KubeError && error.code === 404)) this.log(`app ${st.name}: ${errorMessage(error)}`)
      }
    }
  }

  private async readApp(name: string): Promise<Application | undefined> {
    try {
      return await this.kube.get<Application>(`${this.appsPath}/${name}`)
    } catch (error) {
      if (error instanceof KubeError && error.code === 404) return undefined
      throw error
    }
  }

  private async reconcile(st: AppState, full: boolean): Promise<void> {
    let app = await this.readApp(st.name)
    if (!app) {
      this.forget(st)
      return
    }

    if (app.metadata.deletionTimestamp) {
      st.fast = true
      await this.finalize(app, st)
      return
    }

    const refresh = app.metadata.annotations?.[REFRESH_ANNOTATION]
    if (refresh) {
      full = true
      if (refresh === 'hard') {
        st.target = undefined
        this.renders.clear()
      }
    }

    if (app.operation) {
      const done = await this.operate(app, st)
      app = await this.readApp(st.name)
      if (!app) return
      full = full || done
    }

    await this.refresh(app, st, full)
  }

  // --- refresh: compare the app's target state to the live state -------------------------

  private async refresh(app: Application, st: AppState, full: boolean): Promise<void> {
    const now = isoNow()
    const old = app.status ?? {}
    const status: AppStatus = clone(old)
    const spec = app.spec
    status.controllerNamespace = this.namespace

    const specErrors = await this.validate(app)
    const conditions: Condition[] = specErrors.map((message) => ({type: 'InvalidSpecError', message}))
    let health: Health = {status: 'Unknown'}
    let sync: NonNullable<AppStatus['sync']> = {status: 'Unknown', comparedTo: {source: spec.source, destination: spec.destination}}
    let compared: Comparison | undefined

    if (specErrors.length === 0) {
      const source = spec.source!
      let target: Target | undefined
      try {
        target = await this.targetState(app, source, undefined, st, full)
      } catch (error) {
        conditions.push({type: 'ComparisonError', message: `Failed to load target state: ${errorMessage(error)}`})
        if (error instanceof RevisionError) sync.revision = error.revision
      }

      compared = await this.compare(app, target?.objects, st, old.resources)
      health = compared.health
      if (target) {
        sync = {...sync, status: compared.synced ? 'Synced' : 'OutOfSync', revision: target.revision}
        status.sourceType = target.sourceType
        for (const message of target.warnings) conditions.push({type: 'RepeatedResourceWarning', message})
      }

      status.resources = compared.resources
      status.summary = compared.summary
      if (this.opts.persistResourceHealth) delete status.resourceHealthSource
      else status.resourceHealthSource = 'appTree'
    }

    status.sync = sync
    status.health = {...health, lastTransitionTime: old.health?.status === health.status ? old.health.lastTransitionTime ?? now : now}
    if (!health.message) delete status.health.message

    // Auto-sync, as appcontroller.go's autoSync decides it.
    let syncError: Condition | undefined
    let operation: Operation | undefined
    if (compared && !app.operation && sync.status === 'OutOfSync') {
      const decision = this.autoSync(app, sync.revision!, compared.resources)
      syncError = decision.condition
      operation = decision.operation
      if (decision.retryInMs !== undefined) this.wakeLater(st, decision.retryInMs)
    }

    if (syncError) conditions.push(syncError)
    status.conditions = mergeConditions(old.conditions, conditions, now)
    if (status.conditions.length === 0) delete status.conditions

    if (operation) {
      await this.kube.mergePatch(`${this.appsPath}/${app.metadata.name}`, {operation})
      this.log(`app ${app.metadata.name}: initiated automated sync to '${sync.revision}'`)
    }

    // reconciledAt: when the app was last compared with the latest of its repository. Argo CD
    // does that every 3 minutes; polling every second, this stamps a comparison that changed
    // something, a requested refresh, and otherwise at most one every 30 s.
    const refreshRequested = app.metadata.annotations?.[REFRESH_ANNOTATION] !== undefined
    if (full && (refreshRequested || mergePatchDiff(old, status) !== undefined || !old.reconciledAt || Date.parse(now) - Date.parse(old.reconciledAt) >= 30_000)) {
      status.reconciledAt = now
    }

    const patch: Dict = {}
    const statusPatch = mergePatchDiff(old, status)
    if (statusPatch !== undefined) patch.status = statusPatch
    if (refreshRequested) patch.metadata = {annotations: {[REFRESH_ANNOTATION]: null}}
    if (Object.keys(patch).length > 0) await this.kube.mergePatch(`${this.appsPath}/${app.metadata.name}`, patch)

    st.fast = operation !== undefined || ['Progressing', 'Missing'].includes(health.status)
    if (operation) this.wake(st, true)
  }

  /** The spec checks Argo CD makes before comparing (project, destination, source). */
  private async validate(app: Application): Promise<string[]> {
    const {spec} = app
    const projectName = spec.project || 'default'
    let project: {spec?: {sourceRepos?: string[]; destinations?: Destination[]}} | undefined
    try {
      project = await this.kube.get(`/apis/argoproj.io/v1alpha1/namespaces/${this.namespace}/appprojects/${projectName}`)
    } catch (error) {
      if (error instanceof KubeError && error.code === 404) return [`Application referencing project ${projectName} which does not exist`]
      throw error
    }

    const errors: string[] = []
    if (!spec.source) {
      errors.push(spec.sources ? 'multi-source Applications (spec.sources) are not supported by the ground\'s Argo CD' : 'spec.source is required')
      return errors
    }

    const dest = spec.destination ?? {}
    if (dest.server && dest.name) errors.push(`application destination can't have both name and server defined: ${dest.name} ${dest.server}`)
    else if (dest.name && dest.name !== 'in-cluster') errors.push(`there are no clusters with this name: ${dest.name}`)
    else if (!dest.name && dest.server !== IN_CLUSTER_SERVER) errors.push(dest.server ? `there are no clusters with this URL: ${dest.server}` : 'Destination server missing from app spec')

    const repos = project?.spec?.sourceRepos ?? []
    if (!repos.some((pattern) => globMatch(pattern, spec.source!.repoURL))) {
      errors.push(`application repo ${spec.source.repoURL} is not permitted in project '${projectName}'`)
    }

    const server = dest.server ?? IN_CLUSTER_SERVER
    const ns = dest.namespace ?? ''
    const allowed = (project?.spec?.destinations ?? []).some((d) =>
      (d.server ? globMatch(d.server, server) : d.name ? globMatch(d.name, dest.name ?? 'in-cluster') : false) && globMatch(d.namespace ?? '', ns))
    if (errors.length === 0 && !allowed) {
      errors.push(`application destination server '${server}' and namespace '${ns}' do not match any of the allowed destinations in project '${projectName}'`)
    }

    return errors
  }

  // --- auto-sync ---------------------------------------------------------------------------

  private autoSync(app: Application, revision: string, resources: ResourceStatus[]): {operation?: Operation; condition?: Condition; retryInMs?: number} {
    const policy = app.spec.syncPolicy
    const automated = policy?.automated
    if (!automated || automated.enabled === false || app.metadata.deletionTimestamp) return {}
    if (!automated.prune && resources.every((r) => r.status === 'Synced' || r.requiresPruning)) return {}

    const operation: Operation = {
      sync: {revision, prune: Boolean(automated.prune), ...(policy?.syncOptions ? {syncOptions: policy.syncOptions} : {})},
      initiatedBy: {automated: true},
      retry: policy?.retry ?? {limit: 5},
    }
    const last = app.status?.operationState
    const attempted = Boolean(last?.operation.sync && last.syncResult && last.syncResult.revision === revision &&
      deepEqual(withoutRevision(app.spec.source), withoutRevision(last.syncResult.source)))
    if (attempted) {
      const successful = last!.phase === 'Succeeded'
      if (!successful) return {condition: {type: 'SyncError', message: `Failed sync attempt to ${revision}: ${last!.message ?? ''}`}}
      if (!automated.selfHeal) return {}
      const wait = SELF_HEAL_MS - (Date.now() - Date.parse(last!.finishedAt ?? isoNow()))
      if (wait > 0) return {retryInMs: wait}
      operation.sync!.resources = resources.filter((r) => r.status !== 'Synced').map((r) => ({group: r.group ?? '', kind: r.kind, name: r.name}))
    }

    if (automated.prune && !automated.allowEmpty && resources.length > 0 && resources.every((r) => r.requiresPruning)) {
      return {condition: {type: 'SyncError', message: `Skipping sync attempt to ${revision}: auto-sync will wipe out all resources`}}
    }

    return {operation}
  }

  // --- operations (sync) -------------------------------------------------------------------

  /** Runs the requested operation; returns whether it completed. */
  private async operate(app: Application, st: AppState): Promise<boolean> {
    const operation = app.operation!
    const previous = app.status?.operationState
    let state: OperationState
    if (previous && previous.phase === 'Running' && deepEqual(previous.operation, operation)) {
      state = clone(previous)
      if (state.finishedAt) {
        // A failed attempt waiting for its retry.
        const retryAt = nextRetryAt(operation.retry, Date.parse(state.finishedAt), state.retryCount ?? 0)
        if (retryAt > Date.now()) {
          this.wakeLater(st, retryAt - Date.now())
          return false
        }

        delete state.finishedAt
        delete state.syncResult
        await this.setOperationState(app, state)
      }
    } else {
      state = {operation, phase: 'Running', startedAt: isoNow()}
      await this.setOperationState(app, state)
      this.log(`app ${app.metadata.name}: operation started: sync to ${operation.sync?.revision || 'the target revision'}${operation.sync?.resources ? ' (partial)' : ''}`)
    }

    const history = await this.syncAppState(app, state, st)
    const failed = state.phase === 'Failed' || state.phase === 'Error'
    const retry = operation.retry
    const limit = retry?.limit ?? 0
    if (failed && (limit < 0 || (state.retryCount ?? 0) < limit)) {
      const retryAt = nextRetryAt(retry, Date.now(), state.retryCount ?? 0)
      state.phase = 'Running'
      state.finishedAt = isoNow()
      state.retryCount = (state.retryCount ?? 0) + 1
      state.message = `${state.message}. Retrying attempt #${state.retryCount} at ${kitchen(new Date(retryAt))}.`
      this.wakeLater(st, retryAt - Date.now())
    } else if (failed && (state.retryCount ?? 0) > 0) {
      state.message = `${state.message} (retried ${state.retryCount} times).`
    }

    await this.setOperationState(app, state, history)
    const done = state.phase !== 'Running'
    if (done) this.log(`app ${app.metadata.name}: operation ${state.phase}: ${state.message}`)
    return done
  }

  private async setOperationState(app: Application, state: OperationState, history?: HistoryEntry): Promise<void> {
    const completed = state.phase !== 'Running' && state.phase !== 'Terminating'
    if (completed) state.finishedAt = isoNow()
    const fresh = await this.readApp(app.metadata.name)
    if (!fresh) return
    const status: Dict = {}
    const diff = mergePatchDiff(fresh.status?.operationState ?? null, clean(state))
    if (diff !== undefined) status.operationState = diff
    if (history) {
      const limit = app.spec.revisionHistoryLimit ?? 10
      status.history = [...(fresh.status?.history ?? []), history].slice(-Math.max(limit, 1))
    }

    const patch: Dict = {status}
    if (completed) patch.operation = null
    else if (Object.keys(status).length === 0) return
    await this.kube.mergePatch(`${this.appsPath}/${app.metadata.name}`, patch)
  }

  /** controller/sync.go's SyncAppState; returns the history entry of a successful full sync. */
  private async syncAppState(app: Application, state: OperationState, st: AppState): Promise<HistoryEntry | undefined> {
    const syncOp = state.operation.sync
    if (!syncOp) {
      state.phase = 'Failed'
      state.message = 'Invalid operation request: no operation specified'
      return undefined
    }

    const specErrors = await this.validate(app)
    if (specErrors.length > 0) {
      state.phase = 'Failed'
      state.message = specErrors.join('; ')
      return undefined
    }

    const source = syncOp.source ?? app.spec.source!
    const wanted = state.syncResult?.revision || syncOp.revision || source.targetRevision
    let target: Target
    try {
      target = await this.targetState(app, source, wanted, st, true)
    } catch (error) {
      state.phase = 'Error'
      state.message = `ComparisonError: Failed to load target state: ${errorMessage(error)}`
      return undefined
    }

    state.syncResult = {resources: [], revision: target.revision, source}
    const results = state.syncResult.resources!
    const options = new Set([...(app.spec.syncPolicy?.syncOptions ?? []), ...(syncOp.syncOptions ?? [])])
    const destNs = app.spec.destination.namespace
    const selected = (o: {kind: string; metadata: Meta}) => !syncOp.resources || syncOp.resources.some((r) =>
      r.kind === o.kind && r.name === o.metadata.name && (r.group ?? '') === groupOf(o as KObject) && (!r.namespace || r.namespace === o.metadata.namespace))
    const partial = Boolean(syncOp.resources?.length)

    if (syncOp.dryRun) {
      state.phase = 'Succeeded'
      state.message = 'successfully synced (dry run)'
      return undefined
    }

    if (options.has('CreateNamespace=true') && destNs) {
      const managed = app.spec.syncPolicy?.managedNamespaceMetadata
      const created = await this.kube.createIfMissing('/api/v1/namespaces', {apiVersion: 'v1', kind: 'Namespace', metadata: {name: destNs, labels: managed?.labels, annotations: managed?.annotations}})
      if (created) {
        results.push({group: '', version: 'v1', kind: 'Namespace', namespace: '', name: destNs, status: 'Synced',
          message: `namespace/${destNs} created`, hookPhase: 'Succeeded', syncPhase: 'PreSync'})
      }

      // managedNamespaceMetadata: Argo CD puts these on the destination namespace, made now or
      // already there, with every sync.
      if (!created && (managed?.labels || managed?.annotations)) {
        await this.kube.apply(`/api/v1/namespaces/${destNs}`, {apiVersion: 'v1', kind: 'Namespace', metadata: {name: destNs, labels: managed.labels, annotations: managed.annotations}}, false)
      }
    }

    const live = await this.liveObjects(app, kindsOf(target.objects, app.status?.resources, st.kinds))
    const ssa = options.has('ServerSideApply=true')
    for (const object of sortForSync(target.objects.filter(selected))) {
      results.push(await this.applyObject(object, live.get(objectKey(object)), ssa))
    }

    for (const [key, object] of live) {
      if (target.objects.some((o) => objectKey(o) === key) || !selected(object)) continue
      const base = {group: groupOf(object), version: versionOf(object), kind: object.kind, namespace: object.metadata.namespace ?? '',
        name: object.metadata.name, syncPhase: 'Sync'}
      if (!syncOp.prune || object.metadata.annotations?.['argocd.argoproj.io/sync-options']?.includes('Prune=false')) {
        results.push({...base, status: 'PruneSkipped', message: 'ignored (requires pruning)', hookPhase: 'Succeeded'})
        continue
      }

      try {
        if (!object.metadata.deletionTimestamp) await this.kube.delete(await this.discovery.objectPath(object), 'Foreground')
        results.push({...base, status: 'Pruned', message: 'pruned', hookPhase: 'Succeeded'})
      } catch (error) {
        results.push({...base, status: 'SyncFailed', message: errorMessage(error), hookPhase: 'Failed'})
      }
    }

    const failures = results.filter((r) => r.status === 'SyncFailed')
    if (failures.length > 0) {
      state.phase = 'Failed'
      state.message = `one or more objects failed to apply, reason: ${failures.map((f) => f.message).join(', ')}`
      return undefined
    }

    state.phase = 'Succeeded'
    state.message = target.objects.length === 0 ? 'successfully synced (no manifests)' : 'successfully synced (all tasks run)'
    if (partial) return undefined
    const history = app.status?.history ?? []
    return {
      id: history.length > 0 ? history[history.length - 1].id + 1 : 0,
      revision: target.revision,
      deployedAt: isoNow(),
      deployStartedAt: state.startedAt,
      source,
      ...(state.operation.initiatedBy ? {initiatedBy: state.operation.initiatedBy} : {}),
    }
  }

  private async applyObject(object: KObject, live: KObject | undefined, serverSideApplyOption: boolean): Promise<ResourceResult> {
    const group = groupOf(object)
    const base = {group, version: versionOf(object), kind: object.kind, namespace: object.metadata.namespace ?? '', name: object.metadata.name,
      syncPhase: 'Sync'}
    const display = `${object.kind.toLowerCase()}${group ? `.${group}` : ''}/${object.metadata.name}`
    try {
      const objectPath = await this.discovery.objectPath(object)
      if (!live) live = await this.kube.getOrUndefined<KObject>(objectPath)
      const applied = await this.kube.apply<KObject>(objectPath, object, false)
      let message = serverSideApplyOption ? 'serverside-applied'
        : !live ? 'created' : live.metadata.resourceVersion === applied.metadata.resourceVersion ? 'unchanged' : 'configured'
      message = `${display} ${message}`
      await this.publishIngress(applied, objectPath)
      return {...base, status: 'Synced', message, hookPhase: 'Running'}
    } catch (error) {
      return {...base, status: 'SyncFailed', message: errorMessage(error), hookPhase: 'Failed'}
    }
  }

  /** The ingress controller's part: an address in the Ingress status. */
  private async publishIngress(object: KObject, objectPath: string): Promise<void> {
    const address = this.opts.ingressAddress ?? '127.0.0.1'
    if (!address || object.kind !== 'Ingress' || !['networking.k8s.io', 'extensions'].includes(groupOf(object))) return
    const published = dig(object, 'status', 'loadBalancer', 'ingress')
    if (Array.isArray(published) && published.length > 0) return
    const entry = /^[\d.:]+$/.test(address) ? {ip: address} : {hostname: address}
    await this.kube.mergePatch(`${objectPath}/status`, {status: {loadBalancer: {ingress: [entry]}}})
  }

  // --- deletion ----------------------------------------------------------------------------

  private async finalize(app: Application, st: AppState): Promise<void> {
    const finalizers = app.metadata.finalizers ?? []
    const ours = finalizers.filter((f) => f === RESOURCES_FINALIZER || f.startsWith(`${RESOURCES_FINALIZER}/`))
    if (ours.length === 0) {
      st.fast = false
      return
    }

    const live = await this.liveObjects(app, kindsOf(st.target?.objects ?? [], app.status?.resources, st.kinds))
    if (live.size > 0) {
      const policy = ours.includes(`${RESOURCES_FINALIZER}/background`) ? 'Background' : 'Foreground'
      for (const object of live.values()) {
        if (object.metadata.deletionTimestamp) continue
        try {
          await this.kube.delete(await this.discovery.objectPath(object), policy)
        } catch (error) {
          if (!(error instanceof KubeError && error.code === 404)) this.log(`app ${app.metadata.name}: deleting ${object.kind}/${object.metadata.name}: ${errorMessage(error)}`)
        }
      }

      return
    }

    const rest = finalizers.filter((f) => !ours.includes(f))
    await this.kube.mergePatch(`${this.appsPath}/${app.metadata.name}`, {metadata: {finalizers: rest, resourceVersion: app.metadata.resourceVersion}})
    this.log(`app ${app.metadata.name}: deleted its resources, removed the finalizer`)
  }

  // --- target state (the repo-server's part) -----------------------------------------------

  private async targetState(app: Application, source: Source, revision: string | undefined, st: AppState, resolve: boolean): Promise<Target> {
    const appName = app.metadata.name
    const destNs = app.spec.destination.namespace ?? ''
    const key = JSON.stringify([appName, destNs, source, revision ?? null, this.tracking])
    if (!resolve && st.target?.key === key) return st.target

    if (source.chart) throw new Error('Helm repository charts (spec.source.chart) are not supported by the ground\'s Argo CD')
    const sha = await this.repos.resolve(source.repoURL, revision ?? source.targetRevision ?? 'HEAD')
    const renderKey = JSON.stringify([key, sha, this.discovery.kubeVersion])
    let rendering = this.renders.get(renderKey)
    if (!rendering) {
      rendering = this.render(app, source, sha, key)
      this.renders.set(renderKey, rendering)
      rendering.catch(() => this.renders.delete(renderKey))
    }

    const target = await rendering
    if (revision === undefined) st.target = target
    for (const object of target.objects) st.kinds.add(`${groupOf(object)}/${object.kind}`)
    return target
  }

  private async render(app: Application, source: Source, sha: string, key: string): Promise<Target> {
    const tree = await this.repos.checkout(source.repoURL, sha)
    const destNs = app.spec.destination.namespace ?? ''
    const rendered = await renderSource({
      repoRoot: tree, source, appName: app.metadata.name, namespace: destNs, revision: sha, helm: this.opts.helm,
      workDir: path.resolve(this.opts.workDir), kubeVersion: this.discovery.kubeVersion, apiVersions: this.discovery.apiVersions, signal: this.abort.signal,
    })

    // NormalizeTargetObjects: namespaces, tracking, duplicates.
    const byKey = new Map<string, KObject>()
    const counts = new Map<string, number>()
    for (const object of rendered.objects) {
      const info = await this.discovery.find(object.apiVersion, object.kind)
      object.metadata = {...(object.metadata ?? {name: ''})}
      if (info && !info.namespaced) delete object.metadata.namespace
      else if (!object.metadata.namespace) object.metadata.namespace = destNs
      this.setTracking(object, app.metadata.name)
      const k = objectKey(object)
      byKey.set(k, object)
      counts.set(k, (counts.get(k) ?? 0) + 1)
    }

    const warnings = [...counts].filter(([, n]) => n > 1).map(([k, n]) => `Resource ${k} appeared ${n} times among application resources.`)
    return {key, revision: sha, sourceType: rendered.sourceType, objects: [...byKey.values()], warnings}
  }

  private setTracking(object: KObject, appName: string): void {
    if (this.tracking !== 'annotation') {
      object.metadata.labels = {...object.metadata.labels, [INSTANCE_LABEL]: appName.slice(0, 63)}
    }

    if (this.tracking !== 'label') {
      object.metadata.annotations = {...object.metadata.annotations, [TRACKING_ANNOTATION]: trackingId(appName, object)}
    }
  }

  private isTracked(object: KObject, appName: string): boolean {
    if (object.metadata.ownerReferences?.length) return false
    if (this.tracking === 'label') return object.metadata.labels?.[INSTANCE_LABEL] === appName.slice(0, 63)
    return object.metadata.annotations?.[TRACKING_ANNOTATION] === trackingId(appName, object)
  }

  // --- live state and comparison -----------------------------------------------------------

  /** The app's top-level objects in the cluster, found by tracking label or annotation. */
  private async liveObjects(app: Application, kinds: Set<string>): Promise<Map<string, KObject>> {
    const appName = app.metadata.name
    const found = new Map<string, KObject>()
    const selector = this.tracking === 'annotation' ? undefined : `${INSTANCE_LABEL}=${appName.slice(0, 63)}`
    for (const groupKind of kinds) {
      const info = await this.discovery.findGroupKind(groupKind)
      if (!info) continue
      const list = await this.kube.get<{items: KObject[]}>(info.collectionPath(), selector ? {labelSelector: selector} : {})
      for (const item of list.items) {
        const object = {...item, apiVersion: info.apiVersion, kind: info.kind}
        if (this.isTracked(object, appName)) found.set(objectKey(object), object)
      }
    }

    return found
  }

  private async compare(app: Application, targets: KObject[] | undefined, st: AppState, previous: ResourceStatus[] | undefined): Promise<Comparison> {
    const live = await this.liveObjects(app, kindsOf(targets ?? [], previous, st.kinds))
    const resources: ResourceStatus[] = []
    const managed: KObject[] = []
    let synced = true
    let appHealth = 'Healthy'
    let anyLive = false
    const worse = (status: string) => {
      if (HEALTH_ORDER.indexOf(status) > HEALTH_ORDER.indexOf(appHealth)) appHealth = status
    }

    const entry = (object: KObject, status: string, health: Health | undefined, requiresPruning = false): ResourceStatus => clean({
      group: groupOf(object) || undefined, version: versionOf(object), kind: object.kind, namespace: object.metadata.namespace || undefined,
      name: object.metadata.name, status, health: this.opts.persistResourceHealth ? health : undefined, requiresPruning: requiresPruning || undefined,
    })

    for (const target of targets ?? []) {
      const current = live.get(objectKey(target))
      if (!current) {
        synced = false
        resources.push(entry(target, 'OutOfSync', {status: 'Missing'}))
        continue
      }

      anyLive = true
      managed.push(current)
      const same = await this.isSynced(target, current)
      if (!same) synced = false
      const health = resourceHealth(current)
      if (health) worse(health.status)
      resources.push(entry(target, same ? 'Synced' : 'OutOfSync', health))
    }

    for (const [key, current] of live) {
      if (targets?.some((t) => objectKey(t) === key)) continue
      anyLive = true
      managed.push(current)
      const health = resourceHealth(current)
      if (health) worse(health.status)
      if (targets) {
        synced = false
        resources.push(entry(current, 'OutOfSync', health, true))
      } else {
        const before = previous?.find((r) => r.kind === current.kind && r.name === current.metadata.name && (r.namespace ?? '') === (current.metadata.namespace ?? ''))
        resources.push(entry(current, before?.status ?? 'Unknown', health, before?.requiresPruning))
      }
    }

    if (targets && targets.length > 0 && !anyLive && HEALTH_ORDER.indexOf('Missing') > HEALTH_ORDER.indexOf(appHealth)) appHealth = 'Missing'
    for (const object of managed) {
      if (object.kind === 'Ingress') {
        await this.publishIngress(object, await this.discovery.objectPath(object)).catch(() => undefined)
      }
    }

    resources.sort((a, b) => (statusKey(a) < statusKey(b) ? -1 : statusKey(a) > statusKey(b) ? 1 : 0))
    return {synced, resources, health: {status: appHealth}, summary: await this.summary(app, managed, st)}
  }

  /** Server-side diff: a dry-run apply of the target compared to the live object. */
  private async isSynced(target: KObject, live: KObject): Promise<boolean> {
    const cacheKey = `${hash(JSON.stringify(target))}/${live.metadata.uid}/${live.metadata.resourceVersion}`
    const cached = this.diffs.get(cacheKey)
    if (cached !== undefined) return cached
    let same = false
    try {
      const predicted = await this.kube.apply<KObject>(await this.discovery.objectPath(target), target, true)
      same = deepEqual(forDiff(predicted), forDiff(live))
    } catch {
      same = false
    }

    this.diffs.set(cacheKey, same)
    return same
  }

  /** The summary of the app's resource tree: external URLs (Ingresses, links) and Pod images. */
  private async summary(app: Application, managed: KObject[], st: AppState): Promise<NonNullable<AppStatus['summary']>> {
    // The tree only changes when a managed object does (a rollout changes its Deployment).
    const key = JSON.stringify([app.metadata.annotations ?? {}, managed.map((o) => `${o.metadata.uid}@${o.metadata.resourceVersion}`).sort()])
    if (st.summary?.key !== key) st.summary = {key, value: await this.treeSummary(app, managed)}
    return st.summary.value
  }

  private async treeSummary(app: Application, managed: KObject[]): Promise<NonNullable<AppStatus['summary']>> {
    const urls = new Set<string>()
    for (const [k, v] of Object.entries(app.metadata.annotations ?? {})) if (k.startsWith(LINK_PREFIX)) urls.add(v)
    for (const object of managed) {
      for (const [k, v] of Object.entries(object.metadata.annotations ?? {})) if (k.startsWith(LINK_PREFIX)) urls.add(v)
      if (object.kind === 'Ingress' && ['networking.k8s.io', 'extensions'].includes(groupOf(object))) {
        for (const url of ingressUrls(object)) urls.add(url)
      }
    }

    const images = new Set<string>()
    const owners = new Set(managed.map((o) => o.metadata.uid).filter(Boolean) as string[])
    const workloads = new Set(['Deployment', 'ReplicaSet', 'StatefulSet', 'DaemonSet', 'Job', 'CronJob', 'Pod'])
    const namespaces = new Set(managed.filter((o) => workloads.has(o.kind) && o.metadata.namespace).map((o) => o.metadata.namespace!))
    const collectImages = (pod: KObject) => {
      for (const list of [dig(pod, 'spec', 'initContainers'), dig(pod, 'spec', 'containers')]) {
        if (Array.isArray(list)) for (const c of list) if (typeof (c as Dict).image === 'string') images.add((c as Dict).image as string)
      }
    }

    for (const object of managed) if (object.kind === 'Pod') collectImages(object)
    for (const ns of namespaces) {
      const [replicaSets, jobs, pods] = await Promise.all([
        this.kube.get<{items: KObject[]}>(`/apis/apps/v1/namespaces/${ns}/replicasets`),
        this.kube.get<{items: KObject[]}>(`/apis/batch/v1/namespaces/${ns}/jobs`),
        this.kube.get<{items: KObject[]}>(`/api/v1/namespaces/${ns}/pods`),
      ])
      const owned = (o: KObject) => o.metadata.ownerReferences?.some((r) => owners.has(r.uid)) ?? false
      for (const o of [...jobs.items, ...replicaSets.items]) if (owned(o) && o.metadata.uid) owners.add(o.metadata.uid)
      for (const pod of pods.items) if (owned(pod)) collectImages(pod)
    }

    return clean({externalURLs: urls.size ? [...urls].sort() : undefined, images: images.size ? [...images].sort() : undefined})
  }
}

interface Comparison {
  synced: boolean
  resources: ResourceStatus[]
  health: Health
  summary: NonNullable<AppStatus['summary']>
}

// ---------------------------------------------------------------------------------------------
// Health (gitops-engine's pkg/health, for the kinds a web app deploys)

const HEALTH_ORDER = ['Healthy', 'Suspended', 'Progressing', 'Missing', 'Degraded', 'Unknown']

function resourceHealth(object: KObject): Health | undefined {
  if (object.metadata.deletionTimestamp) return {status: 'Progressing', message: 'Pending deletion'}
  const group = groupOf(object)
  const status = (dig(object, 'status') ?? {}) as Dict
  const spec = (dig(object, 'spec') ?? {}) as Dict
  const n = (v: unknown) => (typeof v === 'number' ? v : 0)
  const generation = object.metadata.generation ?? 0
  const observed = n(status.observedGeneration)
  const condition = (type: string) => (Array.isArray(status.conditions) ? status.conditions as Dict[] : []).find((c) => c.type === type)
  const replicas = typeof spec.replicas === 'number' ? spec.replicas : 1

  switch (`${group}/${object.kind}`) {
    case 'apps/Deployment':
    case 'extensions/Deployment': {
      if (spec.paused) return {status: 'Suspended', message: 'Deployment is paused'}
      if (generation > observed) return {status: 'Progressing', message: 'Waiting for rollout to finish: observed deployment generation less then desired generation'}
      if (condition('Progressing')?.reason === 'ProgressDeadlineExceeded') return {status: 'Degraded', message: `Deployment "${object.metadata.name}" exceeded its progress deadline`}
      if (n(status.updatedReplicas) < replicas) return {status: 'Progressing', message: `Waiting for rollout to finish: ${n(status.updatedReplicas)} out of ${replicas} new replicas have been updated...`}
      if (n(status.replicas) > n(status.updatedReplicas)) return {status: 'Progressing', message: `Waiting for rollout to finish: ${n(status.replicas) - n(status.updatedReplicas)} old replicas are pending termination...`}
      if (n(status.availableReplicas) < n(status.updatedReplicas)) return {status: 'Progressing', message: `Waiting for rollout to finish: ${n(status.availableReplicas)} of ${n(status.updatedReplicas)} updated replicas are available...`}
      return {status: 'Healthy'}
    }

    case 'apps/ReplicaSet': {
      if (generation > observed) return {status: 'Progressing', message: 'Waiting for rollout to finish: observed replica set generation less then desired generation'}
      const failure = condition('ReplicaFailure')
      if (failure?.status === 'True') return {status: 'Degraded', message: String(failure.message ?? '')}
      if (n(status.availableReplicas) < replicas) return {status: 'Progressing', message: `Waiting for rollout to finish: ${n(status.availableReplicas)} out of ${replicas} new replicas are available...`}
      return {status: 'Healthy'}
    }

    case 'apps/StatefulSet': {
      if (observed === 0 || generation > observed) return {status: 'Progressing', message: 'Waiting for statefulset spec update to be observed...'}
      if (n(status.readyReplicas) < replicas) return {status: 'Progressing', message: `Waiting for ${replicas - n(status.readyReplicas)} pods to be ready...`}
      if (status.updateRevision && status.currentRevision !== status.updateRevision) {
        return {status: 'Progressing', message: `waiting for statefulset rolling update to complete ${n(status.updatedReplicas)} pods at revision ${String(status.updateRevision)}...`}
      }

      return {status: 'Healthy', message: `statefulset rolling update complete ${n(status.currentReplicas)} pods at revision ${String(status.currentRevision ?? '')}...`}
    }

    case 'apps/DaemonSet': {
      const name = object.metadata.name
      if (generation > observed) return {status: 'Progressing', message: 'Waiting for rollout to finish: observed daemon set generation less then desired generation'}
      if (n(status.updatedNumberScheduled) < n(status.desiredNumberScheduled)) {
        return {status: 'Progressing', message: `Waiting for daemon set "${name}" rollout to finish: ${n(status.updatedNumberScheduled)} out of ${n(status.desiredNumberScheduled)} new pods have been updated...`}
      }

      if (n(status.numberAvailable) < n(status.desiredNumberScheduled)) {
        return {status: 'Progressing', message: `Waiting for daemon set "${name}" rollout to finish: ${n(status.numberAvailable)} of ${n(status.desiredNumberScheduled)} updated pods are available...`}
      }

      return {status: 'Healthy'}
    }

    case '/Service': {
      if (spec.type !== 'LoadBalancer') return {status: 'Healthy'}
      const ingress = dig(object, 'status', 'loadBalancer', 'ingress')
      return {status: Array.isArray(ingress) && ingress.length > 0 ? 'Healthy' : 'Progressing'}
    }

    case 'networking.k8s.io/Ingress':
    case 'extensions/Ingress': {
      const ingress = dig(object, 'status', 'loadBalancer', 'ingress')
      return {status: Array.isArray(ingress) && ingress.length > 0 ? 'Healthy' : 'Progressing'}
    }

    case '/PersistentVolumeClaim':
      if (status.phase === 'Bound') return {status: 'Healthy'}
      if (status.phase === 'Lost') return {status: 'Degraded'}
      return {status: 'Progressing'}

    case 'batch/Job': {
      const failed = condition('Failed')
      if (failed?.status === 'True') return {status: 'Degraded', message: String(failed.message ?? '')}
      const complete = condition('Complete')
      if (complete?.status === 'True') return {status: 'Healthy', message: String(complete.message ?? '')}
      if (spec.suspend) return {status: 'Suspended', message: 'Job is suspended'}
      return {status: 'Progressing'}
    }

    case '/Pod': {
      const message = typeof status.message === 'string' ? status.message : undefined
      if (status.phase === 'Succeeded') return {status: 'Healthy', message}
      if (status.phase === 'Failed') return {status: 'Degraded', message}
      if (status.phase !== 'Running') return {status: 'Progressing', message}
      const containers = Array.isArray(status.containerStatuses) ? status.containerStatuses as Dict[] : []
      for (const c of containers) {
        const waiting = dig(c as KObject, 'state', 'waiting') as Dict | undefined
        if (waiting && typeof waiting.reason === 'string' && /BackOff|Err|Invalid|Error/.test(waiting.reason)) {
          return {status: 'Degraded', message: String(waiting.message ?? waiting.reason)}
        }
      }

      return {status: containers.every((c) => c.ready === true) ? 'Healthy' : 'Progressing', message}
    }

    default:
      return undefined
  }
}

/** External URLs of an Ingress as controller/cache/info.go derives them. */
function ingressUrls(ingress: KObject): string[] {
  if (ingress.metadata.annotations?.['argocd.argoproj.io/ignore-default-links'] === 'true') return []
  const urls = new Set<string>()
  const published = (dig(ingress, 'status', 'loadBalancer', 'ingress') ?? []) as Dict[]
  const rules = (dig(ingress, 'spec', 'rules') ?? []) as Dict[]
  const tls = (dig(ingress, 'spec', 'tls') ?? []) as Dict[]
  for (const rule of Array.isArray(rules) ? rules : []) {
    let host = typeof rule.host === 'string' ? rule.host : ''
    if (!host) host = published.map((p) => String(p.hostname ?? p.ip ?? '')).find(Boolean) ?? ''
    const paths = dig(rule as KObject, 'http', 'paths')
    if (!Array.isArray(paths) || !host) continue
    // As Argo CD does: any TLS entry with a secret, or one naming this host, means https.
    const scheme = (Array.isArray(tls) ? tls : []).some((t) => t.secretName || t.host === host) ? 'https' : 'http'
    for (const p of paths as Dict[]) {
      const sub = typeof p.path === 'string' ? p.path.replace(/\*$/, '') : ''
      urls.add(`${scheme}://${host}${sub}`)
    }
  }

  return [...urls]
}

// ---------------------------------------------------------------------------------------------
// Rendering (the repo-server's manifest generation)

interface RenderInput {
  repoRoot: string
  source: Source
  appName: string
  namespace: string
  revision: string
  helm: string
  workDir: string
  kubeVersion: string
  apiVersions: string[]
  signal: AbortSignal
}

async function renderSource(input: RenderInput): Promise<{objects: KObject[]; sourceType: string}> {
  const {repoRoot, source} = input
  const appPath = path.resolve(repoRoot, source.path ?? '.')
  if (appPath !== repoRoot && !appPath.startsWith(repoRoot + path.sep)) throw new Error(`app path '${source.path}' is outside the repository`)
  if (!existsSync(appPath) || !statSync(appPath).isDirectory()) throw new Error(`${source.path ?? '.'}: app path does not exist`)
  if (source.plugin) throw new Error('config management plugins are not supported by the ground\'s Argo CD')

  if (existsSync(path.join(appPath, 'Chart.yaml'))) return {objects: await helmTemplate(input, appPath), sourceType: 'Helm'}
  if (source.kustomize || ['kustomization.yaml', 'kustomization.yml', 'Kustomization'].some((f) => existsSync(path.join(appPath, f)))) {
    throw new Error('kustomize sources are not supported by the ground\'s Argo CD')
  }

  const objects: KObject[] = []
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, {withFileTypes: true}).sort((a, b) => a.name.localeCompare(b.name))) {
      const full = path.join(dir, entry.name)
      if (entry.isDirectory()) {
        if (source.directory?.recurse && !entry.name.startsWith('.')) walk(full)
      } else if (/\.(ya?ml|json)$/.test(entry.name)) {
        objects.push(...parseManifests(readFileSync(full, 'utf8'), path.relative(repoRoot, full)))
      }
    }
  }

  walk(appPath)
  return {objects, sourceType: 'Directory'}
}

async function helmTemplate(input: RenderInput, appPath: string): Promise<KObject[]> {
  const helm = input.source.helm ?? {}
  const tmp = path.join(input.workDir, 'tmp')
  mkdirSync(tmp, {recursive: true})
  const args = ['template', '.', '--name-template', helm.releaseName || input.appName, '--namespace', helm.namespace || input.namespace,
    '--kube-version', helm.kubeVersion || input.kubeVersion]
  for (const file of helm.valueFiles ?? []) {
    if (!/^https?:\/\//.test(file)) {
      const resolved = path.resolve(appPath, file)
      if (resolved !== input.repoRoot && !resolved.startsWith(input.repoRoot + path.sep)) throw new Error(`value file '${file}' resolved to outside repository root`)
      if (!existsSync(resolved) && helm.ignoreMissingValueFiles) continue
    }

    args.push('--values', file)
  }

  let valuesFile: string | undefined
  const inline = helm.valuesObject ? stringify(helm.valuesObject) : helm.values
  if (inline && inline.trim()) {
    valuesFile = path.join(tmp, `values-${randomBytes(6).toString('hex')}.yaml`)
    writeFileSync(valuesFile, inline, {mode: 0o600})
    args.push('--values', valuesFile)
  }

  for (const p of helm.parameters ?? []) args.push(p.forceString ? '--set-string' : '--set', `${p.name}=${escapeSetValue(p.value ?? '')}`)
  for (const p of helm.fileParameters ?? []) args.push('--set-file', `${p.name}=${p.path}`)
  args.push(helm.skipCrds ? '--skip-crds' : '--include-crds')
  if (helm.skipTests) args.push('--skip-tests')
  if (helm.skipSchemaValidation) args.push('--skip-schema-validation')
  const shown = `helm ${args.join(' ')}`
  for (const v of helm.apiVersions ?? input.apiVersions) args.push('--api-versions', v)

  const home = path.join(input.workDir, 'helm')
  const env = {PATH: process.env.PATH ?? '', HOME: home, HELM_CACHE_HOME: `${home}/cache`, HELM_CONFIG_HOME: `${home}/config`, HELM_DATA_HOME: `${home}/data`}
  try {
    const {stdout} = await run(input.helm, args, {cwd: appPath, env, signal: input.signal})
    return parseManifests(stdout, 'helm template')
  } catch (error) {
    if (error instanceof ExecError) throw new Error(`\`${shown}\` failed exit status ${error.code}: ${error.stderr.trim()}`)
    throw error
  } finally {
    if (valuesFile) rmSync(valuesFile, {force: true})
  }
}

/** Argo CD escapes commas in --set values, except in Helm's `{a,b}` list syntax. */
function escapeSetValue(value: string): string {
  if (value.startsWith('{') && value.endsWith('}')) return value
  return value.replace(/(?<!\\),/g, '\\,')
}

function parseManifests(text: string, origin: string): KObject[] {
  const objects: KObject[] = []
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0) throw new Error(`failed to unmarshal ${origin}: ${doc.errors[0].message}`)
    const value = doc.toJS() as unknown
    if (value === null || value === undefined) continue
    if (typeof value !== 'object' || Array.isArray(value)) throw new Error(`failed to unmarshal ${origin}: not a Kubernetes object`)
    const object = value as KObject
    if (typeof object.kind === 'string' && object.kind.endsWith('List') && Array.isArray(object.items)) {
      objects.push(...(object.items as KObject[]))
      continue
    }

    if (!object.kind) throw new Error(`failed to unmarshal ${origin}: Object 'Kind' is missing in '${JSON.stringify(object).slice(0, 200)}'`)
    if (!object.apiVersion) throw new Error(`failed to unmarshal ${origin}: Object 'apiVersion' is missing in '${JSON.stringify(object).slice(0, 200)}'`)
    objects.push(object)
  }

  // Hooks (Argo CD and Helm) are not part of the app's resources; this stand-in does not run them.
  return objects.filter((o) => !o.metadata?.annotations?.['argocd.argoproj.io/hook'] && !o.metadata?.annotations?.['helm.sh/hook'])
}

// ---------------------------------------------------------------------------------------------
// Git (repositories, credentials, revisions)

/** A ComparisonError that still knows which revision it was about. */
class RevisionError extends Error {
  constructor(message: string, readonly revision?: string) {
    super(message)
  }
}

interface Credentials {
  username: string
  password: string
}

class Repos {
  private readonly locks = new Map<string, Promise<unknown>>()
  private readonly refsCache = new Map<string, {at: number; refs: Promise<Map<string, string>>}>()

  constructor(private readonly workDir: string, private readonly kube: Kube, private readonly namespace: string, private readonly signal: AbortSignal) {}

  /** Resolves a branch, tag, SHA or HEAD to a commit SHA, as the repo-server does (git ls-remote). */
  async resolve(url: string, revision: string): Promise<string> {
    const refs = await this.lsRemote(url)
    const rev = revision || 'HEAD'
    const candidates = rev === 'HEAD' ? ['HEAD'] : rev.startsWith('refs/') ? [rev] : [`refs/heads/${rev}`, `refs/tags/${rev}^{}`, `refs/tags/${rev}`]
    for (const ref of candidates) {
      const sha = refs.get(ref)
      if (sha) return sha
    }

    if (/^[0-9a-f]{40}$/i.test(rev)) return rev.toLowerCase()
    if (/^[0-9a-f]{4,39}$/i.test(rev)) {
      const sha = [...refs.values()].find((s) => s.startsWith(rev.toLowerCase()))
      if (sha) return sha
      return this.locked(url, async () => {
        await this.fetch(url)
        return (await this.git(url, ['rev-parse', '--verify', `${rev}^{commit}`])).trim()
      }).catch(() => {
        throw new Error(`unable to resolve git revision ${rev}: unable to resolve '${rev}' to a commit SHA`)
      })
    }

    throw new Error(`unable to resolve git revision ${rev}: unable to resolve '${rev}' to a commit SHA`)
  }

  /** The repository tree at a commit, checked out once into the work folder. */
  async checkout(url: string, sha: string): Promise<string> {
    const dir = path.join(this.workDir, 'trees', repoKey(url), sha)
    if (existsSync(dir)) return dir
    return this.locked(url, async () => {
      if (existsSync(dir)) return dir
      if (!(await this.hasCommit(url, sha))) await this.fetch(url)
      if (!(await this.hasCommit(url, sha))) {
        await this.fetch(url, sha).catch(() => undefined)
        if (!(await this.hasCommit(url, sha))) throw new RevisionError(`unable to resolve git revision ${sha}: commit not found in ${redactUrl(url)}`, sha)
      }

      const tmp = `${dir}.tmp-${randomBytes(4).toString('hex')}`
      mkdirSync(tmp, {recursive: true})
      await extract(this.mirror(url), sha, tmp, this.signal)
      renameSync(tmp, dir)
      this.pruneTrees(path.dirname(dir))
      return dir
    })
  }

  private async lsRemote(url: string): Promise<Map<string, string>> {
    const cached = this.refsCache.get(url)
    if (cached && Date.now() - cached.at < 500) return cached.refs
    const refs = (async () => {
      const env = gitEnv(await this.credentials(url))
      try {
        const {stdout} = await run('git', ['ls-remote', url], {env, signal: this.signal})
        const map = new Map<string, string>()
        for (const line of stdout.split('\n')) {
          const [sha, ref] = line.split('\t')
          if (sha && ref) map.set(ref, sha)
        }

        return map
      } catch (error) {
        throw new Error(`failed to list refs: ${gitError(error)}`)
      }
    })()
    this.refsCache.set(url, {at: Date.now(), refs})
    refs.catch(() => this.refsCache.delete(url))
    return refs
  }

  private mirror(url: string): string {
    return path.join(this.workDir, 'repos', repoKey(url))
  }

  private async git(url: string, args: string[], withCredentials = false): Promise<string> {
    const env = gitEnv(withCredentials ? await this.credentials(url) : undefined)
    const {stdout} = await run('git', ['-C', this.mirror(url), ...args], {env, signal: this.signal})
    return stdout
  }

  private async hasCommit(url: string, sha: string): Promise<boolean> {
    if (!existsSync(this.mirror(url))) return false
    try {
      await this.git(url, ['cat-file', '-e', `${sha}^{commit}`])
      return true
    } catch {
      return false
    }
  }

  private async fetch(url: string, sha?: string): Promise<void> {
    const mirror = this.mirror(url)
    if (!existsSync(mirror)) {
      mkdirSync(mirror, {recursive: true})
      await run('git', ['init', '--bare', '-q', mirror], {env: gitEnv(), signal: this.signal})
    }

    const refspecs = sha ? [sha] : ['+refs/heads/*:refs/heads/*', '+refs/tags/*:refs/tags/*']
    try {
      await this.git(url, ['fetch', '--quiet', '--force', ...(sha ? [] : ['--prune']), url, ...refspecs], true)
    } catch (error) {
      throw new Error(`failed to fetch ${redactUrl(url)}: ${gitError(error)}`)
    }
  }

  /** Repository credentials as Argo CD finds them: a `repository` Secret, else the longest `repo-creds` prefix. */
  private async credentials(url: string): Promise<Credentials | undefined> {
    const list = await this.kube.get<{items: Array<{metadata: Meta; data?: Record<string, string>}>}>(
      `/api/v1/namespaces/${this.namespace}/secrets`, {labelSelector: `${SECRET_TYPE_LABEL} in (repository,repo-creds)`})
    const decode = (s: {data?: Record<string, string>}, k: string) => (s.data?.[k] ? Buffer.from(s.data[k], 'base64').toString('utf8') : '')
    const wanted = normalizeGitUrl(url)
    const repo = list.items.find((s) => s.metadata.labels?.[SECRET_TYPE_LABEL] === 'repository' && normalizeGitUrl(decode(s, 'url')) === wanted)
    if (repo && (decode(repo, 'username') || decode(repo, 'password'))) return {username: decode(repo, 'username'), password: decode(repo, 'password')}
    const creds = list.items
      .filter((s) => s.metadata.labels?.[SECRET_TYPE_LABEL] === 'repo-creds' && decode(s, 'url') && wanted.startsWith(normalizeGitUrl(decode(s, 'url'))))
      .sort((a, b) => decode(b, 'url').length - decode(a, 'url').length)[0]
    if (creds && (decode(creds, 'username') || decode(creds, 'password'))) return {username: decode(creds, 'username'), password: decode(creds, 'password')}
    return undefined
  }

  private locked<T>(url: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.locks.get(url) ?? Promise.resolve()
    const next = previous.then(fn, fn)
    this.locks.set(url, next.catch(() => undefined))
    return next
  }

  /** Keeps the ten most recent checkouts of a repository. */
  private pruneTrees(dir: string): void {
    const entries = readdirSync(dir).filter((e) => !e.includes('.tmp-')).map((e) => ({e, t: statSync(path.join(dir, e)).mtimeMs})).sort((a, b) => b.t - a.t)
    for (const {e} of entries.slice(10)) rmSync(path.join(dir, e), {recursive: true, force: true})
  }
}

/** git's environment: no prompts, no user or system configuration, credentials as a header. */
function gitEnv(credentials?: Credentials): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('GIT_')) env[k] = v
  Object.assign(env, {GIT_TERMINAL_PROMPT: '0', GIT_ASKPASS: '', SSH_ASKPASS: '', GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null'})
  const config: Array<[string, string]> = [['credential.helper', ''], ['protocol.file.allow', 'always']]
  if (credentials) {
    const basic = Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')
    config.push(['http.extraHeader', `Authorization: Basic ${basic}`])
  }

  env.GIT_CONFIG_COUNT = String(config.length)
  config.forEach(([k, v], i) => {
    env[`GIT_CONFIG_KEY_${i}`] = k
    env[`GIT_CONFIG_VALUE_${i}`] = v
  })
  return env
}

function gitError(error: unknown): string {
  const text = error instanceof ExecError ? error.stderr.trim() || error.message : errorMessage(error)
  return redactUrl(text.split('\n').map((l) => l.trim()).filter(Boolean).slice(-5).join('; '))
}

/** Removes user:password@ from URLs in a text. */
function redactUrl(text: string): string {
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/)[^/@\s]+@/gi, '$1')
}

function normalizeGitUrl(url: string): string {
  return url.trim().toLowerCase().replace(/\/+$/, '').replace(/\.git$/, '')
}

function repoKey(url: string): string {
  return hash(normalizeGitUrl(url)).slice(0, 16)
}

function extract(mirror: string, sha: string, into: string, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const archive = spawn('git', ['-C', mirror, 'archive', '--format=tar', sha], {env: gitEnv(), signal, stdio: ['ignore', 'pipe', 'pipe']})
    const tar = spawn('tar', ['-x', '-C', into], {signal, stdio: ['pipe', 'ignore', 'pipe']})
    let stderr = ''
    archive.stderr!.on('data', (d) => (stderr += d))
    tar.stderr!.on('data', (d) => (stderr += d))
    archive.stdout!.pipe(tar.stdin!)
    let pending = 2
    const done = (code: number | null) => {
      if (code !== 0) reject(new Error(`checkout of ${sha} failed: ${stderr.trim()}`))
      else if (--pending === 0) resolve()
    }

    archive.on('error', reject)
    tar.on('error', reject)
    archive.on('close', done)
    tar.on('close', done)
  })
}

// ---------------------------------------------------------------------------------------------
// Kubernetes API: a small JSON client (watch, server-side apply, merge patch)

class KubeError extends Error {
  constructor(readonly code: number, message: string, readonly reason?: string, readonly retryAfter?: number) {
    super(message)
  }
}

class Kube {
  private agent?: https.Agent | http.Agent
  private server!: URL
  private headers: Record<string, string> = {}
  private headersAt = 0

  constructor(private readonly kc: KubeConfig, private readonly signal: AbortSignal) {}

  async init(): Promise<void> {
    const cluster = this.kc.getCurrentCluster()
    if (!cluster) throw new Error('the kubeconfig has no current cluster')
    this.server = new URL(cluster.server)
    const o: https.RequestOptions = {}
    await this.kc.applyToHTTPSOptions(o)
    this.agent = this.server.protocol === 'https:'
      ? new https.Agent({ca: o.ca, cert: o.cert, key: o.key, rejectUnauthorized: o.rejectUnauthorized, servername: o.servername, keepAlive: true, maxSockets: 16})
      : new http.Agent({keepAlive: true, maxSockets: 16})
  }

  close(): void {
    this.agent?.destroy()
  }

  private async auth(): Promise<Record<string, string>> {
    if (Date.now() - this.headersAt > 60_000) {
      const o: https.RequestOptions = {headers: {}}
      await this.kc.applyToHTTPSOptions(o)
      const headers: Record<string, string> = {}
      for (const [k, v] of Object.entries(o.headers ?? {})) if (typeof v === 'string') headers[k] = v
      if (o.auth) headers.Authorization = `Basic ${Buffer.from(o.auth).toString('base64')}`
      this.headers = headers
      this.headersAt = Date.now()
    }

    return this.headers
  }

  private async open(method: string, urlPath: string, query: Record<string, string>, body?: unknown, contentType?: string): Promise<http.IncomingMessage> {
    const url = new URL(urlPath, this.server)
    for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v)
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body))
    const headers: Record<string, string> = {...(await this.auth()), Accept: 'application/json'}
    if (payload) {
      headers['Content-Type'] = contentType ?? 'application/json'
      headers['Content-Length'] = String(payload.length)
    }

    const lib = url.protocol === 'https:' ? https : http
    return new Promise((resolve, reject) => {
      const req = lib.request(url, {method, headers, agent: this.agent, signal: this.signal}, resolve)
      req.on('error', reject)
      req.end(payload)
    })
  }

  /** One API call; retries 429 (for example "storage is (re)initializing") after Retry-After, as client-go does. */
  async request<T>(method: string, urlPath: string, opts: {query?: Record<string, string>; body?: unknown; contentType?: string} = {}): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.requestOnce<T>(method, urlPath, opts)
      } catch (error) {
        if (!(error instanceof KubeError && error.code === 429) || attempt >= 10 || this.signal.aborted) throw error
        await sleep((error.retryAfter ?? 1) * 1000, this.signal)
      }
    }
  }

  private async requestOnce<T>(method: string, urlPath: string, opts: {query?: Record<string, string>; body?: unknown; contentType?: string}): Promise<T> {
    const res = await this.open(method, urlPath, opts.query ?? {}, opts.body, opts.contentType)
    const chunks: Buffer[] = []
    for await (const chunk of res) chunks.push(chunk as Buffer)
    const text = Buffer.concat(chunks).toString('utf8')
    const status = res.statusCode ?? 0
    if (status < 200 || status > 299) {
      let message = text.trim() || `HTTP ${status}`
      let reason: string | undefined
      try {
        const parsed = JSON.parse(text) as {message?: string; reason?: string}
        if (parsed.message) message = parsed.message
        reason = parsed.reason
      } catch {
        // not JSON: keep the text
      }

      throw new KubeError(status, message, reason, Number(res.headers['retry-after']) || undefined)
    }

    return (text ? JSON.parse(text) : {}) as T
  }

  get<T>(urlPath: string, query: Record<string, string> = {}): Promise<T> {
    return this.request<T>('GET', urlPath, {query})
  }

  async getOrUndefined<T>(urlPath: string): Promise<T | undefined> {
    try {
      return await this.get<T>(urlPath)
    } catch (error) {
      if (error instanceof KubeError && error.code === 404) return undefined
      throw error
    }
  }

  mergePatch<T>(urlPath: string, body: unknown): Promise<T> {
    return this.request<T>('PATCH', urlPath, {body, contentType: 'application/merge-patch+json'})
  }

  apply<T>(objectPath: string, object: unknown, dryRun: boolean): Promise<T> {
    return this.request<T>('PATCH', objectPath, {
      body: object, contentType: 'application/apply-patch+yaml',
      query: {fieldManager: FIELD_MANAGER, force: 'true', ...(dryRun ? {dryRun: 'All'} : {})},
    })
  }

  async delete(objectPath: string, propagationPolicy: string): Promise<void> {
    await this.request('DELETE', objectPath, {body: {kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy}})
  }

  /** Creates an object unless it exists; resolves whether it created it. */
  async createIfMissing(collectionPath: string, object: KObject): Promise<boolean> {
    try {
      await this.request('POST', collectionPath, {body: object})
      return true
    } catch (error) {
      if (error instanceof KubeError && error.code === 409) return false
      throw error
    }
  }

  /** Watches a collection; `onEvent` returns false to end the watch. Resolves when the stream ends. */
  async watch(urlPath: string, resourceVersion: string, onEvent: (type: string, object: KObject) => boolean): Promise<void> {
    const res = await this.open('GET', urlPath, {watch: 'true', resourceVersion, allowWatchBookmarks: 'true', timeoutSeconds: '300'})
    if (res.statusCode !== 200) {
      res.resume()
      throw new KubeError(res.statusCode ?? 0, `watch ${urlPath}: HTTP ${res.statusCode}`, undefined, Number(res.headers['retry-after']) || undefined)
    }

    let buffer = ''
    try {
      for await (const chunk of res) {
        buffer += String(chunk)
        let newline: number
        while ((newline = buffer.indexOf('\n')) >= 0) {
          const line = buffer.slice(0, newline).trim()
          buffer = buffer.slice(newline + 1)
          if (!line) continue
          const event = JSON.parse(line) as {type: string; object: KObject & {code?: number}}
          if (event.type === 'ERROR' && event.object.code === 410) {
            onEvent('ERROR', event.object)
            return
          }

          if (!onEvent(event.type, event.object)) return
        }
      }
    } finally {
      res.destroy()
    }
  }
}

interface ResourceInfo {
  apiVersion: string
  group: string
  kind: string
  plural: string
  namespaced: boolean
  collectionPath(namespace?: string): string
}

/** API discovery: resource names and scopes, and the versions helm is told about. */
class Discovery {
  kubeVersion = 'v1.30.0'
  apiVersions: string[] = []
  private byKind = new Map<string, ResourceInfo>()
  private byGroupKind = new Map<string, ResourceInfo>()
  private refreshedAt = 0

  constructor(private readonly kube: Kube) {}

  async refresh(): Promise<void> {
    this.refreshedAt = Date.now()
    const version = await this.kube.get<{gitVersion: string}>('/version')
    this.kubeVersion = version.gitVersion.replace(/[-+].*$/, '')
    const groups = await this.kube.get<{groups: Array<{name: string; versions: Array<{groupVersion: string}>; preferredVersion: {groupVersion: string}}>}>('/apis')
    const groupVersions = [{gv: 'v1', path: '/api/v1', preferred: true}]
    for (const g of groups.groups) {
      for (const v of g.versions) groupVersions.push({gv: v.groupVersion, path: `/apis/${v.groupVersion}`, preferred: v.groupVersion === g.preferredVersion.groupVersion})
    }

    const lists = await Promise.all(groupVersions.map(async (gv) => {
      try {
        return {gv, list: await this.kube.get<{resources: Array<{name: string; kind: string; namespaced: boolean}>}>(gv.path)}
      } catch {
        return undefined
      }
    }))
    const byKind = new Map<string, ResourceInfo>()
    const byGroupKind = new Map<string, ResourceInfo>()
    const apiVersions = new Set<string>()
    for (const entry of lists) {
      if (!entry) continue
      const {gv, list} = entry
      apiVersions.add(gv.gv)
      const group = gv.gv.includes('/') ? gv.gv.split('/')[0] : ''
      for (const r of list.resources) {
        if (r.name.includes('/')) continue
        const info: ResourceInfo = {
          apiVersion: gv.gv, group, kind: r.kind, plural: r.name, namespaced: r.namespaced,
          collectionPath: (ns?: string) => `${gv.path}${r.namespaced && ns ? `/namespaces/${ns}` : ''}/${r.name}`,
        }
        apiVersions.add(`${gv.gv}/${r.kind}`)
        byKind.set(`${gv.gv}/${r.kind}`, info)
        if (gv.preferred || !byGroupKind.has(`${group}/${r.kind}`)) byGroupKind.set(`${group}/${r.kind}`, info)
      }
    }

    this.byKind = byKind
    this.byGroupKind = byGroupKind
    this.apiVersions = [...apiVersions].sort()
  }

  async find(apiVersion: string, kind: string): Promise<ResourceInfo | undefined> {
    const key = `${apiVersion}/${kind}`
    if (!this.byKind.has(key) && Date.now() - this.refreshedAt > 5000) await this.refresh()
    return this.byKind.get(key)
  }

  async findGroupKind(groupKind: string): Promise<ResourceInfo | undefined> {
    if (!this.byGroupKind.has(groupKind) && Date.now() - this.refreshedAt > 5000) await this.refresh()
    return this.byGroupKind.get(groupKind)
  }

  async objectPath(object: KObject): Promise<string> {
    const info = await this.find(object.apiVersion, object.kind)
    if (!info) throw new Error(`no matches for kind "${object.kind}" in version "${object.apiVersion}"; ensure CRDs are installed first`)
    return `${info.collectionPath(object.metadata.namespace)}/${object.metadata.name}`
  }
}

// ---------------------------------------------------------------------------------------------
// Small helpers

class ExecError extends Error {
  constructor(readonly code: number | string, readonly stderr: string) {
    super(`exit status ${code}`)
  }
}

function run(command: string, args: string[], opts: {cwd?: string; env?: NodeJS.ProcessEnv; signal?: AbortSignal}): Promise<{stdout: string; stderr: string}> {
  return new Promise((resolve, reject) => {
    execFile(command, args, {...opts, maxBuffer: 64 << 20, encoding: 'utf8'}, (error, stdout, stderr) => {
      if (error) {
        const code = typeof error.code === 'number' ? error.code : error.code ?? 'unknown'
        reject(error.name === 'AbortError' ? error : new ExecError(code, stderr || error.message))
      } else {
        resolve({stdout, stderr})
      }
    })
  })
}

class Semaphore {
  private active = 0
  private readonly queue: Array<() => void> = []
  constructor(private readonly size: number) {}

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active >= this.size) await new Promise<void>((resolve) => this.queue.push(resolve))
    this.active++
    try {
      return await fn()
    } finally {
      this.active--
      this.queue.shift()?.()
    }
  }
}

class Lru<T> {
  private readonly map = new Map<string, T>()
  constructor(private readonly size: number) {}

  get(key: string): T | undefined {
    const value = this.map.get(key)
    if (value !== undefined) {
      this.map.delete(key)
      this.map.set(key, value)
    }

    return value
  }

  set(key: string, value: T): void {
    this.map.delete(key)
    this.map.set(key, value)
    if (this.map.size > this.size) this.map.delete(this.map.keys().next().value as string)
  }

  delete(key: string): void {
    this.map.delete(key)
  }

  clear(): void {
    this.map.clear()
  }
}

/** Kind order of a sync (gitops-engine's kind sorter), after the sync wave annotation. */
const KIND_ORDER = ['Namespace', 'NetworkPolicy', 'ResourceQuota', 'LimitRange', 'PodSecurityPolicy', 'PodDisruptionBudget', 'ServiceAccount',
  'Secret', 'SecretList', 'ConfigMap', 'StorageClass', 'PersistentVolume', 'PersistentVolumeClaim', 'CustomResourceDefinition', 'ClusterRole',
  'ClusterRoleList', 'ClusterRoleBinding', 'ClusterRoleBindingList', 'Role', 'RoleList', 'RoleBinding', 'RoleBindingList', 'Service',
  'DaemonSet', 'Pod', 'ReplicationController', 'ReplicaSet', 'Deployment', 'HorizontalPodAutoscaler', 'StatefulSet', 'Job', 'CronJob',
  'IngressClass', 'Ingress', 'APIService']

function sortForSync(objects: KObject[]): KObject[] {
  const wave = (o: KObject) => Number.parseInt(o.metadata.annotations?.['argocd.argoproj.io/sync-wave'] ?? '0', 10) || 0
  const order = (o: KObject) => (KIND_ORDER.includes(o.kind) ? KIND_ORDER.indexOf(o.kind) : KIND_ORDER.length)
  return [...objects].sort((a, b) => wave(a) - wave(b) || order(a) - order(b) || a.metadata.name.localeCompare(b.metadata.name))
}

function groupOf(object: {apiVersion: string}): string {
  return object.apiVersion.includes('/') ? object.apiVersion.split('/')[0] : ''
}

function versionOf(object: {apiVersion: string}): string {
  return object.apiVersion.includes('/') ? object.apiVersion.split('/')[1] : object.apiVersion
}

function objectKey(object: KObject): string {
  return `${groupOf(object)}/${object.kind}/${object.metadata.namespace ?? ''}/${object.metadata.name}`
}

function statusKey(r: ResourceStatus): string {
  return [r.group ?? '', r.kind, r.namespace ?? '', r.name].join('/')
}

function trackingId(appName: string, object: KObject): string {
  return `${appName}:${groupOf(object)}/${object.kind}:${object.metadata.namespace ?? ''}/${object.metadata.name}`
}

function kindsOf(targets: KObject[], resources: ResourceStatus[] | undefined, remembered: Set<string>): Set<string> {
  const kinds = new Set(remembered)
  for (const t of targets) kinds.add(`${groupOf(t)}/${t.kind}`)
  for (const r of resources ?? []) kinds.add(`${r.group ?? ''}/${r.kind}`)
  return kinds
}

function withoutRevision(source: Source | undefined): Source | undefined {
  if (!source) return undefined
  const {targetRevision: _ignored, ...rest} = source
  return rest as Source
}

/** What a server-side diff compares: the object without server-managed metadata and status. */
function forDiff(object: KObject): Dict {
  const {apiVersion: _a, kind: _k, status: _s, metadata, ...rest} = object
  const {managedFields: _m, resourceVersion: _r, generation: _g, creationTimestamp: _c, uid: _u, selfLink: _l, ...meta} = metadata
  return {...rest, metadata: meta}
}

function mergeConditions(previous: Condition[] | undefined, next: Condition[], now: string): Condition[] {
  return next.map((c) => {
    const same = previous?.find((p) => p.type === c.type && p.message === c.message)
    return {...c, lastTransitionTime: same?.lastTransitionTime ?? now}
  })
}

function nextRetryAt(retry: Operation['retry'], from: number, retryCount: number): number {
  const backoff = retry?.backoff ?? {}
  const base = parseDuration(backoff.duration ?? '5s')
  const max = parseDuration(backoff.maxDuration ?? '3m')
  const factor = backoff.factor ?? 2
  return from + Math.min(base * factor ** retryCount, max)
}

function parseDuration(text: string): number {
  if (/^\d+$/.test(text)) return Number(text) * 1000
  let ms = 0
  for (const [, n, unit] of text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)) ms += Number(n) * ({ms: 1, s: 1000, m: 60_000, h: 3_600_000}[unit] ?? 0)
  return ms
}

/** Go's time.Kitchen layout, as in Argo CD's retry message. */
function kitchen(d: Date): string {
  const h = d.getHours() % 12 || 12
  return `${h}:${String(d.getMinutes()).padStart(2, '0')}${d.getHours() < 12 ? 'AM' : 'PM'}`
}

/** RFC 3339 with seconds, as metav1.Time serializes. */
function isoNow(): string {
  return new Date().toISOString().replace(/\.\d{3}Z$/, 'Z')
}

function globMatch(pattern: string, value: string): boolean {
  const re = new RegExp(`^${pattern.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`)
  return re.test(value)
}

function dig(object: unknown, ...keys: string[]): unknown {
  let current = object
  for (const key of keys) {
    if (current === null || typeof current !== 'object') return undefined
    current = (current as Dict)[key]
  }

  return current
}

function hash(text: string): string {
  return createHash('sha256').update(text).digest('hex')
}

function clone<T>(value: T): T {
  return value === undefined ? value : JSON.parse(JSON.stringify(value)) as T
}

/** Drops undefined fields (JSON's omitempty for this file's purposes). */
function clean<T>(value: T): T {
  return clone(value)
}

function isObject(value: unknown): value is Dict {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}

function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((v, i) => deepEqual(v, b[i]))
  if (isObject(a) && isObject(b)) {
    const ka = Object.keys(a).filter((k) => a[k] !== undefined)
    const kb = Object.keys(b).filter((k) => b[k] !== undefined)
    return ka.length === kb.length && ka.every((k) => deepEqual(a[k], b[k]))
  }

  return false
}

/** The JSON merge patch (RFC 7386) that turns `from` into `to`, or undefined when they are equal. */
function mergePatchDiff(from: unknown, to: unknown): unknown {
  if (isObject(from) && isObject(to)) {
    const patch: Dict = {}
    for (const k of Object.keys(from)) if (from[k] !== undefined && to[k] === undefined) patch[k] = null
    for (const k of Object.keys(to)) {
      if (to[k] === undefined) continue
      const d = mergePatchDiff(from[k], to[k])
      if (d !== undefined) patch[k] = d
    }

    return Object.keys(patch).length > 0 ? patch : undefined
  }

  return deepEqual(from, to) ? undefined : clone(to)
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms)
    signal.addEventListener('abort', () => {
      clearTimeout(timer)
      resolve()
    }, {once: true})
  })
}
