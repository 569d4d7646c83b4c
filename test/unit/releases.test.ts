import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import {defaultRollback} from '../../src/lib/releases/rollback.js'
import {parseRelease} from '../../src/lib/releases/ledger.js'
import {kplatValues} from '../../src/lib/kube/argocd.js'
import {KplatError} from '../../src/lib/errors.js'

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

describe('what kplat reads back from the cluster', () => {
  it('names a release ConfigMap edited into something else, instead of failing as a bug', () => {
    for (const text of ['{not json', '[]', '{"kind":"deploy"}', 'null'])
      assert.throws(
        () => parseRelease('shop-release-v3', 'shop', text),
        (e: unknown) =>
          e instanceof KplatError &&
          /the release ConfigMap shop\/shop-release-v3 does not hold a release/.test(e.message),
        text,
      )
    assert.equal(
      parseRelease('shop-release-v1', 'shop', '{"version":1,"kind":"deploy","outcome":"succeeded"}').version,
      1,
    )
  })

  it('keeps only the well-formed parts of kplat values edited by hand', () => {
    const source = (kplat: unknown) =>
      ({repoURL: '', helm: {valuesObject: {kplat}}}) as Parameters<typeof kplatValues>[0]
    assert.deepEqual(kplatValues(source({addons: 'oops', formation: [1], configRevision: 7})), {})
    assert.deepEqual(
      kplatValues(
        source({addons: [{name: 'db', secret: 'db-connection'}, {name: 3}], formation: {web: 2, worker: -1, x: 'y'}}),
      ),
      {addons: [{name: 'db', secret: 'db-connection'}], formation: {web: 2}},
    )
  })
})
