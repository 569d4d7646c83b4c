import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import {repoAllowed} from '../../src/lib/teams/teams.js'

describe("a team's repositories, read as Argo CD reads an AppProject's sourceRepos", () => {
  const url = 'https://github.example/acme/orders.git'

  it('lets in what a glob matches, without case or .git, and `*` within one path segment', () => {
    assert.ok(repoAllowed(url, ['https://github.example/acme/*']))
    assert.ok(repoAllowed(url, ['https://GitHub.example/Acme/orders']))
    assert.ok(repoAllowed(url, ['*']))
    assert.ok(repoAllowed(url, ['https://github.example/**']))
    assert.ok(!repoAllowed(url, ['https://github.example/*']), '* does not cross a /')
    assert.ok(!repoAllowed(url, ['https://github.example/other/*']))
    assert.ok(!repoAllowed(url, []), 'no repository at all')
  })

  it('refuses what a ! pattern names, whatever else matches', () => {
    assert.ok(!repoAllowed(url, ['https://github.example/acme/*', '!https://github.example/acme/orders']))
    assert.ok(repoAllowed(url, ['https://github.example/acme/*', '!https://github.example/acme/billing']))
  })

  it('takes a dot as a dot, not as any character', () => {
    assert.ok(!repoAllowed('https://githubXexample/acme/orders', ['https://github.example/acme/*']))
  })
})
