import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import {validateAppName} from '../src/lib/platform/app-name.js'
import {UsageError} from '../src/lib/ui/errors.js'

describe('app names, as Heroku validates them', () => {
  it('accepts a lowercase letter, then lowercase letters, digits and dashes, up to 30', () => {
    for (const ok of ['a', 'myapp', 'my-app-2', 'a'.repeat(30)]) assert.equal(validateAppName(ok), ok)
  })

  it('refuses anything else with a usage error that suggests a valid name', () => {
    const cases: Array<[string, RegExp]> = [
      ['MyApp', /Try "myapp"/],
      ['2fast', /Try "fast"/],
      ['my_app', /Try "my-app"/],
      ['a'.repeat(31), /31 characters long; the limit is 30/],
      ['trailing-', /Try "trailing"/],
      ['', /invalid app name ""/],
    ]
    for (const [name, message] of cases) {
      assert.throws(() => validateAppName(name), (e: unknown) => e instanceof UsageError && e.exitCode === 2 && message.test(`${e.message}. ${e.hint}`), name)
    }
  })
})
