import {execFile} from 'node:child_process'
import {simpleGit} from 'simple-git'
import {KplatError} from '../errors.js'

/**
 * Clones with the token sent as a header for this one command, so it never lands in the
 * remote URL, in .git/config or in an error message.
 */
export async function cloneWithToken(url: string, dir: string, token: string): Promise<void> {
  const env = {...process.env, GIT_TERMINAL_PROMPT: '0', ...tokenHeaderEnv(url, token)}
  await new Promise<void>((resolve, reject) => {
    execFile('git', ['clone', '--quiet', url, dir], {env}, (error, _stdout, stderr) => {
      if (!error) return resolve()
      reject(
        new KplatError(`could not clone ${url}: ${String(stderr).trim().split('\n').at(-1)}`, {
          hint: 'Clone it yourself with git or `gh repo clone`',
          cause: error,
        }),
      )
    })
  })
}

/**
 * git's settings that send the token as a header to the URL's origin only, for one command.
 * The token travels in an environment variable, not in argv where ps would show it. (Plain
 * git takes them: simple-git refuses GIT_CONFIG_* and the user's other GIT_* variables.)
 */
export function tokenHeaderEnv(url: string, token: string): NodeJS.ProcessEnv {
  return {
    GIT_CONFIG_COUNT: '1',
    GIT_CONFIG_KEY_0: `http.${new URL(url).origin}/.extraheader`,
    GIT_CONFIG_VALUE_0: `AUTHORIZATION: basic ${Buffer.from(`x-access-token:${token}`).toString('base64')}`,
  }
}

export async function addRemote(dir: string, name: string, url: string): Promise<void> {
  const git = simpleGit({baseDir: dir})
  const existing = (await git.getRemotes(true)).find((r) => r.name === name)
  if (existing?.refs.fetch === url) return
  if (existing)
    throw new KplatError(`the git remote "${name}" already points at ${existing.refs.fetch}`, {
      hint: `Remove it with \`git remote remove ${name}\`, or run kplat create outside this repository`,
    })
  await git.addRemote(name, url)
}
