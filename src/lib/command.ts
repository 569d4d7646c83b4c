import {Command, Errors, Flags} from '@oclif/core'
import {Context} from './context.js'
import {EXIT, formatError, KplatError, UsageError} from './ui/errors.js'

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

  private context?: Context

  protected get ctx(): Context {
    this.context ??= new Context({noInteractive: this.argv.includes('--no-interactive'), version: this.config.version})
    return this.context
  }

  /** The app a command acts on, its cluster and settings: the wiring every app command shares. */
  protected async target(flags: {app?: string; context?: string}): Promise<import('./shared/target.js').AppTarget> {
    const {resolveTarget} = await import('./shared/target.js')
    return resolveTarget(this.ctx, flags)
  }

  /** Renders data: one JSON document with --json, else the human form. */
  protected render<T>(json: boolean | undefined, data: T, human: (data: T) => void): void {
    if (json) this.ctx.out.json(data)
    else human(data)
  }

  protected async catch(error: Error & {exitCode?: number; oclif?: {exit?: number}}): Promise<never> {
    if (error instanceof Errors.ExitError) throw error
    const ctx = this.ctx
    const known = toKplatError(error, this.id ?? '', this.config.bin)
    const message = known ? formatError(known) : `unexpected error: ${error.message}. This is a bug in kplat; run again with KPLAT_DEBUG=1 and report what it prints`
    const label = ctx.io.stderr.isTTY && ctx.io.color ? '\u001B[31mError:\u001B[39m' : 'Error:'
    ctx.io.stderr.write(ctx.redactor.redact(`${label} ${message}`) + '\n')
    if (ctx.debug.enabled && error.stack) ctx.io.stderr.write(ctx.redactor.redact(error.stack) + '\n')
    this.exit(known?.exitCode ?? EXIT.failure)
  }
}

function toKplatError(error: Error, id: string, bin: string): KplatError | undefined {
  if (error instanceof KplatError) return error
  // oclif's parser errors: unknown flag, missing argument, bad option value.
  // A flag value its definition refuses (a negative --timeout, say): still the command line's fault.
  const parsing = /^Parsing (--[\w-]+)\s*\n\s*(.+)/.exec(error.message)
  if (error instanceof Errors.CLIError && parsing) return new UsageError(`invalid ${parsing[1]}: ${parsing[2].trim()}`, `See \`${bin} ${id} --help\``)
  if (error instanceof Errors.CLIError && 'parse' in error) {
    const first = error.message.split('\n')[0].replace(/\s*See more help with --help\s*$/, '')
    return new UsageError(first, `See \`${bin} ${id} --help\``)
  }

  return undefined
}
