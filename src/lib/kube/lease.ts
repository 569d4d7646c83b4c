// A lock held as a coordination.k8s.io Lease, as Kubernetes' own leader election holds one,
// with one rule on top: no clock of this machine is compared with any other machine's.
//
// The holder renews the Lease every third of its duration while it works. A waiter judges a
// Lease dead by one of two measures, neither of which reads this machine's wall clock:
//  - the API server's time: the time of the Lease's last write (managedFields, stamped by the
//    server) against the server's Date header on the read, both from the server's clock;
//  - its own monotonic clock: the Lease unchanged (same resourceVersion) for a whole
//    duration since this waiter first saw it, the rule of client-go's leader election.
// A takeover deletes the Lease with the uid and resourceVersion it judged as preconditions,
// so a holder that renewed in the meantime keeps it. renewTime and acquireTime are written
// from the holder's wall clock, for people reading `kubectl get lease`; nothing trusts them.
import {randomUUID} from 'node:crypto'
import * as k8s from './k8s.js'
import type {Kube} from './client.js'
import {kubeError} from './errors.js'
import {KplatError} from '../errors.js'

/** The clocks a lock reads: a monotonic one for waiting, a wall one only for what it writes. */
export interface LeaseClock {
  /** Milliseconds, monotonic (performance.now()). */
  monotonic(): number
  wall(): Date
}

const systemClock: LeaseClock = {monotonic: () => performance.now(), wall: () => new Date()}

export interface LeaseOptions {
  name: string
  namespace: string
  seconds: number
  labels?: Record<string, string>
  /** How long to wait for another holder before giving up (default: twice `seconds`). */
  waitSeconds?: number
  /** The error to raise when another holder kept the Lease for the whole wait. */
  busy(holder: string, waitedSeconds: number): Error
  clock?: LeaseClock
}

/** What fn gets: a check, before each write that the Lease guards, that it is still held. */
export interface HeldLease {
  /** Throws when a renewal found the Lease taken over (this process was paused past its duration). */
  assertHeld(): void
}

export async function holdLease<T>(kube: Kube, opts: LeaseOptions, fn: (lease: HeldLease) => Promise<T>): Promise<T> {
  const {name, namespace, seconds} = opts
  const clock = opts.clock ?? systemClock
  const leases = kube.api(k8s.CoordinationV1Api)
  const holder = `kplat-${randomUUID()}`
  const waitMs = (opts.waitSeconds ?? 2 * seconds) * 1000
  const started = clock.monotonic()
  let seen: {version: string; at: number} | undefined
  let mine: k8s.V1Lease
  let acquired: Date
  for (;;) {
    acquired = microTime(clock.wall())
    try {
      mine = await leases.createNamespacedLease({
        namespace,
        body: {
          metadata: {name, labels: opts.labels},
          spec: {holderIdentity: holder, leaseDurationSeconds: seconds, acquireTime: acquired, renewTime: acquired},
        },
      })
      break
    } catch (error) {
      if ((error as {code?: number}).code !== 409)
        throw kubeError(error, {verb: 'create', resource: 'leases.coordination.k8s.io', namespace})
    }

    const read = await leases.readNamespacedLeaseWithHttpInfo({name, namespace}).catch((error: unknown) => {
      if ((error as {code?: number}).code === 404) return undefined
      throw kubeError(error, {verb: 'get', resource: 'leases.coordination.k8s.io', namespace})
    })
    const held = read?.data
    if (held) {
      const version = held.metadata?.resourceVersion ?? ''
      if (seen?.version !== version) seen = {version, at: clock.monotonic()}
      const duration = (held.spec?.leaseDurationSeconds ?? seconds) * 1000
      const serverAge = serverTimeSinceWrite(held, read.headers)
      const dead = clock.monotonic() - seen.at > duration || (serverAge !== undefined && serverAge > duration + 1000)
      if (dead) {
        await leases
          .deleteNamespacedLease({
            name,
            namespace,
            body: {preconditions: {uid: held.metadata?.uid, resourceVersion: version}},
          })
          .catch(() => undefined)
        continue
      }

      if (clock.monotonic() - started > waitMs)
        throw opts.busy(held.spec?.holderIdentity ?? 'unknown holder', Math.round(waitMs / 1000))
    }

    await new Promise((r) => setTimeout(r, 150 + Math.random() * 100))
  }

  // Renew while fn works. A renewal refused because the Lease changed means it was taken
  // over while this process could not renew (a laptop closed): the next guarded write fails.
  let lost = false
  let lastRenewed = clock.monotonic()
  let renewing: Promise<void> = Promise.resolve()
  const renew = async () => {
    try {
      mine = await leases.replaceNamespacedLease({
        name,
        namespace,
        body: {
          // resourceVersion makes the renewal a compare-and-swap: a Lease taken over is refused (409).
          metadata: {name, namespace, labels: opts.labels, resourceVersion: mine.metadata?.resourceVersion},
          spec: {
            holderIdentity: holder,
            leaseDurationSeconds: seconds,
            acquireTime: acquired,
            renewTime: microTime(clock.wall()),
          },
        },
      })
      lastRenewed = clock.monotonic()
    } catch (error) {
      const code = (error as {code?: number}).code
      if (code === 409 || code === 404 || clock.monotonic() - lastRenewed > seconds * 1000) lost = true
    }
  }

  const timer = setInterval(
    () => {
      if (!lost) renewing = renewing.then(renew)
    },
    (seconds * 1000) / 3,
  )
  timer.unref()
  const lease: HeldLease = {
    assertHeld() {
      if (lost || clock.monotonic() - lastRenewed > seconds * 1000)
        throw new KplatError(
          `lost the lock ${namespace}/${name}: another change took it over while this one was paused`,
          {
            hint: 'Run the command again: nothing after this point was written',
          },
        )
    },
  }
  try {
    return await fn(lease)
  } finally {
    clearInterval(timer)
    await renewing
    // Only this holder's Lease: one taken over meanwhile belongs to someone else now.
    await leases
      .deleteNamespacedLease({name, namespace, body: {preconditions: {uid: mine.metadata?.uid}}})
      .catch(() => undefined)
  }
}

/** Milliseconds of the API server's clock since the Lease was last written, when the server says both. */
function serverTimeSinceWrite(lease: k8s.V1Lease, headers: Record<string, string>): number | undefined {
  const date = Date.parse(headers.date ?? headers.Date ?? '')
  const writes = (lease.metadata?.managedFields ?? [])
    .map((f) => (f.time ? new Date(f.time as unknown as string).getTime() : Number.NaN))
    .filter((t) => !Number.isNaN(t))
  if (Number.isNaN(date) || writes.length === 0) return undefined
  return date - Math.max(...writes)
}

// A Lease's times are MicroTime: six digits of fraction.
const microTime = (at: Date) => at.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z') as unknown as Date
