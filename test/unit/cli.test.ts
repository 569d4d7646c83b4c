import assert from 'node:assert/strict'
import {readFileSync} from 'node:fs'
import {describe, it} from 'node:test'
import {ANSI, baseEnv, ROOT, runBin, runInProcess} from '../helpers/cli.js'

const pkg = JSON.parse(readFileSync(`${ROOT}/package.json`, 'utf8')) as {version: string}

describe('the kplat binary', () => {
  it("prints its version in oclif's format", async () => {
    const r = await runBin(['--version'])
    assert.equal(r.code, 0)
    assert.match(
      r.stdout,
      new RegExp(`^kplat/${pkg.version.replaceAll('.', '\\.')} ${process.platform}-${process.arch} node-v\\d+`),
    )
    assert.equal(r.stderr, '')
  })

  it('shows the topics and commands when run alone', async () => {
    const r = await runBin([])
    assert.equal(r.code, 0)
    assert.match(
      r.stdout,
      /^TOPICS\n {2}addons +the cloud resources an app uses \(Crossplane add-ons\)\n {2}apps +create, list, inspect and destroy apps\n {2}auth +.*\n {2}config +the app's config vars.*\n {2}ps +the app's processes: list, scale and restart them\n {2}releases +the app's history: every deploy and change, numbered; inspect one, roll back to one\n\n/m,
    )
    assert.match(r.stdout, /^COMMANDS\n/m)
    assert.doesNotMatch(r.stdout, ANSI)
  })

  it('answers --help, -h and `help` the same way', async () => {
    const [a, b, c] = await Promise.all([
      runBin(['apps:info', '--help']),
      runBin(['apps:info', '-h']),
      runBin(['help', 'apps:info']),
    ])
    assert.equal(a.code, 0)
    assert.match(a.stdout, /-a, --app=APP/)
    assert.equal(a.stdout, b.stdout)
    assert.equal(a.stdout, c.stdout)
  })

  it("exits 2 with the flag's help on an unknown flag, in-process and as a subprocess", async () => {
    for (const r of [await runBin(['apps', '--bogus']), await runInProcess(['apps', '--bogus'])]) {
      assert.equal(r.code, 2)
      assert.equal(r.stdout, '')
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr)
      assert.match(r.stderr, /^Error: Nonexistent flag: --bogus\. See `kplat apps --help`$/m)
    }
  })

  it('suggests the closest command for a typo and exits 127, in one plain line under CI and NO_COLOR too', async () => {
    for (const env of [{}, {CI: 'true'}, {NO_COLOR: '1'}, {FORCE_COLOR: '1', CI: 'true'}]) {
      const r = await runBin(['apss'], {env: baseEnv(env)})
      assert.equal(r.code, 127)
      assert.equal(r.stdout, '')
      assert.equal(
        r.stderr,
        'Error: apss is not a kplat command. Did you mean `kplat apps`? `kplat help` lists the commands\n',
        JSON.stringify(env),
      )
    }

    const far = await runBin(['nosuch'])
    assert.equal(far.code, 127)
    assert.equal(
      far.stderr,
      'Error: nosuch is not a kplat command. `kplat help` lists the commands\n',
      'no suggestion when nothing is close',
    )
  })

  it('calls a flag without a command a usage error (exit 2), not an unknown command', async () => {
    const r = await runBin(['--nope'])
    assert.equal(r.code, 2)
    assert.doesNotMatch(r.stderr, ANSI)
    assert.equal(
      r.stderr,
      'Error: --nope is not a flag of kplat itself; flags follow a command. `kplat help` lists the commands, `kplat COMMAND --help` their flags\n',
    )
  })

  it('exits 1 with one line that says what to do when the cluster is not configured', async () => {
    for (const r of [await runBin(['apps']), await runInProcess(['apps'])]) {
      assert.equal(r.code, 1)
      assert.equal(r.stdout, '')
      assert.equal(
        r.stderr,
        "Error: no kubeconfig found (looked at /nonexistent/kubeconfig). Set KUBECONFIG to your cluster's kubeconfig file, or run `npm run sandbox` for a local one\n",
      )
    }
  })

  it('shows a stack trace only with KPLAT_DEBUG=1', async () => {
    const quiet = await runBin(['apps'])
    assert.doesNotMatch(quiet.stderr, /\n\s+at /)
    const loud = await runBin(['apps'], {env: baseEnv({KPLAT_DEBUG: '1'})})
    assert.equal(loud.code, 1)
    assert.match(loud.stderr, /\n\s+at .*loadKubeConfig/)
  })

  it('never colours errors on a non-TTY, nor when NO_COLOR or CI is set on a TTY', async () => {
    const plain = await runInProcess(['apps'])
    assert.doesNotMatch(plain.stderr, ANSI)
    const tty = await runInProcess(['apps'], {tty: true})
    assert.match(tty.stderr, ANSI, 'a terminal gets colour')
    for (const env of [{NO_COLOR: '1'}, {CI: 'true'}]) {
      const r = await runInProcess(['apps'], {tty: true, env: baseEnv(env)})
      assert.doesNotMatch(r.stderr, ANSI, JSON.stringify(env))
    }

    const flag = await runInProcess(['apps', '--no-interactive'], {tty: true})
    assert.doesNotMatch(flag.stderr, ANSI)
  })
})
