import * as k8s from './k8s.js'
import type {Kube} from './client.js'
import {kubeError} from './errors.js'
import {KplatError} from '../errors.js'

export interface WatchTarget {
  apiVersion: string
  kind: string
  plural: string
  namespace?: string
  name: string
}

export interface WaitOptions {
  timeoutMs: number
  /** Start from this resourceVersion instead of a fresh list (resuming a wait). */
  resourceVersion?: string
  /** Called with each version of the object seen, for progress output. */
  onChange?: (object: k8s.KubernetesObject) => void
  /** Called when the server says the resourceVersion expired (410 Gone) and the wait relists. */
  onExpired?: () => void
  signal?: AbortSignal
}

/**
 * Waits, with a watch, until check(object) returns a value. The watch reacts to a change
 * as soon as the server sends it; when the server ends the watch it is resumed from the
 * last resourceVersion seen, and when that version has expired (410) it relists.
 * check may throw to end the wait with that error.
 */
export async function waitFor<T>(
  kube: Kube,
  target: WatchTarget,
  check: (object: k8s.KubernetesObject | undefined) => T | undefined,
  opts: WaitOptions,
): Promise<T> {
  const [group, version] = target.apiVersion.includes('/') ? target.apiVersion.split('/') : ['', target.apiVersion]
  const base = group ? `/apis/${group}/${version}` : `/api/${version}`
  const path = `${base}${target.namespace ? `/namespaces/${target.namespace}` : ''}/${target.plural}`
  const fieldSelector = `metadata.name=${target.name}`
  const watch = new k8s.Watch(kube.config)
  const what = `${target.kind} ${target.namespace ? `${target.namespace}/` : ''}${target.name}`

  return new Promise<T>((resolve, reject) => {
    let finished = false
    let resourceVersion = opts.resourceVersion
    let abort: AbortController | undefined
    const finish = (error: Error | undefined, value?: T) => {
      if (finished) return
      finished = true
      clearTimeout(timer)
      opts.signal?.removeEventListener('abort', onAbort)
      abort?.abort()
      if (error) reject(error)
      else resolve(value as T)
    }

    const timer = setTimeout(
      () => finish(new KplatError(`timed out after ${Math.round(opts.timeoutMs / 1000)}s waiting for ${what}`)),
      opts.timeoutMs,
    )
    const onAbort = () => finish(new KplatError(`stopped waiting for ${what}`))
    opts.signal?.addEventListener('abort', onAbort)

    const consider = (object: k8s.KubernetesObject | undefined): boolean => {
      try {
        if (object) opts.onChange?.(object)
        const value = check(object)
        if (value !== undefined) finish(undefined, value)
        return value !== undefined
      } catch (error) {
        finish(error as Error)
        return true
      }
    }

    const list = async () => {
      try {
        const result = await kube.objects.list(
          target.apiVersion,
          target.kind,
          target.namespace,
          undefined,
          undefined,
          undefined,
          fieldSelector,
        )
        resourceVersion = result.metadata?.resourceVersion
        return consider(result.items[0])
      } catch (error) {
        finish(kubeError(error, {verb: 'list', resource: target.plural, namespace: target.namespace}))
        return true
      }
    }

    const start = async (): Promise<void> => {
      if (finished) return
      if (resourceVersion === undefined && (await list())) return
      let expired = false
      abort = await watch
        .watch(
          path,
          {fieldSelector, resourceVersion, allowWatchBookmarks: true},
          (type, object) => {
            if (type === 'ERROR') {
              if ((object as k8s.V1Status).code === 410) expired = true
              return
            }

            resourceVersion = (object as k8s.KubernetesObject).metadata?.resourceVersion ?? resourceVersion
            if (type === 'BOOKMARK') return
            consider(type === 'DELETED' ? undefined : object)
          },
          (error) => {
            if (finished) return
            const status = error as {statusCode?: number; code?: number} | null
            // A 429 is the server asking to be asked again later: the wait goes on after a pause.
            const busy = status?.statusCode === 429 || status?.code === 429
            if (expired || status?.statusCode === 410 || status?.code === 410) {
              opts.onExpired?.()
              resourceVersion = undefined
            } else if (error && !busy && (error as Error).name !== 'AbortError') {
              finish(kubeError(error, {verb: 'watch', resource: target.plural, namespace: target.namespace}))
              return
            }

            setTimeout(() => void start().catch((e) => finish(e as Error)), expired ? 0 : busy ? 1000 : 200)
          },
        )
        .catch((error) => {
          finish(kubeError(error, {verb: 'watch', resource: target.plural, namespace: target.namespace}))
          return undefined
        })
    }

    void start()
  })
}
