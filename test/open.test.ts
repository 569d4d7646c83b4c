// kplat open on an app made by `kplat create`. The ground's apps domain has no DNS, so kplat
// forwards a local port to the app's web Service; the ground's runtime answers as the pod.
import assert from 'node:assert/strict'
import {spawn, type ChildProcess} from 'node:child_process'
import {chmodSync, existsSync, mkdtempSync, readFileSync, writeFileSync} from 'node:fs'
import * as http from 'node:http'
import * as os from 'node:os'
import * as path from 'node:path'
import {after, before, describe, it} from 'node:test'
import * as k8s from '@kubernetes/client-node'
import {BIN, runBin, type RunResult} from './helpers/cli.js'
import {ground, uniqueName, type TestGround} from './helpers/ground.js'

describe('kplat open, on the proving ground', () => {
  let g: TestGround
  let core: k8s.CoreV1Api
  const app = uniqueName('open').slice(0, 24)
  const work = mkdtempSync(path.join(os.tmpdir(), 'kplat-open-'))
  const env = (extra: NodeJS.ProcessEnv = {}) => ({PATH: process.env.PATH, HOME: process.env.HOME, ...g.env, ...extra})
  const kplat = (args: string[], extra: NodeJS.ProcessEnv = {}): Promise<RunResult> =>
    runBin(args, {env: env(extra), cwd: work})
  const children: ChildProcess[] = []

  after(() => {
    // A test that failed half-way leaves its `kplat open` running: ended here, by its pid.
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL')
  })

  before(async () => {
    g = await ground()
    core = g.admin().makeApiClient(k8s.CoreV1Api)
    const created = await kplat(['create', app, '--no-clone'])
    assert.equal(created.code, 0, created.stderr)
  })

  /** Starts `kplat open ...`; resolves with its first stdout line while it keeps running. */
  function start(args: string[], extra: NodeJS.ProcessEnv = {}, terminal = false) {
    const argv = [process.execPath, BIN, 'open', '--app', app, ...args]
    // script(1) gives kplat a terminal, as a person has.
    const [command, ...rest] = terminal ? ['script', '-qfec', argv.join(' '), '/dev/null'] : argv
    const child = spawn(command, rest, {env: env(extra), cwd: work, stdio: ['pipe', 'pipe', 'pipe']})
    children.push(child)
    let stdout = ''
    let stderr = ''
    child.stderr.on('data', (d) => (stderr += d))
    const exited = new Promise<number>((resolve) => child.on('close', (code) => resolve(code ?? -1)))
    const firstLine = new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (d) => {
        stdout += d
        if (stdout.includes('\n')) resolve(stdout.split('\n')[0])
      })
      child.on('close', () => reject(new Error(`kplat open exited: ${stderr}`)))
    })
    return {child, exited, firstLine, err: () => stderr}
  }

  it('prints a forwarded URL that reaches the app, and stays up until Ctrl-C', async () => {
    const run = start(['--url', '/hello?x=1'])
    const url = await run.firstLine
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/hello\?x=1$/)
    const answer = (await get(url)) as {pod: string; namespace: string; path: string}
    assert.equal(answer.namespace, app)
    assert.match(answer.pod, new RegExp(`^${app}-web-`))
    assert.equal(answer.path, '/hello?x=1')
    assert.match(
      run.err(),
      new RegExp(`http://${app}\\.apps\\.ground\\.test/ has no DNS record; forwarding a local port to it instead`),
    )
    assert.match(
      run.err(),
      new RegExp(`Forwarding 127\\.0\\.0\\.1:\\d+ to service ${app} port 80 of ${app}; Ctrl-C to stop`),
    )

    // The forward follows the app through a restart: each connection goes to a pod that is up.
    const restarted = await kplat(['ps:restart', '--app', app])
    assert.equal(restarted.code, 0, restarted.stderr)
    const again = (await get(url)) as {pod: string}
    assert.notEqual(again.pod, answer.pod)

    run.child.kill('SIGINT')
    assert.equal(await run.exited, 0)
  })

  it('opens the URL in $BROWSER on a terminal', async () => {
    const browser = path.join(work, 'browser.sh')
    const opened = path.join(work, 'opened.txt')
    writeFileSync(browser, `#!/bin/sh\necho "$1" > '${opened}'\n`)
    chmodSync(browser, 0o755)
    const run = start([], {BROWSER: browser, TERM: 'dumb'}, true)
    for (let i = 0; !existsSync(opened) || !readFileSync(opened, 'utf8').includes('\n'); i++) {
      assert.ok(i < 300, `no browser opened: ${run.err()}`)
      await new Promise((r) => setTimeout(r, 100))
    }

    const url = readFileSync(opened, 'utf8').trim()
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/$/)
    const answer = (await get(url)) as {namespace: string}
    assert.equal(answer.namespace, app)
    run.child.kill('SIGTERM')
    await run.exited
  })

  it('says when no web process is up to forward to, and when the app does not exist', async () => {
    const scaled = await kplat(['ps:scale', 'web=0', '--app', app])
    assert.equal(scaled.code, 0, scaled.stderr)
    const r = await kplat(['open', '--url', '--app', app])
    assert.equal(r.code, 1)
    assert.equal(r.stdout, '')
    assert.match(
      r.stderr,
      new RegExp(
        `Error: no ${app} web process is up to forward to\\. \`kplat ps --app ${app}\` shows its processes\\n$`,
      ),
    )
    await kplat(['ps:scale', 'web=1', '--app', app])

    const missing = await kplat(['open', '--url', '--app', 'nosuch-app'])
    assert.equal(missing.code, 1)
    assert.match(missing.stderr, /^Error: app "nosuch-app" not found/)
  })

  it('refuses, naming the right RBAC withholds: create pods/portforward', async () => {
    // A user who may read the app but not forward ports to it: a ServiceAccount with a view role.
    const sa = uniqueName('viewer').slice(0, 30)
    const rbac = g.admin().makeApiClient(k8s.RbacAuthorizationV1Api)
    await core.createNamespacedServiceAccount({namespace: app, body: {metadata: {name: sa}}})
    await rbac.createNamespacedRoleBinding({
      namespace: app,
      body: {
        metadata: {name: sa},
        roleRef: {apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'view'},
        subjects: [{kind: 'ServiceAccount', name: sa, namespace: app}],
      },
    })
    await rbac.createClusterRole({
      body: {
        metadata: {name: sa},
        rules: [
          {apiGroups: ['argoproj.io'], resources: ['applications'], verbs: ['get', 'list']},
          {apiGroups: [''], resources: ['configmaps'], verbs: ['get']},
        ],
      },
    })
    await rbac.createClusterRoleBinding({
      body: {
        metadata: {name: sa},
        roleRef: {apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: sa},
        subjects: [{kind: 'ServiceAccount', name: sa, namespace: app}],
      },
    })
    const token = (
      await core.createNamespacedServiceAccountToken({
        namespace: app,
        name: sa,
        body: {spec: {audiences: [], expirationSeconds: 600}},
      })
    ).status!.token
    const kc = g.admin()
    const kubeconfig = path.join(work, `${sa}.kubeconfig`)
    writeFileSync(
      kubeconfig,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        'current-context': 'viewer',
        clusters: [
          {
            name: 'ground',
            cluster: {
              server: kc.getCurrentCluster()!.server,
              'certificate-authority-data':
                kc.getCurrentCluster()!.caData ?? readFileSync(kc.getCurrentCluster()!.caFile!).toString('base64'),
            },
          },
        ],
        users: [{name: 'viewer', user: {token}}],
        contexts: [{name: 'viewer', context: {cluster: 'ground', user: 'viewer'}}],
      }),
    )
    try {
      const r = await kplat(['open', '--url', '--app', app], {KUBECONFIG: kubeconfig})
      assert.equal(r.code, 1, r.stderr)
      assert.equal(r.stdout, '')
      assert.match(
        r.stderr,
        new RegExp(
          `Error: forbidden: you may not create pods/portforward in namespace ${app}, which kplat needs to reach ${app} \\(it has no URL that answers\\)\\. Ask your platform team for the "create" right on pods/portforward in ${app}`,
        ),
      )
    } finally {
      await rbac.deleteClusterRoleBinding({name: sa}).catch(() => {})
      await rbac.deleteClusterRole({name: sa}).catch(() => {})
    }
  })
})

/** A GET on a connection of its own, as a browser's next page after a while. */
function get(url: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    http
      .get(url, {agent: false}, (res) => {
        let body = ''
        res.on('data', (d) => (body += d))
        res.on('end', () => resolve(JSON.parse(body)))
      })
      .on('error', reject)
  })
}
