// kplat logs on an app made by `kplat create`: the ground's runtime gives every pod its own
// log (kwok serves it through the API server), and tests write what the app "prints".
import assert from 'node:assert/strict'
import {spawn, type ChildProcess} from 'node:child_process'
import {mkdtempSync, readFileSync, writeFileSync} from 'node:fs'
import * as net from 'node:net'
import * as os from 'node:os'
import * as path from 'node:path'
import {after, before, describe, it} from 'node:test'
import * as k8s from '@kubernetes/client-node'
import {ANSI, BIN, runBin, runInProcess, type RunResult} from './helpers/cli.js'
import {appendPodLog, ground, uniqueName, type TestGround} from './helpers/ground.js'

interface JsonLine {
  time: string
  source: string
  process: string
  container: string | null
  message: string
}

describe('kplat logs, on the proving ground', () => {
  let g: TestGround
  let core: k8s.CoreV1Api
  const app = uniqueName('logs').slice(0, 24)
  const work = mkdtempSync(path.join(os.tmpdir(), 'kplat-logs-'))
  const children: ChildProcess[] = []
  const env = (extra: NodeJS.ProcessEnv = {}) => ({PATH: process.env.PATH, HOME: process.env.HOME, ...g.env, ...extra})
  const kplat = (args: string[], extra: NodeJS.ProcessEnv = {}): Promise<RunResult> =>
    runBin(args, {env: env(extra), cwd: work})
  const webPods = async () =>
    (await core.listNamespacedPod({namespace: app, labelSelector: 'kplat.dev/process=web'})).items
      .filter((p) => !p.metadata?.deletionTimestamp && p.status?.phase === 'Running')
      .map((p) => p.metadata!.name!)
      .sort()

  before(async () => {
    g = await ground()
    core = g.admin().makeApiClient(k8s.CoreV1Api)
    const created = await kplat(['create', app, '--no-clone'])
    assert.equal(created.code, 0, created.stderr)
    const scaled = await kplat(['ps:scale', 'web=2', '--app', app])
    assert.equal(scaled.code, 0, scaled.stderr)
  })

  after(() => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL')
  })

  /** `kplat logs --tail ...` as a child process, its stdout a pipe, read as it comes. */
  function tail(args: string[], extra: NodeJS.ProcessEnv = {}) {
    const child = spawn(process.execPath, [BIN, 'logs', '--tail', '--app', app, ...args], {
      env: env(extra),
      cwd: work,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    children.push(child)
    let stdout = ''
    let stderr = ''
    child.stdout!.on('data', (d) => (stdout += d))
    child.stderr!.on('data', (d) => (stderr += d))
    const exited = new Promise<number>((resolve) => child.on('close', (code) => resolve(code ?? -1)))
    return {
      child,
      exited,
      out: () => stdout,
      err: () => stderr,
      async waitFor(what: string | RegExp, timeoutMs = 30_000) {
        const deadline = Date.now() + timeoutMs
        const has = () => (typeof what === 'string' ? stdout.includes(what) : what.test(stdout))
        while (!has()) {
          assert.ok(Date.now() < deadline, `timed out waiting for ${what} in:\n${stdout}\n--- stderr:\n${stderr}`)
          assert.equal(child.exitCode, null, `kplat logs exited: ${stderr}`)
          await new Promise((r) => setTimeout(r, 50))
        }
      },
      async stop() {
        child.kill('SIGINT')
        return exited
      },
    }
  }

  it('merges the past lines of every process in time order, each with its time and process', async () => {
    const [a, b] = await webPods()
    const t0 = Date.now() + 1000
    // Interleaved across the two pods, and written out of order.
    appendPodLog(g, app, b, 'web', 'second', new Date(t0 + 2))
    appendPodLog(g, app, b, 'web', 'fourth', new Date(t0 + 4))
    appendPodLog(g, app, a, 'web', 'first', new Date(t0 + 1))
    appendPodLog(g, app, a, 'web', 'third', new Date(t0 + 3))
    const r = await kplat(['logs', '--app', app, '-n', '4', '--source', 'app'])
    assert.equal(r.code, 0, r.stderr)
    const lines = r.stdout.trimEnd().split('\n')
    assert.deepEqual(
      lines.map((l) => l.replace(/^\S+ /, '')),
      [`app[${a}]: first`, `app[${b}]: second`, `app[${a}]: third`, `app[${b}]: fourth`],
    )
    assert.ok(
      lines.every((l) => /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z app\[/.test(l)),
      lines.join('\n'),
    )

    const json = await kplat(['logs', '--app', app, '-n', '4', '--source', 'app', '--json'])
    const parsed = json.stdout
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as JsonLine)
    assert.deepEqual(
      parsed.map((l) => [l.source, l.process, l.container, l.message]),
      [
        ['app', a, 'web', 'first'],
        ['app', b, 'web', 'second'],
        ['app', a, 'web', 'third'],
        ['app', b, 'web', 'fourth'],
      ],
    )
    assert.ok(parsed.every((l) => !Number.isNaN(Date.parse(l.time))))

    const one = await kplat(['logs', '--app', app, '--dyno', b, '-n', '2', '--source', 'app'])
    assert.deepEqual(
      one.stdout
        .trimEnd()
        .split('\n')
        .map((l) => l.replace(/^\S+ /, '')),
      [`app[${b}]: second`, `app[${b}]: fourth`],
    )
  })

  it('gives each process a colour of its own on a terminal, and none in a pipe', async () => {
    const [a, b] = await webPods()
    const r = await runInProcess(['logs', '--app', app, '-n', '4', '--source', 'app'], {tty: true, env: env()})
    assert.equal(r.code, 0, r.stderr)
    const colourOf = (pod: string) => new RegExp(`\u001B\\[(\\d+)mapp\\[${pod}\\]:\u001B\\[39m`).exec(r.stdout)?.[1]
    assert.ok(colourOf(a) && colourOf(b), r.stdout)
    assert.notEqual(colourOf(a), colourOf(b))
    const piped = await kplat(['logs', '--app', app, '-n', '4', '--source', 'app'])
    assert.doesNotMatch(piped.stdout, ANSI)
  })

  it('shows what the platform did: Kubernetes events and Argo CD deploys', async () => {
    const r = await kplat(['logs', '--app', app, '--source', 'platform', '-n', '200'])
    assert.equal(r.code, 0, r.stderr)
    const [a] = await webPods()
    assert.match(
      r.stdout,
      new RegExp(`^\\S+ platform\\[Pod/${a}\\]: Scheduled: Successfully assigned ${app}/${a} to kwok-node-0$`, 'm'),
    )
    assert.match(
      r.stdout,
      new RegExp(
        `^\\S+ platform\\[Deployment/${app}-web\\]: ScalingReplicaSet: Scaled up replica set ${app}-web-\\S+ (to|from 1 to) 2`,
        'm',
      ),
    )
    assert.match(
      r.stdout,
      new RegExp(`^\\S+ platform\\[Application/${app}\\]: Argo CD: deployed revision [0-9a-f]{7}$`, 'm'),
    )
    assert.doesNotMatch(r.stdout, / app\[/)
  })

  it("follows every process: a scale-up's new pod and a restart's replacements join the stream, and Ctrl-C exits 0", async () => {
    const t = tail(['--source', 'app', '-n', '0'])
    const [a] = await webPods()
    // Once following, a line written now comes through (retried: the stream may still be opening).
    let marker = ''
    for (let i = 0; !marker || !t.out().includes(marker); i++) {
      assert.ok(i < 100, `no live line: ${t.err()}`)
      marker = `live ${i}`
      appendPodLog(g, app, a, 'web', marker)
      await new Promise((r) => setTimeout(r, 200))
    }

    const before = await webPods()
    const scaled = await kplat(['ps:scale', 'web=3', '--app', app])
    assert.equal(scaled.code, 0, scaled.stderr)
    const [added] = (await webPods()).filter((p) => !before.includes(p))
    await t.waitFor(`app[${added}]: listening on 8080`)

    const restarted = await kplat(['ps:restart', 'web', '--app', app])
    assert.equal(restarted.code, 0, restarted.stderr)
    for (const pod of await webPods()) await t.waitFor(`app[${pod}]: listening on 8080`)
    assert.equal(await t.stop(), 0)
    assert.equal(
      t
        .out()
        .split('\n')
        .filter((l) => l.endsWith(`app[${added}]: listening on 8080`)).length,
      1,
      'no line twice',
    )

    await kplat(['ps:scale', 'web=2', '--app', app])
  })

  it('streams platform events live, and --json as one object per line', async () => {
    const t = tail(['--source', 'platform', '-n', '0', '--json'])
    await new Promise((r) => setTimeout(r, 1000))
    assert.equal(t.out(), '', '-n 0: no past lines')
    const scaled = await kplat(['ps:scale', 'worker=1', '--app', app])
    assert.equal(scaled.code, 0, scaled.stderr)
    await t.waitFor(new RegExp(`"process":"Deployment/${app}-worker".*ScalingReplicaSet`))
    await t.waitFor(/"process":"Pod\/[^"]+-worker-[^"]+","container":null,"message":"Scheduled: /)
    assert.equal(await t.stop(), 0)
    for (const line of t.out().trimEnd().split('\n')) {
      const l = JSON.parse(line) as JsonLine
      assert.equal(l.source, 'platform')
      assert.deepEqual(Object.keys(l), ['time', 'source', 'process', 'container', 'message'])
    }

    await kplat(['ps:scale', 'worker=0', '--app', app])
  })

  /** `logs --tail` of one web process through a TCP proxy in front of the API server, once a live line came through. */
  async function tailViaProxy(extra: NodeJS.ProcessEnv, prefix: string) {
    const proxy = await tcpProxy(new URL(g.admin().getCurrentCluster()!.server).port)
    const kubeconfig = path.join(work, `via-proxy-${proxy.port}.kubeconfig`)
    writeFileSync(
      kubeconfig,
      readFileSync(g.kubeconfig, 'utf8').replace(
        /server: https:\/\/127\.0\.0\.1:\d+/g,
        `server: https://127.0.0.1:${proxy.port}`,
      ),
    )
    const [a] = await webPods()
    const t = tail(['--source', 'app', '--dyno', a, '-n', '0'], {KUBECONFIG: kubeconfig, ...extra})
    let marker = ''
    for (let i = 0; !marker || !t.out().includes(marker); i++) {
      assert.ok(i < 100, `no live line: ${t.err()}`)
      marker = `${prefix} ${i}`
      appendPodLog(g, app, a, 'web', marker)
      await new Promise((r) => setTimeout(r, 200))
    }

    return {proxy, a, t, marker}
  }

  it('resumes a log stream the server cut without a gap or a repeat, and gives up with exit 1 when the cluster stays away', async () => {
    const {proxy, a, t} = await tailViaProxy({KPLAT_RECONNECT_SECONDS: '3'}, 'before cut')

    // Lines in the same second as the last one seen, before and after the cut: the resumed
    // stream starts at that whole second, so kplat must skip exactly what it showed.
    appendPodLog(g, app, a, 'web', 'just before the cut')
    await t.waitFor('just before the cut')
    proxy.cut()
    appendPodLog(g, app, a, 'web', 'during the cut')
    appendPodLog(g, app, a, 'web', 'after the cut')
    await t.waitFor('after the cut')
    const shown = t
      .out()
      .split('\n')
      .filter(Boolean)
      .map((l) => l.replace(/^\S+ app\[[^\]]+\]: /, ''))
    for (const line of ['just before the cut', 'during the cut', 'after the cut'])
      assert.equal(shown.filter((s) => s === line).length, 1, `${line} once: ${shown.join(' | ')}`)
    assert.deepEqual(shown.slice(-3), ['just before the cut', 'during the cut', 'after the cut'])

    // Now the cluster goes away for good: kplat says so, retries, and gives up.
    await proxy.close()
    const code = await t.exited
    assert.equal(code, 1)
    assert.match(t.err(), /lost the connection to the cluster \((ECONNREFUSED|ECONNRESET)[^)]*\); reconnecting\.\.\./)
    assert.match(
      t.err(),
      new RegExp(
        `Error: lost the cluster at https://127\\.0\\.0\\.1:${proxy.port} for \\d+s \\(ECONNREFUSED\\)\\. Check that it is running and reachable, then run the command again\\n$`,
      ),
    )
  })

  it('reopens a stream that went silent (a half-open connection) from the last line shown: nothing lost, nothing twice', async () => {
    const {proxy, a, t, marker} = await tailViaProxy({KPLAT_LOG_IDLE_SECONDS: '2'}, 'before the freeze')

    proxy.freeze()
    const frozenAt = Date.now()
    appendPodLog(g, app, a, 'web', 'while frozen')
    await t.waitFor('while frozen', 15_000)
    const late = Date.now() - frozenAt
    const shown = t
      .out()
      .split('\n')
      .filter(Boolean)
      .map((l) => l.replace(/^\S+ app\[[^\]]+\]: /, ''))
    assert.equal(shown.filter((s) => s === marker).length, 1, `${marker} once: ${shown.join(' | ')}`)
    assert.equal(shown.at(-1), 'while frozen')
    assert.ok(late < 10_000, `the line came ${late} ms after the freeze`)
    assert.doesNotMatch(t.err(), /broke|lost the connection/, 'a quiet reopen is not reported as trouble')
    assert.equal(await t.stop(), 0)
    await proxy.close()
  })

  it('names what is not there: a process type, a process', async () => {
    const type = await kplat(['logs', '--app', app, '--ps', 'nosuch'])
    assert.equal(type.code, 1)
    assert.equal(
      type.stderr,
      `Error: ${app} has no nosuch processes running (types with processes: web). \`kplat ps:scale nosuch=1 --app ${app}\` starts one\n`,
    )
    const pod = await kplat(['logs', '--app', app, '--dyno', `${app}-web-nosuch`])
    assert.equal(pod.code, 1)
    assert.match(
      pod.stderr,
      new RegExp(
        `^Error: ${app} has no process "${app}-web-nosuch" \\(its processes: ${app}-web-\\S+, ${app}-web-\\S+\\)\\. \`kplat ps --app ${app}\` lists them\\n$`,
      ),
    )
    const since = await kplat(['logs', '--app', app, '--since', 'yesterday'])
    assert.equal(since.code, 2)
    assert.match(
      since.stderr,
      /^Error: invalid --since: "yesterday" is not a duration\. Use a number with s, m, h or d/,
    )
  })

  // Last in this file: the extra pod would change the process lists the tests above expect.
  it('names the container of a process whose pod runs several, and always in --json; many streams draw no warning', async () => {
    const pod = `${app}-many-containers`
    // Twelve: more streams than node's default of ten listeners on one signal.
    const extra = Array.from({length: 10}, (_, i) => ({name: `extra-${i}`, image: 'ghcr.io/acme/extra:1'}))
    await core.createNamespacedPod({
      namespace: app,
      body: {
        metadata: {name: pod},
        spec: {
          containers: [
            {name: 'main', image: 'ghcr.io/acme/main:1'},
            {name: 'proxy', image: 'ghcr.io/acme/proxy:1'},
            ...extra,
          ],
        },
      },
    })
    try {
      const deadline = Date.now() + 30_000
      while ((await core.readNamespacedPod({namespace: app, name: pod})).status?.phase !== 'Running') {
        assert.ok(Date.now() < deadline, `${pod} never ran`)
        await new Promise((resolve) => setTimeout(resolve, 200))
      }

      const t0 = Date.now() + 1000
      appendPodLog(g, app, pod, 'main', 'from main', new Date(t0 + 1))
      appendPodLog(g, app, pod, 'proxy', 'from proxy', new Date(t0 + 2))
      const text = await kplat(['logs', '--app', app, '--dyno', pod, '-n', '2', '--source', 'app'])
      assert.equal(text.code, 0, text.stderr)
      assert.equal(text.stderr, '')
      assert.deepEqual(
        text.stdout
          .trimEnd()
          .split('\n')
          .map((l) => l.replace(/^\S+ /, '')),
        [`app[${pod}/main]: from main`, `app[${pod}/proxy]: from proxy`],
      )
      const json = await kplat(['logs', '--app', app, '--dyno', pod, '-n', '2', '--source', 'app', '--json'])
      assert.deepEqual(
        json.stdout
          .trimEnd()
          .split('\n')
          .map((l) => JSON.parse(l) as JsonLine)
          .map((l) => [l.process, l.container, l.message]),
        [
          [pod, 'main', 'from main'],
          [pod, 'proxy', 'from proxy'],
        ],
      )

      const t = tail(['--dyno', pod, '-n', '0'])
      await new Promise((resolve) => setTimeout(resolve, 1500))
      appendPodLog(g, app, pod, 'extra-9', 'from the twelfth')
      await t.waitFor(`app[${pod}/extra-9]: from the twelfth`)
      assert.equal(await t.stop(), 0)
      assert.equal(t.err(), '')
    } finally {
      await core.deleteNamespacedPod({namespace: app, name: pod, gracePeriodSeconds: 0})
    }
  })
})

/** A TCP proxy to the API server whose connections a test can cut, or close altogether. */
async function tcpProxy(targetPort: string) {
  const sockets = new Set<net.Socket>()
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(targetPort), '127.0.0.1')
    for (const s of [client, upstream]) {
      sockets.add(s)
      s.on('close', () => sockets.delete(s))
      s.on('error', () => {})
    }

    client.pipe(upstream).pipe(client)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const cut = () => {
    for (const s of sockets) s.destroy()
  }
  // The connections there now go silent both ways and stay open, as a half-open one does;
  // new connections are forwarded as before.
  const freeze = () => {
    for (const s of sockets) {
      s.unpipe()
      s.pause()
    }
  }

  return {
    port: (server.address() as net.AddressInfo).port,
    cut,
    freeze,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        cut()
      }),
  }
}
