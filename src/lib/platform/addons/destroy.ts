import type {Kube} from '../../kube/client.js'
import {deleteAndWait} from '../../kube/delete.js'
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
  await out.step(`Deleting ${addon.name} and what Crossplane made for it`, (update) =>
    deleteAndWait(kube, {apiVersion: addon.apiVersion, kind: addon.kind, plural: addon.plural, namespace: addon.namespace, name: addon.name},
      {timeoutMs: opts.timeoutMs, onStatus: update, propagationPolicy: 'Foreground'}))
}

/** Whether an add-on may be destroyed by kplat: only what kplat made. */
export function checkDestroyable(addon: AddonInstance): void {
  if (addon.origin === 'chart') {
    throw new KplatError(`${addon.name} is declared in ${addon.app}'s chart: Argo CD deployed it, and would bring it back`, {hint: `Remove the ${addon.kind} named ${addon.name} from the chart in ${addon.app}'s repository and push`})
  }

  if (addon.origin === 'other') throw new KplatError(`${addon.name} was not created by kplat, so kplat leaves it alone`, {hint: 'Ask whoever created it (your platform team) to remove it'})
}
