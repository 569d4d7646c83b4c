// kplat releases, releases:info and releases:rollback on an app made by `kplat create`, on the
// real Argo CD: a numbered history of deploys, config changes, scales and rollbacks, kept by
// kplat (not Argo CD's capped history), and rollbacks that automated sync and self-heal keep
// and that the next `git push` moves on from.
import assert from 'node:assert/strict'
import {execFile} from 'node:child_process'
import {mkdirSync, mkdtempSync, readFileSync, writeFileSync} from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {before, describe, it} from 'node:test'
import {promisify} from 'node:util'
import * as k8s from '@kubernetes/client-node'
import {BranchMovedError, moveBranchIfAt} from '../src/lib/git/move.js'
import {runBin, type RunResult} from './helpers/cli.js'
import {control, ground, uniqueName, type TestGround} from './helpers/ground.js'

const exec = promisify(execFile)
const ORG = 'acme'

interface Release {
  version: number
  kind: string
  description: string
  by: string
  createdAt: string
  commit?: string
  message?: string
  author?: string
  config: {version: number; keys: string[]}
  formation: Record<string, number>
  addons: string[]
  rollbackOf?: number
  outcome: string
  reason?: string
  current?: boolean
}

describe('kplat releases and releases:rollback, on the real Argo CD', () => {
  let g: TestGround
  let core: k8s.CoreV1Api
  let custom: k8s.CustomObjectsApi
  const app = uniqueName('rel').slice(0, 24)
  const work = mkdtempSync(path.join(os.tmpdir(), 'kplat-releases-'))
  const clone = path.join(work, app)
  const secretOne = `first-${Date.now().toString(36)}-secret`
  const secretTwo = `second-${Date.now().toString(36)}-secret`
  const commits: string[] = []
  /** The last deploy before the concurrent config changes (set in the history test). */
  let lastDeploy: Release
  const kplat = (args: string[], extra: NodeJS.ProcessEnv = {}): Promise<RunResult> =>
    runBin(args, {env: {PATH: process.env.PATH, HOME: process.env.HOME, ...g.env, ...extra}, cwd: work})
  const git = (args: string[]) => exec('git', ['-C', clone, ...args], {env: {...process.env, GIT_TERMINAL_PROMPT: '0'}})
  const auth = () =>
    `http.extraHeader=Authorization: Basic ${Buffer.from(`x:${g.env.GITHUB_TOKEN}`).toString('base64')}`
  const releases = async (): Promise<Release[]> => {
    const r = await kplat(['releases', '--app', app, '--json', '--num', '100'])
    assert.equal(r.code, 0, r.stderr)
    return JSON.parse(r.stdout) as Release[]
  }

  const application = async () =>
    custom.getNamespacedCustomObject({
      group: 'argoproj.io',
      version: 'v1alpha1',
      plural: 'applications',
      namespace: 'argocd',
      name: app,
    }) as Promise<{
      spec: {syncPolicy?: {automated?: unknown}; revisionHistoryLimit?: number}
      status?: {history?: unknown[]; sync?: {revision?: string}}
    }>
  /** The images of the app's running web processes, once they are all `want`. */
  const runs = async (commit: string) => {
    for (let i = 0; ; i++) {
      const pods = (
        await core.listNamespacedPod({namespace: app, labelSelector: 'kplat.dev/process=web'})
      ).items.filter((p) => p.status?.phase === 'Running' && !p.metadata?.deletionTimestamp)
      const images = pods.map((p) => p.spec!.containers[0].image!)
      if (images.length > 0 && images.every((x) => x.endsWith(`:${commit}`))) return
      assert.ok(i < 600, `the app does not run ${commit.slice(0, 7)}: ${images.join(', ')}`)
      await new Promise((r) => setTimeout(r, 100))
    }
  }

  const config = async () => {
    const secret = await core.readNamespacedSecret({namespace: app, name: `${app}-config`})
    return Object.fromEntries(
      Object.entries(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString()]),
    )
  }

  const heads = async () =>
    Object.fromEntries(
      (await git(['ls-remote', '--heads', 'origin'])).stdout
        .trim()
        .split('\n')
        .map((l) => l.split('\trefs/heads/').reverse()),
    )
  /** A commit and a push, as a developer does; by default, waits until the app runs it. */
  const push = async (text: string, wait = true) => {
    writeFileSync(path.join(clone, 'server.js'), readFileSync(path.join(clone, 'server.js'), 'utf8') + `\n// ${text}\n`)
    await git(['-c', 'user.name=Dev Eloper', '-c', 'user.email=dev@example.com', 'commit', '-qam', text])
    await git(['-c', auth(), 'push', '-q', 'origin', 'main'])
    const sha = (await git(['rev-parse', 'HEAD'])).stdout.trim()
    commits.push(sha)
    if (wait) await runs(sha)
    return sha
  }

  before(async () => {
    g = await ground()
    core = g.admin().makeApiClient(k8s.CoreV1Api)
    custom = g.admin().makeApiClient(k8s.CustomObjectsApi)
    const created = await kplat(['create', app, '--json'])
    assert.equal(created.code, 0, created.stderr)
    commits.push((JSON.parse(created.stdout) as {commit: string}).commit)
  })

  it('numbers every deploy, config change and scale, newest first, with who, what (names, never values) and the outcome', async () => {
    const set = await runBin(['config:set', 'GREETING=-', '--app', app], {
      env: {PATH: process.env.PATH, HOME: process.env.HOME, ...g.env},
      cwd: work,
      input: secretOne,
    })
    assert.equal(set.code, 0, set.stderr)
    const second = await push('Say hello twice')
    const scaled = await kplat(['ps:scale', 'web=2', '--app', app])
    assert.equal(scaled.code, 0, scaled.stderr)

    const list = await releases()
    assert.deepEqual(
      list.map((r) => [r.version, r.kind, r.outcome]),
      [
        [4, 'scale', 'succeeded'],
        [3, 'deploy', 'succeeded'],
        [2, 'config', 'succeeded'],
        [1, 'deploy', 'succeeded'],
      ],
    )
    const [v4, v3, v2, v1] = list
    assert.equal(v1.commit, commits[0])
    assert.match(v1.description, new RegExp(`^Deploy ${commits[0].slice(0, 7)}`))
    assert.equal(v2.description, 'Set GREETING config vars')
    assert.deepEqual(v2.config.keys, ['GREETING'])
    assert.match(v2.by, /\S/, 'a kplat change names the cluster user who made it')
    assert.equal(v3.commit, second)
    assert.equal(v3.description, `Deploy ${second.slice(0, 7)}: Say hello twice`)
    assert.deepEqual([v3.message, v3.author, v3.by], ['Say hello twice', 'Dev Eloper', 'Dev Eloper'])
    assert.deepEqual(v3.config, v2.config, 'a deploy keeps the config it found')
    assert.equal(v4.description, 'Scale web=2')
    assert.deepEqual(v4.formation, {web: 2, worker: 0})
    assert.equal(v4.commit, second)
    assert.deepEqual(
      list.filter((r) => r.current).map((r) => r.version),
      [4],
    )
    assert.ok(list.every((r) => !Number.isNaN(Date.parse(r.createdAt))))

    const human = await kplat(['releases', '--app', app])
    assert.equal(human.code, 0, human.stderr)
    assert.match(human.stdout, /^RELEASE\s+CHANGE\s+BY\s+AGE\s+STATUS$/m)
    assert.match(human.stdout, /^v4\s+Scale web=2\s+.+\s+succeeded \(current\)$/m)
    assert.match(human.stdout, /^v2\s+Set GREETING config vars\s/m)
    const two = await kplat(['releases', '--app', app, '-n', '2', '--json'])
    assert.deepEqual(
      (JSON.parse(two.stdout) as Release[]).map((r) => r.version),
      [4, 3],
    )

    const info = await kplat(['releases:info', 'v3', '--app', app])
    assert.equal(info.code, 0, info.stderr)
    assert.match(info.stdout, new RegExp(`^Commit:\\s+${second} Say hello twice$`, 'm'))
    assert.match(info.stdout, /^Config vars:\s+GREETING$/m)

    // The values are in the config Secret and its snapshot only: not in any release, any output, or the Application.
    const ledger = await core.listNamespacedConfigMap({namespace: app, labelSelector: 'kplat.dev/release'})
    assert.equal(ledger.items.length, 4, 'one ConfigMap per release')
    for (const text of [
      JSON.stringify(ledger.items),
      human.stdout,
      info.stdout,
      JSON.stringify(list),
      JSON.stringify(await application()),
    ])
      assert.ok(!text.includes(secretOne))
  })

  it('rolls back to the release before (config only, same code), then to v1 (code and config): automated sync and self-heal keep it, and the next push deploys', async () => {
    const set = await runBin(['config:set', 'GREETING=-', '--app', app], {
      env: {PATH: process.env.PATH, HOME: process.env.HOME, ...g.env},
      cwd: work,
      input: secretTwo,
    })
    assert.equal(set.code, 0, set.stderr)
    assert.deepEqual(await config(), {GREETING: secretTwo})

    // Default: the release before the latest, v4, which had the first value.
    const back = await kplat(['releases:rollback', '--app', app, '--json'])
    assert.equal(back.code, 0, back.stderr)
    assert.deepEqual(JSON.parse(back.stdout), {
      app,
      release: 6,
      rolledBackTo: 4,
      commit: commits[1],
      config: 'restored',
      warnings: [],
    })
    assert.deepEqual(await config(), {GREETING: secretOne})
    assert.ok(!(back.stdout + back.stderr).includes(secretOne))

    // To v1: the first commit, with no config vars at all.
    const first = await kplat(['releases:rollback', 'v1', '--app', app])
    assert.equal(first.code, 0, first.stderr)
    assert.match(first.stderr, new RegExp(`Rolling back ${app} to v1 \\(${commits[0].slice(0, 7)}\\)\\.\\.\\. done`))
    assert.match(first.stdout, new RegExp(`^${app} runs v1's code and config again, as v7$`, 'm'))
    await runs(commits[0])
    assert.deepEqual(await config(), {})
    assert.equal((await heads()).deploy, commits[0], "the deploy branch is back at v1's commit")
    assert.equal((await heads()).main, commits[1], 'main is untouched')
    const app1 = await application()
    assert.ok(app1.spec.syncPolicy?.automated, 'automated sync stays on')

    // Past Argo CD's resync (15 s in the ground, plus jitter): still v1.
    await new Promise((r) => setTimeout(r, 22_000))
    await runs(commits[0])
    const after = await releases()
    assert.deepEqual(
      after.slice(0, 3).map((r) => [r.version, r.description, r.outcome, r.commit]),
      [
        [7, 'Rollback to v1', 'succeeded', commits[0]],
        [6, 'Rollback to v4', 'succeeded', commits[1]],
        [5, 'Set GREETING config vars', 'succeeded', commits[1]],
      ],
    )
    assert.equal(after[0].rollbackOf, 1)
    assert.deepEqual(after[0].formation, {web: 2, worker: 0}, 'the formation is not rolled back')

    // The next push deploys as always: no pull, no rejected push.
    const third = await push('Third')
    assert.equal((await heads()).deploy, third)
    const latest = await releases()
    assert.deepEqual([latest[0].version, latest[0].kind, latest[0].commit], [8, 'deploy', third])
    assert.equal(latest.length, 8, "the rollback's own syncs are not taken for deploys")
  })

  it('keeps every release, numbers unchanged, across 12 and more deploys while Argo CD keeps one, and hands out distinct numbers to two changes at once', async () => {
    await custom.patchNamespacedCustomObject(
      {
        group: 'argoproj.io',
        version: 'v1alpha1',
        plural: 'applications',
        namespace: 'argocd',
        name: app,
        body: {spec: {revisionHistoryLimit: 1}},
      },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    )
    const stable = (list: Release[]) => list.map((r) => [r.version, r.description, r.commit, r.createdAt])
    let previous = await releases()
    // A kplat command between two deploys is all it takes: here, `releases` after each push.
    for (let n = 1; n <= 9; n++) {
      const sha = await push(`Push ${n}`)
      const list = await releases()
      assert.deepEqual([list[0].version, list[0].kind, list[0].commit], [previous[0].version + 1, 'deploy', sha])
      assert.deepEqual(stable(list.slice(1)), stable(previous), 'the releases before it are unchanged')
      previous = list
    }

    lastDeploy = previous[0]
    const [a, b] = await Promise.all([
      kplat(['config:set', 'A=1', '--no-restart', '--app', app, '--json']),
      kplat(['config:set', 'B=2', '--no-restart', '--app', app, '--json']),
    ])
    assert.equal(a.code, 0, a.stderr)
    assert.equal(b.code, 0, b.stderr)
    const numbers = [JSON.parse(a.stdout).release, JSON.parse(b.stdout).release].sort((x, y) => x - y)
    assert.deepEqual(numbers, [lastDeploy.version + 1, lastDeploy.version + 2])
    assert.deepEqual(await config(), {A: '1', B: '2'}, 'neither change overwrote the other')

    const list = await releases()
    assert.ok(((await application()).status?.history ?? []).length <= 2, 'Argo CD kept almost no history')
    assert.deepEqual(
      list.map((r) => r.version),
      Array.from({length: lastDeploy.version + 2}, (_, i) => lastDeploy.version + 2 - i),
      'every release is there, v1 to the last',
    )
    assert.ok(list.filter((r) => r.kind === 'deploy').length >= 12)
    // The later snapshot holds both changes: each release's config is the whole config after it.
    assert.deepEqual(list[0].config.keys, ['A', 'B'])
  })

  it('refuses what it cannot roll back to and while a deploy is in progress, saying why, and changes nothing (exit 2 for bad input)', async () => {
    const before = await heads()
    const count = (await releases()).length
    const missing = await kplat(['releases:rollback', 'v999', '--app', app])
    assert.equal(missing.code, 2)
    assert.match(missing.stderr, new RegExp(`Error: ${app} has no release v999\\. .*kplat releases`))
    const bad = await kplat(['releases:rollback', 'latest', '--app', app])
    assert.equal(bad.code, 2)
    assert.match(bad.stderr, /"latest" is not a release: expected vN, such as v3/)
    const info = await kplat(['releases:info', 'v0', '--app', app])
    assert.equal(info.code, 2)

    // The image of v3 is gone: its CI run is deleted, as retention does.
    const api = g.env.GITHUB_API_URL
    const headers = {authorization: `token ${g.env.GITHUB_TOKEN}`, accept: 'application/vnd.github+json'}
    const listed = (await (
      await fetch(`${api}/repos/${ORG}/${app}/actions/runs?head_sha=${commits[1]}`, {headers})
    ).json()) as {workflow_runs: Array<{id: number}>}
    assert.ok(listed.workflow_runs.length > 0)
    for (const run of listed.workflow_runs)
      assert.equal(
        (await fetch(`${api}/repos/${ORG}/${app}/actions/runs/${run.id}`, {method: 'DELETE', headers})).status,
        204,
      )
    const gone = await kplat(['releases:rollback', 'v3', '--app', app])
    assert.equal(gone.code, 1)
    assert.match(
      gone.stderr,
      new RegExp(
        `Error: the image of v3 \\(commit ${commits[1].slice(0, 7)}\\) may no longer exist: no successful CI run of that commit is left on GitHub`,
      ),
    )
    assert.deepEqual(await heads(), before, 'nothing moved')
    assert.equal((await releases()).length, count, 'no release was made')

    // CI is still building a push: when it is done it moves the deploy branch, which would undo a rollback now.
    await control(g.github, 'POST', 'decisions', {repo: `${ORG}/${app}`, conclusion: 'success', delayMs: 8000})
    const building = await push('Slow build', false)
    const busy = await kplat(['releases:rollback', '--app', app])
    assert.equal(busy.code, 1)
    assert.match(
      busy.stderr,
      new RegExp(
        `Error: a deploy is in progress: CI is building ${building.slice(0, 7)} \\(http://127\\.0\\.0\\.1:\\d+/${ORG}/${app}/actions/runs/\\d+\\), and when it is done it deploys that commit, which would undo the rollback\\. Wait for it`,
      ),
    )
    assert.equal((await heads()).deploy, before.deploy, 'nothing moved')
    await runs(building)
    assert.equal((await releases())[0].commit, building)
  })

  it('warns that add-ons are not rolled back', async () => {
    const attached = await kplat([
      'addons:create',
      'gcs-bucket',
      '--app',
      app,
      '--param',
      'location=US',
      '--timeout',
      '120',
    ])
    assert.equal(attached.code, 0, attached.stderr)
    const list = await releases()
    assert.equal(list[0].kind, 'addons')
    assert.match(list[0].description, new RegExp(`^Attach ${app}-gcs-bucket \\(gcs-bucket\\)$`))
    assert.deepEqual(list[0].addons, [`${app}-gcs-bucket`])
    // The last deploy before the config changes: other code, no config vars, no add-on.
    const back = await kplat(['releases:rollback', `v${lastDeploy.version}`, '--app', app])
    assert.equal(back.code, 0, back.stderr)
    assert.match(back.stderr, new RegExp(`add-ons are not rolled back: ${app}-gcs-bucket stays attached`))
    await runs(lastDeploy.commit!)
    assert.deepEqual(await config(), {})
  })

  it("records a deploy Argo CD cannot render as failed with helm's words; the default rollback skips it, and a fixing push deploys", async () => {
    writeFileSync(path.join(clone, 'chart', 'templates', 'broken.yaml'), '{{ .Values.nothing | notAFunction }}\n')
    await git(['add', '-A'])
    await git(['-c', 'user.name=Dev Eloper', '-c', 'user.email=dev@example.com', 'commit', '-qm', 'Break the chart'])
    await git(['-c', auth(), 'push', '-q', 'origin', 'main'])
    const broken = (await git(['rev-parse', 'HEAD'])).stdout.trim()
    let list: Release[] = []
    for (let i = 0; list[0]?.commit !== broken || list[0].outcome !== 'failed'; i++) {
      assert.ok(i < 300, `the broken deploy was not recorded as failed: ${JSON.stringify(list[0])}`)
      await new Promise((r) => setTimeout(r, 200))
      list = await releases()
    }

    assert.equal(list[0].kind, 'deploy')
    assert.match(list[0].reason!, /notAFunction/)
    const human = await kplat(['releases', '--app', app])
    assert.match(
      human.stdout,
      new RegExp(
        `^v${list[0].version}\\s+Deploy ${broken.slice(0, 7)}: Break the chart\\s+Dev Eloper\\s+\\S+\\s+failed: parse error at \\(\\S+broken\\.yaml:1\\): function "notAFunction" not defined$`,
        'm',
      ),
      "the table has helm's own words; releases:info has all of it",
    )
    assert.match(
      human.stdout,
      new RegExp(`^v${list[1].version}\\s+.*\\(current\\)$`, 'm'),
      'the release before the failed one is what runs',
    )

    const back = await kplat(['releases:rollback', '--app', app, '--json'])
    assert.equal(back.code, 0, back.stderr)
    assert.equal(JSON.parse(back.stdout).rolledBackTo, list[1].version)
    const good = list[1].commit!
    await runs(good)
    assert.equal((await heads()).deploy, good)

    // The fix is a child of the broken commit, which never ran: the deploy branch moves forward to it.
    await git(['rm', '-q', 'chart/templates/broken.yaml'])
    await git(['-c', 'user.name=Dev Eloper', '-c', 'user.email=dev@example.com', 'commit', '-qm', 'Fix the chart'])
    await git(['-c', auth(), 'push', '-q', 'origin', 'main'])
    const fixed = (await git(['rev-parse', 'HEAD'])).stdout.trim()
    await runs(fixed)
    const after = await releases()
    assert.deepEqual(
      after.slice(0, 3).map((r) => [r.kind, r.commit, r.outcome]),
      [
        ['deploy', fixed, 'succeeded'],
        ['rollback', good, 'succeeded'],
        ['deploy', broken, 'failed'],
      ],
    )
  })

  it('corrects a deploy recorded failed on a transient Argo CD error once Argo CD syncs that commit', async () => {
    const [now] = await releases()
    assert.equal(now.kind, 'deploy')
    assert.equal(now.outcome, 'succeeded')
    // What a transient error leaves: the deploy copied into the ledger while Argo CD reported a
    // ComparisonError on its commit, before the sync that put it in Argo CD's history.
    const name = `${app}-release-v${now.version}`
    const stored = await core.readNamespacedConfigMap({namespace: app, name})
    const recorded = JSON.parse(stored.data!.release) as Release & {historyId?: number}
    const failed = {
      ...recorded,
      outcome: 'failed',
      reason: 'rpc error: code = Unavailable desc = connection refused',
      historyId: (recorded.historyId ?? 1) - 1,
    }
    await core.replaceNamespacedConfigMap({
      namespace: app,
      name,
      body: {...stored, data: {release: JSON.stringify(failed)}},
    })

    const [corrected, before] = await releases()
    assert.equal(corrected.version, now.version)
    assert.equal(corrected.outcome, 'succeeded', 'the later successful sync of the same commit settles it')
    assert.equal(corrected.reason, undefined)
    assert.ok(corrected.current)
    assert.equal(before.kind, 'rollback', 'nothing else was rewritten')
    const broken = (await releases()).find((r) => r.description.includes('Break the chart'))
    assert.equal(broken?.outcome, 'failed', 'a deploy that failed and was moved on from stays failed')
  })

  it("rolls back while another branch's CI run is unfinished: only a build of main can undo a rollback", async () => {
    await git(['checkout', '-q', '-b', 'checks'])
    // The branch first, then the commit that runs on it (the ground starts runs on pushes to branches it knows).
    await git(['-c', auth(), 'push', '-q', 'origin', 'checks'])
    mkdirSync(path.join(clone, '.github', 'workflows'), {recursive: true})
    writeFileSync(
      path.join(clone, '.github', 'workflows', 'checks.yaml'),
      'name: Checks\non:\n  push:\n    branches: [checks]\njobs:\n  test:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: actions/checkout@v4\n',
    )
    await git(['add', '-A'])
    await git(['-c', 'user.name=Dev Eloper', '-c', 'user.email=dev@example.com', 'commit', '-qm', 'Checks on a branch'])
    await control(g.github, 'POST', 'decisions', {repo: `${ORG}/${app}`, conclusion: 'success', delayMs: 20000})
    await git(['-c', auth(), 'push', '-q', 'origin', 'checks'])
    await git(['checkout', '-q', 'main'])
    type Runs = {workflow_runs: Array<{status: string; head_branch: string; event: string}>}
    const listRuns = async () =>
      (await (
        await fetch(`${g.env.GITHUB_API_URL}/repos/${ORG}/${app}/actions/runs?per_page=5`, {
          headers: {authorization: `token ${g.env.GITHUB_TOKEN}`},
        })
      ).json()) as Runs
    let seen: Runs = {workflow_runs: []}
    for (let i = 0; !seen.workflow_runs.some((r) => r.head_branch === 'checks' && r.status !== 'completed'); i++) {
      assert.ok(i < 50, `no unfinished run on the branch: ${JSON.stringify(seen.workflow_runs)}`)
      await new Promise((r) => setTimeout(r, 100))
      seen = await listRuns()
    }

    const back = await kplat(['releases:rollback', '--app', app, '--json'])
    assert.equal(back.code, 0, back.stderr)
  })

  it('moves a branch only from where it saw it: a move from a stale commit is refused and changes nothing', async () => {
    const url = (await git(['remote', 'get-url', 'origin'])).stdout.trim()
    const [older, newer] = [commits[0], commits.at(-1)!]
    await git(['-c', auth(), 'push', '-q', 'origin', `${newer}:refs/heads/scratch`])
    const move = (from: string, to: string) =>
      moveBranchIfAt(url, g.env.GITHUB_TOKEN!, 'scratch', {from, to, timeoutMs: 30_000})
    await assert.rejects(move(older, older), (error: unknown) => error instanceof BranchMovedError)
    assert.equal((await heads()).scratch, newer, 'the refused move left the branch')
    await move(newer, older)
    assert.equal((await heads()).scratch, older, 'a move from where the branch is happens, backwards too')
    await git(['-c', auth(), 'push', '-q', 'origin', ':refs/heads/scratch'])
  })
})
