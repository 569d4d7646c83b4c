import assert from 'node:assert/strict'
import {spawn} from 'node:child_process'
import {existsSync} from 'node:fs'
import {after, describe, it} from 'node:test'
import {pidAlive} from './ground/processes.js'
import {ROOT} from './helpers/cli.js'

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
    const pids = /process ids: ([\d ]+)/.exec(out)![1].trim().split(' ').map(Number)
    assert.equal(pids.length, 8)
    assert.ok(pids.every(pidAlive))

    child.kill('SIGINT')
    assert.equal(await closed, 0, out)
    assert.match(out, /sandbox stopped/)
    assert.deepEqual(pids.filter(pidAlive), [], 'every process the sandbox started is gone')
    assert.ok(!existsSync(kubeconfig), 'its folder is removed')
  })
})
