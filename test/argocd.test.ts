// The ground's Argo CD stand-in against the real control plane, with real git repositories
// (file:// and smart HTTP with Basic auth) and the real helm.
import assert from 'node:assert/strict'
import {execFile, spawn} from 'node:child_process'
import {mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import * as http from 'node:http'
import type {AddressInfo} from 'node:net'
import * as os from 'node:os'
import * as path from 'node:path'
import {after, before, describe, it} from 'node:test'
import * as k8s from '@kubernetes/client-node'
import {startArgoCd, type ArgoCd} from './ground/argocd/controller.js'
import {provideBinaries} from './ground/index.js'
import {ground, uniqueName} from './helpers/ground.js'

// A small chart: a Deployment whose image tag is a value, a Service, an Ingress with a host,
// and a ConfigMap that a later commit can remove.
const CHART: Record<string, string> = {
  'chart/Chart.yaml': 'apiVersion: v2\nname: web\nversion: 0.1.0\n',
  'chart/values.yaml': [
    'replicaCount: 1',
    'image:',
    '  repository: ghcr.io/example/web',
    '  tag: "1.0.0"',
    'host: web.example.test',
    'podAnnotations: {}',
    'nodeSelector: {}',
    'progressDeadlineSeconds: 600',
    'ingress:',
    '  tls: false',
    '',
  ].join('\n'),
  'chart/templates/deployment.yaml': `apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
  labels:
    app.kubernetes.io/name: web
spec:
  replicas: {{ .Values.replicaCount }}
  progressDeadlineSeconds: {{ .Values.progressDeadlineSeconds }}
  selector:
    matchLabels:
      app.kubernetes.io/name: web
      app.kubernetes.io/instance: {{ .Release.Name }}
  template:
    metadata:
      labels:
        app.kubernetes.io/name: web
        app.kubernetes.io/instance: {{ .Release.Name }}
      {{- with .Values.podAnnotations }}
      annotations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
    spec:
      {{- with .Values.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      containers:
        - name: web
          image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"
          ports:
            - containerPort: 8080
`,
  'chart/templates/service.yaml': `apiVersion: v1
kind: Service
metadata:
  name: {{ .Release.Name }}
spec:
  selector:
    app.kubernetes.io/name: web
    app.kubernetes.io/instance: {{ .Release.Name }}
  ports:
    - port: 80
      targetPort: 8080
`,
  'chart/templates/ingress.yaml': `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: {{ .Release.Name }}
spec:
  {{- if .Values.ingress.tls }}
  tls:
    - hosts: [{{ .Values.host | quote }}]
      secretName: {{ .Release.Name }}-tls
  {{- end }}
  rules:
    - host: {{ .Values.host | quote }}
      http:
        paths:
          - path: /
            pathType: Prefix
            backend:
              service:
                name: {{ .Release.Name }}
                port:
                  number: 80
`,
  'chart/templates/configmap.yaml': `apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-settings
data:
  greeting: hello
`,
}

const IDENTITY = {GIT_AUTHOR_NAME: 'Test', GIT_AUTHOR_EMAIL: 'test@example.test', GIT_COMMITTER_NAME: 'Test', GIT_COMMITTER_EMAIL: 'test@example.test'}

function git(cwd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('git', args, {cwd, env: {...process.env, ...IDENTITY, GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null'}}, (error, stdout, stderr) => {
      if (error) reject(new Error(`git ${args.join(' ')}: ${stderr}`))
      else resolve(stdout.trim())
    })
  })
}

interface Repo {
  /** The bare repository that Applications point at. */
  bare: string
  url: string
  /** Writes (or, with null, deletes) files in the work clone, commits and pushes; resolves the new SHA. */
  push(files: Record<string, string | null>, message: string): Promise<string>
}

async function makeRepo(root: string, files: Record<string, string | null>): Promise<Repo> {
  const name = uniqueName('repo')
  const bare = path.join(root, `${name}.git`)
  const work = path.join(root, `${name}-work`)
  await git(root, ['init', '--bare', '-q', '--initial-branch=main', bare])
  await git(root, ['clone', '-q', bare, work])
  await git(work, ['symbolic-ref', 'HEAD', 'refs/heads/main'])
  const push = async (changes: Record<string, string | null>, message: string) => {
    for (const [file, content] of Object.entries(changes)) {
      const full = path.join(work, file)
      if (content === null) rmSync(full)
      else {
        mkdirSync(path.dirname(full), {recursive: true})
        writeFileSync(full, content)
      }
    }

    await git(work, ['add', '-A'])
    await git(work, ['commit', '-q', '-m', message])
    await git(work, ['push', '-q', 'origin', 'main'])
    return git(work, ['rev-parse', 'HEAD'])
  }

  await push(files, 'First commit')
  return {bare, url: `file://${bare}`, push}
}

/** Smart HTTP for the bare repositories under `root` (git http-backend), behind Basic auth. */
async function gitHttpServer(root: string, user: string, password: string): Promise<{base: string; close(): Promise<void>}> {
  const expected = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`
  const server = http.createServer((req, res) => {
    if (req.headers.authorization !== expected) {
      res.writeHead(401, {'WWW-Authenticate': 'Basic realm="git"'}).end()
      return
    }

    const url = new URL(req.url!, 'http://localhost')
    const child = spawn('git', ['http-backend'], {env: {
      ...process.env, GIT_PROJECT_ROOT: root, GIT_HTTP_EXPORT_ALL: '1', PATH_INFO: decodeURIComponent(url.pathname),
      QUERY_STRING: url.search.slice(1), REQUEST_METHOD: req.method!, CONTENT_TYPE: req.headers['content-type'] ?? '',
      HTTP_CONTENT_ENCODING: req.headers['content-encoding'] ?? '', GIT_PROTOCOL: String(req.headers['git-protocol'] ?? ''), REMOTE_USER: user,
    }})
    req.pipe(child.stdin)
    let head = Buffer.alloc(0)
    let streaming = false
    child.stdout.on('data', (chunk: Buffer) => {
      if (streaming) {
        res.write(chunk)
        return
      }

      head = Buffer.concat([head, chunk])
      const end = head.indexOf('\r\n\r\n')
      if (end < 0) return
      let status = 200
      for (const line of head.subarray(0, end).toString().split('\r\n')) {
        const [key, ...rest] = line.split(':')
        const value = rest.join(':').trim()
        if (key.toLowerCase() === 'status') status = Number.parseInt(value, 10)
        else res.setHeader(key, value)
      }

      res.writeHead(status)
      res.write(head.subarray(end + 4))
      streaming = true
    })
    child.stdout.on('end', () => res.end())
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const {port} = server.address() as AddressInfo
  return {base: `http://127.0.0.1:${port}`, close: () => new Promise((resolve) => server.close(() => resolve()))}
}

// The parts of an Application that these tests read.
interface App extends k8s.KubernetesObject {
  spec: Record<string, unknown>
  operation?: Record<string, unknown>
  status?: {
    sync?: {status: string; revision?: string; comparedTo?: Record<string, unknown>}
    health?: {status: string}
    resources?: Array<{group?: string; kind: string; name: string; namespace?: string; status: string; health?: unknown; requiresPruning?: boolean}>
    conditions?: Array<{type: string; message: string}>
    history?: Array<{id: number; revision: string; deployedAt: string; deployStartedAt: string; source: {repoURL: string; helm?: unknown}; initiatedBy?: {automated?: boolean; username?: string}}>
    operationState?: {phase: string; message: string; startedAt: string; finishedAt?: string; operation: Record<string, unknown>
      syncResult?: {revision: string; resources?: Array<{kind: string; name: string; status: string; message: string}>}}
    summary?: {externalURLs?: string[]; images?: string[]}
    reconciledAt?: string
    sourceType?: string
    resourceHealthSource?: string
  }
}

describe('the ground\'s Argo CD', () => {
  const argoNamespace = uniqueName('argocd')
  const root = mkdtempSync(path.join(os.tmpdir(), 'kplat-argocd-test-'))
  const logs: string[] = []
  let argocd: ArgoCd
  let objects: k8s.KubernetesObjectApi
  let apps: k8s.AppsV1Api
  let core: k8s.CoreV1Api
  let networking: k8s.NetworkingV1Api

  before(async () => {
    const kc = (await ground()).admin()
    objects = k8s.KubernetesObjectApi.makeApiClient(kc)
    apps = kc.makeApiClient(k8s.AppsV1Api)
    core = kc.makeApiClient(k8s.CoreV1Api)
    networking = kc.makeApiClient(k8s.NetworkingV1Api)
    const helm = path.join(await provideBinaries(), 'helm')
    argocd = await startArgoCd(kc, {helm, workDir: path.join(root, 'argocd'), namespace: argoNamespace, pollMs: 1000, log: (line) => logs.push(line)})
  })

  after(async () => {
    // Delete what the tests created while the controller still runs (it holds the finalizers).
    const list = await objects.list<App>('argoproj.io/v1alpha1', 'Application', argoNamespace).catch(() => ({items: [] as App[]}))
    await Promise.all(list.items.map((a) => objects.delete(a).catch(() => undefined)))
    for (let i = 0; i < 600; i++) {
      const left = await objects.list('argoproj.io/v1alpha1', 'Application', argoNamespace).catch(() => ({items: []}))
      if (left.items.length === 0) break
      await sleep(100)
    }

    await argocd?.stop()
    rmSync(root, {recursive: true, force: true})
  })

  const ref = (name: string) => ({apiVersion: 'argoproj.io/v1alpha1', kind: 'Application', metadata: {name, namespace: argoNamespace}})
  const readApp = (name: string) => objects.read<App>(ref(name))

  async function createApp(name: string, spec: {repoURL: string; dest: string; automated?: boolean; helm?: Record<string, unknown>; finalizer?: boolean; targetRevision?: string}): Promise<void> {
    await objects.create({
      ...ref(name),
      metadata: {...ref(name).metadata, ...(spec.finalizer === false ? {} : {finalizers: ['resources-finalizer.argocd.argoproj.io']})},
      spec: {
        project: 'default',
        source: {repoURL: spec.repoURL, path: 'chart', targetRevision: spec.targetRevision ?? 'main', ...(spec.helm ? {helm: spec.helm} : {})},
        destination: {server: 'https://kubernetes.default.svc', namespace: spec.dest},
        syncPolicy: {
          ...(spec.automated === false ? {} : {automated: {prune: true, selfHeal: true}}),
          syncOptions: ['CreateNamespace=true'],
        },
      },
    })
  }

  async function waitApp(name: string, what: string, ok: (app: App) => boolean, timeoutMs = 60_000): Promise<App> {
    const deadline = Date.now() + timeoutMs
    let app: App | undefined
    for (;;) {
      app = await readApp(name).catch(() => undefined)
      if (app && ok(app)) return app
      if (Date.now() > deadline) assert.fail(`timed out waiting for ${name} to be ${what}; status: ${JSON.stringify(app?.status, null, 1)}`)
      await sleep(200)
    }
  }

  /** Requests a sync as the argocd CLI does: by writing the Application's `operation`. */
  const sync = (name: string, operation: Record<string, unknown>) =>
    objects.patch({...ref(name), operation}, undefined, undefined, undefined, undefined, k8s.PatchStrategy.MergePatch)

  const syncedAndHealthy = (app: App) => app.status?.sync?.status === 'Synced' && app.status.health?.status === 'Healthy' && !app.operation

  async function runningPods(ns: string, instance: string): Promise<k8s.V1Pod[]> {
    const pods = await core.listNamespacedPod({namespace: ns, labelSelector: `app.kubernetes.io/instance=${instance}`})
    return pods.items.filter((p) => p.status?.phase === 'Running' && !p.metadata?.deletionTimestamp)
  }

  async function gone(read: () => Promise<unknown>): Promise<boolean> {
    try {
      await read()
      return false
    } catch (error) {
      if ((error as {code?: number}).code === 404) return true
      throw error
    }
  }

  async function eventually(what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs
    while (!(await check())) {
      if (Date.now() > deadline) assert.fail(`timed out waiting until ${what}`)
      await sleep(200)
    }
  }

  it('syncs an automated Helm app to Synced and Healthy, with Running pods of the chart\'s image', async () => {
    const repo = await makeRepo(root, CHART)
    const sha = await git(repo.bare, ['rev-parse', 'main'])
    const name = uniqueName('web')
    const dest = uniqueName('web-ns')
    await createApp(name, {repoURL: repo.url, dest})

    const app = await waitApp(name, 'Synced and Healthy', (a) => syncedAndHealthy(a) && (a.status?.history?.length ?? 0) === 1)
    const status = app.status!
    assert.equal(status.sync!.revision, sha)
    assert.deepEqual(status.sync!.comparedTo, {source: (app.spec as {source: unknown}).source, destination: (app.spec as {destination: unknown}).destination})
    assert.equal(status.sourceType, 'Helm')
    assert.equal(status.resourceHealthSource, 'appTree')
    assert.ok(status.reconciledAt)
    assert.equal(status.conditions, undefined)

    const op = status.operationState!
    assert.equal(op.phase, 'Succeeded')
    assert.equal(op.message, 'successfully synced (all tasks run)')
    assert.deepEqual(op.operation.initiatedBy, {automated: true})
    assert.equal(op.syncResult!.revision, sha)
    assert.deepEqual(op.syncResult!.resources!.map((r) => `${r.kind}/${r.name} ${r.status}`).sort(),
      [`ConfigMap/${name}-settings Synced`, `Deployment/${name} Synced`, `Ingress/${name} Synced`, `Namespace/${dest} Synced`, `Service/${name} Synced`])

    const [entry] = status.history!
    assert.equal(entry.id, 0)
    assert.equal(entry.revision, sha)
    assert.equal(entry.source.repoURL, repo.url)
    assert.deepEqual(entry.initiatedBy, {automated: true})
    assert.ok(Date.parse(entry.deployStartedAt) <= Date.parse(entry.deployedAt))

    assert.deepEqual(status.resources!.map((r) => `${r.group ?? ''}/${r.kind}/${r.namespace}/${r.name} ${r.status}`), [
      `/ConfigMap/${dest}/${name}-settings Synced`, `/Service/${dest}/${name} Synced`, `apps/Deployment/${dest}/${name} Synced`,
      `networking.k8s.io/Ingress/${dest}/${name} Synced`])
    assert.ok(status.resources!.every((r) => r.health === undefined), 'Argo CD 3.x keeps resource health in the tree, not in the CR')

    const pods = await runningPods(dest, name)
    assert.equal(pods.length, 1)
    assert.equal(pods[0].spec!.containers[0].image, 'ghcr.io/example/web:1.0.0')
    assert.equal(pods[0].spec!.nodeName, 'kwok-node-0')
    assert.deepEqual(status.summary!.images, ['ghcr.io/example/web:1.0.0'])
    assert.deepEqual(status.summary!.externalURLs, ['http://web.example.test/'])

    const deployment = await apps.readNamespacedDeployment({name, namespace: dest})
    assert.equal(deployment.metadata!.labels!['app.kubernetes.io/instance'], name)
    assert.equal(deployment.metadata!.annotations!['argocd.argoproj.io/tracking-id'], `${name}:apps/Deployment:${dest}/${name}`)
    assert.ok(deployment.metadata!.managedFields!.some((f) => f.manager === 'argocd-controller' && f.operation === 'Apply'))
  })

  it('passes Helm parameters (--set, --set-string) and valuesObject to helm template, and re-syncs when they change', async () => {
    const repo = await makeRepo(root, CHART)
    const name = uniqueName('params')
    const dest = uniqueName('params-ns')
    await createApp(name, {repoURL: repo.url, dest, helm: {
      parameters: [{name: 'replicaCount', value: '2'}, {name: 'podAnnotations.build', value: '12345', forceString: true}],
      valuesObject: {host: 'shop.example.test', ingress: {tls: true}},
    }})

    const app = await waitApp(name, 'Synced and Healthy', syncedAndHealthy)
    const deployment = await apps.readNamespacedDeployment({name, namespace: dest})
    assert.equal(deployment.spec!.replicas, 2)
    assert.equal(deployment.spec!.template.metadata!.annotations!.build, '12345')
    const ingress = await networking.readNamespacedIngress({name, namespace: dest})
    assert.equal(ingress.spec!.rules![0].host, 'shop.example.test')
    assert.deepEqual(app.status!.summary!.externalURLs, ['https://shop.example.test/'])
    assert.equal((await runningPods(dest, name)).length, 2)

    // A change of the Application's spec (same commit) is synced too, and is a release.
    const helm = {...(app.spec as {source: {helm: {parameters: unknown[]}}}).source.helm, parameters: [{name: 'replicaCount', value: '3'}]}
    await objects.patch({...ref(name), spec: {source: {helm}}}, undefined, undefined, undefined, undefined, k8s.PatchStrategy.MergePatch)
    const changed = await waitApp(name, 'synced with 3 replicas', (a) => syncedAndHealthy(a) && a.status?.history?.length === 2)
    assert.equal((await apps.readNamespacedDeployment({name, namespace: dest})).spec!.replicas, 3)
    const [before, after] = changed.status!.history!
    assert.equal(after.revision, before.revision)
    assert.deepEqual(after.source.helm, helm)
  })

  it('deploys a second commit on the branch as a new revision, a second history entry and the new image', async () => {
    const repo = await makeRepo(root, CHART)
    const name = uniqueName('push')
    const dest = uniqueName('push-ns')
    await createApp(name, {repoURL: repo.url, dest})
    const first = await waitApp(name, 'Synced and Healthy', syncedAndHealthy)
    const firstSha = first.status!.sync!.revision!

    const secondSha = await repo.push({'chart/values.yaml': CHART['chart/values.yaml'].replace('"1.0.0"', '"2.0.0"')}, 'Release 2.0.0')
    assert.notEqual(secondSha, firstSha)
    const app = await waitApp(name, `Synced and Healthy at ${secondSha}`,
      (a) => syncedAndHealthy(a) && a.status?.sync?.revision === secondSha && a.status.history?.length === 2)
    const [one, two] = app.status!.history!
    assert.equal(one.revision, firstSha)
    assert.equal(two.revision, secondSha)
    assert.ok(two.id > one.id)
    assert.ok(Date.parse(two.deployedAt) >= Date.parse(one.deployedAt))
    assert.equal(app.status!.operationState!.syncResult!.revision, secondSha)

    await eventually('only pods of the new image run', async () => {
      const pods = await runningPods(dest, name)
      return pods.length === 1 && pods[0].spec!.containers[0].image === 'ghcr.io/example/web:2.0.0'
    })
    const settled = await waitApp(name, 'showing only the new image', (a) => a.status?.summary?.images?.join() === 'ghcr.io/example/web:2.0.0')
    assert.equal(settled.status!.history!.length, 2, 'refreshes of the same revision add no history')
  })

  it('prunes a resource removed from the chart', async () => {
    const repo = await makeRepo(root, CHART)
    const name = uniqueName('prune')
    const dest = uniqueName('prune-ns')
    await createApp(name, {repoURL: repo.url, dest})
    await waitApp(name, 'Synced and Healthy', syncedAndHealthy)
    assert.ok(await core.readNamespacedConfigMap({name: `${name}-settings`, namespace: dest}))

    const sha = await repo.push({'chart/templates/configmap.yaml': null}, 'Drop the ConfigMap')
    const app = await waitApp(name, `Synced at ${sha}`, (a) => syncedAndHealthy(a) && a.status?.sync?.revision === sha)
    await eventually('the ConfigMap is gone', () => gone(() => core.readNamespacedConfigMap({name: `${name}-settings`, namespace: dest})))
    assert.ok(app.status!.operationState!.syncResult!.resources!.some((r) => r.kind === 'ConfigMap' && r.status === 'Pruned' && r.message === 'pruned'))
    assert.ok(!app.status!.resources!.some((r) => r.kind === 'ConfigMap'))
    assert.ok(await apps.readNamespacedDeployment({name, namespace: dest}), 'what stays in the chart stays')
  })

  it('surfaces a broken chart and an unreadable repository as ComparisonError conditions, and recovers', async () => {
    const broken = {...CHART, 'chart/templates/configmap.yaml': CHART['chart/templates/configmap.yaml'].replace('hello', '{{ .Values.greeting | notAFunction }}')}
    const repo = await makeRepo(root, broken)
    const name = uniqueName('broken')
    const dest = uniqueName('broken-ns')
    await createApp(name, {repoURL: repo.url, dest})
    let app = await waitApp(name, 'in ComparisonError', (a) => a.status?.conditions?.some((c) => c.type === 'ComparisonError') ?? false)
    const condition = app.status!.conditions!.find((c) => c.type === 'ComparisonError')!
    assert.match(condition.message, /^Failed to load target state: /)
    assert.match(condition.message, /function "notAFunction" not defined/)
    assert.equal(app.status!.sync!.status, 'Unknown')
    assert.equal(app.status!.operationState, undefined, 'nothing is synced from a chart that does not render')

    const missing = uniqueName('norepo')
    await createApp(missing, {repoURL: `file://${root}/no-such-repo.git`, dest})
    app = await waitApp(missing, 'in ComparisonError', (a) => a.status?.conditions?.some((c) => c.type === 'ComparisonError') ?? false)
    assert.match(app.status!.conditions![0].message, /failed to list refs: .*no-such-repo/)
    assert.equal(app.status!.sync!.status, 'Unknown')

    // The controller keeps going: fixing the chart deploys it.
    const sha = await repo.push({'chart/templates/configmap.yaml': CHART['chart/templates/configmap.yaml']}, 'Fix the template')
    app = await waitApp(name, 'Synced and Healthy after the fix', (a) => syncedAndHealthy(a) && a.status?.sync?.revision === sha)
    assert.equal(app.status!.conditions, undefined)
  })

  it('without automated sync reports OutOfSync, and syncs and rolls back on operation requests', async () => {
    const repo = await makeRepo(root, CHART)
    const name = uniqueName('manual')
    const dest = uniqueName('manual-ns')
    await createApp(name, {repoURL: repo.url, dest, automated: false})
    let app = await waitApp(name, 'OutOfSync', (a) => a.status?.sync?.status === 'OutOfSync')
    assert.equal(app.status!.health!.status, 'Missing')
    assert.ok(app.status!.resources!.every((r) => r.status === 'OutOfSync'))
    assert.equal(app.status!.history, undefined)
    assert.ok(await gone(() => apps.readNamespacedDeployment({name, namespace: dest})))

    // What `argocd app sync` writes.
    await sync(name, {sync: {revision: 'main', prune: true}, initiatedBy: {username: 'alice'}})
    app = await waitApp(name, 'synced by the operation', (a) => syncedAndHealthy(a) && a.status?.operationState?.phase === 'Succeeded')
    assert.equal(app.operation, undefined)
    assert.deepEqual(app.status!.operationState!.operation, {sync: {revision: 'main', prune: true}, initiatedBy: {username: 'alice'}})
    assert.ok(app.status!.operationState!.finishedAt)
    assert.deepEqual(app.status!.history!.map((h) => [h.id, h.initiatedBy]), [[0, {username: 'alice'}]])
    const first = app.status!.history![0]

    // A new commit is only reported until someone syncs it.
    const second = await repo.push({'chart/values.yaml': CHART['chart/values.yaml'].replace('"1.0.0"', '"2.0.0"')}, 'Release 2.0.0')
    app = await waitApp(name, `OutOfSync with ${second}`, (a) => a.status?.sync?.status === 'OutOfSync' && a.status.sync.revision === second)
    assert.equal(app.status!.history!.length, 1)
    await sync(name, {sync: {revision: 'main'}, initiatedBy: {username: 'alice'}})
    app = await waitApp(name, `synced to ${second}`, (a) => syncedAndHealthy(a) && a.status?.history?.length === 2)
    assert.equal(app.status!.history![1].revision, second)

    // What `argocd app rollback` writes: the revision and source of a history entry.
    await sync(name, {sync: {revision: first.revision, source: first.source}, initiatedBy: {username: 'bob'}})
    app = await waitApp(name, 'rolled back', (a) => !a.operation && a.status?.history?.length === 3)
    assert.deepEqual(app.status!.history!.map((h) => [h.id, h.revision]), [[0, first.revision], [1, second], [2, first.revision]])
    assert.equal(app.status!.operationState!.syncResult!.revision, first.revision)
    await eventually('pods of the old image run again', async () => (await runningPods(dest, name)).every((p) => p.spec!.containers[0].image === 'ghcr.io/example/web:1.0.0'))
    await waitApp(name, 'OutOfSync with the branch again', (a) => a.status?.sync?.status === 'OutOfSync' && a.status.sync.revision === second)
  })

  it('reports a Deployment that cannot roll out as Degraded', async () => {
    const repo = await makeRepo(root, CHART)
    const name = uniqueName('stuck')
    const dest = uniqueName('stuck-ns')
    await createApp(name, {repoURL: repo.url, dest, helm: {parameters: [{name: 'nodeSelector.pool', value: 'none'}, {name: 'progressDeadlineSeconds', value: '2'}]}})
    const app = await waitApp(name, 'Degraded', (a) => a.status?.health?.status === 'Degraded')
    assert.equal(app.status!.sync!.status, 'Synced')
    assert.equal(app.status!.operationState!.phase, 'Succeeded')
    const pods = await core.listNamespacedPod({namespace: dest, labelSelector: `app.kubernetes.io/instance=${name}`})
    assert.ok(pods.items.length > 0 && pods.items.every((p) => p.status?.phase === 'Pending'))
  })

  it('heals drift of a live object (selfHeal) with a partial sync and no new history entry', async () => {
    const repo = await makeRepo(root, CHART)
    const name = uniqueName('heal')
    const dest = uniqueName('heal-ns')
    await createApp(name, {repoURL: repo.url, dest})
    await waitApp(name, 'Synced and Healthy', syncedAndHealthy)
    await apps.patchNamespacedDeployment({name, namespace: dest, body: {spec: {replicas: 3}}, fieldManager: 'kubectl-scale'},
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch))
    await eventually('the Deployment is back to 1 replica', async () => (await apps.readNamespacedDeployment({name, namespace: dest})).spec!.replicas === 1, 30_000)
    const app = await waitApp(name, 'Synced and Healthy again', syncedAndHealthy)
    assert.deepEqual(app.status!.operationState!.operation.sync, {revision: app.status!.sync!.revision, prune: true,
      syncOptions: ['CreateNamespace=true'], resources: [{group: 'apps', kind: 'Deployment', name}]})
    assert.equal(app.status!.history!.length, 1, 'a partial (self-heal) sync is no release')
  })

  it('refreshes the apps of a repository when GitHub\'s push webhook arrives, long before its next poll', async () => {
    // A controller of its own that would not poll for ten minutes: only the webhook can
    // explain a quick deploy.
    const namespace = uniqueName('argocd-hook')
    const kc = (await ground()).admin()
    const hooked = await startArgoCd(kc, {helm: path.join(await provideBinaries(), 'helm'), workDir: path.join(root, 'hooked'), namespace, pollMs: 600_000, webhookPort: 0, log: () => {}})
    const name = uniqueName('hook')
    const appRef = {apiVersion: 'argoproj.io/v1alpha1', kind: 'Application', metadata: {name, namespace}}
    try {
      assert.match(hooked.webhookUrl ?? '', /^http:\/\/127\.0\.0\.1:\d+\/api\/webhook$/)
      const repo = await makeRepo(root, CHART)
      await objects.create({...appRef, spec: {project: 'default', source: {repoURL: repo.url, path: 'chart', targetRevision: 'main'},
        destination: {server: 'https://kubernetes.default.svc', namespace: uniqueName('hook-ns')}, syncPolicy: {automated: {prune: true, selfHeal: true}, syncOptions: ['CreateNamespace=true']}}})
      const synced = async (sha?: string) => {
        for (let i = 0; i < 300; i++) {
          const app = await objects.read<App>(appRef)
          if (syncedAndHealthy(app) && (!sha || app.status?.sync?.revision === sha)) return true
          await sleep(100)
        }
        return false
      }
      assert.ok(await synced(), 'the first commit deploys')

      const second = await repo.push({'chart/values.yaml': CHART['chart/values.yaml'].replace('"1.0.0"', '"3.0.0"')}, 'Release 3.0.0')
      const unrelated = await fetch(hooked.webhookUrl!, {method: 'POST', headers: {'x-github-event': 'push'}, body: JSON.stringify({ref: 'refs/heads/main', repository: {clone_url: 'http://127.0.0.1:9/other/repo.git'}})})
      assert.equal(await unrelated.text(), 'refreshed 0\n', 'a push to another repository refreshes nothing')
      const hook = await fetch(hooked.webhookUrl!, {method: 'POST', headers: {'x-github-event': 'push', 'content-type': 'application/json'}, body: JSON.stringify({ref: 'refs/heads/main', after: second, repository: {clone_url: repo.url}})})
      assert.equal(await hook.text(), 'refreshed 1\n')
      assert.ok(await synced(second), 'the pushed commit deploys within 30 s, with the next poll ten minutes away')
    } finally {
      await objects.delete(appRef).catch(() => undefined)
      for (let i = 0; i < 300 && await objects.read(appRef).then(() => true, () => false); i++) await sleep(100)
      await hooked.stop()
    }
  })

  it('reads a repository over HTTP with the credentials of a repo-creds Secret, never logging them', async () => {
    const served = path.join(root, 'served')
    mkdirSync(served, {recursive: true})
    const repo = await makeRepo(served, CHART)
    const password = `pw-${Math.random().toString(36).slice(2)}`
    const server = await gitHttpServer(served, 'robot', password)
    try {
      const name = uniqueName('http')
      const dest = uniqueName('http-ns')
      await createApp(name, {repoURL: `${server.base}/${path.basename(repo.bare)}`, dest})
      let app = await waitApp(name, 'refused without credentials', (a) => a.status?.conditions?.some((c) => c.type === 'ComparisonError') ?? false)
      assert.match(app.status!.conditions![0].message, /failed to list refs/)

      await core.createNamespacedSecret({namespace: argoNamespace, body: {
        metadata: {name: uniqueName('creds'), labels: {'argocd.argoproj.io/secret-type': 'repo-creds'}},
        stringData: {url: `${server.base}/`, username: 'robot', password},
      }})
      await objects.patch({...ref(name), metadata: {...ref(name).metadata, annotations: {'argocd.argoproj.io/refresh': 'normal'}}},
        undefined, undefined, undefined, undefined, k8s.PatchStrategy.MergePatch)
      app = await waitApp(name, 'Synced and Healthy over HTTP', syncedAndHealthy)
      assert.equal(app.metadata!.annotations?.['argocd.argoproj.io/refresh'], undefined, 'the refresh annotation is consumed')
      assert.ok(!logs.join('\n').includes(password), 'the password is in no log line')
      assert.ok(!logs.join('\n').includes(Buffer.from(`robot:${password}`).toString('base64')), 'nor its Basic header')
    } finally {
      await server.close()
    }
  })

  it('deletes what it deployed when an Application with the resources finalizer is deleted, and only then', async () => {
    const repo = await makeRepo(root, CHART)
    const cascade = uniqueName('cascade')
    const orphan = uniqueName('orphan')
    const dest = uniqueName('delete-ns')
    await createApp(cascade, {repoURL: repo.url, dest})
    await createApp(orphan, {repoURL: repo.url, dest, finalizer: false})
    await waitApp(cascade, 'Synced and Healthy', syncedAndHealthy)
    await waitApp(orphan, 'Synced and Healthy', syncedAndHealthy)

    await objects.delete(ref(cascade))
    await eventually('the Application is gone', () => gone(() => readApp(cascade)))
    assert.ok(await gone(() => apps.readNamespacedDeployment({name: cascade, namespace: dest})))
    assert.ok(await gone(() => core.readNamespacedService({name: cascade, namespace: dest})))
    assert.ok(await gone(() => networking.readNamespacedIngress({name: cascade, namespace: dest})))
    assert.ok(await gone(() => core.readNamespacedConfigMap({name: `${cascade}-settings`, namespace: dest})))

    await objects.delete(ref(orphan))
    await eventually('the Application is gone', () => gone(() => readApp(orphan)))
    assert.ok(await apps.readNamespacedDeployment({name: orphan, namespace: dest}), 'without the finalizer, resources stay (non-cascading)')
  })
})

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}
