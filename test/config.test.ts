// kplat config, config:get, config:set and config:unset on an app made by `kplat create`, on
// the real Argo CD: values only in the app's Secret, never in output, the Application or git.
import assert from 'node:assert/strict'
import {mkdtempSync, writeFileSync} from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {before, describe, it} from 'node:test'
import * as k8s from '@kubernetes/client-node'
import {NO_TEAM_CONTEXT} from './ground/cluster.js'
import {runBin, type RunResult} from './helpers/cli.js'
import {ground, uniqueName, type TestGround} from './helpers/ground.js'

describe('kplat config, on the real Argo CD', () => {
  let g: TestGround
  let core: k8s.CoreV1Api
  let custom: k8s.CustomObjectsApi
  const app = uniqueName('conf').slice(0, 24)
  const work = mkdtempSync(path.join(os.tmpdir(), 'kplat-config-'))
  const secretValue = `s3cr3t-${Date.now().toString(36)}-value`
  const env = (extra: NodeJS.ProcessEnv = {}) => ({PATH: process.env.PATH, HOME: process.env.HOME, ...g.env, ...extra})
  const kplat = (args: string[], extra: NodeJS.ProcessEnv = {}): Promise<RunResult> =>
    runBin(args, {env: env(extra), cwd: work})
  /** kplat with its stdin fed, as `printf ... | kplat ...` does. */
  const withStdin = (args: string[], input: string, extra: NodeJS.ProcessEnv = {}) =>
    runBin(args, {env: env(extra), cwd: work, input})
  const webPods = async () =>
    (await core.listNamespacedPod({namespace: app, labelSelector: 'kplat.dev/process=web'})).items
      .filter((p) => !p.metadata?.deletionTimestamp)
      .map((p) => p.metadata!.name!)
      .sort()
  const application = async () =>
    JSON.stringify(
      await custom.getNamespacedCustomObject({
        group: 'argoproj.io',
        version: 'v1alpha1',
        plural: 'applications',
        namespace: 'argocd',
        name: app,
      }),
    )

  before(async () => {
    g = await ground()
    core = g.admin().makeApiClient(k8s.CoreV1Api)
    custom = g.admin().makeApiClient(k8s.CustomObjectsApi)
    const created = await kplat(['create', app, '--no-clone'])
    assert.equal(created.code, 0, created.stderr)
  })

  it('sets config vars from the command line, stdin and a file: one restart, and no value anywhere but the Secret', async () => {
    const before = await webPods()
    const file = path.join(work, 'key.pem')
    writeFileSync(file, '-----BEGIN KEY-----\nabc\n-----END KEY-----\n')
    const r = await withStdin(
      ['config:set', 'GREETING=hi', 'API_TOKEN=-', `TLS_KEY=@${file}`, '--app', app, '--json'],
      `${secretValue}\n`,
      {KPLAT_DEBUG: '1'},
    )
    assert.equal(r.code, 0, r.stderr)
    assert.deepEqual(JSON.parse(r.stdout), {
      app,
      set: ['API_TOKEN', 'GREETING', 'TLS_KEY'],
      unset: [],
      restarted: true,
      release: 2,
    })
    assert.ok(!(r.stdout + r.stderr).includes(secretValue), 'the value is in no output, debug log included')
    assert.match(r.stderr, /\[debug\] PUT|\[debug\] POST/, 'the debug log was on')

    const secret = await core.readNamespacedSecret({namespace: app, name: `${app}-config`})
    const values = Object.fromEntries(
      Object.entries(secret.data!).map(([k, v]) => [k, Buffer.from(v, 'base64').toString()]),
    )
    assert.deepEqual(values, {
      API_TOKEN: secretValue,
      GREETING: 'hi',
      TLS_KEY: '-----BEGIN KEY-----\nabc\n-----END KEY-----\n',
    })
    assert.equal(secret.metadata?.labels?.['app.kubernetes.io/managed-by'], 'kplat')
    assert.ok(!(await application()).includes(secretValue), 'the value is not in the Application')

    // Every process runs with the Secret as env, restarted exactly once.
    const after = await webPods()
    assert.equal(after.length, before.length)
    assert.ok(
      after.every((p) => !before.includes(p)),
      'every process was replaced',
    )
    const pod = await core.readNamespacedPod({namespace: app, name: after[0]})
    assert.ok(pod.spec!.containers[0].envFrom!.some((e) => e.secretRef?.name === `${app}-config`))
    const rs = (await g.admin().makeApiClient(k8s.AppsV1Api).listNamespacedReplicaSet({namespace: app})).items.filter(
      (x) => x.metadata?.name?.startsWith(`${app}-web-`),
    )
    assert.equal(rs.length, 2, 'one rollout: the first ReplicaSet and one new one')
  })

  it('lists them masked, reveals them when asked, prints one alone, and prints KEY=value lines for a shell', async () => {
    const masked = await kplat(['config', '--app', app])
    assert.equal(masked.code, 0, masked.stderr)
    assert.match(masked.stdout, /^API_TOKEN\s+\*{8}$/m)
    assert.match(masked.stdout, /^GREETING\s+\*{8}$/m)
    assert.ok(!masked.stdout.includes(secretValue))
    const json = await kplat(['config', '--app', app, '--json'])
    assert.deepEqual(
      (JSON.parse(json.stdout) as Array<{name: string; value: string | null}>).map((v) => [v.name, v.value]),
      [
        ['API_TOKEN', null],
        ['GREETING', null],
        ['TLS_KEY', null],
      ],
    )
    const revealed = await kplat(['config', '--app', app, '--reveal', '--json'])
    assert.deepEqual(
      (JSON.parse(revealed.stdout) as Array<{name: string; value: string}>).map((v) => [v.name, v.value]).slice(0, 2),
      [
        ['API_TOKEN', secretValue],
        ['GREETING', 'hi'],
      ],
    )
    const one = await kplat(['config:get', 'API_TOKEN', '--app', app])
    assert.equal(one.stdout, `${secretValue}\n`)
    const shell = await kplat(['config', '--app', app, '--shell'])
    assert.match(
      shell.stdout,
      new RegExp(
        `^API_TOKEN=${secretValue}\\nGREETING=hi\\nTLS_KEY='-----BEGIN KEY-----\\nabc\\n-----END KEY-----\\n'\\n$`,
      ),
    )
  })

  it('--no-restart changes the Secret and leaves the processes running; unset removes', async () => {
    const before = await webPods()
    const r = await kplat(['config:set', 'GREETING=hello', '--no-restart', '--app', app])
    assert.equal(r.code, 0, r.stderr)
    assert.equal(r.stdout, `Set GREETING on ${app}; its processes get them when they next start\n`)
    const secret = await core.readNamespacedSecret({namespace: app, name: `${app}-config`})
    assert.equal(Buffer.from(secret.data!.GREETING, 'base64').toString(), 'hello')
    await new Promise((resolve) => setTimeout(resolve, 3000))
    assert.deepEqual(await webPods(), before, 'no process was restarted')

    const unset = await kplat(['config:unset', 'GREETING', 'TLS_KEY', '--app', app])
    assert.equal(unset.code, 0, unset.stderr)
    const after = await core.readNamespacedSecret({namespace: app, name: `${app}-config`})
    assert.deepEqual(Object.keys(after.data!), ['API_TOKEN'])
    assert.ok(
      (await webPods()).every((p) => !before.includes(p)),
      'unset restarted the processes',
    )
  })

  it('refuses bad names, an empty value from stdin and an unreadable file, changing nothing (exit 2)', async () => {
    const cases: Array<[string[], string, RegExp]> = [
      [
        ['1ABC=x'],
        '',
        /^Error: argument 1 of 1 does not start with a valid config var name \(not shown: it may be part of a value\); a name is letters, digits and _, not starting with a digit\. For example GREETING=hi or DATABASE_URL=@url\.txt\n$/,
      ],
      [['MY-VAR=x'], '', /does not start with a valid config var name/],
      [
        ['PORT=9090'],
        '',
        /^Error: PORT is set by the platform for every process \(the chart sets PORT and APP_VERSION\)\. Pick another name\n$/,
      ],
      [
        ['KPLAT_APP=x'],
        '',
        /^Error: KPLAT_APP: names starting with KPLAT_ are kplat's own\. Pick a name without the KPLAT_ prefix\n$/,
      ],
      // A stray space makes a value an argument of its own: it is never echoed.
      [
        ['API_TOKEN=', 's3cr3t-value'],
        '',
        /^Error: API_TOKEN= has no value, and 1 more argument follows: a space after = splits the value off \(nothing was changed\)\. (?![\s\S]*s3cr3t)/,
      ],
      // ... and a value with = in it would become a var named after the secret.
      [['API_TOKEN=', 's3cr3t=part'], '', /^Error: API_TOKEN= has no value(?![\s\S]*s3cr3t)/],
      [['API_TOKEN=', 'ab-c=x'], '', /^Error: API_TOKEN= has no value(?![\s\S]*ab-c)/],
      [
        ['x=1', 'ab-c=s3cr3t'],
        '',
        /^Error: argument 2 of 2 does not start with a valid config var name(?![\s\S]*(ab-c|s3cr3t))/,
      ],
      [
        ['EMPTY=-'],
        '\n',
        /^Error: EMPTY=- read an empty value from stdin\. Pipe the value in, for example `printf %s "\$VALUE" \| kplat config:set EMPTY=-`, or unset it with `kplat config:unset EMPTY`\n$/,
      ],
      [['A=-', 'B=-'], 'x', /^Error: only one value can come from stdin \(KEY=-\)\. Give the others as KEY=@file\n$/],
      [
        ['KEY=@s3cr3t-starting-with-at'],
        '',
        /^Error: KEY=@\.\.\.: cannot read the file named after @ \(ENOENT\)\. Name a readable file after @; a value that starts with @ is written with two \(KEY=@@value sets @value\)\n$/,
      ],
    ]
    for (const [args, input, message] of cases) {
      const r = await withStdin(['config:set', ...args, '--app', app], input)
      assert.equal(r.code, 2, `${args}: ${r.stderr}`)
      assert.match(r.stderr, message)
    }

    const missing = await kplat(['config:unset', 'NOSUCH', '--app', app])
    assert.equal(missing.code, 2)
    assert.match(
      missing.stderr,
      new RegExp(`^Error: ${app} has no config var NOSUCH\\. \`kplat config\` lists them\\n$`),
    )
    const secret = await core.readNamespacedSecret({namespace: app, name: `${app}-config`})
    assert.deepEqual(Object.keys(secret.data!), ['API_TOKEN'], 'nothing changed')
  })

  it('will not touch a Secret of that name that kplat did not create, and names the right RBAC withholds', async () => {
    const other = uniqueName('other').slice(0, 24)
    assert.equal((await kplat(['create', other, '--no-clone'])).code, 0)
    await core.createNamespacedSecret({
      namespace: other,
      body: {metadata: {name: `${other}-config`}, stringData: {THEIRS: 'keep'}},
    })
    const r = await kplat(['config:set', 'A=b', '--app', other])
    assert.equal(r.code, 1)
    assert.match(
      r.stderr,
      new RegExp(
        `Error: a Secret named ${other}-config exists in namespace ${other} that kplat did not create, so kplat will not read or write config vars in it\\.`,
      ),
    )
    const theirs = await core.readNamespacedSecret({namespace: other, name: `${other}-config`})
    assert.deepEqual(Object.keys(theirs.data!), ['THEIRS'])

    const forbidden = await kplat(['config', '--app', app, '--context', NO_TEAM_CONTEXT])
    assert.equal(forbidden.code, 1)
    assert.equal(
      forbidden.stderr,
      'Error: forbidden: you may not get applications.argoproj.io in namespace argocd. Ask your platform team for the "get" right on applications.argoproj.io in namespace argocd, or pick another --context\n',
    )
  })

  it('two config changes at once with a restart both finish: the first counts the second, deployed after it, as its own', async () => {
    const [a, b] = await Promise.all([
      kplat(['config:set', 'FIRST=1', '--app', app, '--timeout', '120', '--json']),
      kplat(['config:set', 'SECOND=2', '--app', app, '--timeout', '120', '--json']),
    ])
    assert.equal(a.code, 0, a.stderr)
    assert.equal(b.code, 0, b.stderr)
    const versions = [JSON.parse(a.stdout).release, JSON.parse(b.stdout).release] as number[]
    assert.notEqual(versions[0], versions[1])
    const list = await kplat(['releases', '--app', app, '--json'])
    const releases = JSON.parse(list.stdout) as Array<{version: number; outcome: string}>
    for (const v of versions)
      assert.equal(releases.find((r) => r.version === v)?.outcome, 'succeeded', `v${v} was not recorded as succeeded`)
    const secret = await core.readNamespacedSecret({namespace: app, name: `${app}-config`})
    assert.ok(
      ['FIRST', 'SECOND'].every((k) => k in secret.data!),
      'neither lost the other',
    )
  })
})
