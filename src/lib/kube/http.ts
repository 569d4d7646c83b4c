import type {Debug} from '../debug.js'
import * as k8s from './k8s.js'
import {boundedSignal, DEFAULT_REQUEST_SECONDS, noAnswer} from '../timeouts.js'

export interface KubeHttpOptions {
  debug: Debug
  /** Told every credential a request carries (an exec plugin's or OIDC token is only known then). */
  secret?: (value: string) => void
  /** How many times a 429 is retried before it reaches the caller. */
  retries?: number
  sleep?: (ms: number) => Promise<void>
  /** How long one attempt may go unanswered (timeouts.ts). */
  timeoutMs?: number
}

/**
 * Sends the Kubernetes client's requests. A 429 (API Priority and Fairness shedding load,
 * or etcd busy compacting) means the server did nothing and asks to be asked again after
 * Retry-After seconds; client-go retries it for kubectl, and so does kplat, a few times.
 * Under KPLAT_DEBUG every attempt is one log line.
 */
export class KubeHttp implements k8s.HttpLibrary {
  private readonly retries: number
  private readonly sleep: (ms: number) => Promise<void>

  constructor(
    private readonly inner: k8s.HttpLibrary,
    private readonly opts: KubeHttpOptions,
  ) {
    this.retries = opts.retries ?? 3
    this.sleep = opts.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)))
  }

  send(request: k8s.RequestContext): k8s.Observable<k8s.ResponseContext> {
    return new k8s.Observable(this.attempt(request, 0, request.getSignal()))
  }

  private async attempt(
    request: k8s.RequestContext,
    attempt: number,
    caller: AbortSignal | undefined,
  ): Promise<k8s.ResponseContext> {
    const auth = request.getHeaders()['Authorization'] ?? request.getHeaders()['authorization']
    if (auth) this.opts.secret?.(auth.replace(/^\s*\S+\s+/, ''))
    const started = performance.now()
    const timeoutMs = this.opts.timeoutMs ?? DEFAULT_REQUEST_SECONDS * 1000
    const bound = boundedSignal(timeoutMs, caller)
    request.setSignal(bound.signal)
    let response: k8s.ResponseContext
    try {
      response = await this.inner.send(request).toPromise()
    } catch (error) {
      if (!bound.timedOut()) throw error
      const url = new URL(request.getUrl())
      throw noAnswer(`the cluster at ${url.origin}`, `${request.getHttpMethod()} ${url.pathname}`, timeoutMs, error)
    }

    this.opts.debug.http(
      request.getHttpMethod(),
      request.getUrl(),
      response.httpStatusCode,
      performance.now() - started,
    )
    if (response.httpStatusCode !== 429 || attempt >= this.retries) return response
    const seconds = Number(response.headers['retry-after'])
    // Honour the server's word, within reason; without one, back off from a quarter second.
    await this.sleep(Number.isFinite(seconds) && seconds > 0 ? Math.min(seconds, 10) * 1000 : 250 * 2 ** attempt)
    return this.attempt(request, attempt + 1, caller)
  }
}
