// The release lock (kube/lease.ts) against the ground's real API server, as the team's
// developer: renewed while held, judged without this machine's clock, lost when taken over.
import assert from 'node:assert/strict'
import {before, describe, it} from 'node:test'
import * as k8s from '@kubernetes/client-node'
import {createKube, type Kube} from '../src/lib/kube/client.js'
import {holdLease, type HeldLease, type LeaseClock} from '../src/lib/kube/lease.js'
import {Debug} from '../src/lib/debug.js'
import {Redactor} from '../src/lib/redact.js'
import {RESTRICTED_CONTEXT, TEAM_NAMESPACE} from './ground/cluster.js'
import {ground, uniqueName, type TestGround} from './helpers/ground.js'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** A wall clock off by `ms` (a laptop's clock that drifted); the monotonic one is the process's. */
const skewed = (ms: number): LeaseClock => ({
  monotonic: () => performance.now(),
  wall: () => new Date(Date.now() + ms),
})

describe('the release lock', () => {
  let g: TestGround
  let kube: Kube

  before(async () => {
    g = await ground()
    kube = createKube({
      env: {KUBECONFIG: g.kubeconfig},
      context: RESTRICTED_CONTEXT,
      debug: new Debug(false, process.stderr, new Redactor()),
      redactor: new Redactor(),
    })
  })

  const busy = (holder: string) => new Error(`busy: ${holder}`)

  it('is held by one writer at a time, kept past its duration by renewal, whatever the clocks say', async () => {
    const name = uniqueName('lock')
    const seconds = 2
    let inside = 0
    let most = 0
    const spans: Array<{who: string; from: number; to: number}> = []
    const hold = async (who: string, clock: LeaseClock, ms: number) =>
      holdLease(kube, {name, namespace: TEAM_NAMESPACE, seconds, waitSeconds: 30, busy, clock}, async () => {
        inside++
        most = Math.max(most, inside)
        const from = performance.now()
        await sleep(ms)
        spans.push({who, from, to: performance.now()})
        inside--
      })

    // The first holds for two and a half durations; the others' clocks are an hour ahead and
    // an hour behind, so a waiter judging renewTime by its own clock would take over at once.
    const first = hold('first', skewed(0), 5000)
    await sleep(300)
    await Promise.all([first, hold('ahead', skewed(3_600_000), 500), hold('behind', skewed(-3_600_000), 500)])

    assert.equal(most, 1, `two writers held the lock at once: ${JSON.stringify(spans)}`)
    assert.equal(spans[0].who, 'first', 'the first writer kept the lock while it renewed it')
    // Past two of its durations (a timer may fire a millisecond early by performance.now()).
    assert.ok(spans[0].to - spans[0].from >= 4900, `held for ${Math.round(spans[0].to - spans[0].from)} ms`)
    assert.equal(spans.length, 3)
  })

  it("takes over a dead holder's Lease after its duration, even one written by a clock a day ahead", async () => {
    const name = uniqueName('lock')
    const leases = g.restricted().makeApiClient(k8s.CoordinationV1Api)
    const tomorrow = new Date(Date.now() + 86_400_000).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z')
    await leases.createNamespacedLease({
      namespace: TEAM_NAMESPACE,
      body: {
        metadata: {name},
        spec: {
          holderIdentity: 'a kplat that was killed',
          leaseDurationSeconds: 2,
          acquireTime: tomorrow as never,
          renewTime: tomorrow as never,
        },
      },
    })

    const start = performance.now()
    const waited = await holdLease(kube, {name, namespace: TEAM_NAMESPACE, seconds: 2, busy}, async () => {
      return performance.now() - start
    })
    assert.ok(waited >= 1500, `taken over after ${Math.round(waited)} ms, before the dead holder's 2 s were up`)
    assert.ok(waited < 8000, `taken over only after ${Math.round(waited)} ms`)
    await assert.rejects(leases.readNamespacedLease({name, namespace: TEAM_NAMESPACE}), {code: 404})
  })

  it('gives up with its own error while a live holder keeps the Lease', async () => {
    const name = uniqueName('lock')
    let release!: () => void
    const held = holdLease(
      kube,
      {name, namespace: TEAM_NAMESPACE, seconds: 1, busy},
      () => new Promise<void>((r) => (release = r)),
    )
    await sleep(300)
    await assert.rejects(
      holdLease(kube, {name, namespace: TEAM_NAMESPACE, seconds: 1, waitSeconds: 3, busy}, async () => {}),
      /busy: kplat-/,
    )
    release()
    await held
  })

  it('says so before the next write when the Lease was taken over while the holder could not renew', async () => {
    const name = uniqueName('lock')
    const leases = g.restricted().makeApiClient(k8s.CoordinationV1Api)
    let failure: unknown
    await holdLease(kube, {name, namespace: TEAM_NAMESPACE, seconds: 2, busy}, async (lease: HeldLease) => {
      lease.assertHeld()
      // What a takeover does to a holder paused past its duration: its Lease is gone and another holds one.
      await leases.deleteNamespacedLease({name, namespace: TEAM_NAMESPACE})
      await leases.createNamespacedLease({
        namespace: TEAM_NAMESPACE,
        body: {metadata: {name}, spec: {holderIdentity: 'someone else', leaseDurationSeconds: 30}},
      })
      await sleep(1500)
      try {
        lease.assertHeld()
      } catch (error) {
        failure = error
      }
    })
    assert.match(String((failure as Error)?.message), /lost the lock/)
    const after = await leases.readNamespacedLease({name, namespace: TEAM_NAMESPACE})
    assert.equal(
      after.spec?.holderIdentity,
      'someone else',
      "the holder that lost the lock left the new holder's Lease alone",
    )
  })
})
