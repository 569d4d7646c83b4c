import assert from 'node:assert/strict'
import {readFileSync} from 'node:fs'
import {describe, it} from 'node:test'
import {buildManifest} from '../../scripts/manifest.js'
import {commandReference, updatedReference} from '../../scripts/commands-doc.js'
import {ROOT} from '../helpers/cli.js'

describe('the package', () => {
  it('ships an oclif.manifest.json in step with the commands (npm run build writes it)', async () => {
    assert.equal(readFileSync(`${ROOT}/oclif.manifest.json`, 'utf8'), await buildManifest())
  })

  it('has a command reference in docs/commands.md that matches the commands (npm run docs writes it)', () => {
    const page = readFileSync(`${ROOT}/docs/commands.md`, 'utf8')
    assert.equal(page, updatedReference(page))
    assert.match(commandReference(), /^## `kplat apps:info`$/m)
  })

  it('gives every command a description and an example that uses long flags', () => {
    const manifest = JSON.parse(readFileSync(`${ROOT}/oclif.manifest.json`, 'utf8')) as {
      commands: Record<string, {description?: string; examples?: string[]}>
    }
    for (const [id, command] of Object.entries(manifest.commands)) {
      assert.ok(command.description, `${id} has no description`)
      assert.ok(
        command.examples?.some((e) => /--[a-z]/.test(e)),
        `${id} has no example with a long flag`,
      )
    }
  })
})
