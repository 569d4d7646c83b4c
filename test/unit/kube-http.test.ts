import assert from 'node:assert/strict'
import {mkdtempSync, writeFileSync} from 'node:fs'
import * as http from 'node:http'
import type {AddressInfo} from 'node:net'
import * as os from 'node:os'
import * as path from 'node:path'
import {describe, it} from 'node:test'
import {PassThrough} from 'node:stream'
import * as k8s from '@kubernetes/client-node'
import {createKube, loadKubeConfig} from '../../src/lib/kube/client.js'
import {KubeHttp} from '../../src/lib/kube/http.js'
import {waitFor} from '../../src/lib/kube/wait.js'
import {Debug} from '../../src/lib/debug.js'
import {Redactor} from '../../src/lib/redact.js'

// The server's side is the edge here: a scripted sequence of answers, and a clock that
// records the waits instead of sleeping them.
function scripted(statuses: Array<[number, Record<string, string>?]>) {
  const sent: string[] = []
  const inner: k8s.HttpLibrary = {
    send(request) {
      sent.push(`${request.getHttpMethod()} ${request.getUrl()} ${String(request.getBody())}`)
      const [status, headers] = statuses.shift() ?? [200]
      return new k8s.Observable(
        Promise.resolve(
          new k8s.ResponseContext(status, headers ?? {}, {
            text: async () => '{}',
            binary: async () => Buffer.from('{}'),
          }),
        ),
      )
    },
  }
  return {inner, sent}
}

const request = () => {
  const r = new k8s.RequestContext(
    'https://127.0.0.1:6443/apis/argoproj.io/v1alpha1/namespaces/argocd/applications',
    k8s.HttpMethod.POST,
  )
  r.setBody('{"kind":"Application"}')
  return r
}

describe("the Kubernetes client's HTTP", () => {
  it("learns the credential each request carries (an exec plugin's or OIDC token), so nothing prints it", async () => {
    const {inner} = scripted([[200]])
    const redactor = new Redactor()
    const http = new KubeHttp(inner, {
      debug: new Debug(false, new PassThrough(), redactor),
      secret: (v) => redactor.add(v),
    })
    const r = request()
    r.setHeaderParam('Authorization', 'Bearer exec-plugin-token-1234')
    await http.send(r).toPromise()
    assert.equal(
      redactor.redact('token exec-plugin-token-1234 in an error', {patterns: false}),
      'token *** in an error',
    )
  })

  it("retries a 429 after the server's Retry-After, sending the same request again", async () => {
    const {inner, sent} = scripted([[429, {'retry-after': '2'}], [429, {'retry-after': '1'}], [201]])
    const waits: number[] = []
    const log = new PassThrough()
    let text = ''
    log.on('data', (d) => (text += d))
    const http = new KubeHttp(inner, {
      debug: new Debug(true, log, new Redactor()),
      sleep: async (ms) => void waits.push(ms),
    })
    const response = await http.send(request()).toPromise()
    assert.equal(response.httpStatusCode, 201)
    assert.deepEqual(waits, [2000, 1000])
    assert.equal(sent.length, 3)
    assert.equal(new Set(sent).size, 1, 'the very same request each time')
    assert.equal(text.split('\n').filter((l) => / 429 /.test(l)).length, 2, 'each attempt is one debug line')
  })

  it('gives the caller the 429 after three retries, and passes other failures through at once', async () => {
    const busy = scripted([[429], [429], [429], [429], [429]])
    const waits: number[] = []
    const http = new KubeHttp(busy.inner, {
      debug: new Debug(false, new PassThrough(), new Redactor()),
      sleep: async (ms) => void waits.push(ms),
    })
    assert.equal((await http.send(request()).toPromise()).httpStatusCode, 429)
    assert.deepEqual(waits, [250, 500, 1000], 'without Retry-After it backs off')
    assert.equal(busy.sent.length, 4)

    const broken = scripted([[500], [200]])
    const once = new KubeHttp(broken.inner, {
      debug: new Debug(false, new PassThrough(), new Redactor()),
      sleep: async () => assert.fail('no wait'),
    })
    assert.equal((await once.send(request()).toPromise()).httpStatusCode, 500)
    assert.equal(broken.sent.length, 1)
  })
})

describe('a wait on a watch', () => {
  it('goes on after the server answers a watch with 429', async () => {
    // A server that lists the object, refuses the first watch with 429, then streams the
    // change: the one failure injected at the wait's edge.
    let watches = 0
    const server = http.createServer((req, res) => {
      const url = new URL(req.url!, 'http://x')
      if (url.pathname === '/api/v1') {
        // Discovery, which the client asks before it lists.
        res.writeHead(200, {'content-type': 'application/json'})
        res.end(
          JSON.stringify({
            kind: 'APIResourceList',
            groupVersion: 'v1',
            resources: [
              {
                name: 'configmaps',
                singularName: 'configmap',
                namespaced: true,
                kind: 'ConfigMap',
                verbs: ['get', 'list', 'watch'],
              },
            ],
          }),
        )
      } else if (url.searchParams.get('watch') !== 'true') {
        res.writeHead(200, {'content-type': 'application/json'})
        res.end(
          JSON.stringify({
            kind: 'ConfigMapList',
            apiVersion: 'v1',
            metadata: {resourceVersion: '1'},
            items: [
              {
                kind: 'ConfigMap',
                apiVersion: 'v1',
                metadata: {name: 'cm', namespace: 'default', resourceVersion: '1'},
                data: {state: 'waiting'},
              },
            ],
          }),
        )
      } else if (++watches === 1) {
        res.writeHead(429, {'retry-after': '1', 'content-type': 'application/json'})
        res.end(JSON.stringify({kind: 'Status', code: 429, reason: 'TooManyRequests'}))
      } else {
        res.writeHead(200, {'content-type': 'application/json'})
        res.end(
          JSON.stringify({
            type: 'MODIFIED',
            object: {
              kind: 'ConfigMap',
              apiVersion: 'v1',
              metadata: {name: 'cm', namespace: 'default', resourceVersion: '2'},
              data: {state: 'ready'},
            },
          }) + '\n',
        )
      }
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    try {
      const dir = mkdtempSync(path.join(os.tmpdir(), 'kplat-kc-'))
      const kubeconfig = path.join(dir, 'config')
      writeFileSync(
        kubeconfig,
        `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: 'http://127.0.0.1:${(server.address() as AddressInfo).port}', insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: t0k3n-for-a-local-test}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
`,
      )
      const redactor = new Redactor()
      const kube = createKube({
        env: {KUBECONFIG: kubeconfig},
        debug: new Debug(false, new PassThrough(), redactor),
        redactor,
      })
      const state = await waitFor(
        kube,
        {apiVersion: 'v1', kind: 'ConfigMap', plural: 'configmaps', namespace: 'default', name: 'cm'},
        (o) => ((o as {data?: {state?: string}} | undefined)?.data?.state === 'ready' ? 'ready' : undefined),
        {timeoutMs: 10_000},
      )
      assert.equal(state, 'ready')
      assert.equal(watches, 2, 'the refused watch was made again')
    } finally {
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
    }
  })
})

describe('kubeconfig files in KUBECONFIG', () => {
  it('merge as kubectl merges them: the first file to name a thing wins, and its current-context', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'kplat-kubeconfig-'))
    const file = (name: string, current: string, server: string) => {
      const to = path.join(dir, name)
      writeFileSync(
        to,
        JSON.stringify({
          apiVersion: 'v1',
          kind: 'Config',
          'current-context': current,
          clusters: [{name: 'shared', cluster: {server}}],
          users: [{name: 'me', user: {token: `t-${name}`}}],
          contexts: [
            {name: current, context: {cluster: 'shared', user: 'me'}},
            {name: 'shared-ctx', context: {cluster: 'shared', user: 'me'}},
          ],
        }),
      )
      return to
    }

    const a = file('a', 'prod', 'https://prod.example.com')
    const b = file('b', 'staging', 'https://staging.example.com')
    const kc = loadKubeConfig({KUBECONFIG: [a, b].join(path.delimiter)})
    assert.equal(kc.getCurrentContext(), 'prod')
    assert.equal(kc.getCurrentCluster()?.server, 'https://prod.example.com')
    assert.deepEqual(
      kc.getContexts().map((c) => c.name),
      ['prod', 'shared-ctx', 'staging'],
    )
    assert.equal(
      loadKubeConfig({KUBECONFIG: [a, b].join(path.delimiter)}, 'staging').getCurrentCluster()?.server,
      'https://prod.example.com',
      "the first file's cluster of that name",
    )
  })
})
