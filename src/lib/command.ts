import {Command, Errors, Flags} from '@oclif/core'
import {Context, contextOverrides} from './context.js'
import {Redactor} from './redact.js'
import {createIO, type IO} from './ui/io.js'
import {Output} from './ui/output.js'
import {Prompter} from './ui/prompter.js'
import {EXIT, KplatError, UsageError} from './errors.js'
import {formatError} from './ui/errors.js'
import type {AppRemains, AppTarget, Platform, TargetFlags, TargetOptions} from './shared/target.js'

/**
 * The base of every kplat command. It builds the Context, and turns every failure into
 * one redacted line on stderr with a meaningful exit code, so commands only parse, call
 * one platform operation and render.
 */
export abstract class KplatCommand extends Command {
  static baseFlags = {
    'no-interactive': Flags.boolean({
      description: 'Never prompt, animate or colour (also set by CI, NO_COLOR or a non-TTY stream)',
      helpGroup: 'GLOBAL',
    }),
  }

  private wiring?: {ctx: Context; io: IO; out: Output; prompter: Prompter}

  /**
   * The screen (io, out, prompter) and the model's context, built together once: the
   * context's progress events and questions go to this command's renderers.
   */
  private get wired(): NonNullable<KplatCommand['wiring']> {
    if (this.wiring) return this.wiring
    const o = contextOverrides.getStore() ?? {}
    const env = o.env ?? process.env
    const now = o.now ?? Date.now
    const io = createIO({
      env,
      noInteractive: this.argv.includes('--no-interactive'),
      stdin: o.stdin,
      stdout: o.stdout,
      stderr: o.stderr,
    })
    const prompter = new Prompter(io)
    // One redactor for the model and the screen, so every secret the model registers is masked on screen.
    const redactor = new Redactor()
    const out = new Output(io, redactor, now, env.KPLAT_PROGRESS)
    const ctx = new Context({
      version: this.config.version,
      env,
      cwd: o.cwd ?? process.cwd(),
      now,
      stderr: io.stderr,
      redactor,
      progress: out.progress,
      ask: prompter,
      interactive: io.interactive,
    })
    this.wiring = {ctx, io, out, prompter}
    return this.wiring
  }

  protected get ctx(): Context {
    return this.wired.ctx
  }

  protected get io(): IO {
    return this.wired.io
  }

  protected get out(): Output {
    return this.wired.out
  }

  protected get prompter(): Prompter {
    return this.wired.prompter
  }

  /** The app a command acts on, its cluster and settings: the only way a command gets an app (see shared/target.ts). */
  protected async target(flags: TargetFlags, opts?: TargetOptions): Promise<AppTarget> {
    const {resolveTarget} = await import('./shared/target.js')
    return resolveTarget(this.ctx, flags, opts)
  }

  /** The same for an app that may be half destroyed: its Application may be gone. */
  protected async remains(flags: TargetFlags, opts?: TargetOptions): Promise<AppRemains> {
    const {resolveRemains} = await import('./shared/target.js')
    return resolveRemains(this.ctx, flags, opts)
  }

  /** The cluster and the platform's settings, for commands about many apps or none. */
  protected async platform(flags: {context?: string}): Promise<Platform> {
    const {resolvePlatform} = await import('./shared/target.js')
    return resolvePlatform(this.ctx, flags)
  }

  /** Renders data: one JSON document with --json, else the human form. */
  protected render<T>(json: boolean | undefined, data: T, human: (data: T) => void): void {
    if (json) this.out.json(data)
    else human(data)
  }

  protected async catch(error: Error & {exitCode?: number; oclif?: {exit?: number}}): Promise<never> {
    if (error instanceof Errors.ExitError) throw error
    const {ctx, io} = this.wired
    const known = toKplatError(error, this.id ?? '', this.config.bin, this.argv)
    const message = known
      ? formatError(known)
      : `unexpected error: ${error.message}. This is a bug in kplat; run again with KPLAT_DEBUG=1 and report what it prints`
    const label = io.stderr.isTTY && io.color ? '\u001B[31mError:\u001B[39m' : 'Error:'
    io.stderr.write(ctx.redactor.redact(`${label} ${message}`) + '\n')
    if (ctx.debug.enabled && error.stack) io.stderr.write(ctx.redactor.redact(error.stack) + '\n')
    this.exit(known?.exitCode ?? EXIT.failure)
  }
}

function toKplatError(error: Error, id: string, bin: string, argv: string[]): KplatError | undefined {
  if (error instanceof KplatError) return error
  // oclif's parser errors: unknown flag, missing argument, bad option value.
  // A flag value its definition refuses (a negative --timeout, say): still the command line's fault.
  const parsing = /^Parsing (--[\w-]+)\s*\n\s*(.+)/.exec(error.message)
  if (error instanceof Errors.CLIError && parsing)
    return new UsageError(`invalid ${parsing[1]}: ${parsing[2].trim()}`, `See \`${bin} ${id} --help\``)
  // oclif lists the missing arguments on the lines after its first, which one line would lose.
  const missing = (error as {args?: {name?: string; description?: string}[]}).args
  if (error instanceof Errors.CLIError && 'parse' in error && missing?.length) {
    const names = missing.map((a) => (a.name ?? 'argument').toUpperCase())
    const what = missing
      .map((a) => `${(a.name ?? 'argument').toUpperCase()}${a.description ? ` (${a.description})` : ''}`)
      .join(', ')
    // A flag that takes several values swallows the arguments after it.
    const greedy = /Note: (--[\w-]+(?:, --[\w-]+)*) allows? multiple values/
      .exec(error.message)?.[1]
      .split(', ')
      .filter((f) => argv.some((a) => a === f || a.startsWith(`${f}=`)))
    const order = greedy?.length ? `; put it before ${greedy.join(', ')}, which takes several values` : ''
    return new UsageError(
      `missing ${what}`,
      `Type \`${bin} ${id} ${names.join(' ')}\`${order}. See \`${bin} ${id} --help\``,
    )
  }

  if (error instanceof Errors.CLIError && 'parse' in error) {
    const first = error.message.split('\n')[0].replace(/\s*See more help with --help\s*$/, '')
    return new UsageError(first, `See \`${bin} ${id} --help\``)
  }

  return undefined
}
