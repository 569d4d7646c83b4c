import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import {isWebUrl} from '../../src/lib/open/open.js'

describe('the URLs open hands to a browser', () => {
  it('are http(s) with a host, never another scheme or something that does not parse', () => {
    for (const url of ['http://shop.apps.example.com/', 'https://shop.example.com:8443/x'])
      assert.ok(isWebUrl(url), url)
    for (const url of ['file:///etc/passwd', 'smb://server/share', 'javascript:alert(1)', 'http://', 'not a url', ''])
      assert.ok(!isWebUrl(url), url)
  })
})
