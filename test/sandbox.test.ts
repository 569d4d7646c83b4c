import assert from 'node:assert/strict'
import {execFile, spawn} from 'node:child_process'
import {existsSync, readFileSync} from 'node:fs'
import * as path from 'node:path'
import {after, describe, it} from 'node:test'
import {promisify} from 'node:util'
import {pidAlive} from './ground/processes.js'
import {ROOT} from './helpers/cli.js'

const exec = promisify(execFile)

describe('npm run sandbox', () => {
  it('prints the export lines and `sandbox ready`, and leaves nothing running after Ctrl-C', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/sandbox.ts'], {cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: {PATH: process.env.PATH, HOME: process.env.HOME, KPLAT_CACHE: process.env.KPLAT_CACHE}})
    let out = ''
    child.stdout.on('data', (d) => (out += d))
    child.stderr.on('data', (d) => (out += d))
    const closed = new Promise<number | null>((resolve) => child.on('close', resolve))
    // Whatever an assertion says, the sandbox must not outlive this test.
    after(() => {
      if (child.exitCode === null) child.kill('SIGINT')
    })
    for (let i = 0; !out.includes('sandbox ready') && i < 1200; i++) await new Promise((r) => setTimeout(r, 100))
    assert.match(out, /^export GITHUB_TOKEN='ghp_\w+'$/m, out)
    const kubeconfig = /^export KUBECONFIG='([^']+)'$/m.exec(out)![1]
    assert.ok(existsSync(kubeconfig))
    // The export lines are all git needs to reach a private repository of the sandbox.
    const exported = Object.fromEntries([...out.matchAll(/^export (\w+)='([^']*)'$/gm)].map((m) => [m[1], m[2]]))
    const github = JSON.parse(exported.KPLAT_GROUND_GITHUB) as {api: string; web: string}
    const created = await fetch(`${github.api}/orgs/acme/repos`, {method: 'POST', headers: {authorization: `token ${exported.GITHUB_TOKEN}`}, body: JSON.stringify({name: 'secret-app', private: true, auto_init: true})})
    assert.equal(created.status, 201)
    const listed = await exec('git', ['ls-remote', `${github.web}/acme/secret-app.git`], {env: {PATH: process.env.PATH, HOME: process.env.HOME, GIT_TERMINAL_PROMPT: '0', ...exported}})
    assert.match(listed.stdout, /refs\/heads\/main/)

    const pids = /process ids: ([\d ]+)/.exec(out)![1].trim().split(' ').map(Number)
    assert.deepEqual(pids, readFileSync(path.join(exported.KPLAT_GROUND_DIR, 'pids'), 'utf8').trim().split('\n').map(Number), 'every process of the ground is named')
    assert.ok(pids.every(pidAlive))
    // The real controllers, not stand-ins: their binaries run among the sandbox's processes.
    // Argo CD's one binary takes its part from ARGOCD_BINARY_NAME.
    const commands = pids.map((pid) => [readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' '),
      /(?:^|\0)ARGOCD_BINARY_NAME=([^\0]+)/.exec(readFileSync(`/proc/${pid}/environ`, 'utf8'))?.[1] ?? ''].join(' '))
    for (const component of ['argocd-application-controller', 'argocd-repo-server', 'argocd-server', 'redis-server', 'crossplane core start', 'function-patch-and-transform', 'provider-nop']) {
      assert.ok(commands.some((c) => c.includes(component)), `${component} runs: ${commands.join('\n')}`)
    }

    child.kill('SIGINT')
    assert.equal(await closed, 0, out)
    assert.match(out, /sandbox stopped/)
    assert.deepEqual(pids.filter(pidAlive), [], 'every process the sandbox started is gone')
    assert.ok(!existsSync(kubeconfig), 'its folder is removed')
  })
})
