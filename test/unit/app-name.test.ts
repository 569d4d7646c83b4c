import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import {validateAppName} from '../../src/lib/shared/app-names.js'
import {UsageError} from '../../src/lib/errors.js'

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
      // The cut at 30 falls on a dash: the suggestion must not end with it.
      ['x-very-long-name-that-exceeds-the-limit', /Try "x-very-long-name-that-exceeds"\./],
      ['', /invalid app name ""/],
    ]
    for (const [name, message] of cases) {
      assert.throws(
        () => validateAppName(name),
        (e: unknown) => e instanceof UsageError && e.exitCode === 2 && message.test(`${e.message}. ${e.hint}.`),
        name,
      )
    }

    // Every suggestion is itself a valid name.
    for (const name of ['x-very-long-name-that-exceeds-the-limit', 'A'.repeat(29) + '--b', '9-lives', 'My App!']) {
      const hint = (() => {
        try {
          validateAppName(name)
        } catch (error) {
          return (error as UsageError).hint
        }
      })()
      const suggested = /Try "([^"]+)"/.exec(String(hint))?.[1]
      assert.ok(suggested, `${name}: ${hint}`)
      assert.equal(validateAppName(suggested), suggested)
    }
  })
})
