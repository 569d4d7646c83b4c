import * as k8s from '../../kube/k8s.js'
import type {Kube} from '../../kube/client.js'
import {kubeError} from '../../kube/errors.js'
import {waitFor} from '../../kube/wait.js'
import type {Output} from '../../ui/output.js'
import {KplatError} from '../../ui/errors.js'
import type {PlatformSettings} from '../settings.js'
import {unbind, waitForBindings} from './bindings.js'
import type {AddonInstance} from './instances.js'

export interface DestroyAddonOptions {
  app: string
  name: string
  timeoutMs: number
}

/**
 * Destroys an add-on kplat made: unbinds it first (Argo CD rolls the app without its env
 * vars, so no new process asks for a Secret about to go), then deletes it in the foreground
 * and waits until it and what Crossplane composed for it are gone.
 */
export async function destroyAddon(kube: Kube, settings: PlatformSettings, out: Output, addon: AddonInstance, opts: DestroyAddonOptions): Promise<void> {
  const bindings = await out.step(`Unbinding ${addon.name} from ${opts.app}`, () => unbind(kube, settings, opts.app, addon.name))
  await out.step(`Restarting ${opts.app} without ${addon.name}'s env vars`, (update) =>
    waitForBindings(kube, settings, opts.app, bindings, {timeoutMs: opts.timeoutMs, onStatus: update}))
  const [group, version] = addon.apiVersion.split('/')
  await out.step(`Deleting ${addon.name} and what Crossplane made for it`, async (update) => {
    try {
      await kube.api(k8s.CustomObjectsApi).deleteNamespacedCustomObject({group, version, plural: addon.plural, namespace: addon.namespace, name: addon.name, propagationPolicy: 'Foreground'})
    } catch (error) {
      if ((error as {code?: number}).code !== 404) throw kubeError(error, {verb: 'delete', resource: `${addon.plural}.${group}`, namespace: addon.namespace})
    }

    await waitFor(kube, {apiVersion: addon.apiVersion, kind: addon.kind, plural: addon.plural, namespace: addon.namespace, name: addon.name}, (object) => {
      if (!object) return true
      update(`still there: ${(object as {metadata?: {finalizers?: string[]}}).metadata?.finalizers?.join(', ') || 'deleting'}`)
      return undefined
    }, {timeoutMs: opts.timeoutMs})
  })
}

/** Whether an add-on may be destroyed by kplat: only what kplat made. */
export function checkDestroyable(addon: AddonInstance): void {
  if (addon.origin === 'chart') {
    throw new KplatError(`${addon.name} is declared in ${addon.app}'s chart: Argo CD deployed it, and would bring it back`, {hint: `Remove the ${addon.kind} named ${addon.name} from the chart in ${addon.app}'s repository and push`})
  }

  if (addon.origin === 'other') throw new KplatError(`${addon.name} was not created by kplat, so kplat leaves it alone`, {hint: 'Ask whoever created it (your platform team) to remove it'})
}
