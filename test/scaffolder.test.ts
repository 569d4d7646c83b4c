// The proof that kplat renders templates as Backstage does: the same templates, rendered by
// Backstage's own scaffolder code (its workflow runner and fetch actions, from its npm
// packages, pinned in test/ground/scaffolder/) and by kplat, give identical trees: the same
// paths, modes and bytes.
import assert from 'node:assert/strict'
import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  lstatSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {before, describe, it} from 'node:test'
import {pathToFileURL} from 'node:url'
import {runTemplate} from '../src/lib/skeleton/render.js'
import {loadTemplate} from '../src/lib/skeleton/template.js'
import {provideNpmFolder} from './ground/npm.js'
import {ROOT} from './helpers/cli.js'

type Tree = Record<string, {mode: string; bytes: string}>
type Render = (templateDir: string, parameters: Record<string, unknown>, outDir: string) => Promise<void>

/** A folder as git would hold it: files and links, with their modes and bytes. */
function treeOf(dir: string, base = dir, out: Tree = {}): Tree {
  for (const entry of readdirSync(dir, {withFileTypes: true})) {
    const full = path.join(dir, entry.name)
    const rel = path.relative(base, full).split(path.sep).join('/')
    const stat = lstatSync(full)
    if (stat.isSymbolicLink()) out[rel] = {mode: '120000', bytes: Buffer.from(readlinkSync(full)).toString('base64')}
    else if (stat.isDirectory()) treeOf(full, base, out)
    else out[rel] = {mode: stat.mode & 0o111 ? '100755' : '100644', bytes: readFileSync(full).toString('base64')}
  }

  return out
}

async function kplatTree(templateDir: string, parameters: Record<string, unknown>): Promise<Tree> {
  const run = await runTemplate(await loadTemplate(templateDir), parameters, {
    host: 'github.com',
    owner: 'acme',
    name: String(parameters.name),
  })
  return Object.fromEntries(run.files.map((f) => [f.path, {mode: f.mode, bytes: f.content.toString('base64')}]))
}

function write(dir: string, files: Record<string, string | Buffer>): void {
  for (const [file, content] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, file)), {recursive: true})
    writeFileSync(path.join(dir, file), content)
  }
}

/** A template that uses what Backstage's templates use: filters, each, if, fetch:plain, the fetch options, odd bytes. */
function goldenTemplate(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'kplat-golden-'))
  write(dir, {
    'template.yaml': `apiVersion: scaffolder.backstage.io/v1beta3
kind: Template
metadata: {name: golden, title: Golden path}
spec:
  owner: group:default/platform
  parameters:
    - required: [name, owner, repoUrl]
      properties:
        name: {type: string, ui:field: EntityNamePicker}
        owner: {type: string, ui:field: OwnerPicker}
        repoUrl: {type: string, ui:field: RepoUrlPicker}
        docs: {type: boolean}
        services: {type: array, items: {type: string}}
        port: {type: integer}
  steps:
    - id: fetch
      action: fetch:template
      input:
        url: ./skeleton
        copyWithoutTemplating: ['static/**', '!static/rendered.txt']
        values:
          name: \${{ parameters.name }}
          port: \${{ parameters.port }}
          docs: \${{ parameters.docs }}
          services: \${{ parameters.services }}
          owner: \${{ parameters.repoUrl | parseRepoUrl | pick('owner') }}
          slug: \${{ parameters.repoUrl | projectSlug }}
          team: \${{ parameters.owner | parseEntityRef | pick('name') }}
          kind: \${{ (parameters.owner | parseEntityRef).kind }}
          summary: '{% if parameters.docs %}\${{ parameters.port }}{% endif %}'
    - id: services
      each: \${{ parameters.services }}
      action: fetch:template
      input:
        url: ./service
        targetPath: ./services/\${{ each.value }}
        values: {name: '\${{ each.value }}', index: '\${{ each.key }}'}
    - id: docs
      if: \${{ parameters.docs }}
      action: fetch:plain
      input: {url: ./docs, targetPath: ./docs}
    - id: extras
      action: fetch:template
      input: {url: ./extras, targetPath: ./extras, templateFileExtension: true, values: {name: '\${{ parameters.name }}'}}
    - id: cookie
      action: fetch:template
      input: {url: ./cookie, targetPath: ./cookie, cookiecutterCompat: true, values: {name: '\${{ parameters.name }}', tags: ['a', 'b']}}
    - id: trimmed
      action: fetch:template
      input: {url: ./trimmed, targetPath: ./trimmed, trimBlocks: true, lstripBlocks: true, values: {on: true}}
    - id: single
      action: fetch:template:file
      input: {url: ./single/config.yaml, targetPath: './config/\${{ parameters.name }}.yaml', values: {name: '\${{ parameters.name }}', port: '\${{ parameters.port }}'}}
    - id: kept
      action: fetch:template:file
      input: {url: ./single/config.yaml, targetPath: ./README.md, values: {name: kept}}
    - id: replaced
      action: fetch:template:file
      input: {url: ./single/run.sh, targetPath: ./static/rendered.txt, replace: true, trimBlocks: true, values: {name: '\${{ parameters.name }}'}}
    - id: publish
      action: publish:github
      input: {repoUrl: '\${{ parameters.repoUrl }}', description: 'The \${{ parameters.name }} app'}
    - id: custom
      action: acme:notify
      input: {channel: '#\${{ parameters.name }}'}
`,
    'skeleton/README.md':
      '# ${{ values.name | upper }}\n\nOwned by ${{ values.team }} (${{ values.kind }}) in ${{ values.owner }}; ${{ values.slug }}.\n' +
      '{% if values.docs %}Docs are in docs/.{% else %}No docs.{% endif %}\n{% for s in values.services %}- ${{ s | replace("-", "_") }}\n{% endfor %}' +
      'Port ${{ values.port + 1 }}; ${{ values.services | dump }}; ${{ values.summary }}\n{% raw %}${{ github.sha }}{% endraw %}\n',
    'skeleton/src/${{ values.name }}/index.js': 'export const name = "${{ values.name }}"\n',
    'skeleton/{% if values.docs %}mkdocs.yml{% endif %}': 'site_name: ${{ values.name }}\n',
    'skeleton/{% if not values.docs %}NODOCS{% endif %}': 'x\n',
    'skeleton/static/${{ values.name }}.txt': 'kept as it is: ${{ values.name }}\n',
    'skeleton/static/rendered.txt': 'rendered: ${{ values.name }}\n',
    'skeleton/logo.png': Buffer.from([
      0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0x24, 0x7b, 0x7b, 0x20, 0x76, 0x7d, 0x7d, 0xff,
    ]),
    'skeleton/latin1.txt': Buffer.from([0x63, 0x61, 0x66, 0xe9, 0xe0, 0xe8, 0xec, 0xf2, 0xf9, 0xff, 0xfe, 0xfd, 0x0a]),
    'skeleton/crlf.txt': 'one ${{ values.name }}\r\ntwo\r\n',
    'skeleton/bom.txt': '\ufeffwith a BOM: ${{ values.name }}\n',
    'skeleton/empty.txt': '',
    'skeleton/no-newline.txt': '${{ values.name }}',
    'skeleton/run.sh': '#!/bin/sh\necho ${{ values.name }}\n',
    'service/main.txt': '${{ values.name }} is service ${{ values.index }}\n',
    'docs/index.md': '# Docs\n${{ not rendered }}\n',
    'extras/page.html.njk': '<b>${{ values.name }}</b>\n',
    'extras/plain.html': '<i>${{ values.name }}</i>\n',
    'cookie/{{ cookiecutter.name }}.md': 'Hello {{ cookiecutter.name }} {{ cookiecutter.tags | jsonify }}\n',
    'trimmed/out.txt': 'start\n    {% if values.on %}\n  on\n    {% endif %}\nend\n',
    'single/config.yaml':
      'name: ${{ values.name }}\nport: ${{ values.port }}\n{% raw %}ci: ${{ github.sha }}{% endraw %}\n',
    'single/run.sh': '#!/bin/sh\n{% if values.name %}\necho ${{ values.name }}\n{% endif %}\n',
  })
  chmodSync(path.join(dir, 'single', 'run.sh'), 0o755)
  chmodSync(path.join(dir, 'skeleton', 'run.sh'), 0o755)
  symlinkSync('run.sh', path.join(dir, 'skeleton', 'start.sh'))
  return dir
}

describe("rendering, byte for byte: kplat and Backstage's own scaffolder code", () => {
  let backstage: Render

  before(async () => {
    const installed = await provideNpmFolder('scaffolder', path.join(ROOT, 'test', 'ground', 'scaffolder'), [
      'package.json',
      'package-lock.json',
      'render.mjs',
    ])
    backstage = (
      (await import(pathToFileURL(path.join(installed, 'render.mjs')).href)) as {renderWithBackstage: Render}
    ).renderWithBackstage
  })

  const compare = async (templateDir: string, parameters: Record<string, unknown>) => {
    const out = mkdtempSync(path.join(os.tmpdir(), 'kplat-backstage-out-'))
    await backstage(templateDir, parameters, out)
    const theirs = treeOf(out)
    const ours = await kplatTree(templateDir, parameters)
    assert.ok(Object.keys(theirs).length > 0, 'Backstage rendered something')
    assert.deepEqual(Object.keys(ours).sort(), Object.keys(theirs).sort(), 'the same paths')
    for (const file of Object.keys(theirs)) {
      assert.equal(ours[file].mode, theirs[file].mode, `the mode of ${file}`)
      assert.equal(
        Buffer.from(ours[file].bytes, 'base64').toString('latin1'),
        Buffer.from(theirs[file].bytes, 'base64').toString('latin1'),
        `the bytes of ${file}`,
      )
    }

    return theirs
  }

  it('the shipped node skeleton, with an apps domain and without', async () => {
    const node = path.join(ROOT, 'skeletons', 'node')
    const base = {
      name: 'shop-api',
      owner: 'acme',
      description: 'A shop: "quoted" & <tagged>',
      port: 8080,
      registry: 'ghcr.io',
    }
    const withDomain = await compare(node, {...base, appsDomain: 'apps.example.com'})
    assert.ok(withDomain['chart/templates/ingress.yaml'] && withDomain['.github/workflows/ci.yaml'])
    await compare(node, {...base, appsDomain: ''})
  })

  it("a template with Backstage's filters, each, if, fetch:plain, fetch:template:file, the fetch options, a link, binary and odd text files", async () => {
    const dir = goldenTemplate()
    const tree = await compare(dir, {
      name: 'shop',
      owner: 'group:default/payments',
      repoUrl: 'github.com?owner=acme&repo=shop',
      docs: true,
      services: ['api-gw', 'worker'],
      port: 8080,
    })
    // What the comparison covered, so that it cannot pass on an empty or trivial tree.
    for (const file of [
      'README.md',
      'src/shop/index.js',
      'mkdocs.yml',
      'static/shop.txt',
      'static/rendered.txt',
      'logo.png',
      'latin1.txt',
      'start.sh',
      'services/api-gw/main.txt',
      'docs/index.md',
      'extras/page.html',
      'cookie/shop.md',
      'trimmed/out.txt',
      'config/shop.yaml',
    ]) {
      assert.ok(tree[file], `${file} is in the tree`)
    }

    assert.equal(tree['start.sh'].mode, '120000')
    assert.equal(
      Buffer.from(tree['config/shop.yaml'].bytes, 'base64').toString(),
      'name: shop\nport: 8080\nci: ${{ github.sha }}\n',
    )
    assert.match(
      Buffer.from(tree['README.md'].bytes, 'base64').toString(),
      /^# SHOP/,
      'a file already there is kept without replace',
    )
    assert.equal(
      Buffer.from(tree['static/rendered.txt'].bytes, 'base64').toString(),
      '#!/bin/sh\necho shop\n',
      'and replaced with it',
    )
    await compare(dir, {
      name: 'shop',
      owner: 'user:jane',
      repoUrl: 'github.com?owner=acme&repo=shop',
      docs: false,
      services: [],
      port: 1,
    })
  })
})
