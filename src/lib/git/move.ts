// Moving a branch on the server only if it is still where we saw it. GitHub's REST API moves
// a ref unconditionally (`force: true`); git's own push protocol compares first: the server
// updates the ref only if its old value is the one the client names (--force-with-lease), in
// one step under the repository's lock. So a deploy that lands between a rollback's check and
// its move is kept, and the rollback is refused instead of silently undoing it.
import {execFile} from 'node:child_process'
import {mkdtemp, rm} from 'node:fs/promises'
import * as os from 'node:os'
import * as path from 'node:path'
import {KplatError} from '../errors.js'
import {tokenHeaderEnv} from './clone.js'

/** The branch was not where the caller saw it: someone moved it in between. Nothing changed. */
export class BranchMovedError extends KplatError {}

const ATTEMPTS = 3

/**
 * Sets `branch` of the repository at `url` to `to`, if and only if it is at `from` now. The
 * commit must exist on the server; it is fetched alone into a scratch repository, so the push
 * sends no objects. A server error (5xx) is retried: the comparison makes a retry safe.
 */
export async function moveBranchIfAt(
  url: string,
  token: string,
  branch: string,
  opts: {from: string; to: string; timeoutMs: number},
): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'kplat-move-'))
  const env = {...process.env, GIT_TERMINAL_PROMPT: '0', ...tokenHeaderEnv(url, token)}
  const git = (args: string[]) =>
    new Promise<string>((resolve, reject) => {
      execFile('git', args, {env, cwd: dir, timeout: opts.timeoutMs}, (error, stdout, stderr) =>
        error
          ? reject(Object.assign(error, {output: `${String(stdout)}\n${String(stderr)}`}))
          : resolve(String(stderr)),
      )
    })
  const ref = `refs/heads/${branch}`
  try {
    await git(['init', '--quiet', '--bare'])
    for (let attempt = 1; ; attempt++) {
      try {
        // Protocol v2 lets a client want any commit the server has, advertised or not.
        await git(['-c', 'protocol.version=2', 'fetch', '--quiet', '--no-tags', '--depth=1', url, opts.to])
        await git([
          'push',
          '--quiet',
          '--porcelain',
          `--force-with-lease=${ref}:${opts.from}`,
          url,
          `${opts.to}:${ref}`,
        ])
        return
      } catch (error) {
        const output = (error as {output?: string}).output ?? ''
        if (/stale info|\[rejected\]/.test(output))
          throw new BranchMovedError(`the ${branch} branch moved away from ${opts.from.slice(0, 7)} meanwhile`, {
            cause: error,
          })
        if (attempt < ATTEMPTS && /returned error: 5\d\d/.test(output)) {
          await new Promise((resolve) => setTimeout(resolve, 500 * 2 ** attempt))
          continue
        }

        const last = output.trim().split('\n').filter(Boolean).at(-1) ?? (error as Error).message
        throw new KplatError(`git said: ${last}`, {cause: error})
      }
    }
  } finally {
    await rm(dir, {recursive: true, force: true})
  }
}
