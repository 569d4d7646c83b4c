import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import {defaultRollback} from '../../src/lib/releases/rollback.js'

describe('the default rollback', () => {
  const release = (version: number, kind: string, commit: string, config: number, outcome = 'succeeded') =>
    ({
      version,
      kind,
      description: kind,
      by: 'dev',
      createdAt: '2026-11-28T00:00:00Z',
      commit,
      config: {version: config, keys: []},
      formation: {},
      addons: [],
      outcome,
    }) as Parameters<typeof defaultRollback>[1]

  it('goes past releases that ran the same code and config (a scale, an add-on) and past failed ones', () => {
    const deploy1 = release(1, 'deploy', 'aaa', 0)
    const config2 = release(2, 'config', 'aaa', 2)
    const broken3 = release(3, 'deploy', 'bbb', 2, 'failed')
    const scale4 = release(4, 'scale', 'aaa', 2)
    const addon5 = release(5, 'addon', 'aaa', 2)
    const list = [deploy1, config2, broken3, scale4, addon5]
    assert.equal(defaultRollback(list, addon5)?.version, 1, 'v2 to v4 run the code and config v5 runs; v3 failed')
    assert.equal(defaultRollback([deploy1, config2], config2)?.version, 1)
    assert.equal(
      defaultRollback([deploy1, release(2, 'scale', 'aaa', 0)], release(2, 'scale', 'aaa', 0)),
      undefined,
      'nothing different to go back to',
    )
  })
})
