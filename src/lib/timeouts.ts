// How long kplat waits for one answer from the Kubernetes API or GitHub before it calls the
// server stalled (Backstage's catalog calls have a 30 s bound of their own). Without a
// bound, a half-open connection or an API server that accepts and never answers hangs a
// command silently; kubectl's --request-timeout is the same idea. Streams (watches,
// `logs --tail`) may rightly be quiet for long, so they are not bounded here.
import {KplatError} from './errors.js'

export const DEFAULT_REQUEST_SECONDS = 60

/** The bound on one request, from KPLAT_REQUEST_TIMEOUT (seconds), else the default. */
export function requestTimeoutMs(env: NodeJS.ProcessEnv): number {
  const seconds = Number(env.KPLAT_REQUEST_TIMEOUT)
  return (Number.isFinite(seconds) && seconds > 0 ? seconds : DEFAULT_REQUEST_SECONDS) * 1000
}

/** A signal that ends a request after `ms`, and also when the caller's own signal does. */
export function boundedSignal(ms: number, caller?: AbortSignal | null): {signal: AbortSignal; timedOut: () => boolean} {
  const own = AbortSignal.timeout(ms)
  return {signal: caller ? AbortSignal.any([caller, own]) : own, timedOut: () => own.aborted}
}

/** The failure of a request that got no answer in time. */
export function noAnswer(server: string, what: string, ms: number, cause: unknown): KplatError {
  return new KplatError(`${server} did not answer ${what} within ${Math.round(ms / 1000)}s`, {
    hint: `Check that ${server} is up and reachable, then run the command again; KPLAT_REQUEST_TIMEOUT=SECONDS waits longer`,
    cause,
  })
}
