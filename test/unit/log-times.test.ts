import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import {micros} from '../../src/commands/logs.js'
import {timeKey} from '../../src/lib/logs/logs.js'

describe('log times', () => {
  it('orders every form a source gives by one key, and prints microseconds', () => {
    const forms = [
      '2026-11-28T15:06:24.377987123Z',
      '2026-11-28T15:06:24.377987Z',
      '2026-11-28T15:06:24Z',
      '2026-11-28T16:06:24.5+01:00',
      '2026-11-28T15:06:24.9Z',
    ]
    assert.deepEqual(forms.map(timeKey), [
      '2026-11-28T15:06:24.377987123',
      '2026-11-28T15:06:24.377987000',
      '2026-11-28T15:06:24.000000000',
      '2026-11-28T15:06:24.500000000',
      '2026-11-28T15:06:24.900000000',
    ])
    assert.equal(timeKey('2026-11-28T15:06:24.3779871x3Z'), '')
    assert.equal(timeKey('abcd-11-28T15:06:24.377987123Z'), '')
    assert.deepEqual(forms.map(micros), [
      '2026-11-28T15:06:24.377987Z',
      '2026-11-28T15:06:24.377987Z',
      '2026-11-28T15:06:24.000000Z',
      '2026-11-28T16:06:24.500000+01:00',
      '2026-11-28T15:06:24.900000Z',
    ])
  })
})
