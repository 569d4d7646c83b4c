import {spawn} from 'node:child_process'
import {PassThrough} from 'node:stream'
import {fileURLToPath} from 'node:url'

export const ROOT = fileURLToPath(new URL('../..', import.meta.url))
export const BIN = `${ROOT}/bin/run.js`

export interface RunResult {
  code: number
  stdout: string
  stderr: string
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv
  cwd?: string
  /** Pretend the streams are terminals (in-process only). */
  tty?: boolean
  /** Keys typed at the terminal, one write each, after a short pause (in-process only). */
  keys?: string[]
  /** What a pipe feeds the command's stdin (child process only); without it, stdin is closed. */
  input?: string
}

/** A clean environment: nothing from the developer's shell leaks into a test. */
export function baseEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    KUBECONFIG: '/nonexistent/kubeconfig',
    GITHUB_API_URL: 'http://127.0.0.1:9',
    ...extra,
  }
}

/** Runs bin/run.js as a user would, as a child process. */
export function runBin(argv: string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...argv], {
      cwd: opts.cwd ?? ROOT,
      env: opts.env ?? baseEnv(),
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    })
    if (opts.input !== undefined) child.stdin!.end(opts.input)
    let stdout = ''
    let stderr = ''
    child.stdout!.on('data', (d) => (stdout += d))
    child.stderr!.on('data', (d) => (stderr += d))
    child.on('error', reject)
    child.on('close', (code) => resolve({code: code ?? -1, stdout, stderr}))
  })
}

/** Runs the same command in this process, through oclif, with captured streams. */
export async function runInProcess(argv: string[], opts: RunOptions = {}): Promise<RunResult> {
  // The commands load the built modules, so the overrides must come from the same build.
  const {contextOverrides} = (await import(`${ROOT}/dist/lib/context.js`)) as typeof import('../../src/lib/context.js')
  const {run} = await import('@oclif/core')
  const stdout = capture(opts.tty)
  const stderr = capture(opts.tty)
  const stdin = new PassThrough() as PassThrough & {isTTY?: boolean; setRawMode?: (b: boolean) => void}
  if (opts.tty) {
    stdin.isTTY = true
    stdin.setRawMode = () => {}
  }

  if (opts.keys) {
    void (async () => {
      for (const key of opts.keys!) {
        await new Promise((r) => setTimeout(r, 150))
        stdin.write(key)
      }
    })()
  }

  let code = 0
  await contextOverrides.run(
    {env: opts.env ?? baseEnv(), cwd: opts.cwd ?? ROOT, stdin, stdout: stdout.stream, stderr: stderr.stream},
    async () => {
      try {
        await run(argv, ROOT)
      } catch (error) {
        const exit = (error as {oclif?: {exit?: number}}).oclif?.exit
        code = exit ?? 1
        if (exit === undefined) stderr.stream.write(String(error))
      }
    },
  )
  return {code, stdout: stdout.text(), stderr: stderr.text()}
}

function capture(tty?: boolean) {
  const stream = new PassThrough() as PassThrough & {isTTY?: boolean; columns?: number}
  if (tty) {
    stream.isTTY = true
    stream.columns = 80
  }

  let text = ''
  stream.on('data', (d) => (text += d))
  return {stream, text: () => text}
}

// eslint-disable-next-line no-control-regex -- matching escape codes is the point
export const ANSI = /\u001B\[[0-9;?]*[A-Za-z]/
