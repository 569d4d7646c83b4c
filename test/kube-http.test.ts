import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import {PassThrough} from 'node:stream'
import * as k8s from '@kubernetes/client-node'
import {KubeHttp} from '../src/lib/kube/http.js'
import {Debug} from '../src/lib/ui/debug.js'
import {Redactor} from '../src/lib/ui/redact.js'

// The server's side is the edge here: a scripted sequence of answers, and a clock that
// records the waits instead of sleeping them.
function scripted(statuses: Array<[number, Record<string, string>?]>) {
  const sent: string[] = []
  const inner: k8s.HttpLibrary = {
    send(request) {
      sent.push(`${request.getHttpMethod()} ${request.getUrl()} ${String(request.getBody())}`)
      const [status, headers] = statuses.shift() ?? [200]
      return new k8s.Observable(Promise.resolve(new k8s.ResponseContext(status, headers ?? {}, {text: async () => '{}', binary: async () => Buffer.from('{}')})))
    },
  }
  return {inner, sent}
}

const request = () => {
  const r = new k8s.RequestContext('https://127.0.0.1:6443/apis/argoproj.io/v1alpha1/namespaces/argocd/applications', k8s.HttpMethod.POST)
  r.setBody('{"kind":"Application"}')
  return r
}

describe('the Kubernetes client\'s HTTP', () => {
  it('retries a 429 after the server\'s Retry-After, sending the same request again', async () => {
    const {inner, sent} = scripted([[429, {'retry-after': '2'}], [429, {'retry-after': '1'}], [201]])
    const waits: number[] = []
    const log = new PassThrough()
    let text = ''
    log.on('data', (d) => (text += d))
    const http = new KubeHttp(inner, {debug: new Debug(true, log, new Redactor()), sleep: async (ms) => void waits.push(ms)})
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
    const http = new KubeHttp(busy.inner, {debug: new Debug(false, new PassThrough(), new Redactor()), sleep: async (ms) => void waits.push(ms)})
    assert.equal((await http.send(request()).toPromise()).httpStatusCode, 429)
    assert.deepEqual(waits, [250, 500, 1000], 'without Retry-After it backs off')
    assert.equal(busy.sent.length, 4)

    const broken = scripted([[500], [200]])
    const once = new KubeHttp(broken.inner, {debug: new Debug(false, new PassThrough(), new Redactor()), sleep: async () => assert.fail('no wait')})
    assert.equal((await once.send(request()).toPromise()).httpStatusCode, 500)
    assert.equal(broken.sent.length, 1)
  })
})
