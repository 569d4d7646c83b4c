import {Octokit} from '@octokit/rest'
import Bottleneck from 'bottleneck'
import {retry} from '@octokit/plugin-retry'
import {throttling} from '@octokit/plugin-throttling'
import type {Debug} from '../debug.js'
import {githubApiUrl} from './auth.js'

const KplatOctokit = Octokit.plugin(throttling, retry)
export type GitHub = InstanceType<typeof KplatOctokit>

export interface GitHubOptions {
  env: NodeJS.ProcessEnv
  token: string
  debug: Debug
  /** Where throttling tells the user it is waiting. */
  warn: (text: string) => void
  version: string
}

export function createGitHub(opts: GitHubOptions): GitHub {
  const octokit = new KplatOctokit({
    auth: opts.token,
    baseUrl: githubApiUrl(opts.env),
    userAgent: `kplat/${opts.version}`,
    // Octokit's own request log duplicates ours; keep it for KPLAT_DEBUG only.
    log: {
      debug: () => {},
      info: () => {},
      warn: (t: string) => opts.debug.log(t),
      error: (t: string) => opts.debug.log(t),
    },
    throttle: {
      // The plugin spaces writes a second apart, GitHub's advice for many content-creating
      // requests. A kplat command makes a handful, and the spacing lives in this process
      // only, so it cost seconds (2.5 s of every create) without sparing GitHub anything.
      // Writes stay one at a time, and secondary limits are still honoured below.
      write: new Bottleneck.Group({id: 'kplat-write', maxConcurrent: 1, minTime: 0}),
      // Primary and secondary limits: wait and retry a few times, as GitHub asks.
      onRateLimit: (retryAfter: number, options: {method: string; url: string}, _o: unknown, retryCount: number) => {
        opts.warn(`GitHub rate limit reached on ${options.method} ${options.url}; retrying in ${retryAfter}s`)
        return retryCount < 2
      },
      onSecondaryRateLimit: (
        retryAfter: number,
        options: {method: string; url: string},
        _o: unknown,
        retryCount: number,
      ) => {
        opts.warn(`GitHub secondary rate limit on ${options.method} ${options.url}; retrying in ${retryAfter}s`)
        return retryCount < 2
      },
    },
  })

  octokit.hook.wrap('request', async (request, options) => {
    const started = performance.now()
    const url = octokit.request.endpoint.parse(options as Parameters<typeof octokit.request.endpoint.parse>[0]).url
    try {
      const response = await request(options)
      opts.debug.http(options.method, url, response.status, performance.now() - started)
      return response
    } catch (error) {
      const status = (error as {status?: number}).status ?? 'error'
      opts.debug.http(options.method, url, status, performance.now() - started)
      throw error
    }
  })

  return octokit
}
