// The test run: starts one proving ground, runs every test file against it with node's
// test runner, then stops the ground by process id and checks that nothing is left.
// Two files at a time by default (KPLAT_TEST_CONCURRENCY): most of a test's time is waiting on
// Argo CD, CI and Crossplane, and the files share no state: each makes apps of unique names and
// reads only its own among what the others leave.
import {spawn} from 'node:child_process'
import {readdirSync} from 'node:fs'
import * as path from 'node:path'
import {control} from '../test/ground/github.js'
import {startGround} from '../test/ground/index.js'
import {pidAlive} from '../test/ground/processes.js'

const root = path.resolve(import.meta.dirname, '..')
const only = process.argv.slice(2)
const files = only.length > 0 ? only : findTests(path.join(root, 'test'))

const ground = await startGround()
console.log(`# proving ground up in ${(ground.startedInMs / 1000).toFixed(1)}s (${ground.dir})`)

const child = spawn(
  process.execPath,
  [
    '--import',
    'tsx',
    '--test',
    `--test-concurrency=${process.env.KPLAT_TEST_CONCURRENCY ?? '2'}`,
    '--test-reporter=spec',
    ...files,
  ],
  {
    cwd: root,
    stdio: 'inherit',
    env: {...process.env, ...ground.env},
  },
)

let interrupted = false
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    interrupted = true
    child.kill(signal)
  })
}

let code = await new Promise<number>((resolve) => child.on('close', (c) => resolve(c ?? 1)))
// Whatever kplat sent GitHub that GitHub's OpenAPI description does not allow fails the run.
const {violations} = await control<{violations: string[]}>(ground.github, 'GET', 'requests').catch(() => ({
  violations: ["the ground's GitHub did not answer"],
}))
if (violations.length > 0) {
  console.error(`# GitHub contract violations:\n${violations.map((v) => `#   ${v}`).join('\n')}`)
  code = code || 1
}

const pids = ground.processes.pids()
await ground.stop(code !== 0)
const left = pids.filter(pidAlive)
if (left.length > 0) {
  console.error(`# processes left behind by the ground: ${left.join(', ')}`)
  process.exit(1)
}

console.log(`# ground stopped: ${pids.length} processes, none left${code === 0 ? '' : `; logs kept in ${ground.dir}`}`)
process.exit(interrupted ? 130 : code)

function findTests(dir: string): string[] {
  return readdirSync(dir, {withFileTypes: true})
    .flatMap((e) => {
      const full = path.join(dir, e.name)
      if (e.isDirectory()) return findTests(full)
      return e.name.endsWith('.test.ts') ? [path.relative(root, full)] : []
    })
    .sort()
}
