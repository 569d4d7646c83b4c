import assert from 'node:assert/strict'
import {execFile, spawn} from 'node:child_process'
import {existsSync, mkdtempSync, readFileSync} from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {after, describe, it} from 'node:test'
import {promisify} from 'node:util'
import {pidAlive} from './ground/processes.js'
import {BIN, ROOT, runBin} from './helpers/cli.js'

const exec = promisify(execFile)

describe('npm run sandbox', () => {
  it("prints the export lines and `sandbox ready`; the README's day runs on them; a SIGTERM to npm leaves nothing running", async () => {
    // As a developer runs it: through npm, which must hand the signal on to the sandbox.
    // A process group of its own, so that a sandbox npm failed to stop can still be stopped by its id.
    const child = spawn('npm', ['run', '--silent', 'sandbox'], {
      cwd: ROOT,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {PATH: process.env.PATH, HOME: process.env.HOME, KPLAT_CACHE: process.env.KPLAT_CACHE},
    })
    let out = ''
    child.stdout.on('data', (d) => (out += d))
    child.stderr.on('data', (d) => (out += d))
    const closed = new Promise<number | null>((resolve) => child.on('close', resolve))
    // Whatever an assertion says, the sandbox must not outlive this test.
    after(() => {
      if (child.exitCode === null) process.kill(-child.pid!, 'SIGTERM')
    })
    for (let i = 0; !out.includes('sandbox ready') && i < 1200; i++) await new Promise((r) => setTimeout(r, 100))
    assert.match(out, /^export GITHUB_TOKEN='ghp_\w+'$/m, out)
    const kubeconfig = /^export KUBECONFIG='([^']+)'$/m.exec(out)![1]
    assert.ok(existsSync(kubeconfig))
    // The export lines are all git needs to reach a private repository of the sandbox.
    const exported = Object.fromEntries([...out.matchAll(/^export (\w+)='([^']*)'$/gm)].map((m) => [m[1], m[2]]))
    const github = JSON.parse(exported.KPLAT_GROUND_GITHUB) as {api: string; web: string}
    const created = await fetch(`${github.api}/orgs/acme/repos`, {
      method: 'POST',
      headers: {authorization: `token ${exported.GITHUB_TOKEN}`},
      body: JSON.stringify({name: 'secret-app', private: true, auto_init: true}),
    })
    assert.equal(created.status, 201)
    const listed = await exec('git', ['ls-remote', `${github.web}/acme/secret-app.git`], {
      env: {PATH: process.env.PATH, HOME: process.env.HOME, GIT_TERMINAL_PROMPT: '0', ...exported},
    })
    assert.match(listed.stdout, /refs\/heads\/main/)

    const pids = /process ids: ([\d ]+)/.exec(out)![1].trim().split(' ').map(Number)
    assert.deepEqual(
      pids,
      readFileSync(path.join(exported.KPLAT_GROUND_DIR, 'pids'), 'utf8').trim().split('\n').map(Number),
      'every process of the ground is named',
    )
    assert.ok(pids.every(pidAlive))
    // The real controllers, not stand-ins: their binaries run among the sandbox's processes.
    // Argo CD's one binary takes its part from ARGOCD_BINARY_NAME.
    const commands = pids.map((pid) =>
      [
        readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' '),
        /(?:^|\0)ARGOCD_BINARY_NAME=([^\0]+)/.exec(readFileSync(`/proc/${pid}/environ`, 'utf8'))?.[1] ?? '',
      ].join(' '),
    )
    for (const component of [
      'argocd-application-controller',
      'argocd-repo-server',
      'argocd-server',
      'redis-server',
      'crossplane core start',
      'function-patch-and-transform',
      'provider-nop',
    ]) {
      assert.ok(
        commands.some((c) => c.includes(component)),
        `${component} runs: ${commands.join('\n')}`,
      )
    }

    // The day with an app, from the README, with nothing but the export lines.
    const work = mkdtempSync(path.join(os.tmpdir(), 'kplat-sandbox-day-'))
    const env = {PATH: process.env.PATH, HOME: process.env.HOME, ...exported}
    const kplat = (args: string[]) => runBin(args, {env, cwd: work})
    const made = await kplat(['create', 'myapp'])
    assert.equal(made.code, 0, made.stderr)
    // The export lines make kplat team-a's developer: the app is the team's.
    const info = await kplat(['apps:info', '--app', 'myapp'])
    assert.match(info.stdout, /^Team\W+team-a$/m, info.stdout)
    const scaled = await kplat(['ps:scale', 'web=2', '--app', 'myapp'])
    assert.equal(scaled.code, 0, scaled.stderr)
    const ps = await kplat(['ps', '--app', 'myapp'])
    assert.match(ps.stdout, /^=== web \(2\/2 up\)$/m, ps.stdout)
    const follow = (args: string[]) => {
      const p = spawn(process.execPath, [BIN, ...args, '--app', 'myapp'], {
        env,
        cwd: work,
        stdio: ['ignore', 'pipe', 'pipe'],
      })
      let text = ''
      p.stdout.on('data', (d) => (text += d))
      after(() => {
        if (p.exitCode === null) p.kill('SIGKILL')
      })
      return {p, text: () => text, closed: new Promise<number | null>((resolve) => p.on('close', resolve))}
    }

    const logs = follow(['logs', '--tail', '--source', 'app'])
    const opened = follow(['open', '--url'])
    const webPods = () =>
      new Set([...logs.text().matchAll(/app\[(myapp-web-[^\]]+)\]: listening on 8080/g)].map((m) => m[1]))
    for (let i = 0; (webPods().size < 2 || !opened.text().includes('\n')) && i < 300; i++)
      await new Promise((r) => setTimeout(r, 100))
    assert.equal(webPods().size, 2, `logs --tail shows both web processes:\n${logs.text()}`)
    const url = opened.text().split('\n')[0]
    const answer = await fetch(url)
    assert.equal(answer.status, 200)
    assert.match(((await answer.json()) as {pod: string}).pod, /^myapp-web-/)
    for (const f of [logs, opened]) {
      f.p.kill('SIGINT')
      assert.equal(await f.closed, 0)
    }

    child.kill('SIGTERM')
    const stopped = await Promise.race([
      closed,
      new Promise<string>((resolve) => setTimeout(() => resolve('still running after 60 s'), 60_000).unref()),
    ])
    assert.equal(stopped, 0, out)
    assert.match(out, /sandbox stopped/)
    assert.deepEqual(pids.filter(pidAlive), [], 'every process the sandbox started is gone')
    assert.ok(!existsSync(kubeconfig), 'its folder is removed')
  })
})
