// kplat apps:destroy on apps made by `kplat create` (and `addons:create`), on the real Argo CD
// and Crossplane: everything kplat made goes, nothing else does, and nothing goes unasked.
import assert from 'node:assert/strict'
import {execFile, spawn} from 'node:child_process'
import {mkdtempSync} from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {before, describe, it} from 'node:test'
import {promisify} from 'node:util'
import * as k8s from '@kubernetes/client-node'
import {NO_TEAM_CONTEXT} from './ground/cluster.js'
import {ORG} from './ground/index.js'
import {BIN, runBin, type RunResult} from './helpers/cli.js'
import {ground, tokenFor, uniqueName, type TestGround} from './helpers/ground.js'

const exec = promisify(execFile)

describe('kplat apps:destroy, on the real Argo CD and Crossplane', () => {
  let g: TestGround
  let core: k8s.CoreV1Api
  let custom: k8s.CustomObjectsApi
  const work = mkdtempSync(path.join(os.tmpdir(), 'kplat-destroy-'))
  const env = (extra: NodeJS.ProcessEnv = {}) => ({PATH: process.env.PATH, HOME: process.env.HOME, ...g.env, ...extra})
  const kplat = (args: string[], extra: NodeJS.ProcessEnv = {}, cwd = work): Promise<RunResult> =>
    runBin(args, {env: env(extra), cwd})
  const gone = async (read: () => Promise<unknown>) =>
    read().then(
      () => false,
      (e: {code?: number}) => e.code === 404,
    )
  const application = (name: string) =>
    custom.getNamespacedCustomObject({
      group: 'argoproj.io',
      version: 'v1alpha1',
      plural: 'applications',
      namespace: 'argocd',
      name,
    })
  const repoStatus = async (name: string) =>
    (
      await fetch(`${g.env.GITHUB_API_URL}/repos/${ORG}/${name}`, {
        headers: {authorization: `token ${g.env.GITHUB_TOKEN}`},
      })
    ).status

  before(async () => {
    g = await ground()
    core = g.admin().makeApiClient(k8s.CoreV1Api)
    custom = g.admin().makeApiClient(k8s.CustomObjectsApi)
  })

  it('refuses without a terminal unless --confirm names the app, and changes nothing', async () => {
    const app = uniqueName('keep').slice(0, 24)
    assert.equal((await kplat(['create', app, '--no-clone'])).code, 0)
    const unasked = await kplat(['apps:destroy', '--app', app])
    assert.equal(unasked.code, 2)
    assert.equal(
      unasked.stderr,
      `Error: Destroying ${app} deletes its processes, its namespace ${app}, and there is no terminal to confirm it on. Pass --confirm ${app}\n`,
    )
    const wrong = await kplat(['apps:destroy', '--app', app, '--confirm', 'other-app'])
    assert.equal(wrong.code, 2)
    assert.equal(
      wrong.stderr,
      `Error: --confirm other-app does not name the app (${app}); nothing was changed. Pass --confirm ${app}\n`,
    )
    const forbidden = await kplat(['apps:destroy', '--app', app, '--confirm', app, '--context', NO_TEAM_CONTEXT])
    assert.equal(forbidden.code, 1)
    assert.equal(
      forbidden.stderr,
      'Error: forbidden: you may not get applications.argoproj.io in namespace argocd. Ask your platform team for the "get" right on applications.argoproj.io in namespace argocd, or pick another --context\n',
    )
    assert.ok(await application(app), 'the Application is still there')
    assert.ok(await core.readNamespace({name: app}))
  })

  it('deletes the Application with what it deployed, the add-ons, the namespace and the kplat remote; keeps the repository', async () => {
    const app = uniqueName('gone').slice(0, 24)
    const clone = path.join(work, app)
    assert.equal((await kplat(['create', app])).code, 0)
    // The clone gets a `kplat` remote too, as `kplat create` run inside a repository adds.
    await exec('git', ['-C', clone, 'remote', 'add', 'kplat', `${g.github.web}/${ORG}/${app}.git`])
    const addon = await kplat(['addons:create', 'gcs-bucket', '--app', app, '--timeout', '120'])
    assert.equal(addon.code, 0, addon.stderr)
    // Something of someone else's, elsewhere: a ConfigMap in team-a must survive.
    const foreign = uniqueName('foreign')
    await core.createNamespacedConfigMap({
      namespace: 'team-a',
      body: {metadata: {name: foreign, labels: {'kplat.dev/app': app}}},
    })
    // An add-on copied with the app's labels into another namespace is not the app's: its
    // data is not for apps:destroy to delete.
    const labels = {
      'app.kubernetes.io/managed-by': 'kplat',
      'kplat.dev/app': app,
      'kplat.dev/addon-service': 'gcs-bucket',
    }
    const copy = {
      group: 'addons.kplat.dev',
      version: 'v1alpha1',
      plural: 'gcsbuckets',
      namespace: 'team-a',
      name: `${app}-copy`,
    }
    await custom.createNamespacedCustomObject({
      ...copy,
      body: {apiVersion: 'addons.kplat.dev/v1alpha1', kind: 'GCSBucket', metadata: {name: copy.name, labels}, spec: {}},
    })

    const r = await kplat(['apps:destroy', '--confirm', app, '--json'], {}, clone)
    assert.equal(r.code, 0, r.stderr)
    const result = JSON.parse(r.stdout) as {app: string; deleted: string[]; kept: string[]}
    assert.deepEqual(result, {
      app,
      kept: [],
      deleted: [
        `Application argocd/${app}`,
        `GCSBucket ${app}/${app}-gcs-bucket`,
        `Namespace ${app}`,
        `git remote kplat (${g.github.web}/${ORG}/${app}.git)`,
      ],
    })
    assert.match(
      r.stderr,
      new RegExp(
        `Warning: Destroying ${app} deletes its processes, its namespace ${app}, its add-on ${app}-gcs-bucket with their data\\.`,
      ),
    )
    assert.ok(await gone(() => application(app)))
    assert.ok(await gone(() => core.readNamespace({name: app})))
    assert.ok(
      await gone(() =>
        custom.getNamespacedCustomObject({
          group: 'addons.kplat.dev',
          version: 'v1alpha1',
          plural: 'gcsbuckets',
          namespace: app,
          name: `${app}-gcs-bucket`,
        }),
      ),
    )
    assert.equal(await repoStatus(app), 200, 'the repository is kept')
    assert.ok(await core.readNamespacedConfigMap({namespace: 'team-a', name: foreign}), 'what kplat did not make stays')
    const kept = (await custom.getNamespacedCustomObject(copy)) as {metadata: {deletionTimestamp?: string}}
    assert.equal(kept.metadata.deletionTimestamp, undefined, 'the add-on in another namespace is kept, not deleted')
    await custom.deleteNamespacedCustomObject(copy)
    const {stdout: remotes} = await exec('git', ['-C', clone, 'remote'])
    assert.deepEqual(remotes.trim().split('\n'), ['origin'])
    const listed = await kplat(['apps', '--json'])
    assert.ok(!(JSON.parse(listed.stdout) as Array<{name: string}>).some((a) => a.name === app))

    const again = await kplat(['apps:destroy', '--app', app, '--confirm', app])
    assert.equal(again.code, 1)
    assert.equal(
      again.stderr,
      `Error: app "${app}" not found: kplat made nothing of that name in this cluster. Run \`kplat apps\` to list your apps\n`,
    )
  })

  it('finishes the job when run again after an interruption', async () => {
    const app = uniqueName('half').slice(0, 24)
    assert.equal((await kplat(['create', app, '--no-clone'])).code, 0)
    const child = spawn(process.execPath, [BIN, 'apps:destroy', '--app', app, '--confirm', app], {
      env: env(),
      cwd: work,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let err = ''
    child.stderr.on('data', (d) => (err += d))
    for (let i = 0; !err.includes('and what it deployed... done') && i < 600; i++)
      await new Promise((r) => setTimeout(r, 50))
    child.kill('SIGINT')
    await new Promise((r) => child.on('close', r))
    assert.ok(await gone(() => application(app)), 'the first run got as far as the Application')

    const r = await kplat(['apps:destroy', '--app', app, '--confirm', app, '--json'])
    assert.equal(r.code, 0, r.stderr)
    assert.ok(await gone(() => core.readNamespace({name: app})))
  })

  it('leaves a namespace kplat did not make for the app, and says so', async () => {
    const app = uniqueName('theirs').slice(0, 24)
    assert.equal((await kplat(['create', app, '--no-clone'])).code, 0)
    // Someone took the namespace over: it no longer carries kplat's labels. (They turned the
    // app's automated sync off first: Argo CD's sync would put the labels back.)
    await custom.patchNamespacedCustomObject(
      {
        group: 'argoproj.io',
        version: 'v1alpha1',
        plural: 'applications',
        namespace: 'argocd',
        name: app,
        body: {spec: {syncPolicy: {automated: null}}},
      },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    )
    for (
      let i = 0;
      ((await application(app)) as {status?: {operationState?: {phase?: string}}}).status?.operationState?.phase ===
      'Running';
      i++
    ) {
      assert.ok(i < 300, 'a sync is still running')
      await new Promise((r) => setTimeout(r, 100))
    }

    await core.patchNamespace(
      {name: app, body: [{op: 'remove', path: '/metadata/labels/app.kubernetes.io~1managed-by'}]},
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.JsonPatch),
    )
    const r = await kplat(['apps:destroy', '--app', app, '--confirm', app, '--json'])
    assert.equal(r.code, 0, r.stderr)
    assert.deepEqual((JSON.parse(r.stdout) as {kept: string[]}).kept, [`Namespace ${app} (not kplat's)`])
    assert.match(
      r.stderr,
      new RegExp(`Warning: the namespace ${app} was not created by kplat for ${app}, so it is left as it is`),
    )
    assert.ok(await core.readNamespace({name: app}))
    await core.deleteNamespace({name: app})
  })

  it('will not delete a repository the Application was edited to name', async () => {
    const app = uniqueName('edited').slice(0, 24)
    const other = uniqueName('other').slice(0, 24)
    for (const name of [app, other]) assert.equal((await kplat(['create', name, '--no-clone', '--no-wait'])).code, 0)
    // Someone pointed the app's Application at another app's repository (kplat made that one too).
    const before = (await application(app)) as {spec: {source: {repoURL: string}}}
    const patch = (repoURL: string) =>
      custom.patchNamespacedCustomObject(
        {
          group: 'argoproj.io',
          version: 'v1alpha1',
          plural: 'applications',
          namespace: 'argocd',
          name: app,
          body: {spec: {source: {repoURL}}},
        },
        k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
      )
    await patch(before.spec.source.repoURL.replace(`/${app}.git`, `/${other}.git`))
    const token = await tokenFor(g.github, 'developer', ['repo', 'workflow', 'read:org', 'delete_repo'])
    const r = await kplat(['apps:destroy', '--app', app, '--confirm', app, '--delete-repository'], {
      GITHUB_TOKEN: token,
    })
    assert.equal(r.code, 1, r.stderr)
    assert.equal(
      r.stderr,
      `Error: ${app}'s Application deploys from ${ORG}/${other}, not from a repository named ${app}, so kplat will not delete that repository; nothing was deleted. Destroy without --delete-repository, and delete ${ORG}/${other} yourself if it is this app's\n`,
    )
    assert.equal(await repoStatus(other), 200, "the other app's repository is kept")
    assert.ok(await application(app), 'nothing was deleted')
    await patch(before.spec.source.repoURL)
    for (const name of [app, other])
      assert.equal((await kplat(['apps:destroy', '--app', name, '--confirm', name])).code, 0)
  })

  it("deletes a private repository with --delete-repository, and checks the token's scope before anything", async () => {
    const app = uniqueName('repo').slice(0, 24)
    assert.equal((await kplat(['create', app, '--no-clone', '--private'])).code, 0)
    const noScope = await kplat(['apps:destroy', '--app', app, '--confirm', app, '--delete-repository'])
    assert.equal(noScope.code, 1)
    assert.equal(
      noScope.stderr,
      'Error: your GitHub token lacks the delete_repo scope that --delete-repository needs (it has: repo, workflow, read:org); nothing was deleted. Run `gh auth refresh -s delete_repo`, or destroy without --delete-repository to keep the repository\n',
    )
    assert.ok(await application(app))

    const token = await tokenFor(g.github, 'developer', ['repo', 'workflow', 'read:org', 'delete_repo'])
    const r = await kplat(['apps:destroy', '--app', app, '--confirm', app, '--delete-repository', '--json'], {
      GITHUB_TOKEN: token,
    })
    assert.equal(r.code, 0, r.stderr)
    const {deleted} = JSON.parse(r.stdout) as {deleted: string[]}
    assert.ok(deleted.includes(`repository ${g.github.web}/${ORG}/${app}`), deleted.join('\n'))
    assert.equal(await repoStatus(app), 404)
    assert.ok(!(r.stdout + r.stderr).includes(token))
  })
})
