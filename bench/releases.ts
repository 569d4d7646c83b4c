// Releases on the proving ground, measured (npm run bench:releases):
//  1. `kplat config:set --no-restart` (all of it kplat's own time: no rollout to wait for),
//     now that it records a release: the API requests and the time, median of 3;
//  2. `kplat releases:rollback`, alternating between two deploys (code and config move): the
//     API requests (Kubernetes and GitHub), the whole time and kplat's own time (the whole less
//     its "Waiting for Argo CD" step, which is Argo CD's sync and the rollout), median of 3;
//  3. `kplat releases` on the same app at its real count of releases and at 500, side by side:
//     the API requests and the time, median of 5. The 500 are copies of its latest release
//     written straight to the cluster, as kplat writes them.
import {execFile} from 'node:child_process'
import {readFileSync, writeFileSync} from 'node:fs'
import * as path from 'node:path'
import {promisify} from 'node:util'
import * as k8s from '@kubernetes/client-node'
import {median, requests, startBench} from './harness.js'

const exec = promisify(execFile)
const {ground, work, kplat} = await startBench('releases')

try {
  const app = `bench-rel-${Date.now().toString(36)}`
  await kplat(['create', app])
  const clone = path.join(work, app)
  const git = (args: string[]) => exec('git', ['-C', clone, ...args], {env: {...process.env, GIT_TERMINAL_PROMPT: '0'}})
  writeFileSync(path.join(clone, 'server.js'), readFileSync(path.join(clone, 'server.js'), 'utf8') + '\n// two\n')
  await git(['-c', 'user.name=bench', '-c', 'user.email=bench@example.com', 'commit', '-qam', 'two'])
  await git([
    '-c',
    `http.extraHeader=Authorization: Basic ${Buffer.from(`x:${ground.env.GITHUB_TOKEN}`).toString('base64')}`,
    'push',
    '-q',
    'origin',
    'main',
  ])
  const sha = (await git(['rev-parse', 'HEAD'])).stdout.trim()
  const core = ground.cluster.adminConfig().makeApiClient(k8s.CoreV1Api)
  for (let i = 0; ; i++) {
    const pods = (await core.listNamespacedPod({namespace: app})).items.filter(
      (p) => p.status?.phase === 'Running' && !p.metadata?.deletionTimestamp,
    )
    if (pods.length > 0 && pods.every((p) => p.spec!.containers[0].image!.endsWith(sha))) break
    if (i > 600) throw new Error('the push was not deployed')
    await new Promise((r) => setTimeout(r, 100))
  }

  // 1. config:set --no-restart.
  {
    const times: number[] = []
    let count = 0
    for (let i = 0; i < 3; i++) {
      const t = Date.now()
      const {stderr} = await kplat(['config:set', `BENCH_${i}=${i}`, '--no-restart', '--app', app], {KPLAT_DEBUG: '1'})
      times.push(Date.now() - t)
      count = requests(stderr)
    }

    console.log(`config:set --no-restart: ${count} API requests, median ${median(times)} ms of 3 (${times.join(', ')})`)
  }

  // 2. releases:rollback, to v1 and v2 (create's deploy and the push's) in turn.
  {
    const whole: number[] = []
    const own: number[] = []
    let count = 0
    for (const to of ['v1', 'v2', 'v1']) {
      const t = Date.now()
      const {stderr} = await kplat(['releases:rollback', to, '--app', app], {KPLAT_DEBUG: '1'})
      const total = Date.now() - t
      const waited =
        Number(/Waiting for Argo CD to deploy v\d+\.\.\. done \((\d+\.\d)s\)/.exec(stderr)?.[1] ?? Number.NaN) * 1000
      whole.push(total)
      own.push(Math.round(total - waited))
      count = requests(stderr)
    }

    console.log(
      `releases:rollback: ${count} API requests; kplat's own time median ${median(own)} ms of 3 (${own.join(', ')}); with the wait for Argo CD, median ${median(whole)} ms`,
    )
  }

  // 3. releases at the app's real count, then at 500.
  const measure = async (label: string) => {
    const times: number[] = []
    let count = 0
    let listed = 0
    for (let i = 0; i < 5; i++) {
      const t = Date.now()
      const {stdout, stderr} = await kplat(['releases', '--app', app, '--json', '--num', '1000'], {KPLAT_DEBUG: '1'})
      times.push(Date.now() - t)
      count = requests(stderr)
      listed = (JSON.parse(stdout) as unknown[]).length
    }

    console.log(
      `releases (${label}, ${listed} releases): ${count} API requests, median ${median(times)} ms of 5 (${times.join(', ')})`,
    )
  }

  await measure('as made')
  const ledger = await core.listNamespacedConfigMap({namespace: app, labelSelector: 'kplat.dev/release'})
  const latest = ledger.items
    .map((c) => JSON.parse(c.data!.release) as {version: number})
    .sort((a, b) => b.version - a.version)[0]
  const template = ledger.items.find((c) => c.metadata!.labels!['kplat.dev/release'] === String(latest.version))!
  const copies = Array.from({length: 500 - latest.version}, (_, i) => latest.version + 1 + i)
  for (let i = 0; i < copies.length; i += 25) {
    await Promise.all(
      copies.slice(i, i + 25).map((version) =>
        core.createNamespacedConfigMap({
          namespace: app,
          body: {
            metadata: {
              name: `${app}-release-v${version}`,
              labels: {...template.metadata!.labels, 'kplat.dev/release': String(version)},
            },
            data: {
              release: JSON.stringify({
                ...latest,
                version,
                kind: 'config',
                description: 'Set BENCH config vars',
                outcome: 'succeeded',
              }),
            },
          },
        }),
      ),
    )
  }

  await measure('500')
} finally {
  await ground.stop()
}
