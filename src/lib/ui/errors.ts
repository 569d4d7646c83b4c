/** Exit codes kplat promises to scripts. */
export const EXIT = {
  failure: 1,
  usage: 2,
} as const

/**
 * A failure the user can act on: what failed, and what to type next. Everything kplat
 * throws on purpose is one of these; anything else is a bug and says so.
 */
export class KplatError extends Error {
  readonly exitCode: number
  readonly hint?: string

  constructor(message: string, opts: {hint?: string; exit?: number; cause?: unknown} = {}) {
    super(message, {cause: opts.cause})
    this.name = 'KplatError'
    this.hint = opts.hint
    this.exitCode = opts.exit ?? EXIT.failure
  }
}

/** The command line itself was wrong: exit 2, like a shell builtin. */
export class UsageError extends KplatError {
  constructor(message: string, hint?: string) {
    super(message, {hint, exit: EXIT.usage})
    this.name = 'UsageError'
  }
}

/** One line: the failure, then the next step. */
export function formatError(err: KplatError): string {
  const msg = err.message.replace(/\s*\n\s*/g, ' ').replace(/[.\s]+$/, '')
  return err.hint ? `${msg}. ${err.hint}` : msg
}
