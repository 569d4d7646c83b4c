// Waits that fail as soon as the platform knows (issue 21, item 2): a change whose new pods
// crash-loop ends within seconds with the kubelet's reason, the container's last lines and
// how to roll back, and its release is recorded failed, instead of sitting out --timeout.
import assert from 'node:assert/strict'
import {execFile} from 'node:child_process'
import {mkdtempSync, readFileSync, writeFileSync} from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {before, describe, it} from 'node:test'
import {promisify} from 'node:util'
import * as k8s from '@kubernetes/client-node'
import {runBin, type RunResult} from './helpers/cli.js'
import {appendPodLog, crashContainer, ground, uniqueName, type TestGround} from './helpers/ground.js'

const exec = promisify(execFile)

describe('waits that fail fast', () => {
  let g: TestGround
  let core: k8s.CoreV1Api
  const app = uniqueName('fast').slice(0, 24)
  const work = mkdtempSync(path.join(os.tmpdir(), 'kplat-fail-fast-'))
  const clone = path.join(work, app)
  const kplat = (args: string[]): Promise<RunResult> =>
    runBin(args, {env: {PATH: process.env.PATH, HOME: process.env.HOME, ...g.env}, cwd: work})
  const git = (args: string[]) => exec('git', ['-C', clone, ...args], {env: {...process.env, GIT_TERMINAL_PROMPT: '0'}})
  const auth = () =>
    `http.extraHeader=Authorization: Basic ${Buffer.from(`x:${g.env.GITHUB_TOKEN}`).toString('base64')}`
  const webPods = async () =>
    (await core.listNamespacedPod({namespace: app, labelSelector: 'kplat.dev/process=web'})).items.filter(
      (p) => !p.metadata?.deletionTimestamp,
    )

  /** Crashes the first web pod that was not there before, as the kubelet reports a crash loop, with its last words in its log. */
  const crashNewPod = async (before: string[], words: string) => {
    for (let i = 0; ; i++) {
      const fresh = (await webPods()).find((p) => !before.includes(p.metadata!.name!))
      if (fresh?.status?.phase === 'Running') {
        appendPodLog(g, app, fresh.metadata!.name!, 'web', words)
        await crashContainer(g.admin(), app, fresh.metadata!.name!, 'web', {reason: 'Error', exitCode: 1, restarts: 3})
        return performance.now()
      }

      assert.ok(i < 600, 'no new web pod started')
      await new Promise((r) => setTimeout(r, 100))
    }
  }

  before(async () => {
    g = await ground()
    core = g.admin().makeApiClient(k8s.CoreV1Api)
    const created = await kplat(['create', app, '--json'])
    assert.equal(created.code, 0, created.stderr)
    // The app's own chart asks that a new pod stay Ready for a minute before it counts, as a
    // cautious team's does: that is the window in which a crash loop shows, on a cluster
    // whose pods start at once.
    const deployment = path.join(clone, 'chart', 'templates', 'deployment.yaml')
    writeFileSync(deployment, readFileSync(deployment, 'utf8').replace(/^spec:\n/m, 'spec:\n  minReadySeconds: 60\n'))
    await git([
      '-c',
      'user.name=Dev Eloper',
      '-c',
      'user.email=dev@example.com',
      'commit',
      '-qam',
      'Count a pod after a minute',
    ])
    await git(['-c', auth(), 'push', '-q', 'origin', 'main'])
    const sha = (await git(['rev-parse', 'HEAD'])).stdout.trim()
    for (let i = 0; ; i++) {
      const deployments = await g.admin().makeApiClient(k8s.AppsV1Api).listNamespacedDeployment({namespace: app})
      const web = deployments.items.find((d) => d.metadata?.labels?.['kplat.dev/process'] === 'web')
      const settled =
        web?.spec?.minReadySeconds === 60 &&
        web.spec.template.spec?.containers[0].image?.endsWith(`:${sha}`) &&
        (web.status?.updatedReplicas ?? 0) === (web.status?.replicas ?? -1)
      if (settled) break
      assert.ok(i < 1800, 'the push was not deployed')
      await new Promise((r) => setTimeout(r, 100))
    }
  })

  it('config:set whose new pods crash-loop fails within seconds, with the reason, the last lines and the way back', async () => {
    const before = (await webPods()).map((p) => p.metadata!.name!)
    const set = kplat(['config:set', 'FEATURE=on', '--app', app])
    const crashed = await crashNewPod(before, 'Error: DATABASE_URL is not set')
    const r = await set
    const after = performance.now() - crashed
    assert.equal(r.code, 1, r.stderr)
    assert.ok(after < 20_000, `config:set failed ${Math.round(after / 1000)}s after the crash loop showed`)
    assert.match(r.stderr, /container web is crash-looping \(exit code 1, Error; 3 restarts\)/)
    assert.match(r.stderr, /Error: DATABASE_URL is not set/, "the container's last lines")
    assert.match(r.stderr, new RegExp(`kplat releases:rollback --app ${app}`))

    const list = await kplat(['releases', '--app', app, '--json'])
    assert.equal(list.code, 0, list.stderr)
    const [last] = JSON.parse(list.stdout) as Array<{description: string; outcome: string; reason?: string}>
    assert.match(last.description, /Set FEATURE config vars/)
    assert.equal(last.outcome, 'failed')
    assert.match(last.reason ?? '', /crash-looping/)
  })

  it('ps:restart whose new pods crash-loop fails within seconds too', async () => {
    const before = (await webPods()).map((p) => p.metadata!.name!)
    const restart = kplat(['ps:restart', 'web', '--app', app])
    const crashed = await crashNewPod(before, 'panic: cannot bind')
    const r = await restart
    assert.equal(r.code, 1, r.stderr)
    assert.ok(performance.now() - crashed < 20_000, 'ps:restart waited out its timeout')
    assert.match(r.stderr, /crash-looping/)
    assert.match(r.stderr, /panic: cannot bind/)
  })
})
