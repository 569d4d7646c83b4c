import type {Kube} from './client.js'
import {kubeError} from './errors.js'
import {waitFor, type WatchTarget} from './wait.js'

/**
 * Deletes an object (gone already is fine) and waits, with a watch, until it is gone: its
 * finalizers done, and with Foreground propagation what it owns too.
 */
export async function deleteAndWait(
  kube: Kube,
  target: WatchTarget,
  opts: {timeoutMs: number; onStatus: (status: string) => void; propagationPolicy?: 'Foreground'},
): Promise<void> {
  const group = target.apiVersion.includes('/') ? target.apiVersion.split('/')[0] : ''
  try {
    await kube.objects.delete(
      {apiVersion: target.apiVersion, kind: target.kind, metadata: {name: target.name, namespace: target.namespace}},
      undefined,
      undefined,
      undefined,
      undefined,
      opts.propagationPolicy,
    )
  } catch (error) {
    if ((error as {code?: number}).code === 404) return
    throw kubeError(error, {
      verb: 'delete',
      resource: group ? `${target.plural}.${group}` : target.plural,
      namespace: target.namespace,
    })
  }

  await waitFor(
    kube,
    target,
    (object) => {
      if (!object) return true
      const finalizers = (object as {metadata?: {finalizers?: string[]}}).metadata?.finalizers ?? []
      opts.onStatus(finalizers.length > 0 ? `waiting for ${finalizers.join(', ')}` : 'deleting')
      return undefined
    },
    {timeoutMs: opts.timeoutMs},
  )
}
