import {spawn, type ChildProcess} from 'node:child_process'
import {createWriteStream, mkdirSync, readFileSync, writeFileSync} from 'node:fs'
import * as net from 'node:net'

export interface Started {
  name: string
  pid: number
  child: ChildProcess
}

/**
 * The processes one ground started. They are stopped by process id, never by name, when
 * stop() is called or when this process exits or is interrupted.
 */
export class ProcessGroup {
  readonly started: Started[] = []
  /** Commands run to their end (see run()), while they run. */
  private readonly running = new Set<ChildProcess>()
  private stopping?: Promise<void>

  constructor(
    readonly logDir: string,
    private readonly pidFile?: string,
  ) {
    mkdirSync(logDir, {recursive: true})
    process.once('exit', () => this.killNow('SIGKILL'))
  }

  start(name: string, command: string, args: string[], env: NodeJS.ProcessEnv = process.env, cwd?: string): Started {
    const log = createWriteStream(`${this.logDir}/${name}.log`)
    const child = spawn(command, args, {env, cwd, stdio: ['ignore', 'pipe', 'pipe']})
    child.stdout!.pipe(log)
    child.stderr!.pipe(log)
    if (child.pid === undefined) throw new Error(`could not start ${name} (${command})`)
    const started = {name, pid: child.pid, child}
    this.started.push(started)
    this.writePids()
    child.once('exit', (code, signal) => {
      if (!this.stopping) log.write(`\n[ground] ${name} exited with ${code ?? signal}\n`)
    })
    return started
  }

  /**
   * Runs a command to its end, as a step of the ground's start (not a server: it is not among
   * `started`, whose exits mean a component died). Its output goes to <logDir>/<name>.log; a
   * failure rejects with the log's end. Killed by the group if it is still running at stop().
   */
  run(name: string, command: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<void> {
    const file = `${this.logDir}/${name}.log`
    const log = createWriteStream(file)
    const child = spawn(command, args, {env, stdio: ['ignore', 'pipe', 'pipe']})
    child.stdout!.pipe(log)
    child.stderr!.pipe(log)
    this.running.add(child)
    return new Promise((resolve, reject) => {
      child.once('error', (error) => {
        this.running.delete(child)
        reject(new Error(`could not run ${name} (${command}): ${error.message}`))
      })
      child.once('close', (code, signal) => {
        this.running.delete(child)
        log.end(() => {
          if (code === 0) return resolve()
          const tail = readFileSync(file, 'utf8').trim().split('\n').slice(-5).join('\n')
          reject(new Error(`${name} exited with ${code ?? signal} (see ${file}):\n${tail}`))
        })
      })
    })
  }

  /** SIGTERM to each, in reverse order of start; SIGKILL to whatever is still there after 5 s. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      for (const child of this.running) child.kill('SIGKILL')
      for (const p of [...this.started].reverse()) {
        if (alive(p)) p.child.kill('SIGTERM')
        await exited(p, 5000)
        if (alive(p)) {
          p.child.kill('SIGKILL')
          await exited(p, 2000)
        }
      }
    })()
    return this.stopping
  }

  /**
   * Lets this process exit while the ground runs (its pipes would keep it alive); the
   * exit handler then kills every process of the group by pid.
   */
  unref(): void {
    for (const p of this.started) {
      p.child.unref()
      for (const stream of [p.child.stdout, p.child.stderr])
        (stream as unknown as {unref?: () => void} | null)?.unref?.()
    }
  }

  pids(): number[] {
    return this.started.map((p) => p.pid)
  }

  private killNow(signal: NodeJS.Signals): void {
    for (const child of this.running) child.kill(signal)
    for (const p of this.started) if (alive(p)) p.child.kill(signal)
  }

  private writePids(): void {
    if (this.pidFile) writeFileSync(this.pidFile, this.pids().join('\n') + '\n')
  }
}

function alive(p: Started): boolean {
  return p.child.exitCode === null && p.child.signalCode === null
}

function exited(p: Started, ms: number): Promise<void> {
  if (!alive(p)) return Promise.resolve()
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms)
    p.child.once('exit', () => {
      clearTimeout(timer)
      resolve()
    })
  })
}

/** Whether a process id is still in the process table (kill 0 sends nothing). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** A port that was free a moment ago on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const {port} = server.address() as net.AddressInfo
      server.close(() => resolve(port))
    })
  })
}

export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined>,
  timeoutMs: number,
  died?: () => string | undefined,
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  for (;;) {
    const gone = died?.()
    if (gone) throw new Error(`${what}: ${gone}`)
    try {
      const value = await check()
      if (value !== undefined) return value
    } catch (error) {
      last = error
    }

    if (Date.now() > deadline)
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`,
      )
    await new Promise((r) => setTimeout(r, 100))
  }
}

export function writeText(path: string, text: string): void {
  writeFileSync(path, text, {mode: 0o600})
}

const traceStart = performance.now()
/** With KPLAT_GROUND_TRACE=1, prints when each step of a ground's start ends (for making it faster). */
export function trace(step: string): void {
  if (process.env.KPLAT_GROUND_TRACE === '1')
    process.stderr.write(`[ground] ${((performance.now() - traceStart) / 1000).toFixed(2)}s ${step}\n`)
}
