// kplat create on the proving ground, measured (npm run bench:create):
//  1. GitHub requests to create the repository and its first commit, 10 vs 500 files;
//  2. requests that count against the rate limit while waiting on a 60 s CI run;
//  3. how fast a watch sees an Application's status change;
//  4. kplat's own time in a full create, outside the waits it cannot shorten (median of 3),
//     and the wait on Argo CD (the real one) within it;
//  5. a git push until the new image runs (webhook-driven);
//  6. the ground's start time and the peak memory of its processes.
import {execFile} from 'node:child_process'
import {cpSync, mkdtempSync, readFileSync, writeFileSync} from 'node:fs'
import {readdir} from 'node:fs/promises'
import * as os from 'node:os'
import * as path from 'node:path'
import {promisify} from 'node:util'
import * as k8s from '@kubernetes/client-node'
import {createKube} from '../src/lib/kube/client.js'
import {waitFor} from '../src/lib/kube/wait.js'
import {Debug} from '../src/lib/debug.js'
import {Redactor} from '../src/lib/redact.js'
import {control} from '../test/ground/github.js'
import {startGround} from '../test/ground/index.js'
import {RESTRICTED_CONTEXT} from '../test/ground/cluster.js'

const exec = promisify(execFile)
const root = path.resolve(import.meta.dirname, '..')
const ground = await startGround()
const env = {...process.env, ...ground.env, CI: 'true'}
const kplat = (args: string[], cwd: string, extra: NodeJS.ProcessEnv = {}) =>
  exec(process.execPath, [path.join(root, 'bin', 'run.js'), ...args], {
    env: {...env, ...extra},
    cwd,
    maxBuffer: 16 << 20,
  })
type Req = {method: string; route: string; status: number; counted: boolean}
const requests = async () => (await control<{requests: Req[]}>(ground.github, 'GET', 'requests')).requests
const reset = () => control(ground.github, 'POST', 'requests/reset', {})

try {
  // 1. Creation requests for a 10-file and a 500-file skeleton.
  const work = mkdtempSync(path.join(os.tmpdir(), 'kplat-bench-'))
  for (const count of [10, 500]) {
    const skel = path.join(work, `skel-${count}`)
    cpSync(path.join(root, 'skeletons', 'node'), skel, {recursive: true})
    for (let i = 0; i < count - 13; i++)
      writeFileSync(path.join(skel, 'skeleton', `extra-${i}.txt`), `file ${i} of \${{ values.name }}\n`)
    await reset()
    const name = `bench-${count}-${Date.now().toString(36)}`
    await kplat(['create', name, '--template', skel, '--no-wait', '--no-clone'], work)
    const writes = (await requests()).filter((r) => r.method !== 'GET')
    const all = await requests()
    console.log(
      `create ${Math.max(count, 13)} files: ${writes.length} GitHub requests create the repository and its content (${writes.map((r) => `${r.method} ${r.route}`).join(', ')}); ${all.length} in all with the checks`,
    )
  }

  // 2. Waiting on a CI run that takes 60 s: requests that count against the rate limit.
  const slow = `bench-wait-${Date.now().toString(36)}`
  await control(ground.github, 'POST', 'decisions', {repo: `acme/${slow}`, conclusion: 'success', delayMs: 60_000})
  await reset()
  const started = Date.now()
  await kplat(['create', slow, '--no-clone'], work)
  const polls = (await requests()).filter((r) => r.route === '/repos/{owner}/{repo}/actions/runs')
  const minutes = (Date.now() - started) / 60_000
  console.log(
    `waiting on a 60 s run: ${polls.length} polls, ${polls.filter((r) => r.counted).length} counted against the rate limit, ${polls.filter((r) => r.status === 304).length} answered 304, over ${minutes.toFixed(1)} min`,
  )

  // 3. Reaction time of the watch-based wait to a status change.
  const kube = createKube({
    env: {KUBECONFIG: ground.cluster.kubeconfig},
    debug: new Debug(false, process.stderr, new Redactor()),
    redactor: new Redactor(),
  })
  const core = ground.cluster.adminConfig().makeApiClient(k8s.CoreV1Api)
  const reactions: number[] = []
  for (let i = 0; i < 10; i++) {
    const name = `bench-watch-${i}-${Date.now().toString(36)}`
    await core.createNamespacedConfigMap({namespace: 'default', body: {metadata: {name}, data: {state: 'waiting'}}})
    let changedAt = 0
    const waiting = waitFor(
      kube,
      {apiVersion: 'v1', kind: 'ConfigMap', plural: 'configmaps', namespace: 'default', name},
      (cm) => ((cm as k8s.V1ConfigMap | undefined)?.data?.state === 'ready' ? Date.now() : undefined),
      {timeoutMs: 10_000},
    )
    await new Promise((r) => setTimeout(r, 300))
    changedAt = Date.now()
    await core.patchNamespacedConfigMap(
      {namespace: 'default', name, body: {data: {state: 'ready'}}},
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    )
    reactions.push((await waiting) - changedAt)
  }

  reactions.sort((a, b) => a - b)
  console.log(
    `watch reaction to a status change: median ${reactions[5]} ms, max ${reactions.at(-1)} ms over 10 changes`,
  )

  // 4. Full creates: kplat's own time is the whole minus its two waits. Three runs of each
  // path, interleaved, since one varies by a few tenths of a second with what the ground's
  // processes are doing: the platform admin's (Application in Argo CD's namespace) and
  // team-a's developer's (rights only in the team's namespace; the team looked up first).
  // KPLAT_DEBUG=1 adds kplat's own CPU time and one line per request, counted here.
  const teamKubeconfig = path.join(work, 'team-a.kubeconfig')
  const teamConfig = new k8s.KubeConfig()
  teamConfig.loadFromFile(ground.cluster.kubeconfig)
  teamConfig.setCurrentContext(RESTRICTED_CONTEXT)
  writeFileSync(teamKubeconfig, teamConfig.exportConfig(), {mode: 0o600})
  const paths = {admin: {}, team: {KUBECONFIG: teamKubeconfig}} as const
  const runsOf = {
    admin: [] as Array<{own: number; cpu: number; argo: number; kube: number}>,
    team: [] as Array<{own: number; cpu: number; argo: number; kube: number}>,
  }
  for (let i = 0; i < 3; i++) {
    for (const mode of ['admin', 'team'] as const) {
      const full = `bench-full-${mode}-${i}-${Date.now().toString(36)}`
      const t0 = Date.now()
      const {stderr} = await kplat(['create', full], work, {KPLAT_DEBUG: '1', ...paths[mode]})
      const total = (Date.now() - t0) / 1000
      const step = (label: RegExp) =>
        Number(new RegExp(`${label.source}.*\\.\\.\\. done \\((\\d+\\.\\d)s\\)`).exec(stderr)?.[1] ?? 0)
      const waits = step(/Waiting for CI/) + step(/Waiting for Argo CD/)
      const cpu = Number(/\[debug\] cpu (\d+\.\d+)s/.exec(stderr)?.[1] ?? NaN)
      // Requests to the API server outside the two waits' watches.
      const kube = stderr
        .split('\n')
        .filter((l) => l.includes(`[debug] `) && l.includes(ground.cluster.server) && !l.includes('watch=')).length
      runsOf[mode].push({own: total - waits, cpu, argo: step(/Waiting for Argo CD/), kube})
      console.log(
        `full create ${i + 1} (${mode}): ${total.toFixed(1)} s in all, ${waits.toFixed(1)} s waiting on CI and Argo CD, kplat's own time ${(total - waits).toFixed(1)} s, its CPU time ${cpu.toFixed(2)} s, ${kube} Kubernetes requests`,
      )
      if (i === 0)
        console.log(
          stderr
            .split('\n')
            .filter((l) => / done \(/.test(l))
            .map((l) => `  ${l}`)
            .join('\n'),
        )
    }
  }
  const owns = runsOf.admin.map((r) => r.own)
  const cpus = runsOf.admin.map((r) => r.cpu)
  const argoWaits = runsOf.admin.map((r) => r.argo)

  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[1]

  // 5. Push to deploy: a commit pushed to the last app, until Argo CD runs its image. The
  // ground's GitHub tells Argo CD of each push by webhook; its own poll is every 120 s.
  const last = owns.length - 1
  const app = (await readdir(work)).filter((d) => d.startsWith(`bench-full-admin-${last}-`))[0]
  const clone = path.join(work, app)
  const git = (args: string[]) =>
    exec('git', ['-C', clone, '-c', 'user.name=bench', '-c', 'user.email=bench@example.com', ...args], {
      env: {...process.env, GIT_TERMINAL_PROMPT: '0'},
    })
  const auth = `http.extraHeader=Authorization: Basic ${Buffer.from(`x:${ground.env.GITHUB_TOKEN}`).toString('base64')}`
  const deploys: number[] = []
  for (let i = 0; i < 3; i++) {
    await git(['-c', auth, 'pull', '-q', '--rebase', 'origin', 'main'])
    writeFileSync(
      path.join(clone, 'server.js'),
      `${readFileSync(path.join(clone, 'server.js'), 'utf8')}\n// push ${i}\n`,
    )
    await git(['commit', '-qam', `push ${i}`])
    const sha = (await git(['rev-parse', 'HEAD'])).stdout.trim()
    const t0 = Date.now()
    await git(['-c', auth, 'push', '-q', 'origin', 'main'])
    for (;;) {
      const pods = await core.listNamespacedPod({namespace: app})
      const running = pods.items.filter((p) => p.status?.phase === 'Running' && !p.metadata?.deletionTimestamp)
      if (running.length > 0 && running.every((p) => p.spec?.containers[0].image?.endsWith(`:${sha}`))) break
      if (Date.now() - t0 > 120_000) throw new Error(`push ${i} was not deployed within 120 s`)
      await new Promise((r) => setTimeout(r, 100))
    }

    deploys.push((Date.now() - t0) / 1000)
  }

  console.log(
    `push to running the new image (CI's run, its write-back push, Argo CD's sync and rollout): median ${median(deploys).toFixed(1)} s (of ${deploys.map((d) => d.toFixed(1)).join(', ')})`,
  )
  console.log(
    `kplat's own time in a full create: median ${median(owns).toFixed(1)} s (of ${owns.map((o) => o.toFixed(1)).join(', ')}); its CPU time: median ${median(cpus).toFixed(2)} s`,
  )
  const teamOwn = median(runsOf.team.map((r) => r.own))
  console.log(
    `kplat's own time in create as team-a's developer: median ${teamOwn.toFixed(1)} s (of ${runsOf.team.map((r) => r.own.toFixed(1)).join(', ')}), ${(teamOwn / median(owns)).toFixed(2)}x the admin's; Kubernetes requests: median ${median(runsOf.team.map((r) => r.kube))} vs ${median(runsOf.admin.map((r) => r.kube))}; CPU ${median(runsOf.team.map((r) => r.cpu)).toFixed(2)} s vs ${median(cpus).toFixed(2)} s`,
  )
  console.log(
    `waiting for Argo CD in a full create: median ${median(argoWaits).toFixed(1)} s (of ${argoWaits.map((o) => o.toFixed(1)).join(', ')})`,
  )

  // 6. Memory: each ground process's peak resident set (VmHWM), after all of the above.
  const peaks = ground.processes.started.map((p) => {
    const status = readFileSync(`/proc/${p.pid}/status`, 'utf8')
    return {name: p.name, mb: Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024}
  })
  console.log(
    `ground peak memory: ${peaks.reduce((a, p) => a + p.mb, 0).toFixed(0)} MiB in all (${peaks.map((p) => `${p.name} ${p.mb.toFixed(0)}`).join(', ')})`,
  )
  console.log(`ground start: ${(ground.startedInMs / 1000).toFixed(1)} s`)
} finally {
  await ground.stop()
}
