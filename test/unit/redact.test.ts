import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import {MASK, Redactor} from '../../src/lib/redact.js'

describe('Redactor', () => {
  it('replaces every secret it was given, wherever it appears', () => {
    const r = new Redactor()
    r.add('s3cr3t-value-123')
    assert.equal(r.redact('a s3cr3t-value-123 b s3cr3t-value-123'), `a ${MASK} b ${MASK}`)
  })

  it('ignores values too short to be secrets', () => {
    const r = new Redactor()
    r.add('abc')
    assert.equal(r.redact('abc abc'), 'abc abc')
  })

  it('masks token-shaped strings it was never given', () => {
    const r = new Redactor()
    for (const token of ['ghp_' + 'a'.repeat(36), 'gho_' + 'B1'.repeat(18), 'github_pat_' + 'x1_'.repeat(20)]) {
      assert.equal(r.redact(`token ${token} here`), `token ${MASK} here`, token)
    }
  })

  it('masks credentials in URLs, headers and query strings', () => {
    const r = new Redactor()
    assert.equal(
      r.redact('https://x-access-token:abcdef123456@github.com/a/b.git'),
      `https://${MASK}@github.com/a/b.git`,
    )
    assert.equal(r.redact('Authorization: Bearer abc.def.ghi-jkl'), `Authorization: Bearer ${MASK}`)
    assert.equal(r.redact('{"authorization":"token 0123456789"}'), `{"authorization":"token ${MASK}"}`)
    assert.equal(r.redact('GET /x?access_token=abc123&page=2'), `GET /x?access_token=${MASK}&page=2`)
  })
})
