import assert from 'node:assert/strict'
import {appendFileSync} from 'node:fs'
import * as http from 'node:http'
import type {AddressInfo} from 'node:net'
import {PassThrough} from 'node:stream'
import {before, describe, it} from 'node:test'
import * as k8s from '@kubernetes/client-node'
import {createKube} from '../src/lib/kube/client.js'
import {forwardPort} from '../src/lib/kube/port-forward.js'
import {waitFor} from '../src/lib/kube/wait.js'
import {Debug} from '../src/lib/ui/debug.js'
import {Redactor} from '../src/lib/ui/redact.js'
import {criLogLine, TEAM_NAMESPACE} from './ground/cluster.js'
import {ground, uniqueName, type TestGround} from './helpers/ground.js'

describe('the proving ground', () => {
  let g: TestGround
  let core: k8s.CoreV1Api
  const ns = uniqueName('ground')

  before(async () => {
    g = await ground()
    core = g.admin().makeApiClient(k8s.CoreV1Api)
    await core.createNamespace({body: {metadata: {name: ns}}})
  })

  const kplatKube = () => createKube({env: {KUBECONFIG: g.kubeconfig}, debug: new Debug(false, process.stderr, new Redactor()), redactor: new Redactor()})

  async function runningPod(labels: Record<string, string>): Promise<k8s.V1Pod> {
    const selector = Object.entries(labels).map(([k, v]) => `${k}=${v}`).join(',')
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
    await apps.createNamespacedDeployment({namespace: ns, body: {
      metadata: {name: 'web'},
      spec: {replicas: 2, selector: {matchLabels: {app: 'web'}}, template: {
        metadata: {labels: {app: 'web'}},
        spec: {containers: [{name: 'web', image: 'ghcr.io/example/web:1', ports: [{containerPort: 8080}]}]},
      }},
    }})
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

  it('reads and follows a pod\'s logs through the API server', async () => {
    const pod = await runningPod({app: 'web'})
    appendFileSync(g.logsFile, criLogLine('first line'))
    const got = new PassThrough()
    let text = ''
    got.on('data', (d) => (text += d))
    const stream = await new k8s.Log(g.admin()).log(ns, pod.metadata!.name!, 'web', got, {follow: true})
    for (let i = 0; !text.includes('first line') && i < 100; i++) await new Promise((r) => setTimeout(r, 100))
    assert.match(text, /first line/)
    const marker = `followed ${Date.now()}`
    appendFileSync(g.logsFile, criLogLine(marker))
    for (let i = 0; !text.includes(marker) && i < 100; i++) await new Promise((r) => setTimeout(r, 100))
    stream.abort()
    assert.match(text, new RegExp(marker))
  })

  it('forwards a local port to a pod, reaching a real local server', async () => {
    const pod = await runningPod({app: 'web'})
    const app = http.createServer((req, res) => res.end(`hello from ${req.url}`))
    await new Promise<void>((r) => app.listen(0, '127.0.0.1', r))
    const appPort = (app.address() as AddressInfo).port
    const objects = k8s.KubernetesObjectApi.makeApiClient(g.admin())
    await objects.create({apiVersion: 'kwok.x-k8s.io/v1alpha1', kind: 'PortForward', metadata: {name: pod.metadata!.name!, namespace: ns},
      spec: {forwards: [{ports: [8080], target: {address: '127.0.0.1', port: appPort}}]}} as k8s.KubernetesObject)
    const forward = await forwardPort(kplatKube(), ns, pod.metadata!.name!, 8080)
    try {
      let body = ''
      for (let i = 0; i < 50 && body === ''; i++) {
        body = await fetch(`http://127.0.0.1:${forward.port}/ping`).then((r) => r.text()).catch(() => '')
        if (body === '') await new Promise((r) => setTimeout(r, 100))
      }

      assert.equal(body, 'hello from /ping')
    } finally {
      await forward.close()
      app.close()
    }
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
    const app = (spec: Record<string, unknown>) => ({apiVersion: 'argoproj.io/v1alpha1', kind: 'Application', metadata: {name: uniqueName('app'), namespace: ns}, spec}) as k8s.KubernetesObject
    await assert.rejects(objects.create(app({destination: {namespace: ns}})), (e: {code?: number; body?: string}) =>
      e.code === 422 && /spec\.project: Required value/.test(String(e.body)))
    await assert.rejects(objects.create(app({project: 'default', destination: {}, syncPolicy: {automated: {prune: 'yes'}}})), (e: {code?: number; body?: string}) =>
      e.code === 422 && /spec\.syncPolicy\.automated\.prune: Invalid value/.test(String(e.body)))
    const ok = await objects.create(app({project: 'default', destination: {namespace: ns, server: 'https://kubernetes.default.svc'}}))
    assert.equal(ok.kind, 'Application')
  })

  /** Compacts etcd's history up to a revision, as the API server does every five minutes. */
  async function compact(revision: string): Promise<void> {
    const res = await fetch(`${g.etcd}/v3/kv/compaction`, {method: 'POST', body: JSON.stringify({revision, physical: true})})
    assert.equal(res.status, 200, await res.text())
  }

  it('keeps answering while etcd compacts: no 429 from the API server\'s watch caches', async () => {
    const objects = k8s.KubernetesObjectApi.makeApiClient(g.admin())
    const name = uniqueName('cm')
    const created = await core.createNamespacedConfigMap({namespace: ns, body: {metadata: {name}}})
    // Lists of the kinds kplat and the controllers read most, before, during and after a compaction.
    const kinds = [['v1', 'Pod'], ['v1', 'Secret'], ['apps/v1', 'Deployment'], ['argoproj.io/v1alpha1', 'Application'], ['v1', 'Event']]
    const statuses: number[] = []
    const until = Date.now() + 3000
    const lists = (async () => {
      while (Date.now() < until) {
        await Promise.all(kinds.map(([apiVersion, kind]) => objects.list(apiVersion, kind, ns).then(() => statuses.push(200), (e: {code?: number}) => statuses.push(e.code ?? 0))))
      }
    })()
    await new Promise((r) => setTimeout(r, 500))
    await compact(created.metadata!.resourceVersion!)
    await lists
    assert.ok(statuses.length > kinds.length * 3, `only ${statuses.length} answers`)
    assert.deepEqual(statuses.filter((s) => s !== 200), [], 'every list should succeed')
  })

  it('resumes a watch after its resourceVersion expired (410 Gone)', async () => {
    const name = uniqueName('cm')
    const created = await core.createNamespacedConfigMap({namespace: ns, body: {metadata: {name}, data: {step: '0'}}})
    const stale = created.metadata!.resourceVersion!
    let latest = stale
    for (let i = 1; i <= 3; i++) {
      latest = (await core.patchNamespacedConfigMap({namespace: ns, name, body: {data: {step: String(i)}}}, k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch))).metadata!.resourceVersion!
    }

    await compact(latest)
    let expired = 0
    const waiting = waitFor(kplatKube(), {apiVersion: 'v1', kind: 'ConfigMap', plural: 'configmaps', namespace: ns, name},
      (cm) => ((cm as k8s.V1ConfigMap | undefined)?.data?.step === 'done' ? 'done' : undefined),
      {timeoutMs: 20_000, resourceVersion: stale, onExpired: () => expired++})
    await new Promise((r) => setTimeout(r, 500))
    await core.patchNamespacedConfigMap({namespace: ns, name, body: {data: {step: 'done'}}}, k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch))
    assert.equal(await waiting, 'done')
    assert.ok(expired >= 1, 'the server should have said 410 Gone for the stale resourceVersion')
  })
})
