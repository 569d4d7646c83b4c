// The model's own error types. Everything kplat throws on purpose is one of these, with the
// exit code it promises scripts; the command layer renders them (ui/errors.ts).
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
