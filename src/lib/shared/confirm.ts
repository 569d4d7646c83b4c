import type {Context} from '../context.js'
import {KplatError, UsageError} from '../errors.js'
import {warn} from '../progress.js'

/**
 * The confirmation a destructive command needs, Heroku's way: `--confirm APP` naming the app,
 * or, on a terminal, the app's name typed in. Without either it refuses, naming the flag.
 */
export async function confirmDestruction(
  ctx: Context,
  opts: {app: string; confirm?: string; what: string},
): Promise<void> {
  if (opts.confirm !== undefined) {
    checkConfirm(opts.app, opts.confirm)
    warn(ctx.progress, `${opts.what}.`)
    return
  }

  if (!ctx.interactive) {
    throw new UsageError(`${opts.what}, and there is no terminal to confirm it on`, `Pass --confirm ${opts.app}`)
  }

  warn(ctx.progress, `${opts.what}. This cannot be undone.`)
  const typed = await ctx.ask.input(`To proceed, type ${opts.app}:`, `Pass --confirm ${opts.app}`)
  if (typed.trim() !== opts.app)
    throw new KplatError(`"${typed.trim()}" is not ${opts.app}; nothing was changed`, {
      hint: `Run it again and type ${opts.app}, or pass --confirm ${opts.app}`,
    })
}

/** A --confirm that names another app is the command line's mistake: told before anything is looked up. */
export function checkConfirm(app: string, confirm: string | undefined): void {
  if (confirm !== undefined && confirm !== app)
    throw new UsageError(
      `--confirm ${confirm} does not name the app (${app}); nothing was changed`,
      `Pass --confirm ${app}`,
    )
}
