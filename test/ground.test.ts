import assert from 'node:assert/strict'
import {execFile} from 'node:child_process'
import {existsSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {PassThrough} from 'node:stream'
import {promisify} from 'node:util'
import {after, before, describe, it} from 'node:test'
import * as k8s from '@kubernetes/client-node'
import {Octokit} from '@octokit/rest'
import {createKube} from '../src/lib/kube/client.js'
import {forwardPort} from '../src/lib/kube/port-forward.js'
import {waitFor} from '../src/lib/kube/wait.js'
import {Debug} from '../src/lib/debug.js'
import {Redactor} from '../src/lib/redact.js'
import {
  NO_TEAM_CONTEXT,
  RESTRICTED_CONTEXT,
  TEAM_B_CONTEXT,
  TEAM_B_NAMESPACE,
  TEAM_NAMESPACE,
} from './ground/cluster.js'
import {ORG} from './ground/index.js'
import {appendPodLog, crashContainer, ground, podLogFile, uniqueName, type TestGround} from './helpers/ground.js'

describe('the proving ground', () => {
  let g: TestGround
  let core: k8s.CoreV1Api
  const ns = uniqueName('ground')

  before(async () => {
    g = await ground()
    core = g.admin().makeApiClient(k8s.CoreV1Api)
    await core.createNamespace({body: {metadata: {name: ns}}})
  })

  const kplatKube = () =>
    createKube({
      env: {KUBECONFIG: g.kubeconfig},
      debug: new Debug(false, process.stderr, new Redactor()),
      redactor: new Redactor(),
    })

  async function runningPod(labels: Record<string, string>): Promise<k8s.V1Pod> {
    const selector = Object.entries(labels)
      .map(([k, v]) => `${k}=${v}`)
      .join(',')
    for (let i = 0; i < 300; i++) {
      const pods = await core.listNamespacedPod({namespace: ns, labelSelector: selector})
      const pod = pods.items.find((p) => p.status?.phase === 'Running')
      if (pod) return pod
      await new Promise((r) => setTimeout(r, 100))
    }

    throw new Error(`no Running pod for ${selector}`)
  }

  it('rolls a Deployment out to Running pods on kwok nodes', async () => {
    const apps = g.admin().makeApiClient(k8s.AppsV1Api)
    await apps.createNamespacedDeployment({
      namespace: ns,
      body: {
        metadata: {name: 'web'},
        spec: {
          replicas: 2,
          selector: {matchLabels: {app: 'web'}},
          template: {
            metadata: {labels: {app: 'web'}},
            spec: {containers: [{name: 'web', image: 'ghcr.io/example/web:1', ports: [{containerPort: 8080}]}]},
          },
        },
      },
    })
    for (let i = 0; ; i++) {
      const d = await apps.readNamespacedDeployment({name: 'web', namespace: ns})
      if (d.status?.readyReplicas === 2 && d.status.updatedReplicas === 2) break
      assert.ok(i < 300, `deployment not ready: ${JSON.stringify(d.status)}`)
      await new Promise((r) => setTimeout(r, 100))
    }

    const pods = await core.listNamespacedPod({namespace: ns, labelSelector: 'app=web'})
    assert.equal(pods.items.filter((p) => p.status?.phase === 'Running').length, 2)
    assert.ok(pods.items.every((p) => p.spec?.nodeName === 'kwok-node-0'))
  })

  /** A container's logs as the API server gives them, once the ground's runtime has started the pod. */
  async function logsOf(pod: string, container = 'web'): Promise<string> {
    for (let i = 0; ; i++) {
      const text = await core.readNamespacedPodLog({namespace: ns, name: pod, container}).catch((e: Error) => {
        if (i >= 100) throw e
        return undefined
      })
      if (text?.includes('listening on')) return text
      await new Promise((r) => setTimeout(r, 100))
    }
  }

  async function follow(pod: string) {
    const got = new PassThrough()
    let text = ''
    got.on('data', (d) => (text += d))
    const stream = await new k8s.Log(g.admin()).log(ns, pod, 'web', got, {follow: true})
    return {
      async until(line: string) {
        for (let i = 0; !text.includes(line) && i < 100; i++) await new Promise((r) => setTimeout(r, 100))
        return text
      },
      stop: () => stream.abort(),
    }
  }

  it('gives each pod of a Deployment its own logs, read and followed through the API server', async () => {
    const [a, b] = (await core.listNamespacedPod({namespace: ns, labelSelector: 'app=web'})).items.map(
      (p) => p.metadata!.name!,
    )
    await Promise.all([logsOf(a), logsOf(b)])
    appendPodLog(g, ns, a, 'web', 'first line')
    assert.match(await logsOf(a), /^listening on 8080\nfirst line\n$/)
    const [followA, followB] = await Promise.all([follow(a), follow(b)])
    try {
      const marker = `followed ${Date.now()}`
      appendPodLog(g, ns, a, 'web', marker)
      assert.match(await followA.until(marker), new RegExp(`first line\n${marker}\n$`))
      assert.equal(await followB.until('listening on'), 'listening on 8080\n', "pod b's stream has only its own lines")
    } finally {
      followA.stop()
      followB.stop()
    }

    assert.equal(podLogFile(g, ns, a, 'web'), path.join(g.dir, 'logs', 'pods', ns, a, 'web.log'))
  })

  it("forwards a local port to the pod's own server, whose log shows the request", async () => {
    const pod = (await runningPod({app: 'web'})).metadata!.name!
    await logsOf(pod)
    const forward = await forwardPort(kplatKube(), ns, pod, 8080)
    try {
      let body = ''
      for (let i = 0; i < 50 && body === ''; i++) {
        body = await fetch(`http://127.0.0.1:${forward.port}/ping?n=1`)
          .then((r) => r.text())
          .catch(() => '')
        if (body === '') await new Promise((r) => setTimeout(r, 100))
      }

      assert.deepEqual(JSON.parse(body), {
        pod,
        namespace: ns,
        container: 'web',
        image: 'ghcr.io/example/web:1',
        path: '/ping?n=1',
      })
      assert.equal(await fetch(`http://127.0.0.1:${forward.port}/healthz`).then((r) => r.text()), 'ok\n')
    } finally {
      await forward.close()
    }

    assert.match(await logsOf(pod), /\nGET \/ping\?n=1 200\n$/, 'the request is logged, the health check is not')
  })

  it('reports a crash-looping container as a kubelet does, and kwok leaves that status alone', async () => {
    await core.createNamespacedPod({
      namespace: ns,
      body: {metadata: {name: 'crashy'}, spec: {containers: [{name: 'app', image: 'ghcr.io/example/app:1'}]}},
    })
    const crashed = await crashContainer(g.admin(), ns, 'crashy', 'app', {
      reason: 'OOMKilled',
      exitCode: 137,
      restarts: 3,
    })
    const status = crashed.status!
    const container = status.containerStatuses![0]
    assert.equal(status.phase, 'Running')
    assert.equal(container.ready, false)
    assert.equal(container.restartCount, 3)
    assert.equal(container.state?.waiting?.reason, 'CrashLoopBackOff')
    assert.match(
      container.state!.waiting!.message!,
      new RegExp(`^back-off 40s restarting failed container=app pod=crashy_${ns}\\(${crashed.metadata!.uid}\\)$`),
    )
    assert.equal(container.state?.running, undefined)
    assert.deepEqual(
      [container.lastState?.terminated?.reason, container.lastState?.terminated?.exitCode],
      ['OOMKilled', 137],
    )
    assert.ok(container.lastState!.terminated!.finishedAt)
    assert.deepEqual(
      status.conditions?.filter((c) => c.type === 'Ready').map((c) => [c.status, c.reason]),
      [['False', 'ContainersNotReady']],
    )
    await new Promise((r) => setTimeout(r, 2000))
    assert.deepEqual((await core.readNamespacedPod({namespace: ns, name: 'crashy'})).status, status)
  })

  it('starts each pod of a scale-up to 20 within about a second of its binding', async () => {
    const apps = g.admin().makeApiClient(k8s.AppsV1Api)
    const objects = k8s.KubernetesObjectApi.makeApiClient(g.admin())
    await apps.createNamespacedDeployment({
      namespace: ns,
      body: {
        metadata: {name: 'many'},
        spec: {
          replicas: 20,
          selector: {matchLabels: {app: 'many'}},
          template: {
            metadata: {labels: {app: 'many'}},
            spec: {containers: [{name: 'web', image: 'ghcr.io/example/web:1', ports: [{containerPort: 8080}]}]},
          },
        },
      },
    })
    const bound = new Map<string, number>()
    const started = new Map<string, number>()
    for (let i = 0; started.size < 20 || bound.size < 20; i++) {
      assert.ok(i < 600, `${bound.size} pods bound, ${started.size} with Logs`)
      const [pods, logs] = await Promise.all([
        core.listNamespacedPod({namespace: ns, labelSelector: 'app=many'}),
        objects.list('kwok.x-k8s.io/v1alpha1', 'Logs', ns),
      ])
      const now = performance.now()
      for (const p of pods.items)
        if (p.spec?.nodeName && !bound.has(p.metadata!.name!)) bound.set(p.metadata!.name!, now)
      for (const l of logs.items)
        if (bound.has(l.metadata!.name!) && !started.has(l.metadata!.name!)) started.set(l.metadata!.name!, now)
      await new Promise((r) => setTimeout(r, 50))
    }

    const lag = Math.max(...[...started].map(([name, at]) => at - bound.get(name)!))
    assert.ok(lag < 1000, `the last Logs object came ${lag.toFixed(0)} ms after its pod was bound`)
  })

  it("ends a deleted pod's server and keeps its logs; the garbage collector removes its Logs and PortForward", async () => {
    const objects = k8s.KubernetesObjectApi.makeApiClient(g.admin())
    const pod = (await runningPod({app: 'many'})).metadata!.name!
    await logsOf(pod)
    const forward = (await objects.read({
      apiVersion: 'kwok.x-k8s.io/v1alpha1',
      kind: 'PortForward',
      metadata: {name: pod, namespace: ns},
    })) as k8s.KubernetesObject & {spec: {forwards: Array<{ports: number[]; target: {address: string; port: number}}>}}
    assert.deepEqual(
      forward.spec.forwards.map((f) => f.ports),
      [[8080]],
    )
    const server = `http://127.0.0.1:${forward.spec.forwards[0].target.port}`
    assert.equal(await fetch(`${server}/healthz`).then((r) => r.text()), 'ok\n')
    await core.deleteNamespacedPod({namespace: ns, name: pod})
    for (let i = 0; ; i++) {
      const left = await Promise.all(
        ['Logs', 'PortForward'].map((kind) =>
          objects.read({apiVersion: 'kwok.x-k8s.io/v1alpha1', kind, metadata: {name: pod, namespace: ns}}).then(
            () => kind,
            () => '',
          ),
        ),
      )
      const answered = await fetch(`${server}/healthz`).then(
        () => 'server',
        () => '',
      )
      if ([...left, answered].join('') === '') break
      assert.ok(i < 200, `still there: ${[...left, answered].filter(Boolean).join(', ')}`)
      await new Promise((r) => setTimeout(r, 100))
    }

    assert.ok(existsSync(podLogFile(g, ns, pod, 'web')))
  })

  it('forbids the restricted user outside its namespace and allows it inside', async () => {
    const restricted = g.restricted().makeApiClient(k8s.CoreV1Api)
    await assert.rejects(restricted.listNamespacedPod({namespace: ns}), (e: {code?: number}) => e.code === 403)
    await assert.rejects(restricted.listNamespace(), (e: {code?: number}) => e.code === 403)
    const name = uniqueName('cm')
    await restricted.createNamespacedConfigMap({namespace: TEAM_NAMESPACE, body: {metadata: {name}, data: {a: '1'}}})
    assert.equal((await restricted.readNamespacedConfigMap({namespace: TEAM_NAMESPACE, name})).data?.a, '1')
  })

  it('rejects an Argo CD Application that violates the upstream schema', async () => {
    const objects = k8s.KubernetesObjectApi.makeApiClient(g.admin())
    const app = (spec: Record<string, unknown>) =>
      ({
        apiVersion: 'argoproj.io/v1alpha1',
        kind: 'Application',
        metadata: {name: uniqueName('app'), namespace: ns},
        spec,
      }) as k8s.KubernetesObject
    await assert.rejects(
      objects.create(app({destination: {namespace: ns}})),
      (e: {code?: number; body?: string}) => e.code === 422 && /spec\.project: Required value/.test(String(e.body)),
    )
    await assert.rejects(
      objects.create(app({project: 'default', destination: {}, syncPolicy: {automated: {prune: 'yes'}}})),
      (e: {code?: number; body?: string}) =>
        e.code === 422 && /spec\.syncPolicy\.automated\.prune: Invalid value/.test(String(e.body)),
    )
    const ok = await objects.create(
      app({project: 'default', destination: {namespace: ns, server: 'https://kubernetes.default.svc'}}),
    )
    assert.equal(ok.kind, 'Application')
  })

  /** Compacts etcd's history up to a revision, as the API server does every five minutes. */
  async function compact(revision: string): Promise<void> {
    const res = await fetch(`${g.etcd}/v3/kv/compaction`, {
      method: 'POST',
      body: JSON.stringify({revision, physical: true}),
    })
    assert.equal(res.status, 200, await res.text())
  }

  it("keeps answering while etcd compacts: no 429 from the API server's watch caches", async () => {
    const objects = k8s.KubernetesObjectApi.makeApiClient(g.admin())
    const name = uniqueName('cm')
    const created = await core.createNamespacedConfigMap({namespace: ns, body: {metadata: {name}}})
    // Lists of the kinds kplat and the controllers read most, before, during and after a compaction.
    const kinds = [
      ['v1', 'Pod'],
      ['v1', 'Secret'],
      ['apps/v1', 'Deployment'],
      ['argoproj.io/v1alpha1', 'Application'],
      ['v1', 'Event'],
    ]
    const statuses: number[] = []
    const until = Date.now() + 3000
    const lists = (async () => {
      while (Date.now() < until) {
        await Promise.all(
          kinds.map(([apiVersion, kind]) =>
            objects.list(apiVersion, kind, ns).then(
              () => statuses.push(200),
              (e: {code?: number}) => statuses.push(e.code ?? 0),
            ),
          ),
        )
      }
    })()
    await new Promise((r) => setTimeout(r, 500))
    await compact(created.metadata!.resourceVersion!)
    await lists
    assert.ok(statuses.length > kinds.length * 3, `only ${statuses.length} answers`)
    assert.deepEqual(
      statuses.filter((s) => s !== 200),
      [],
      'every list should succeed',
    )
  })

  it('resumes a watch after its resourceVersion expired (410 Gone)', async () => {
    const name = uniqueName('cm')
    const created = await core.createNamespacedConfigMap({namespace: ns, body: {metadata: {name}, data: {step: '0'}}})
    const stale = created.metadata!.resourceVersion!
    let latest = stale
    for (let i = 1; i <= 3; i++) {
      latest = (
        await core.patchNamespacedConfigMap(
          {namespace: ns, name, body: {data: {step: String(i)}}},
          k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
        )
      ).metadata!.resourceVersion!
    }

    await compact(latest)
    let expired = 0
    const waiting = waitFor(
      kplatKube(),
      {apiVersion: 'v1', kind: 'ConfigMap', plural: 'configmaps', namespace: ns, name},
      (cm) => ((cm as k8s.V1ConfigMap | undefined)?.data?.step === 'done' ? 'done' : undefined),
      {timeoutMs: 20_000, resourceVersion: stale, onExpired: () => expired++},
    )
    await new Promise((r) => setTimeout(r, 500))
    await core.patchNamespacedConfigMap(
      {namespace: ns, name, body: {data: {step: 'done'}}},
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    )
    assert.equal(await waiting, 'done')
    assert.ok(expired >= 1, 'the server should have said 410 Gone for the stale resourceVersion')
  })
})

// The ground's teams are onboarded by the platform kit's one step (platform-kit/team, with the
// real helm; see ground/teams.ts), and Argo CD takes Applications from the teams' namespaces
// (argocd-cmd-params-cm): what keeps one team's apps out of another's namespace.
describe("the platform kit's teams, on the real Argo CD", () => {
  const A = TEAM_NAMESPACE
  const B = TEAM_B_NAMESPACE
  const root = mkdtempSync(path.join(os.tmpdir(), 'kplat-teams-test-'))
  const created: Array<{name: string; namespace: string}> = []
  let g: TestGround
  let admin: k8s.KubernetesObjectApi
  let core: k8s.CoreV1Api
  let repoUrl: string
  const settings = 'settings'

  before(async () => {
    g = await ground()
    admin = k8s.KubernetesObjectApi.makeApiClient(g.admin())
    core = g.admin().makeApiClient(k8s.CoreV1Api)
    // A repository of the organisation with one ConfigMap: what an app of either team could deploy.
    const token = g.env.GITHUB_TOKEN
    const octokit = new Octokit({auth: token, baseUrl: g.env.GITHUB_API_URL})
    const {data} = await octokit.repos.createInOrg({org: ORG, name: uniqueName('team-app')})
    repoUrl = data.clone_url
    const git = (...args: string[]) =>
      promisify(execFile)('git', args, {
        cwd: root,
        env: {
          ...process.env,
          GIT_CONFIG_NOSYSTEM: '1',
          GIT_CONFIG_GLOBAL: '/dev/null',
          GIT_TERMINAL_PROMPT: '0',
          GIT_AUTHOR_NAME: 'Test',
          GIT_AUTHOR_EMAIL: 'test@example.test',
          GIT_COMMITTER_NAME: 'Test',
          GIT_COMMITTER_EMAIL: 'test@example.test',
        },
      })
    writeFileSync(
      path.join(root, 'configmap.yaml'),
      `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${settings}\ndata:\n  greeting: hello\n`,
    )
    await git('init', '-q', '--initial-branch=main')
    await git('add', '-A')
    await git('commit', '-q', '-m', 'First commit')
    const auth = `http.extraHeader=Authorization: Basic ${Buffer.from(`x-access-token:${token}`).toString('base64')}`
    await git('-c', auth, 'push', '-q', repoUrl, 'main')
  })

  after(async () => {
    await Promise.all(created.map((a) => admin.delete(application(a.name, a.namespace)).catch(() => undefined)))
    await core.deleteNamespacedConfigMap({name: settings, namespace: B}).catch(() => undefined)
    rmSync(root, {recursive: true, force: true})
  })

  interface App extends k8s.KubernetesObject {
    status?: {sync?: {status?: string}; conditions?: Array<{type: string; message: string}>}
  }

  function application(
    name: string,
    namespace: string,
    spec?: {project: string; destination: string},
  ): App & {metadata: {name: string; namespace: string}} {
    return {
      apiVersion: 'argoproj.io/v1alpha1',
      kind: 'Application',
      metadata: {name, namespace},
      ...(spec && {
        spec: {
          project: spec.project,
          source: {repoURL: repoUrl, path: '.', targetRevision: 'main'},
          destination: {server: 'https://kubernetes.default.svc', namespace: spec.destination},
          syncPolicy: {automated: {}},
        },
      }),
    } as App & {metadata: {name: string; namespace: string}}
  }

  /** Creates an Application as the user of a context; resolves its name. */
  async function create(
    context: string,
    namespace: string,
    spec: {project: string; destination: string},
  ): Promise<string> {
    const name = uniqueName('app')
    await k8s.KubernetesObjectApi.makeApiClient(g.as(context)).create(application(name, namespace, spec))
    created.push({name, namespace})
    return name
  }

  /** Polls an Application (as the admin) until check returns a value. */
  async function until<T>(name: string, namespace: string, check: (app: App) => T | undefined): Promise<T> {
    let app: App | undefined
    for (let i = 0; i < 600; i++) {
      app = await admin.read<App>(application(name, namespace))
      const value = check(app)
      if (value !== undefined) return value
      await new Promise((r) => setTimeout(r, 100))
    }

    throw new Error(`Application ${namespace}/${name} never got there: ${JSON.stringify(app?.status)}`)
  }

  const forbidden = (e: {code?: number}) => e.code === 403

  it('makes each team a namespace and an AppProject of its name, labelled kplat.dev/team', async () => {
    const project = await admin.read<k8s.KubernetesObject & {spec: Record<string, unknown>}>({
      apiVersion: 'argoproj.io/v1alpha1',
      kind: 'AppProject',
      metadata: {name: B, namespace: 'argocd'},
    })
    assert.equal(project.metadata?.labels?.['kplat.dev/team'], B)
    assert.deepEqual(
      {...project.spec, description: undefined},
      {
        description: undefined,
        sourceNamespaces: [B],
        destinations: [{server: 'https://kubernetes.default.svc', namespace: B}],
        sourceRepos: [`${g.github.web}/${ORG}/*`],
        clusterResourceWhitelist: [],
        namespaceResourceBlacklist: [
          {group: '', kind: 'ResourceQuota'},
          {group: '', kind: 'LimitRange'},
          {group: 'rbac.authorization.k8s.io', kind: 'Role'},
          {group: 'rbac.authorization.k8s.io', kind: 'RoleBinding'},
        ],
      },
    )
    for (const team of [A, B])
      assert.equal((await core.readNamespace({name: team})).metadata?.labels?.['kplat.dev/team'], team)
  })

  it("gives a team's members rights in its namespace only, and every team the list of projects", async () => {
    // `kubectl auth can-i` as each user: resource is <plural>[.<group>].
    const can = async (context: string, verb: string, resource: string, namespace?: string) => {
      const [plural, ...group] = resource.split('.')
      const review = await g
        .as(context)
        .makeApiClient(k8s.AuthorizationV1Api)
        .createSelfSubjectAccessReview({
          body: {spec: {resourceAttributes: {verb, resource: plural, group: group.join('.'), namespace}}},
        })
      return review.status?.allowed ? 'yes' : 'no'
    }
    const rights = async (context: string) =>
      Object.fromEntries(
        await Promise.all(
          (
            [
              ['create applications in team-a', 'create', 'applications.argoproj.io', A],
              ['create applications in team-b', 'create', 'applications.argoproj.io', B],
              ['create applications in argocd', 'create', 'applications.argoproj.io', 'argocd'],
              ['create s3buckets in team-a', 'create', 's3buckets.addons.kplat.dev', A],
              ['create s3buckets in team-b', 'create', 's3buckets.addons.kplat.dev', B],
              ['update leases in team-a', 'update', 'leases.coordination.k8s.io', A],
              ['update leases in team-b', 'update', 'leases.coordination.k8s.io', B],
              ['list appprojects in argocd', 'list', 'appprojects.argoproj.io', 'argocd'],
              ['update resourcequotas in team-a', 'update', 'resourcequotas', A],
              ['update resourcequotas in team-b', 'update', 'resourcequotas', B],
              ['create namespaces', 'create', 'namespaces', undefined],
            ] as const
          ).map(async ([what, verb, resource, ns]) => [what, await can(context, verb, resource, ns)]),
        ),
      )
    const only = (...yes: string[]) => ({
      'create applications in team-a': yes.includes('apps a') ? 'yes' : 'no',
      'create applications in team-b': yes.includes('apps b') ? 'yes' : 'no',
      'create applications in argocd': 'no',
      'create s3buckets in team-a': yes.includes('apps a') ? 'yes' : 'no',
      'create s3buckets in team-b': yes.includes('apps b') ? 'yes' : 'no',
      'update leases in team-a': yes.includes('apps a') ? 'yes' : 'no',
      'update leases in team-b': yes.includes('apps b') ? 'yes' : 'no',
      'list appprojects in argocd': yes.includes('projects') ? 'yes' : 'no',
      'update resourcequotas in team-a': 'no',
      'update resourcequotas in team-b': 'no',
      'create namespaces': 'no',
    })
    assert.deepEqual(await rights(RESTRICTED_CONTEXT), only('apps a', 'projects'))
    assert.deepEqual(await rights(TEAM_B_CONTEXT), only('apps b', 'projects'))
    assert.deepEqual(await rights(NO_TEAM_CONTEXT), only())
  })

  it("lets team-b's developer create Applications in team-b only, and a user in no team nowhere", async () => {
    const spec = (team: string) => ({project: team, destination: team})
    await assert.rejects(create(TEAM_B_CONTEXT, A, spec(A)), forbidden)
    await assert.rejects(create(NO_TEAM_CONTEXT, A, spec(A)), forbidden)
    await assert.rejects(create(NO_TEAM_CONTEXT, B, spec(B)), forbidden)
    await assert.rejects(create(NO_TEAM_CONTEXT, 'argocd', spec('default')), forbidden)
    assert.ok(await create(TEAM_B_CONTEXT, B, spec(B)))
  })

  it("deploys team-b's app into team-b, and refuses one aimed at team-a or using team-a's project", async () => {
    const ok = await create(TEAM_B_CONTEXT, B, {project: B, destination: B})
    // Argo CD, not RBAC, stops these: team-b's developer may write both Applications.
    const elsewhere = await create(TEAM_B_CONTEXT, B, {project: B, destination: A})
    const borrowed = await create(TEAM_B_CONTEXT, B, {project: A, destination: A})

    await until(ok, B, (app) => (app.status?.sync?.status === 'Synced' ? true : undefined))
    const deployed = await core.readNamespacedConfigMap({name: settings, namespace: B})
    // An app outside Argo CD's namespace is named <namespace>_<name> in what it deploys. The
    // previous test's Application deploys the same ConfigMap, so either may have written it last.
    const tracking = deployed.metadata?.annotations?.['argocd.argoproj.io/tracking-id']
    assert.ok(
      created.some((c) => c.namespace === B && tracking === `${B}_${c.name}:/ConfigMap:${B}/${settings}`),
      `tracking id ${tracking}`,
    )

    const refusal = (name: string, pattern: RegExp) =>
      until(name, B, (app) => app.status?.conditions?.find((c) => pattern.test(c.message)))
    const outside = await refusal(elsewhere, /allowed destinations/)
    assert.deepEqual(
      [outside.type, outside.message],
      [
        'InvalidSpecError',
        `application destination server 'https://kubernetes.default.svc' and namespace '${A}' do not match any of the allowed destinations in project '${B}'`,
      ],
    )
    // A project that does not list the Application's namespace in sourceNamespaces: Argo CD
    // does not even load it, and says so as an UnknownError (not InvalidSpecError).
    const notPermitted = await refusal(borrowed, /not permitted/)
    assert.deepEqual(
      [notPermitted.type, notPermitted.message],
      ['UnknownError', `application '${borrowed}' in namespace '${B}' is not permitted to use project '${A}'`],
    )

    // Each was reconciled (and refused) after ok synced; team-a has nothing of theirs.
    for (const name of [elsewhere, borrowed])
      assert.notEqual((await admin.read<App>(application(name, B))).status?.sync?.status, 'Synced')
    await assert.rejects(core.readNamespacedConfigMap({name: settings, namespace: A}), {code: 404})
  })
})
