import assert from 'node:assert/strict'
import {execFileSync} from 'node:child_process'
import {mkdtempSync, readFileSync, writeFileSync} from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {before, describe, it} from 'node:test'
import * as k8s from '@kubernetes/client-node'
import {NO_TEAM_CONTEXT} from './ground/cluster.js'
import {ANSI, baseEnv, ROOT, runBin, runInProcess, type RunResult} from './helpers/cli.js'
import {ground, type TestGround} from './helpers/ground.js'

const GITHUB = 'http://127.0.0.1:9'

/** A git work tree with the given remotes (name -> URL) and, optionally, a catalog-info.yaml. */
function repo(remotes: Record<string, string>, catalogApp?: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'kplat-repo-'))
  execFileSync('git', ['init', '-q', dir])
  for (const [name, url] of Object.entries(remotes)) execFileSync('git', ['-C', dir, 'remote', 'add', name, url])
  if (catalogApp) {
    writeFileSync(
      path.join(dir, 'catalog-info.yaml'),
      `apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: ${catalogApp}\n  annotations:\n    kplat.dev/app: ${catalogApp}\nspec:\n  type: service\n`,
    )
  }

  return dir
}

function application(name: string): k8s.KubernetesObject {
  return {
    apiVersion: 'argoproj.io/v1alpha1',
    kind: 'Application',
    metadata: {name, namespace: 'argocd', labels: {'app.kubernetes.io/managed-by': 'kplat', 'kplat.dev/app': name}},
    spec: {
      project: 'default',
      source: {repoURL: `${GITHUB}/acme/${name}.git`, path: 'chart', targetRevision: 'main'},
      destination: {server: 'https://kubernetes.default.svc', namespace: name},
    },
  } as k8s.KubernetesObject
}

const json = (r: RunResult) => JSON.parse(r.stdout) as Record<string, unknown>

describe("conventions every command shares, against the ground's cluster", () => {
  let g: TestGround
  let env: NodeJS.ProcessEnv

  before(async () => {
    g = await ground()
    env = baseEnv({KUBECONFIG: g.kubeconfig, GITHUB_API_URL: GITHUB})
    const objects = k8s.KubernetesObjectApi.makeApiClient(g.admin())
    await objects
      .create({apiVersion: 'v1', kind: 'Namespace', metadata: {name: 'argocd'}})
      .catch((e) => assert.equal(e.code, 409))
    for (const name of ['app-flag', 'app-env', 'app-remote', 'app-catalog', 'forked'])
      await objects.create(application(name))
    // An Application kplat did not create: listed by nobody, refused by name.
    await objects.create({
      ...application('foreign'),
      metadata: {name: 'foreign', namespace: 'argocd'},
    } as k8s.KubernetesObject)
  })

  it('--json prints exactly one JSON document on stdout, in-process and as a subprocess', async () => {
    for (const r of [await runInProcess(['apps', '--json'], {env}), await runBin(['apps', '--json'], {env})]) {
      assert.equal(r.code, 0, r.stderr)
      const apps = JSON.parse(r.stdout) as Array<{name: string}>
      // Other test files' apps share the ground; these four are this file's, in order.
      const mine = new Set(['app-catalog', 'app-env', 'app-flag', 'app-remote'])
      assert.deepEqual(
        apps.map((a) => a.name).filter((n) => mine.has(n)),
        [...mine],
      )
      assert.doesNotMatch(r.stdout + r.stderr, ANSI)
    }
  })

  it('prints a table for people, without colour when stdout is not a terminal', async () => {
    const r = await runBin(['apps'], {env})
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /^NAME +TEAM +SYNC +HEALTH +URL\napp-catalog +- +[A-Z]\w+ +[A-Z]\w+/)
    assert.doesNotMatch(r.stdout, ANSI)
  })

  it('finds the app from the flag, then KPLAT_APP, then the git repository', async () => {
    const cwd = repo({origin: `${GITHUB}/acme/app-remote.git`, other: 'https://gitlab.example.com/acme/not-github.git'})
    const name = async (args: string[], extra: NodeJS.ProcessEnv = {}) => {
      const r = await runInProcess(['apps:info', '--json', ...args], {env: {...env, ...extra}, cwd})
      assert.equal(r.code, 0, r.stderr)
      return json(r).name
    }

    assert.equal(await name([]), 'app-remote')
    assert.equal(await name([], {KPLAT_APP: 'app-env'}), 'app-env')
    assert.equal(await name(['--app', 'app-flag'], {KPLAT_APP: 'app-env'}), 'app-flag')
    assert.equal(await name(['-a', 'app-flag']), 'app-flag')
    const fromCatalog = repo({}, 'app-catalog')
    const r = await runBin(['apps:info', '--json'], {env, cwd: fromCatalog})
    assert.equal(r.code, 0, r.stderr)
    assert.equal(json(r).name, 'app-catalog')
  })

  it('says when no app or several apps could be meant, and shows the flag to use', async () => {
    const none = await runBin(['apps:info'], {env, cwd: os.tmpdir()})
    assert.equal(none.code, 2)
    assert.match(none.stderr, /^Error: no app specified.*Pass --app APP/)
    const both = repo({origin: `${GITHUB}/acme/app-remote.git`}, 'app-catalog')
    for (const r of [
      await runBin(['apps:info'], {env, cwd: both}),
      await runInProcess(['apps:info'], {env, cwd: both}),
    ]) {
      assert.equal(r.code, 2)
      assert.equal(r.stdout, '')
      assert.match(
        r.stderr,
        /Several apps could be meant: app-catalog \(catalog-info\.yaml\), app-remote \(git remote origin\)\. Pass --app app-catalog/,
      )
    }
  })

  it('asks which app on a terminal, and never shows the prompt when not interactive', async () => {
    const both = repo({origin: `${GITHUB}/acme/app-remote.git`}, 'app-catalog')
    // Arrow down to the second choice, then Enter.
    const asked = await runInProcess(['apps:info', '--json'], {env, cwd: both, tty: true, keys: ['\u001B[B', '\r']})
    assert.equal(asked.code, 0, asked.stderr)
    assert.match(asked.stderr, /Several apps could be meant; which one\?/)
    assert.equal(json(asked).name, 'app-remote')
    for (const [label, extra, argv] of [
      ['CI', {CI: 'true'}, []],
      ['NO_COLOR', {NO_COLOR: '1'}, []],
      ['--no-interactive', {}, ['--no-interactive']],
    ] as const) {
      const r = await runInProcess(['apps:info', ...argv], {
        env: {...env, ...extra},
        cwd: both,
        tty: true,
        keys: ['\r'],
      })
      assert.equal(r.code, 2, label)
      assert.doesNotMatch(r.stderr, /which one\?/, label)
      assert.match(r.stderr, /Pass --app/, label)
    }
  })

  it('refuses an Application kplat did not create', async () => {
    const r = await runBin(['apps:info', '--app', 'foreign'], {env})
    assert.equal(r.code, 1)
    assert.match(r.stderr, /"foreign" is an Argo CD Application that kplat did not create/)
    const missing = await runBin(['apps:info', '--app', 'nosuchapp'], {env})
    assert.equal(missing.code, 1)
    assert.match(missing.stderr, /app "nosuchapp" not found\. Run `kplat apps`/)
  })

  it('names the verb, resource and namespace when RBAC forbids, and logs requests with the token redacted', async () => {
    const token = new k8s.KubeConfig()
    token.loadFromFile(g.kubeconfig)
    token.setCurrentContext(NO_TEAM_CONTEXT)
    const secret = token.getCurrentUser()!.token!
    for (const debug of ['', '1']) {
      const r = await runBin(['apps', '--context', NO_TEAM_CONTEXT], {env: {...env, KPLAT_DEBUG: debug}})
      assert.equal(r.code, 1)
      assert.match(
        r.stderr,
        /Error: forbidden: you may not list applications\.argoproj\.io in namespace argocd\. Ask your platform team/,
      )
      assert.ok(!(r.stdout + r.stderr).includes(secret), 'the kube token must never be printed')
      if (debug)
        assert.match(
          r.stderr,
          /\[debug\] GET https:\/\/127\.0\.0\.1:\d+\/apis\/argoproj\.io\/v1alpha1\/namespaces\/argocd\/applications\?labelSelector=\S+ 403 \d+ms/,
        )
      else assert.doesNotMatch(r.stderr, /\[debug\]/)
    }
  })

  it('names an unknown --context and the contexts there are', async () => {
    const r = await runBin(['apps', '--context', 'nope'], {env})
    assert.equal(r.code, 2)
    assert.match(
      r.stderr,
      /no context "nope" in your kubeconfig \(contexts: ground-admin, ground-restricted, ground-team-b, ground-no-team, ground-two-teams\)\. Pass one of those to --context/,
    )
  })

  it('never prints the GitHub token, even in debug output and errors', async () => {
    const secret = 'ghp_' + 'Z9'.repeat(18)
    const r = await runBin(['auth:whoami'], {
      env: {
        ...env,
        GITHUB_TOKEN: secret,
        KPLAT_DEBUG: '1',
        GITHUB_API_URL: `http://x-access-token:${secret}@127.0.0.1:9`,
      },
    })
    assert.equal(r.code, 1)
    assert.match(r.stderr, /\[debug\] GET http:\/\/\*\*\*@127\.0\.0\.1:9\/user/)
    assert.match(r.stderr, /Error: /)
    assert.ok(!(r.stdout + r.stderr).includes(secret))
  })

  it('refuses, in a fork, every command that takes --app: each gets its app from the one wiring (exit 2, nothing done)', async () => {
    // alice/forked is a fork of the platform's acme/forked: no remote points at the repository the app deploys from.
    const dir = repo({origin: `${GITHUB}/alice/forked.git`})
    const manifest = JSON.parse(readFileSync(path.join(ROOT, 'oclif.manifest.json'), 'utf8')) as {
      commands: Record<string, {args: Record<string, {required?: boolean}>; flags: Record<string, unknown>}>
    }
    // A valid value for each required argument, so that only the app is in question.
    const samples: Record<string, string[]> = {
      'addons:create': ['gcs-bucket'],
      'addons:destroy': ['forked-gcs-bucket', '--confirm', 'forked'],
      'addons:info': ['forked-gcs-bucket'],
      'apps:destroy': ['--confirm', 'forked'],
      'config:get': ['GREETING'],
      'config:set': ['GREETING=hi'],
      'config:unset': ['GREETING'],
      open: ['--url'],
      'ps:scale': ['web=1'],
      'releases:info': ['v1'],
      'releases:rollback': ['v1'],
    }
    const ids = Object.keys(manifest.commands)
      .filter((id) => 'app' in manifest.commands[id].flags)
      .sort()
    assert.ok(ids.length >= 18, `only ${ids.length} commands take --app: ${ids.join(', ')}`)
    for (const id of ids) {
      const required = Object.entries(manifest.commands[id].args).filter(([, a]) => a.required)
      assert.ok(required.length === 0 || samples[id], `${id} needs a sample for ${required.map(([n]) => n).join(', ')}`)
      const r = await runBin([id, ...(samples[id] ?? [])], {env, cwd: dir})
      assert.equal(r.code, 2, `${id}: ${r.stderr}`)
      assert.equal(
        r.stderr,
        "Error: this repository's git remote origin points at alice/forked, but the app forked deploys from acme/forked. Pass --app forked if you mean that app all the same\n",
        id,
      )
      assert.equal(r.stdout, '', id)
    }
  })
})
