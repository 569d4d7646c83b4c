import {execFile} from 'node:child_process'
import {KplatError} from '../errors.js'

export const DEFAULT_API_URL = 'https://api.github.com'

export function githubApiUrl(env: NodeJS.ProcessEnv): string {
  return (env.GITHUB_API_URL || DEFAULT_API_URL).replace(/\/+$/, '')
}

/** The host of the GitHub kplat talks to, as repository URLs name it. */
export function githubHost(env: NodeJS.ProcessEnv): string {
  return githubWebHost(githubApiUrl(env))
}

/** The host people clone from: github.com for the public API, the API's own host otherwise. */
export function githubWebHost(apiUrl: string): string {
  const url = new URL(apiUrl)
  return url.host === 'api.github.com' ? 'github.com' : url.host
}

/**
 * The token the way users already keep it: GITHUB_TOKEN, GH_TOKEN, then the GitHub CLI's
 * own store. Never from a flag: a flag value lands in shell history.
 */
export async function resolveGitHubToken(env: NodeJS.ProcessEnv): Promise<string> {
  const fromEnv = env.GITHUB_TOKEN || env.GH_TOKEN
  if (fromEnv) return fromEnv.trim()
  const fromGh = await ghAuthToken(env)
  if (fromGh) return fromGh
  throw new KplatError('no GitHub token found', {
    hint: 'Set GITHUB_TOKEN (or GH_TOKEN) to a token with the repo and workflow scopes, or run `gh auth login`',
  })
}

function ghAuthToken(env: NodeJS.ProcessEnv): Promise<string | undefined> {
  const host = githubHost(env)
  return new Promise((resolve) => {
    execFile('gh', ['auth', 'token', '--hostname', host], {env, timeout: 5000}, (error, stdout) => {
      resolve(error ? undefined : stdout.trim() || undefined)
    })
  })
}
