// What every bench shares: a proving ground, a work folder, kplat as a subprocess (as a CI
// script runs it), and how its debug log is counted.
import {execFile} from 'node:child_process'
import {mkdtempSync} from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {promisify} from 'node:util'
import {startGround} from '../test/ground/index.js'

const exec = promisify(execFile)
// KPLAT_BENCH_BIN runs another build of kplat (an older commit's, to compare with).
export const BIN = process.env.KPLAT_BENCH_BIN || path.join(path.resolve(import.meta.dirname, '..'), 'bin', 'run.js')

/** Starts a ground; `kplat` runs the built CLI against it without a terminal (CI=true). */
export async function startBench(name: string, maxBuffer = 64 << 20) {
  const ground = await startGround()
  const env = {...process.env, ...ground.env, CI: 'true'}
  const work = mkdtempSync(path.join(os.tmpdir(), `kplat-bench-${name}-`))
  const kplat = (args: string[], extra: NodeJS.ProcessEnv = {}) =>
    exec(process.execPath, [BIN, ...args], {env: {...env, ...extra}, cwd: work, maxBuffer})
  return {ground, env, work, kplat}
}

/** The API requests a run made, from its KPLAT_DEBUG=1 log. */
export const requests = (stderr: string) =>
  stderr.split('\n').filter((l) => /^\[debug\] (GET|POST|PUT|PATCH|DELETE) /.test(l)).length

export const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
