import assert from 'node:assert/strict'
import {chmodSync, mkdirSync, mkdtempSync, writeFileSync} from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {describe, it} from 'node:test'
import {parseParams, resolveParameters} from '../src/lib/skeleton/parameters.js'
import {renderSkeleton, stepValues} from '../src/lib/skeleton/render.js'
import {loadTemplate} from '../src/lib/skeleton/template.js'
import {UsageError} from '../src/lib/ui/errors.js'
import type {IO} from '../src/lib/ui/io.js'
import {Prompter} from '../src/lib/ui/prompter.js'

function skeleton(files: Record<string, string | Buffer>, executable: string[] = []): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'kplat-skel-'))
  for (const [file, content] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, file)), {recursive: true})
    writeFileSync(path.join(dir, file), content)
  }

  for (const file of executable) chmodSync(path.join(dir, file), 0o755)
  return dir
}

const noPrompts = new Prompter({interactive: false} as IO)

describe('skeleton rendering, as Backstage\'s fetch:template does it', () => {
  it('renders ${{ values }}, keeps {% raw %} and leaves {{ }} for Helm and Actions', async () => {
    const dir = skeleton({
      'a.txt': 'name=${{ values.name }}',
      'ci.yaml': 'sha: {% raw %}${{ github.sha }}{% endraw %}',
      'chart/t.yaml': 'image: {{ .Values.image }}',
    })
    const files = await renderSkeleton(dir, {name: 'myapp'})
    const text = (p: string) => files.find((f) => f.path === p)!.content.toString()
    assert.equal(text('a.txt'), 'name=myapp')
    assert.equal(text('ci.yaml'), 'sha: ${{ github.sha }}')
    assert.equal(text('chart/t.yaml'), 'image: {{ .Values.image }}')
  })

  it('templates file and folder names, and skips an entry whose name renders empty', async () => {
    const dir = skeleton({'${{ values.name }}/main.js': 'x', '{% if values.docs %}docs.md{% endif %}': 'docs'})
    assert.deepEqual((await renderSkeleton(dir, {name: 'svc', docs: false})).map((f) => f.path), ['svc/main.js'])
    assert.deepEqual((await renderSkeleton(dir, {name: 'svc', docs: true})).map((f) => f.path), ['docs.md', 'svc/main.js'])
  })

  it('copies binary files byte for byte and keeps executable bits', async () => {
    const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 0x24, 0x7b, 0x7b, 0xff])
    const dir = skeleton({'logo.png': png, 'run.sh': '#!/bin/sh\necho ${{ values.name }}\n'}, ['run.sh'])
    const files = await renderSkeleton(dir, {name: 'x'})
    const logo = files.find((f) => f.path === 'logo.png')!
    assert.ok(logo.binary)
    assert.deepEqual(logo.content, png)
    const run = files.find((f) => f.path === 'run.sh')!
    assert.equal(run.mode, '100755')
    assert.equal(run.content.toString(), '#!/bin/sh\necho x\n')
  })

  it('refuses a rendered path that would leave the repository', async () => {
    const dir = skeleton({'${{ values.where }}/evil.txt': 'x'})
    await assert.rejects(renderSkeleton(dir, {where: '../..'}), (e: unknown) => e instanceof UsageError && /outside the new repository/.test(e.message))
  })

  it('passes the step\'s values with their types, and validates --param with the schema\'s own message', async () => {
    const template = await loadTemplate(path.resolve('skeletons/node'))
    const params = await resolveParameters(template, {name: 'myapp', owner: 'acme'}, parseParams(['port=9090']), noPrompts, false)
    assert.deepEqual(await stepValues(template.values, params), {name: 'myapp', owner: 'acme', description: 'A service created with kplat', port: 9090, registry: 'ghcr.io', appsDomain: ''})
    await assert.rejects(resolveParameters(template, {name: 'myapp', owner: 'acme'}, {port: '70000'}, noPrompts, false), /template parameter "port" must be <= 65535\. Pass --param port=VALUE|must be <= 65535/)
    await assert.rejects(resolveParameters(template, {name: 'myapp'}, {}, noPrompts, false), /template parameter "owner" is required/)
    await assert.rejects(resolveParameters(template, {name: '9lives', owner: 'acme'}, {}, noPrompts, false), /template parameter "name" must match pattern "\^\[a-z\]/)
    await assert.rejects(resolveParameters(template, {name: 'myapp', owner: 'acme'}, {port: 'eighty'}, noPrompts, false), /template parameter "port" must be integer/)
    await assert.rejects(resolveParameters(template, {name: 'myapp', owner: 'a'}, {colour: 'red'}, noPrompts, false), /has no parameter "colour"/)
    assert.throws(() => parseParams(['novalue']), /--param "novalue" is not key=value/)
  })
})
