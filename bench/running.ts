// The running app on the proving ground, measured (npm run bench:running):
//  1. `kplat logs --tail` on 20 web processes, writing 30,000 lines/s between them, then as
//     fast as the bench can append to their logs: the lines per second kplat prints, its peak
//     memory (VmHWM), and how long a new process's first line takes to appear, with the stream
//     idle and under each load;
//  2. `kplat logs -n 100` on those 20 processes: the API requests it makes and its time (all
//     of it is kplat's own: there is no wait), median of 5;
//  3. `kplat ps` on 5 and on 50 processes, side by side: the API requests and the time;
//  4. `kplat config:set`, without and with its restart: the API requests and the time.
import {spawn} from 'node:child_process'
import {readFileSync} from 'node:fs'
import * as k8s from '@kubernetes/client-node'
import {BIN, median, requests, startBench} from './harness.js'
import {podLogPath} from '../test/ground/runtime.js'

const {ground, env, work, kplat} = await startBench('running', 256 << 20)
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
// Appends CRI lines (nanosecond times, in order) to every file: in batches, at a rate or as
// fast as it can; prints how many it wrote.
const WRITER = `
const {appendFileSync} = require('node:fs')
const {files, perSecond, seconds} = JSON.parse(process.argv[1])
const t0 = Date.now()
let written = 0
let seq = 0
const payload = 'x'.repeat(80)
const tick = () => {
  const elapsed = Date.now() - t0
  if (elapsed >= seconds * 1000) { process.stdout.write(written + '\\n'); return }
  const due = perSecond ? Math.floor(perSecond * elapsed / 1000) - written : files.length * 200
  const each = Math.max(0, Math.ceil(due / files.length))
  const stamp = new Date().toISOString().slice(0, 23)
  for (const file of files) {
    let lines = ''
    for (let i = 0; i < each; i++) lines += stamp + String(seq++ % 1e6).padStart(6, '0') + 'Z stdout F line ' + seq + ' ' + payload + '\\n'
    if (each > 0) appendFileSync(file, lines)
    written += each
  }
  setTimeout(tick, perSecond ? 10 : 1)
}
tick()
`

try {
  const app = `bench-run-${Date.now().toString(36)}`
  await kplat(['create', app, '--no-clone'])
  await kplat(['ps:scale', 'web=20', '--app', app])
  const core = ground.cluster.adminConfig().makeApiClient(k8s.CoreV1Api)
  const webPods = async () =>
    (await core.listNamespacedPod({namespace: app, labelSelector: 'kplat.dev/process=web'})).items
      .filter((p) => !p.metadata?.deletionTimestamp)
      .map((p) => p.metadata!.name!)
  const pods = await webPods()

  // 1. The tail. kplat's stdout is a pipe read here; each line counted as it arrives.
  const tail = spawn(process.execPath, [BIN, 'logs', '--tail', '--source', 'app', '-n', '0', '--app', app], {
    env,
    cwd: work,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let received = 0
  let rest = ''
  const firstLines = new Map<string, number>()
  tail.stdout.setEncoding('utf8')
  tail.stdout.on('data', (chunk: string) => {
    const text = rest + chunk
    let start = 0
    for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', start)) {
      received++
      const line = text.slice(start, i)
      if (line.endsWith(': listening on 8080')) {
        // The time in the line is when the ground's runtime wrote it: when the process started.
        firstLines.set(/app\[([^\]]+)\]/.exec(line)![1], Date.now() - Date.parse(line.slice(0, line.indexOf(' '))))
      }

      start = i + 1
    }

    rest = text.slice(start)
  })
  await sleep(3000)

  const newPodLatency = async () => {
    const before = new Set(await webPods())
    await kplat(['ps:scale', 'web+1', '--app', app, '--no-wait'])
    for (let i = 0; i < 200; i++) {
      const added = (await webPods()).find((p) => !before.has(p))
      if (added && firstLines.has(added)) return firstLines.get(added)!
      await sleep(50)
    }

    return Number.NaN
  }

  const idleLatency = await newPodLatency()
  // Writers run in a process of their own, so that this one reads kplat's stdout on time.
  // Two phases: a flood (as fast as appends go: the ground's API server and kwok then set
  // the pace) and a steady 30,000 lines/s, during which a new process starts.
  const files = pods.map((pod) => podLogPath(ground.dir, app, pod, 'web'))
  const phase = async (label: string, perSecond: number | undefined, seconds: number) => {
    const writer = spawn(process.execPath, ['-e', WRITER, JSON.stringify({files, perSecond, seconds})], {
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    let report = ''
    writer.stdout.on('data', (d) => (report += d))
    const finished = new Promise((resolve) => writer.on('close', resolve))
    const counted0 = received
    const t0 = Date.now()
    await sleep(seconds * 500)
    const latency = await newPodLatency()
    await finished
    const written = Number(report.trim())
    for (let i = 0; i < 300 && received - counted0 < written; i++) await sleep(100)
    const elapsed = (Date.now() - t0) / 1000
    const printed = received - counted0
    console.log(
      `logs --tail on ${pods.length} processes, ${label}: ${written} lines written in ${seconds} s, ${printed} printed in ${elapsed.toFixed(1)} s: ${Math.round(printed / elapsed)} lines/s; a new process's first line after ${latency} ms`,
    )
  }

  // The steady phase first: the flood leaves a backlog in the ground that would count as its lines.
  await phase('30,000 lines/s', 30_000, 10)
  await phase('flooded', undefined, 10)
  const status = readFileSync(`/proc/${tail.pid}/status`, 'utf8')
  const peak = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024
  tail.kill('SIGINT')
  console.log(
    `kplat logs --tail: peak memory ${peak.toFixed(0)} MiB; a new process's first line with the stream idle after ${idleLatency} ms`,
  )

  // 2. logs -n 100 on 20 processes.
  await kplat(['ps:scale', 'web=20', '--app', app])
  for (const source of ['app', 'both'] as const) {
    const times: number[] = []
    let count = 0
    let lines = 0
    for (let i = 0; i < 5; i++) {
      const t = Date.now()
      const {stdout, stderr} = await kplat(
        ['logs', '-n', '100', '--app', app, ...(source === 'app' ? ['--source', 'app'] : [])],
        {KPLAT_DEBUG: '1'},
      )
      times.push(Date.now() - t)
      count = requests(stderr)
      lines = stdout.split('\n').filter(Boolean).length
    }

    console.log(
      `logs -n 100 (${source === 'app' ? '--source app' : 'app and platform'}) on 20 processes: ${lines} lines, ${count} API requests, median ${median(times)} ms of 5 (${times.join(', ')})`,
    )
  }

  // 3. ps on 5 and on 50 processes.
  for (const n of [5, 50]) {
    await kplat(['ps:scale', `web=${n}`, '--app', app, '--timeout', '300'])
    const times: number[] = []
    let count = 0
    let listed = 0
    for (let i = 0; i < 5; i++) {
      const t = Date.now()
      const {stdout, stderr} = await kplat(['ps', '--app', app, '--json'], {KPLAT_DEBUG: '1'})
      times.push(Date.now() - t)
      count = requests(stderr)
      listed = (JSON.parse(stdout) as {processes: unknown[]}).processes.length
    }

    console.log(
      `ps on ${listed} processes: ${count} API requests, median ${median(times)} ms of 5 (${times.join(', ')})`,
    )
  }

  // 4. config:set: with --no-restart it is all kplat's own time (no rollout to wait for);
  // with the restart, the step's time is mostly Argo CD's sync and the rollout.
  await kplat(['ps:scale', 'web=2', '--app', app])
  for (const restart of [false, true]) {
    const times: number[] = []
    let count = 0
    for (let i = 0; i < 3; i++) {
      const t = Date.now()
      const {stderr} = await kplat(
        ['config:set', `BENCH_${i}=${restart ? 'r' : 'n'}${i}`, '--app', app, ...(restart ? [] : ['--no-restart'])],
        {KPLAT_DEBUG: '1'},
      )
      times.push(Date.now() - t)
      count = requests(stderr)
    }

    console.log(
      `config:set${restart ? ' (with the restart)' : ' --no-restart'}: ${count} API requests, median ${median(times)} ms of 3 (${times.join(', ')})`,
    )
  }
} finally {
  await ground.stop()
}
