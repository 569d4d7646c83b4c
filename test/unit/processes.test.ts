import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import {toProcess} from '../../src/lib/processes/processes.js'

describe("a process's state, from its pod", () => {
  const pod = (status: Record<string, unknown>) => ({
    metadata: {name: 'shop-web-1'},
    spec: {containers: [{image: 'ghcr.io/acme/shop:abc1234'}]},
    status,
  })

  it('calls an evicted or finished pod crashed, with its reason, and reads a failing init container', () => {
    assert.deepEqual(
      [
        toProcess(pod({phase: 'Failed', reason: 'Evicted'}), 'web').state,
        toProcess(pod({phase: 'Failed', reason: 'Evicted'}), 'web').reason,
      ],
      ['crashed', 'Evicted'],
    )
    assert.deepEqual(
      [toProcess(pod({phase: 'Succeeded'}), 'web').state, toProcess(pod({phase: 'Succeeded'}), 'web').reason],
      ['crashed', 'exited 0'],
    )
    const init = toProcess(
      pod({
        phase: 'Pending',
        initContainerStatuses: [
          {
            restartCount: 3,
            state: {waiting: {reason: 'CrashLoopBackOff'}},
            lastState: {terminated: {exitCode: 1, reason: 'Error'}},
          },
        ],
        containerStatuses: [{state: {waiting: {reason: 'PodInitializing'}}}],
      }),
      'web',
    )
    assert.deepEqual([init.state, init.reason], ['crashed', 'Error, CrashLoopBackOff'])
    const up = toProcess(
      pod({
        phase: 'Running',
        conditions: [{type: 'Ready', status: 'True'}],
        containerStatuses: [{ready: true, state: {}}],
      }),
      'web',
    )
    assert.deepEqual([up.state, up.commit], ['up', 'abc1234'])
  })
})
