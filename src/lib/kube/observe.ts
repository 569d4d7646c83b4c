import type {Kube} from './client.js'
import {kubeError} from './errors.js'
import {lines, openStream, readAll, StreamError} from './stream.js'
import {KplatError} from '../errors.js'

export interface Observed {
  apiVersion?: string
  kind?: string
  metadata?: {name?: string; namespace?: string; resourceVersion?: string; [key: string]: unknown}
  [key: string]: unknown
}

export interface ObserveOptions {
  apiVersion: string
  plural: string
  namespace: string
  fieldSelector?: string
  labelSelector?: string
  /** Every object there is, at the start and after a relist (the consumer reconciles with it). */
  onList: (items: Observed[]) => void
  onEvent: (type: 'ADDED' | 'MODIFIED' | 'DELETED', object: Observed) => void
  /** The cluster stopped answering; observe keeps trying. */
  onTrouble?: (why: string) => void
  /** It answers again. */
  onRecovered?: () => void
  /** How long the cluster may stay away before observe gives up with an error. */
  giveUpMs: number
  signal: AbortSignal
}

/**
 * Lists, then watches, for as long as the signal allows: a watch the server ends is resumed
 * from the last resourceVersion, an expired one (410) relists, and a cluster that goes away
 * is retried with backoff until giveUpMs have passed without an answer.
 */
export async function observe(kube: Kube, opts: ObserveOptions): Promise<void> {
  const [group, version] = opts.apiVersion.includes('/') ? opts.apiVersion.split('/') : ['', opts.apiVersion]
  const path = `${group ? `/apis/${group}/${version}` : `/api/${version}`}/namespaces/${opts.namespace}/${opts.plural}`
  let resourceVersion: string | undefined
  let troubleSince: number | undefined
  let delay = 250
  const aborted = () => opts.signal.aborted

  const recovered = () => {
    if (troubleSince !== undefined) opts.onRecovered?.()
    troubleSince = undefined
    delay = 250
  }

  while (!aborted()) {
    try {
      if (resourceVersion === undefined) {
        const list = JSON.parse(
          await readAll(
            kube,
            path,
            {fieldSelector: opts.fieldSelector, labelSelector: opts.labelSelector},
            opts.signal,
          ),
        ) as {
          metadata?: {resourceVersion?: string}
          items?: Observed[]
        }
        recovered()
        resourceVersion = list.metadata?.resourceVersion
        opts.onList(list.items ?? [])
      }

      const response = await openStream(
        kube,
        path,
        {
          watch: true,
          resourceVersion,
          allowWatchBookmarks: true,
          fieldSelector: opts.fieldSelector,
          labelSelector: opts.labelSelector,
        },
        opts.signal,
      )
      recovered()
      for await (const line of lines(response)) {
        if (!line) continue
        const event = JSON.parse(line) as {type: string; object: Observed & {code?: number}}
        if (event.type === 'ERROR') {
          if (event.object.code === 410) resourceVersion = undefined
          break
        }

        resourceVersion = event.object.metadata?.resourceVersion ?? resourceVersion
        if (event.type === 'ADDED' || event.type === 'MODIFIED' || event.type === 'DELETED')
          opts.onEvent(event.type, event.object)
      }
    } catch (error) {
      if (aborted()) return
      if (error instanceof StreamError && error.code === 410) {
        resourceVersion = undefined
        continue
      }

      if (error instanceof StreamError && (error.code === 401 || error.code === 403 || error.code === 404)) {
        throw kubeError(error, {verb: 'watch', resource: opts.plural, namespace: opts.namespace})
      }

      const now = Date.now()
      troubleSince ??= now
      const why = error instanceof StreamError ? `HTTP ${error.code}: ${error.message}` : describe(error)
      if (now - troubleSince >= opts.giveUpMs) {
        throw new KplatError(
          `lost the cluster at ${kube.config.getCurrentCluster()?.server} for ${Math.round((now - troubleSince) / 1000)}s (${why})`,
          {hint: 'Check that it is running and reachable, then run the command again'},
        )
      }

      opts.onTrouble?.(why)
      await sleep(Math.min(delay, troubleSince + opts.giveUpMs - now), opts.signal)
      delay = Math.min(delay * 2, 5000)
    }
  }
}

export function describe(error: unknown): string {
  const e = error as {code?: string; cause?: {code?: string}; message?: string}
  return e.cause?.code ?? e.code ?? e.message ?? String(error)
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, Math.max(0, ms))
    function done() {
      clearTimeout(timer)
      signal?.removeEventListener('abort', done)
      resolve()
    }

    signal?.addEventListener('abort', done, {once: true})
  })
}
