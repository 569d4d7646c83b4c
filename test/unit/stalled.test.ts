// A server that takes the connection and never answers (a half-open connection, an API
// server wedged behind its load balancer) ends the command with an error that names it,
// within the request bound, instead of hanging it. The servers here are real TCP listeners
// on 127.0.0.1 that accept and then say nothing, stopped when the file ends.
import assert from 'node:assert/strict'
import {mkdtempSync, writeFileSync} from 'node:fs'
import * as net from 'node:net'
import * as os from 'node:os'
import * as path from 'node:path'
import {after, before, describe, it} from 'node:test'
import {baseEnv, runBin} from '../helpers/cli.js'

describe('a server that never answers', () => {
  const sockets = new Set<net.Socket>()
  const server = net.createServer((socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  })
  let port = 0
  const cwd = mkdtempSync(path.join(os.tmpdir(), 'kplat-stalled-'))

  before(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    port = (server.address() as net.AddressInfo).port
  })
  after(() => {
    for (const s of sockets) s.destroy()
    server.close()
  })

  it('the Kubernetes API server: the command fails after KPLAT_REQUEST_TIMEOUT, naming the server', async () => {
    const kubeconfig = path.join(cwd, 'kubeconfig')
    writeFileSync(
      kubeconfig,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{name: 'wedged', cluster: {server: `https://127.0.0.1:${port}`, 'insecure-skip-tls-verify': true}}],
        users: [{name: 'dev', user: {token: 'not-a-real-token'}}],
        contexts: [{name: 'wedged', context: {cluster: 'wedged', user: 'dev'}}],
        'current-context': 'wedged',
      }),
    )
    const started = performance.now()
    const r = await runBin(['ps', '--app', 'myapp'], {
      env: baseEnv({KUBECONFIG: kubeconfig, GITHUB_TOKEN: 'x', KPLAT_REQUEST_TIMEOUT: '2'}),
      cwd,
    })
    const took = performance.now() - started
    assert.equal(r.code, 1, r.stderr)
    assert.match(
      r.stderr,
      new RegExp(`the cluster at https://127\\.0\\.0\\.1:${port} did not answer GET /\\S+ within 2s`),
    )
    assert.match(r.stderr, /KPLAT_REQUEST_TIMEOUT=SECONDS/)
    assert.doesNotMatch(r.stderr, /not-a-real-token|unexpected/)
    assert.ok(took < 15_000, `took ${Math.round(took)} ms`)
  })

  it('GitHub: the command fails after the bound, without retrying what got no answer', async () => {
    const started = performance.now()
    const r = await runBin(['auth:whoami'], {
      env: baseEnv({GITHUB_API_URL: `http://127.0.0.1:${port}`, GITHUB_TOKEN: 'x', KPLAT_REQUEST_TIMEOUT: '2'}),
      cwd,
    })
    const took = performance.now() - started
    assert.equal(r.code, 1, r.stderr)
    assert.match(r.stderr, new RegExp(`GitHub at http://127\\.0\\.0\\.1:${port} did not answer GET /user within 2s`))
    // The retry plugin would have waited 1 + 4 + 9 s more, retrying an aborted request.
    assert.ok(took < 9_000, `took ${Math.round(took)} ms`)
  })
})
