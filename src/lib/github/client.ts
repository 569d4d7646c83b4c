import {Octokit} from '@octokit/rest'
import Bottleneck from 'bottleneck'
import {retry} from '@octokit/plugin-retry'
import {throttling} from '@octokit/plugin-throttling'
import type {Debug} from '../debug.js'
import {githubApiUrl} from './auth.js'
import {boundedSignal, noAnswer, requestTimeoutMs} from '../timeouts.js'

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

  const timeoutMs = requestTimeoutMs(opts.env)
  octokit.hook.wrap('request', async (request, options) => {
    const started = performance.now()
    const url = octokit.request.endpoint.parse(options as Parameters<typeof octokit.request.endpoint.parse>[0]).url
    // One bound for the call, its retries included.
    const bound = boundedSignal(timeoutMs, options.request?.signal as AbortSignal | undefined)
    const request_: {signal: AbortSignal; retries?: number} = (options.request = {
      ...options.request,
      signal: bound.signal,
    })
    // The retry plugin takes an aborted request for a 500 and would retry it (after 1, 4, 9 s)
    // with the same, aborted, signal; it reads `retries` from this object when it decides.
    bound.signal.addEventListener('abort', () => {
      if (bound.timedOut()) request_.retries = 0
    })
    try {
      const response = await request(options)
      opts.debug.http(options.method, url, response.status, performance.now() - started)
      return response
    } catch (error) {
      const status = (error as {status?: number}).status ?? 'error'
      opts.debug.http(options.method, url, status, performance.now() - started)
      if (bound.timedOut())
        throw noAnswer(
          `GitHub at ${new URL(url).origin}`,
          `${options.method} ${new URL(url).pathname}`,
          timeoutMs,
          error,
        )
      throw error
    }
  })

  return octokit
}
