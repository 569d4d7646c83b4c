// A wrong command line is told first: exit 2 and what to type instead, before kplat looks
// for a GitHub token, a kubeconfig or a cluster. The environment here has none of them, so
// a command that reached for one would say so instead.
import assert from 'node:assert/strict'
import {mkdtempSync, readFileSync} from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {describe, it} from 'node:test'
import {baseEnv, ROOT, runInProcess} from '../helpers/cli.js'

const cwd = mkdtempSync(path.join(os.tmpdir(), 'kplat-usage-'))
const env = baseEnv()
const REACHED_OUT = /kubeconfig|GitHub token|cannot reach/

const BAD: Array<[argv: string[], message: RegExp]> = [
  [['create', 'BAD_NAME'], /invalid app name "BAD_NAME".*Try "bad-name"/],
  [['create', 'okname', '--template', './missing-folder'], /no template\.yaml in .*missing-folder\. Pass --template/],
  [['create', 'okname', '--param', 'novalue'], /--param "novalue" is not key=value/],
  [['create', 'okname', '--owner', 'bad owner'], /--owner "bad owner" is not a GitHub user or organization name/],
  [['addons:create', 'bucket', '--app', 'x', '--param', 'noequals'], /--param "noequals" is not key=value/],
  [['addons:create', 'bucket', '--app', 'x', '--as', 'db'], /--as "db" is not an env var prefix/],
  [['addons:create', 'bucket', '--app', 'x', '--name', 'Bad_Name'], /invalid add-on name "Bad_Name"/],
  [
    ['addons:destroy', 'x-bucket', '--app', 'x', '--confirm', 'y'],
    /--confirm y does not name the app \(x\); nothing was changed\. Pass --confirm x/,
  ],
  [['apps:destroy', '--app', 'x', '--confirm', 'y'], /--confirm y does not name the app \(x\)/],
  [['config:get', 'bad-name', '--app', 'x'], /"bad-name" is not a valid config var name/],
  [['config:set', 'GREETING', '--app', 'x'], /argument 1 of 1 is not KEY=VALUE/],
  [['config:set', 'KPLAT_X=1', '--app', 'x'], /names starting with KPLAT_ are kplat's own/],
  [['config:set', 'A=-', 'B=-', '--app', 'x'], /only one value can come from stdin/],
  [['config:unset', 'PORT', '--app', 'x'], /PORT is set by the platform/],
  [['ps:scale', 'web=-1', '--app', 'x'], /"web=-1" is not a scale/],
  [['ps:scale', 'web=1:standard-2x', '--app', 'x'], /kplat has no dyno sizes/],
  [['ps:scale', 'web=1', 'web=2', '--app', 'x'], /web is scaled twice/],
  [['releases:info', 'three', '--app', 'x'], /"three" is not a release: expected vN/],
  [['releases:rollback', 'v0x', '--app', 'x'], /"v0x" is not a release/],
  [['logs', '--app', 'x', '--since', 'yesterday'], /invalid --since: "yesterday" is not a duration/],
  [['logs', '--app', 'x', '--num', '-1'], /invalid --num/],
  [['ps', '--app', 'My_App'], /invalid app name "My_App"/],
  [['apps:info', '--app', 'x', '--timeout', '3'], /Nonexistent flag: --timeout/],
]

describe('usage errors', () => {
  for (const [argv, message] of BAD) {
    it(`kplat ${argv.join(' ')}`, async () => {
      const r = await runInProcess(argv, {env, cwd})
      assert.equal(r.code, 2, r.stderr)
      assert.match(r.stderr, message)
      assert.doesNotMatch(r.stderr, REACHED_OUT)
      assert.equal(r.stdout, '')
    })
  }

  it('names every missing argument of every command, with what to type', async () => {
    const manifest = JSON.parse(readFileSync(path.join(ROOT, 'oclif.manifest.json'), 'utf8')) as {
      commands: Record<string, {args: Record<string, {required?: boolean}>; flags: Record<string, unknown>}>
    }
    const needing = Object.entries(manifest.commands).filter(([, c]) => Object.values(c.args).some((a) => a.required))
    assert.ok(needing.length >= 7, needing.map(([id]) => id).join(', '))
    for (const [id, c] of needing) {
      const r = await runInProcess([id, ...('app' in c.flags ? ['--app', 'x'] : [])], {env, cwd})
      const names = Object.entries(c.args)
        .filter(([, a]) => a.required)
        .map(([n]) => n.toUpperCase())
      assert.equal(r.code, 2, id)
      assert.match(
        r.stderr,
        new RegExp(
          `^Error: missing ${names[0]} \\(.+\\)\\. Type \`kplat ${id} ${names.join(' ')}\`\\. See \`kplat ${id} --help\`\\n$`,
        ),
        id,
      )
    }
  })

  it('says where a missing argument goes when a flag of several values came first', async () => {
    const r = await runInProcess(['addons:create', '--param', 'location=us', '--app', 'x'], {env, cwd})
    assert.equal(r.code, 2)
    assert.match(r.stderr, /missing SERVICE .*; put it before --param, which takes several values/)
  })
})
