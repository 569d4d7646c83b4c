import {deleteAndWait} from '../kube/delete.js'
import {KplatError} from '../errors.js'
import {track, withReleases} from '../releases/ledger.js'
import type {AppTarget} from '../shared/target.js'
import {bindingsOf, unbind, waitForBindings} from './bindings.js'
import type {AddonInstance} from './instances.js'
import {step} from '../progress.js'

export interface DestroyAddonOptions {
  timeoutMs: number
}

/**
 * Destroys an add-on kplat made: unbinds it first (Argo CD rolls the app without its env
 * vars, so no new process asks for a Secret about to go), then deletes it in the foreground
 * and waits until it and what Crossplane composed for it are gone.
 */
export async function destroyAddon(target: AppTarget, addon: AddonInstance, opts: DestroyAddonOptions): Promise<void> {
  const {kube, name: app} = target
  // A rerun after the add-on was unbound records no second release.
  if (bindingsOf(target.application).some((b) => b.name === addon.name)) {
    const release = await step(target.progress, `Unbinding ${addon.name} from ${app}`, () =>
      withReleases(target.ledger, async ({append}) => {
        const bindings = await unbind(target, addon.name)
        return append({
          kind: 'addons',
          description: `Detach ${addon.name} (${addon.service})`,
          addons: bindings.map((b) => b.name),
        })
      }),
    )
    // Deleting waits on Argo CD having rolled out the list without it, not on the app's health:
    // an unhealthy app must still be able to lose an add-on.
    await step(target.progress, `Restarting ${app} without ${addon.name}'s env vars`, (update) =>
      track(
        target.ledger,
        release,
        waitForBindings(target, {unbound: addon.name}, {timeoutMs: opts.timeoutMs, onStatus: update, healthy: false}),
      ),
    )
  }

  await step(target.progress, `Deleting ${addon.name} and what Crossplane made for it`, (update) =>
    deleteAndWait(
      kube,
      {
        apiVersion: addon.apiVersion,
        kind: addon.kind,
        plural: addon.plural,
        namespace: addon.namespace,
        name: addon.name,
      },
      {timeoutMs: opts.timeoutMs, onStatus: update, propagationPolicy: 'Foreground'},
    ),
  )
}

/** Whether an add-on may be destroyed by kplat: only what kplat made. */
export function checkDestroyable(addon: AddonInstance): void {
  if (addon.origin === 'chart') {
    throw new KplatError(
      `${addon.name} is declared in ${addon.app}'s chart: Argo CD deployed it, and would bring it back`,
      {hint: `Remove the ${addon.kind} named ${addon.name} from the chart in ${addon.app}'s repository and push`},
    )
  }

  if (addon.origin === 'other')
    throw new KplatError(`${addon.name} was not created by kplat, so kplat leaves it alone`, {
      hint: 'Ask whoever created it (your platform team) to remove it',
    })
}
