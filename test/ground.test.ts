import assert from 'node:assert/strict'
import {existsSync} from 'node:fs'
import * as path from 'node:path'
import {PassThrough} from 'node:stream'
import {before, describe, it} from 'node:test'
import * as k8s from '@kubernetes/client-node'
import {createKube} from '../src/lib/kube/client.js'
import {forwardPort} from '../src/lib/kube/port-forward.js'
import {waitFor} from '../src/lib/kube/wait.js'
import {Debug} from '../src/lib/debug.js'
import {Redactor} from '../src/lib/redact.js'
import {TEAM_NAMESPACE} from './ground/cluster.js'
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
