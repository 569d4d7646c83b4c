import assert from 'node:assert/strict'
import {mkdtempSync, writeFileSync} from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {PassThrough} from 'node:stream'
import {describe, it} from 'node:test'
import {parseAssignments} from '../../src/lib/config-vars/config-vars.js'
import {UsageError} from '../../src/lib/errors.js'

const cwd = mkdtempSync(path.join(os.tmpdir(), 'kplat-assign-'))
writeFileSync(path.join(cwd, 'key.pem'), 'PEM\n')
const parse = (args: string[], input = '') => {
  const stdin = new PassThrough()
  stdin.end(input)
  return parseAssignments(args, {stdin, cwd})
}
/** A usage error whose words hold nothing of what was typed after the name. */
const refusedWithout = (secret: string) => (e: unknown) =>
  e instanceof UsageError && !`${e.message} ${e.hint}`.includes(secret)

describe('config:set assignments', () => {
  it('reads KEY=VALUE, KEY=- from stdin, KEY=@file, and KEY=@@x as the literal @x', async () => {
    assert.deepEqual(await parse(['A=1', 'B=-', 'C=@key.pem', 'D=@@at', 'E=x=y'], 'piped\n'), {
      A: '1',
      B: 'piped',
      C: 'PEM\n',
      D: '@at',
      E: 'x=y',
    })
  })

  it('never echoes a value or what may be one', async () => {
    await assert.rejects(parse(['API_TOKEN=', 's3cr3t']), refusedWithout('s3cr3t'))
    await assert.rejects(parse(['API_TOKEN=', 's3cr3t=x']), refusedWithout('s3cr3t'))
    await assert.rejects(parse(['OK=1', 'se-cr3t=x']), refusedWithout('se-cr3t'))
    await assert.rejects(parse(['PASSWORD=@s3cr3t']), refusedWithout('s3cr3t'))
  })
})
