import type {Writable, Readable} from 'node:stream'

/** Where a command writes, and what the terminal around it allows. */
export interface IO {
  stdin: Readable & {isTTY?: boolean}
  stdout: Writable & {isTTY?: boolean}
  stderr: Writable & {isTTY?: boolean}
  /** stdout is a terminal and colour is allowed there. */
  color: boolean
  /** Spinners and prompts are allowed: both streams are terminals and nothing said no. */
  interactive: boolean
}

export interface IOOptions {
  env: NodeJS.ProcessEnv
  noInteractive?: boolean
  stdin?: IO['stdin']
  stdout?: IO['stdout']
  stderr?: IO['stderr']
}

// clig.dev: no colour or animation when not a TTY, or when NO_COLOR / CI is set.
export function createIO(opts: IOOptions): IO {
  const stdin = opts.stdin ?? process.stdin
  const stdout = opts.stdout ?? process.stdout
  const stderr = opts.stderr ?? process.stderr
  const quiet =
    Boolean(opts.noInteractive) ||
    truthy(opts.env.CI) ||
    (opts.env.KPLAT_NO_INTERACTIVE !== undefined && truthy(opts.env.KPLAT_NO_INTERACTIVE))
  const noColor = opts.env.NO_COLOR !== undefined && opts.env.NO_COLOR !== ''
  return {
    stdin,
    stdout,
    stderr,
    color: Boolean(stdout.isTTY) && !noColor && !quiet,
    interactive: Boolean(stdin.isTTY) && Boolean(stderr.isTTY) && !quiet && !noColor,
  }
}

function truthy(v: string | undefined): boolean {
  return v !== undefined && v !== '' && v !== '0' && v.toLowerCase() !== 'false'
}
