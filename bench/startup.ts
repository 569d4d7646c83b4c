// Startup benchmark: runs each command interleaved, several rounds, and prints the median
// wall time of each and its ratio to bare `node -e 0`, measured side by side in one run.
//   npm run bench            (ROUNDS=30 by default; set ROUNDS to change)
import {spawnSync} from 'node:child_process'
import * as path from 'node:path'

const root = path.resolve(import.meta.dirname, '..')
const bin = path.join(root, 'bin', 'run.js')
const rounds = Number(process.env.ROUNDS ?? 30)

const subjects: Array<{name: string; argv: string[]}> = [
  {name: 'node -e 0', argv: [process.execPath, '-e', '0']},
  {name: 'kplat --version', argv: [process.execPath, bin, '--version']},
  {name: 'kplat --help', argv: [process.execPath, bin, '--help']},
  {name: 'kplat apps --help', argv: [process.execPath, bin, 'apps', '--help']},
  // What the build's bundle of the Kubernetes client saves every command that uses it.
  {
    name: 'kube client, bundled',
    argv: [
      process.execPath,
      '--input-type=module',
      '-e',
      `await import(${JSON.stringify(path.join(root, 'dist', 'lib', 'kube', 'k8s.js'))})`,
    ],
  },
  {
    name: 'kube client, package',
    argv: [
      process.execPath,
      '--input-type=module',
      '-e',
      `await import(${JSON.stringify(path.join(root, 'node_modules', '@kubernetes', 'client-node', 'dist', 'index.js'))})`,
    ],
  },
]
if (spawnSync('heroku', ['--version'], {stdio: 'ignore'}).status === 0)
  subjects.push({name: 'heroku --version', argv: ['heroku', '--version']})

const times = new Map(subjects.map((s) => [s.name, [] as number[]]))
for (const s of subjects) spawnSync(s.argv[0], s.argv.slice(1), {stdio: 'ignore'}) // warm the file cache
for (let i = 0; i < rounds; i++) {
  for (const s of subjects) {
    const started = process.hrtime.bigint()
    const r = spawnSync(s.argv[0], s.argv.slice(1), {stdio: 'ignore', env: {...process.env, NO_COLOR: '1'}})
    if (r.status !== 0) throw new Error(`${s.name} exited ${r.status}`)
    times.get(s.name)!.push(Number(process.hrtime.bigint() - started) / 1e6)
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const base = median(times.get('node -e 0')!)
console.log(`startup, median of ${rounds} interleaved runs (node ${process.version})`)
for (const s of subjects) {
  const m = median(times.get(s.name)!)
  console.log(`${s.name.padEnd(22)} ${m.toFixed(1).padStart(7)} ms  ${(m / base).toFixed(2)}x node`)
}
