// The ground's real Argo CD (application-controller, repo-server, argocd-server and redis)
// against the real control plane, reading real git repositories from the ground's GitHub,
// whose pushes reach Argo CD's webhook: the Argo CD behaviours kplat relies on.
import assert from 'node:assert/strict'
import {execFile} from 'node:child_process'
import {existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {after, before, describe, it} from 'node:test'
import * as k8s from '@kubernetes/client-node'
import {Octokit} from '@octokit/rest'
import {ground, tokenFor, uniqueName, type TestGround} from './helpers/ground.js'

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

const ARGOCD_NAMESPACE = 'argocd'
const FINALIZER = 'resources-finalizer.argocd.argoproj.io'
// The user whose repositories these tests deploy from.
const OWNER = 'argocd-tester'

const IDENTITY = {
  GIT_AUTHOR_NAME: 'Test',
  GIT_AUTHOR_EMAIL: 'test@example.test',
  GIT_COMMITTER_NAME: 'Test',
  GIT_COMMITTER_EMAIL: 'test@example.test',
}

function git(cwd: string, args: string[]): Promise<string> {
  const env = {
    ...process.env,
    ...IDENTITY,
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_TERMINAL_PROMPT: '0',
  }
  return new Promise((resolve, reject) => {
    execFile('git', args, {cwd, env}, (error, stdout, stderr) => {
      if (error) reject(new Error(`git ${args[0]}: ${stderr}`))
      else resolve(stdout.trim())
    })
  })
}

interface Repo {
  /** The clone URL of the repository on the ground's GitHub, which Applications point at. */
  url: string
  /** The SHA of the first commit. */
  first: string
  /** Writes (or, with null, deletes) files in the work tree, commits and pushes to main; resolves the new SHA. */
  push(files: Record<string, string | null>, message: string): Promise<string>
}

// The parts of an Application that these tests read.
interface App extends k8s.KubernetesObject {
  spec: {
    source: {repoURL: string; path: string; targetRevision: string; helm?: Record<string, unknown>}
    destination: Record<string, unknown>
  } & Record<string, unknown>
  operation?: Record<string, unknown>
  status?: {
    sync?: {status: string; revision?: string; comparedTo?: Record<string, unknown>}
    health?: {status: string; message?: string}
    resources?: Array<{
      group?: string
      kind: string
      name: string
      namespace?: string
      status: string
      health?: {status: string; message?: string}
    }>
    conditions?: Array<{type: string; message: string}>
    history?: Array<{
      id: number
      revision: string
      deployedAt: string
      deployStartedAt: string
      source: {repoURL: string; helm?: unknown}
      initiatedBy?: {automated?: boolean; username?: string}
    }>
    operationState?: {
      phase: string
      message: string
      startedAt: string
      finishedAt?: string
      operation: {sync?: Record<string, unknown>; initiatedBy?: unknown}
      syncResult?: {
        revision: string
        resources?: Array<{kind: string; name: string; namespace: string; status: string; message: string}>
      }
    }
    summary?: {externalURLs?: string[]; images?: string[]}
    reconciledAt?: string
    sourceType?: string
    resourceHealthSource?: string
  }
}

describe("the ground's Argo CD", () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'kplat-argocd-test-'))
  const created: string[] = []
  const secrets: string[] = []
  let g: TestGround
  let token: string
  let octokit: Octokit
  let objects: k8s.KubernetesObjectApi
  let apps: k8s.AppsV1Api
  let core: k8s.CoreV1Api
  let networking: k8s.NetworkingV1Api

  before(async () => {
    g = await ground()
    const kc = g.admin()
    objects = k8s.KubernetesObjectApi.makeApiClient(kc)
    apps = kc.makeApiClient(k8s.AppsV1Api)
    core = kc.makeApiClient(k8s.CoreV1Api)
    networking = kc.makeApiClient(k8s.NetworkingV1Api)
    token = await tokenFor(g.github, OWNER, ['repo'])
    octokit = new Octokit({auth: token, baseUrl: g.env.GITHUB_API_URL})
  })

  after(async () => {
    // Delete what the tests created while Argo CD runs: it holds the finalizers.
    await Promise.all(created.map((name) => objects.delete(ref(name)).catch(() => undefined)))
    await Promise.all(
      secrets.map((name) => core.deleteNamespacedSecret({name, namespace: ARGOCD_NAMESPACE}).catch(() => undefined)),
    )
    const deadline = Date.now() + 60_000
    for (const name of created) {
      while (Date.now() < deadline && !(await gone(() => readApp(name)))) await sleep(250)
    }

    rmSync(root, {recursive: true, force: true})
  })

  /** A repository of OWNER on the ground's GitHub, with a first commit of these files on main. */
  async function makeRepo(files: Record<string, string | null>, opts: {private?: boolean} = {}): Promise<Repo> {
    const name = uniqueName('chart')
    const {data} = await octokit.repos.createForAuthenticatedUser({name, private: opts.private ?? false})
    const work = path.join(root, name)
    await git(root, ['init', '-q', '--initial-branch=main', work])
    await git(work, ['remote', 'add', 'origin', data.clone_url])
    // The token travels in a header for this one command, never in the URL nor .git/config.
    const auth = `http.extraHeader=Authorization: Basic ${Buffer.from(`x-access-token:${token}`).toString('base64')}`
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
      await git(work, ['-c', auth, 'push', '-q', 'origin', 'main'])
      return git(work, ['rev-parse', 'HEAD'])
    }

    return {url: data.clone_url, first: await push(files, 'First commit'), push}
  }

  const ref = (name: string) => ({
    apiVersion: 'argoproj.io/v1alpha1',
    kind: 'Application',
    metadata: {name, namespace: ARGOCD_NAMESPACE},
  })
  const readApp = (name: string) => objects.read<App>(ref(name))

  /** An Application as kplat writes one. */
  async function createApp(
    name: string,
    spec: {repoURL: string; dest: string; automated?: boolean; helm?: Record<string, unknown>; finalizer?: boolean},
  ): Promise<void> {
    created.push(name)
    await objects.create({
      ...ref(name),
      metadata: {...ref(name).metadata, ...(spec.finalizer === false ? {} : {finalizers: [FINALIZER]})},
      spec: {
        project: 'default',
        source: {repoURL: spec.repoURL, path: 'chart', targetRevision: 'main', ...(spec.helm ? {helm: spec.helm} : {})},
        destination: {server: 'https://kubernetes.default.svc', namespace: spec.dest},
        syncPolicy: {
          ...(spec.automated === false ? {} : {automated: {prune: true, selfHeal: true}}),
          syncOptions: ['CreateNamespace=true'],
        },
      },
    })
  }

  async function waitApp(name: string, what: string, ok: (app: App) => boolean, timeoutMs = 90_000): Promise<App> {
    const deadline = Date.now() + timeoutMs
    let app: App | undefined
    for (;;) {
      app = await readApp(name).catch(() => undefined)
      if (app && ok(app)) return app
      if (Date.now() > deadline)
        assert.fail(`timed out waiting for ${name} to be ${what}; status: ${JSON.stringify(app?.status, null, 1)}`)
      await sleep(250)
    }
  }

  const patchApp = (name: string, patch: {metadata?: Record<string, unknown>} & Record<string, unknown>) =>
    objects.patch(
      {...ref(name), ...patch, metadata: {...ref(name).metadata, ...patch.metadata}},
      undefined,
      undefined,
      undefined,
      undefined,
      k8s.PatchStrategy.MergePatch,
    )

  /** Requests a sync as the argocd CLI does: by writing the Application's `operation`. */
  const sync = (name: string, operation: Record<string, unknown>) => patchApp(name, {operation})

  const syncedAndHealthy = (app: App) =>
    app.status?.sync?.status === 'Synced' &&
    app.status.health?.status === 'Healthy' &&
    !app.operation &&
    app.status.operationState?.phase === 'Succeeded'
  const hasCondition = (type: string) => (app: App) => app.status?.conditions?.some((c) => c.type === type) ?? false

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
      await sleep(250)
    }
  }

  it("syncs an automated Helm app to Synced and Healthy, with Running pods of the chart's image", async () => {
    const repo = await makeRepo(CHART)
    const name = uniqueName('web')
    const dest = uniqueName('web-ns')
    await createApp(name, {repoURL: repo.url, dest})

    const app = await waitApp(
      name,
      'Synced and Healthy',
      (a) => syncedAndHealthy(a) && (a.status?.history?.length ?? 0) === 1,
    )
    const status = app.status!
    assert.equal(status.sync!.revision, repo.first)
    assert.deepEqual(status.sync!.comparedTo, {source: app.spec.source, destination: app.spec.destination})
    assert.equal(status.sourceType, 'Helm')
    assert.equal(status.resourceHealthSource, 'appTree')
    assert.ok(status.reconciledAt)
    assert.equal(status.conditions, undefined)

    const op = status.operationState!
    assert.equal(op.message, 'successfully synced (all tasks run)')
    assert.deepEqual(op.operation.initiatedBy, {automated: true})
    assert.equal(op.operation.sync!.revision, repo.first)
    assert.equal(op.syncResult!.revision, repo.first)
    // The last operation may be a self-heal of one resource right after the first sync (seen
    // for the Ingress, whose status kwok writes then); the app's resource list below is the whole.
    assert.ok(op.syncResult!.resources!.some((r) => r.kind === 'Ingress'))

    const [entry] = status.history!
    assert.equal(entry.id, 0)
    assert.equal(entry.revision, repo.first)
    assert.deepEqual(entry.source, app.spec.source)
    assert.deepEqual(entry.initiatedBy, {automated: true})
    assert.ok(Date.parse(entry.deployStartedAt) <= Date.parse(entry.deployedAt))

    assert.deepEqual(
      status.resources!.map((r) => `${r.group ?? ''}/${r.kind}/${r.namespace}/${r.name} ${r.status}`),
      [
        `/ConfigMap/${dest}/${name}-settings Synced`,
        `/Service/${dest}/${name} Synced`,
        `apps/Deployment/${dest}/${name} Synced`,
        `networking.k8s.io/Ingress/${dest}/${name} Synced`,
      ],
    )
    assert.ok(
      status.resources!.every((r) => r.health === undefined),
      'Argo CD 3.x keeps resource health in the tree, not in the CR',
    )

    const pods = await runningPods(dest, name)
    assert.equal(pods.length, 1)
    assert.equal(pods[0].spec!.containers[0].image, 'ghcr.io/example/web:1.0.0')
    assert.match(pods[0].spec!.nodeName ?? '', /^kwok-node-/)
    assert.deepEqual(status.summary!.images, ['ghcr.io/example/web:1.0.0'])
    assert.deepEqual(status.summary!.externalURLs, ['http://web.example.test/'])
    // An Ingress is Healthy once it has an address, which kwok gives it.
    const ingress = await networking.readNamespacedIngress({name, namespace: dest})
    assert.ok(ingress.status?.loadBalancer?.ingress?.length, 'the Ingress has an address')

    // Argo CD tracks what it deployed by annotation, applying client-side.
    const deployment = await apps.readNamespacedDeployment({name, namespace: dest})
    assert.equal(
      deployment.metadata!.annotations!['argocd.argoproj.io/tracking-id'],
      `${name}:apps/Deployment:${dest}/${name}`,
    )
    assert.equal(
      deployment.metadata!.labels!['app.kubernetes.io/instance'],
      undefined,
      'annotation tracking adds no instance label',
    )
    assert.ok(deployment.metadata!.annotations!['kubectl.kubernetes.io/last-applied-configuration'])
    assert.ok(
      deployment.metadata!.managedFields!.some((f) => f.manager === 'argocd-controller' && f.operation === 'Update'),
    )
    assert.ok((await core.readNamespace({name: dest})).metadata, 'CreateNamespace=true made the namespace')
  })

  it('passes Helm parameters (--set, --set-string) and valuesObject to helm template, and re-syncs when they change', async () => {
    const repo = await makeRepo(CHART)
    const name = uniqueName('params')
    const dest = uniqueName('params-ns')
    await createApp(name, {
      repoURL: repo.url,
      dest,
      helm: {
        parameters: [
          {name: 'replicaCount', value: '2'},
          {name: 'podAnnotations.build', value: '12345', forceString: true},
        ],
        // replicaCount here loses to the parameter; host and ingress.tls win over values.yaml.
        valuesObject: {replicaCount: 5, host: 'shop.example.test', ingress: {tls: true}},
      },
    })

    const app = await waitApp(name, 'Synced and Healthy', syncedAndHealthy)
    const deployment = await apps.readNamespacedDeployment({name, namespace: dest})
    assert.equal(deployment.spec!.replicas, 2, 'a parameter overrides valuesObject')
    assert.equal(deployment.spec!.template.metadata!.annotations!.build, '12345', 'forceString keeps a number a string')
    assert.equal(
      deployment.spec!.template.spec!.containers[0].image,
      'ghcr.io/example/web:1.0.0',
      'what nothing overrides comes from values.yaml',
    )
    const ingress = await networking.readNamespacedIngress({name, namespace: dest})
    assert.equal(ingress.spec!.rules![0].host, 'shop.example.test', 'valuesObject overrides values.yaml')
    assert.deepEqual(
      ingress.spec!.tls!.map((t) => [t.hosts, t.secretName]),
      [[['shop.example.test'], `${name}-tls`]],
    )
    assert.deepEqual(app.status!.summary!.externalURLs, ['https://shop.example.test/'])
    await eventually('2 pods run', async () => (await runningPods(dest, name)).length === 2)

    // A change of the Application's spec (same commit) is synced too, and is a release.
    const helm = {
      ...app.spec.source.helm,
      parameters: [
        {name: 'replicaCount', value: '3'},
        {name: 'host', value: 'param.example.test'},
      ],
    }
    await patchApp(name, {spec: {source: {helm}}})
    const changed = await waitApp(
      name,
      'synced with 3 replicas',
      (a) => syncedAndHealthy(a) && a.status?.history?.length === 2,
    )
    const live = await apps.readNamespacedDeployment({name, namespace: dest})
    assert.equal(live.spec!.replicas, 3)
    assert.equal(live.spec!.template.metadata!.annotations, undefined, 'the dropped parameter is gone')
    assert.equal(
      (await networking.readNamespacedIngress({name, namespace: dest})).spec!.rules![0].host,
      'param.example.test',
      'a parameter overrides valuesObject',
    )
    const [first, second] = changed.status!.history!
    assert.equal(second.revision, first.revision)
    assert.deepEqual(second.source.helm, helm)
    await eventually('3 pods run', async () => (await runningPods(dest, name)).length === 3)
  })

  it("deploys a second commit pushed to the branch at once, through GitHub's push webhook, as a new revision and history entry", async () => {
    const repo = await makeRepo(CHART)
    const name = uniqueName('push')
    const dest = uniqueName('push-ns')
    await createApp(name, {repoURL: repo.url, dest})
    const first = await waitApp(name, 'Synced and Healthy', syncedAndHealthy)
    assert.equal(first.status!.sync!.revision, repo.first)
    const reconciled = Date.parse(first.status!.reconciledAt!)

    const pushed = Date.now()
    const second = await repo.push(
      {'chart/values.yaml': CHART['chart/values.yaml'].replace('"1.0.0"', '"2.0.0"')},
      'Release 2.0.0',
    )
    // Argo CD polls a repository every 120 s (timeout.reconciliation), counted from its last
    // reconcile: a deploy within 30 s of the push is the webhook's doing.
    const app = await waitApp(
      name,
      `Synced and Healthy at ${second}`,
      (a) => syncedAndHealthy(a) && a.status?.sync?.revision === second && a.status.history?.length === 2,
      30_000,
    )
    assert.ok(Date.now() - pushed < 30_000)
    const [one, two] = app.status!.history!
    assert.ok(Date.parse(two.deployStartedAt) < reconciled + 120_000, 'deployed before the next poll was due')
    assert.equal(one.revision, repo.first)
    assert.equal(two.revision, second)
    assert.ok(two.id > one.id)
    assert.ok(Date.parse(two.deployedAt) >= Date.parse(one.deployedAt))
    assert.equal(app.status!.operationState!.syncResult!.revision, second)

    await eventually('only pods of the new image run', async () => {
      const pods = await runningPods(dest, name)
      return pods.length === 1 && pods[0].spec!.containers[0].image === 'ghcr.io/example/web:2.0.0'
    })
    const settled = await waitApp(
      name,
      'showing only the new image',
      (a) => a.status?.summary?.images?.join() === 'ghcr.io/example/web:2.0.0',
    )
    assert.equal(settled.status!.history!.length, 2, 'refreshes of the same revision add no history')
  })

  it('prunes a resource removed from the chart', async () => {
    const repo = await makeRepo(CHART)
    const name = uniqueName('prune')
    const dest = uniqueName('prune-ns')
    await createApp(name, {repoURL: repo.url, dest})
    await waitApp(name, 'Synced and Healthy', syncedAndHealthy)
    assert.ok(await core.readNamespacedConfigMap({name: `${name}-settings`, namespace: dest}))

    const sha = await repo.push({'chart/templates/configmap.yaml': null}, 'Drop the ConfigMap')
    const app = await waitApp(name, `Synced at ${sha}`, (a) => syncedAndHealthy(a) && a.status?.sync?.revision === sha)
    await eventually('the ConfigMap is gone', () =>
      gone(() => core.readNamespacedConfigMap({name: `${name}-settings`, namespace: dest})),
    )
    assert.ok(
      app.status!.operationState!.syncResult!.resources!.some(
        (r) => r.kind === 'ConfigMap' && r.status === 'Pruned' && r.message === 'pruned',
      ),
      JSON.stringify(app.status!.operationState!.syncResult),
    )
    assert.ok(!app.status!.resources!.some((r) => r.kind === 'ConfigMap'))
    assert.ok(await apps.readNamespacedDeployment({name, namespace: dest}), 'what stays in the chart stays')
  })

  it('surfaces a broken chart and an unreadable repository as ComparisonError conditions, and recovers', async () => {
    const broken = {
      ...CHART,
      'chart/templates/configmap.yaml': CHART['chart/templates/configmap.yaml'].replace(
        'hello',
        '{{ .Values.greeting | notAFunction }}',
      ),
    }
    const repo = await makeRepo(broken)
    const name = uniqueName('broken')
    const dest = uniqueName('broken-ns')
    await createApp(name, {repoURL: repo.url, dest})
    let app = await waitApp(name, 'in ComparisonError', hasCondition('ComparisonError'))
    const condition = app.status!.conditions!.find((c) => c.type === 'ComparisonError')!
    assert.match(
      condition.message,
      /^Failed to load target state: failed to generate manifest for source 1 of 1: rpc error: code = Unknown desc = failed to execute helm template command: /,
    )
    assert.match(
      condition.message,
      new RegExp(
        `\`helm template \\. --name-template ${name} --namespace ${dest} .*\` failed exit status 1: Error: parse error at \\(web/templates/configmap\\.yaml:6\\): function "notAFunction" not defined`,
      ),
    )
    assert.equal(app.status!.sync!.status, 'Unknown')
    assert.equal(app.status!.sync!.revision, 'main', 'the branch is left unresolved')
    // With no resources to judge, Argo CD calls the app Healthy: only the condition tells.
    assert.equal(app.status!.health!.status, 'Healthy')
    assert.equal(app.status!.operationState, undefined, 'nothing is synced from a chart that does not render')

    const missing = uniqueName('norepo')
    await createApp(missing, {
      repoURL: `${g.github.web}/${OWNER}/${uniqueName('no-such-repo')}.git`,
      dest,
      finalizer: false,
    })
    app = await waitApp(missing, 'in ComparisonError', hasCondition('ComparisonError'))
    assert.equal(
      app.status!.conditions![0].message,
      'Failed to load target state: failed to generate manifest for source 1 of 1: rpc error: code = Unknown desc = failed to list refs: repository not found: Repository not found.\n',
    )
    assert.equal(app.status!.sync!.status, 'Unknown')

    // The controller keeps going: fixing the chart deploys it.
    const sha = await repo.push(
      {'chart/templates/configmap.yaml': CHART['chart/templates/configmap.yaml']},
      'Fix the template',
    )
    app = await waitApp(
      name,
      'Synced and Healthy after the fix',
      (a) => syncedAndHealthy(a) && a.status?.sync?.revision === sha,
    )
    assert.equal(app.status!.conditions, undefined)
  })

  it('without automated sync reports OutOfSync, and syncs and rolls back on operation requests', async () => {
    const repo = await makeRepo(CHART)
    const name = uniqueName('manual')
    const dest = uniqueName('manual-ns')
    await createApp(name, {repoURL: repo.url, dest, automated: false})
    let app = await waitApp(name, 'OutOfSync', (a) => a.status?.sync?.status === 'OutOfSync')
    assert.equal(app.status!.health!.status, 'Missing')
    assert.ok(app.status!.resources!.every((r) => r.status === 'OutOfSync'))
    assert.equal(app.status!.history, undefined)
    assert.ok(await gone(() => apps.readNamespacedDeployment({name, namespace: dest})))

    // What `argocd app sync` writes.
    await sync(name, {
      sync: {revision: 'main', prune: true, syncOptions: ['CreateNamespace=true']},
      initiatedBy: {username: 'alice'},
    })
    app = await waitApp(name, 'synced by the operation', syncedAndHealthy)
    assert.equal(app.operation, undefined)
    assert.deepEqual(app.status!.operationState!.operation.initiatedBy, {username: 'alice'})
    assert.ok(app.status!.operationState!.finishedAt)
    assert.deepEqual(
      app.status!.history!.map((h) => [h.id, h.revision, h.initiatedBy]),
      [[0, repo.first, {username: 'alice'}]],
    )
    const first = app.status!.history![0]

    // A new commit is only reported until someone syncs it.
    const second = await repo.push(
      {'chart/values.yaml': CHART['chart/values.yaml'].replace('"1.0.0"', '"2.0.0"')},
      'Release 2.0.0',
    )
    app = await waitApp(
      name,
      `OutOfSync with ${second}`,
      (a) => a.status?.sync?.status === 'OutOfSync' && a.status.sync.revision === second,
      30_000,
    )
    assert.equal(app.status!.history!.length, 1)
    assert.equal(
      (await apps.readNamespacedDeployment({name, namespace: dest})).spec!.template.spec!.containers[0].image,
      'ghcr.io/example/web:1.0.0',
    )
    await sync(name, {sync: {revision: 'main'}, initiatedBy: {username: 'alice'}})
    app = await waitApp(name, `synced to ${second}`, (a) => syncedAndHealthy(a) && a.status?.history?.length === 2)
    assert.equal(app.status!.history![1].revision, second)

    // What `argocd app rollback` writes: the revision and source of a history entry.
    await sync(name, {sync: {revision: first.revision, source: first.source}, initiatedBy: {username: 'bob'}})
    app = await waitApp(
      name,
      'rolled back',
      (a) => !a.operation && a.status?.operationState?.phase === 'Succeeded' && a.status.history?.length === 3,
    )
    assert.deepEqual(
      app.status!.history!.map((h) => [h.id, h.revision]),
      [
        [0, first.revision],
        [1, second],
        [2, first.revision],
      ],
    )
    assert.equal(app.status!.operationState!.syncResult!.revision, first.revision)
    await eventually('pods of the old image run again', async () => {
      const pods = await runningPods(dest, name)
      return pods.length === 1 && pods[0].spec!.containers[0].image === 'ghcr.io/example/web:1.0.0'
    })
    await waitApp(
      name,
      'OutOfSync with the branch again',
      (a) => a.status?.sync?.status === 'OutOfSync' && a.status.sync.revision === second,
    )
  })

  it('reports a Deployment that cannot roll out as Degraded', async () => {
    const repo = await makeRepo(CHART)
    const name = uniqueName('stuck')
    const dest = uniqueName('stuck-ns')
    await createApp(name, {
      repoURL: repo.url,
      dest,
      helm: {
        parameters: [
          {name: 'nodeSelector.pool', value: 'none'},
          {name: 'progressDeadlineSeconds', value: '2'},
        ],
      },
    })
    const app = await waitApp(name, 'Degraded', (a) => a.status?.health?.status === 'Degraded')
    assert.equal(app.status!.sync!.status, 'Synced')
    assert.equal(app.status!.operationState!.phase, 'Succeeded', 'the sync does not wait for health')
    const deployment = await apps.readNamespacedDeployment({name, namespace: dest})
    const progressing = deployment.status!.conditions!.find((c) => c.type === 'Progressing')
    assert.equal(progressing?.reason, 'ProgressDeadlineExceeded')
    const pods = await core.listNamespacedPod({namespace: dest, labelSelector: `app.kubernetes.io/instance=${name}`})
    assert.ok(pods.items.length > 0 && pods.items.every((p) => p.status?.phase === 'Pending'))
  })

  it('heals drift of a live object (selfHeal) with a partial sync and no new history entry', async () => {
    const repo = await makeRepo(CHART)
    const name = uniqueName('heal')
    const dest = uniqueName('heal-ns')
    await createApp(name, {repoURL: repo.url, dest})
    const settled = await waitApp(name, 'Synced and Healthy', syncedAndHealthy)
    // Releases so far: usually one, two when Argo CD's first automated sync is retried.
    const releases = settled.status!.history!.length
    // What `kubectl scale --replicas=3` does: write the scale subresource.
    await apps.patchNamespacedDeploymentScale(
      {name, namespace: dest, body: {spec: {replicas: 3}}, fieldManager: 'kubectl-scale'},
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    )
    await eventually(
      'the Deployment is back to 1 replica',
      async () => (await apps.readNamespacedDeployment({name, namespace: dest})).spec!.replicas === 1,
      30_000,
    )
    const app = await waitApp(name, 'Synced and Healthy again', syncedAndHealthy)
    const op = app.status!.operationState!.operation
    assert.deepEqual(op.initiatedBy, {automated: true})
    assert.equal(op.sync!.revision, app.status!.sync!.revision)
    assert.deepEqual(
      op.sync!.resources,
      [{group: 'apps', kind: 'Deployment', name}],
      'only the drifted object is synced',
    )
    assert.ok(Number(op.sync!.autoHealAttemptsCount) >= 1)
    assert.equal(app.status!.history!.length, releases, 'a partial (self-heal) sync is no release')
  })

  it('reads a private repository with the credentials of a repository Secret, the token in nothing it writes', async () => {
    const readToken = await tokenFor(g.github, OWNER, ['repo'])
    const repo = await makeRepo(CHART, {private: true})
    const name = uniqueName('private')
    const dest = uniqueName('private-ns')
    await createApp(name, {repoURL: repo.url, dest})
    let app = await waitApp(name, 'refused without credentials', hasCondition('ComparisonError'))
    assert.equal(
      app.status!.conditions![0].message,
      'Failed to load target state: failed to generate manifest for source 1 of 1: rpc error: code = Unknown desc = failed to list refs: authentication required: Authentication required.\n',
    )
    assert.equal(app.status!.sync!.status, 'Unknown')

    const secret = uniqueName('repo')
    secrets.push(secret)
    await core.createNamespacedSecret({
      namespace: ARGOCD_NAMESPACE,
      body: {
        metadata: {name: secret, labels: {'argocd.argoproj.io/secret-type': 'repository'}},
        stringData: {url: repo.url, username: 'x-access-token', password: readToken},
      },
    })
    // What `argocd app get --refresh` writes.
    await patchApp(name, {metadata: {annotations: {'argocd.argoproj.io/refresh': 'normal'}}})
    app = await waitApp(
      name,
      'Synced and Healthy from the private repository',
      (a) => syncedAndHealthy(a) && a.status?.sync?.revision === repo.first,
    )
    assert.equal(
      app.metadata!.annotations?.['argocd.argoproj.io/refresh'],
      undefined,
      'the refresh annotation is consumed',
    )
    assert.equal(app.status!.conditions, undefined)

    const basic = Buffer.from(`x-access-token:${readToken}`).toString('base64')
    const leaks = (text: string) => text.includes(readToken) || text.includes(basic)
    assert.ok(!leaks(JSON.stringify(await readApp(name))), 'the token is not in the Application')
    const events = await core.listNamespacedEvent({namespace: ARGOCD_NAMESPACE})
    assert.ok(!leaks(JSON.stringify(events)), 'nor in its events')
    const logs = path.join(g.env.KPLAT_GROUND_DIR, 'logs')
    for (const file of readdirSync(logs).filter((f) => f.startsWith('argocd-'))) {
      assert.ok(!leaks(readFileSync(path.join(logs, file), 'utf8')), `nor in ${file}`)
    }

    // The repo-server's clone asks for the password through GIT_ASKPASS: no trace in its config.
    const clones = path.join(g.env.KPLAT_GROUND_DIR, 'argocd', 'tmp', '_argocd-repo')
    const configs = readdirSync(clones)
      .map((d) => path.join(clones, d, '.git', 'config'))
      .filter((f) => existsSync(f))
    const ours = configs.filter((f) => readFileSync(f, 'utf8').includes(repo.url))
    assert.equal(ours.length, 1, 'the repo-server cloned the private repository')
    assert.ok(!leaks(readFileSync(ours[0], 'utf8')))
  })

  it('deletes what it deployed when an Application with the resources finalizer is deleted, and only then goes', async () => {
    const repo = await makeRepo(CHART)
    const cascade = uniqueName('cascade')
    const orphan = uniqueName('orphan')
    const dest = uniqueName('delete-ns')
    await createApp(cascade, {repoURL: repo.url, dest})
    await createApp(orphan, {repoURL: repo.url, dest, finalizer: false})
    await waitApp(cascade, 'Synced and Healthy', syncedAndHealthy)
    await waitApp(orphan, 'Synced and Healthy', syncedAndHealthy)

    // A finalizer of the test's own holds the ConfigMap: the Application must wait for it.
    const hold = 'kplat.test/hold'
    const configMap = {name: `${cascade}-settings`, namespace: dest}
    await core.patchNamespacedConfigMap(
      {...configMap, body: {metadata: {finalizers: [hold]}}},
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    )
    try {
      await objects.delete(ref(cascade))
      await eventually('the Deployment, Service and Ingress are gone', async () =>
        (
          await Promise.all([
            gone(() => apps.readNamespacedDeployment({name: cascade, namespace: dest})),
            gone(() => core.readNamespacedService({name: cascade, namespace: dest})),
            gone(() => networking.readNamespacedIngress({name: cascade, namespace: dest})),
          ])
        ).every(Boolean),
      )
      assert.ok(
        (await core.readNamespacedConfigMap(configMap)).metadata!.deletionTimestamp,
        'the ConfigMap is being deleted',
      )
      await sleep(3000)
      const waiting = await readApp(cascade)
      assert.ok(waiting.metadata!.deletionTimestamp)
      assert.deepEqual(
        waiting.metadata!.finalizers,
        [FINALIZER],
        'the Application stays while something it deployed does',
      )
    } finally {
      await core
        .patchNamespacedConfigMap(
          {...configMap, body: {metadata: {finalizers: null}}},
          k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
        )
        .catch(() => undefined)
    }

    await eventually('the Application is gone', () => gone(() => readApp(cascade)))
    assert.ok(await gone(() => core.readNamespacedConfigMap(configMap)))
    assert.ok(await apps.readNamespacedDeployment({name: orphan, namespace: dest}), "the other app's resources stay")

    await objects.delete(ref(orphan))
    await eventually('the Application is gone', () => gone(() => readApp(orphan)))
    await sleep(2000)
    assert.ok(
      await apps.readNamespacedDeployment({name: orphan, namespace: dest}),
      'without the finalizer, resources stay (non-cascading)',
    )
    assert.ok(await core.readNamespacedConfigMap({name: `${orphan}-settings`, namespace: dest}))
  })
})

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}
