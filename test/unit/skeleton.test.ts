import assert from 'node:assert/strict'
import {chmodSync, mkdirSync, mkdtempSync, symlinkSync, writeFileSync} from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {describe, it} from 'node:test'
import {parseParams, resolveParameters, type Question} from '../../src/lib/skeleton/parameters.js'
import {TemplateError} from '../../src/lib/skeleton/expressions.js'
import {renderSkeleton, runTemplate, stepValues} from '../../src/lib/skeleton/render.js'
import {loadTemplate} from '../../src/lib/skeleton/template.js'
import {UsageError} from '../../src/lib/errors.js'

function skeleton(files: Record<string, string | Buffer>, executable: string[] = []): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'kplat-skel-'))
  for (const [file, content] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, file)), {recursive: true})
    writeFileSync(path.join(dir, file), content)
  }

  for (const file of executable) chmodSync(path.join(dir, file), 0o755)
  return dir
}

describe("skeleton rendering, as Backstage's fetch:template does it", () => {
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
    assert.deepEqual(
      (await renderSkeleton(dir, {name: 'svc', docs: false})).map((f) => f.path),
      ['svc/main.js'],
    )
    assert.deepEqual(
      (await renderSkeleton(dir, {name: 'svc', docs: true})).map((f) => f.path),
      ['docs.md', 'svc/main.js'],
    )
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
    await assert.rejects(
      renderSkeleton(dir, {where: '../..'}),
      (e: unknown) => e instanceof UsageError && /outside the new repository/.test(e.message),
    )
  })

  it("passes the step's values with their types, and validates --param with the schema's own message", async () => {
    const template = await loadTemplate(path.resolve('skeletons/node'))
    const params = await resolveParameters(
      template,
      {name: 'myapp', owner: 'acme'},
      parseParams(['port=9090']),
      undefined,
    )
    const fetchStep = template.steps.find((s) => s.action === 'fetch:template')!
    assert.deepEqual(await stepValues(fetchStep.input!.values as Record<string, unknown>, params), {
      name: 'myapp',
      owner: 'acme',
      team: '',
      description: 'A service created with kplat',
      port: 9090,
      registry: 'ghcr.io',
      appsDomain: '',
    })
    await assert.rejects(
      resolveParameters(template, {name: 'myapp', owner: 'acme'}, {port: '70000'}, undefined),
      /template parameter "port" must be <= 65535\. Pass --param port=VALUE|must be <= 65535/,
    )
    await assert.rejects(
      resolveParameters(template, {name: 'myapp'}, {}, undefined),
      /template parameter "owner" is required/,
    )
    await assert.rejects(
      resolveParameters(template, {name: '9lives', owner: 'acme'}, {}, undefined),
      /template parameter "name" must match pattern "\^\[a-z\]/,
    )
    await assert.rejects(
      resolveParameters(template, {name: 'myapp', owner: 'acme'}, {port: 'eighty'}, undefined),
      /template parameter "port" must be integer/,
    )
    await assert.rejects(
      resolveParameters(template, {name: 'myapp', owner: 'a'}, {colour: 'red'}, undefined),
      /has no parameter "colour"/,
    )
    assert.throws(() => parseParams(['novalue']), /--param "novalue" is not key=value/)
  })

  it('says what it needs of a person and takes the answer back, without asking anyone itself', async () => {
    const template = await loadTemplate(path.resolve('skeletons/node'))
    const asked: Question[] = []
    const params = await resolveParameters(template, {name: 'myapp'}, {}, async (q) => {
      asked.push(q)
      return 'acme'
    })
    assert.deepEqual(asked, [
      {
        key: 'owner',
        message: template.parameters.properties.owner.title ?? 'owner',
        kind: 'input',
        flagHint: 'Pass --param owner=VALUE',
      },
    ])
    assert.equal(params.owner, 'acme')
  })
})

/** A template folder: template.yaml (from an object) and files beside it. */
async function templateDir(doc: Record<string, unknown>, files: Record<string, string | Buffer>): Promise<string> {
  const {stringify} = await import('yaml')
  return skeleton({
    'template.yaml': stringify({
      apiVersion: 'scaffolder.backstage.io/v1beta3',
      kind: 'Template',
      metadata: {name: 'golden'},
      ...doc,
    }),
    ...files,
  })
}

const repo = {host: 'github.example.com', owner: 'acme', name: 'shop'}

describe('Backstage templates: expressions, steps and fetch options', () => {
  it("has Backstage's filters: parseRepoUrl, parseEntityRef (with its defaults), pick, projectSlug, and Nunjucks' own", async () => {
    const dir = await templateDir(
      {
        spec: {
          steps: [
            {
              id: 'fetch',
              action: 'fetch:template',
              input: {
                url: './skeleton',
                values: {
                  repoUrl: '${{ parameters.repoUrl }}',
                  owner: '${{ parameters.repoUrl | parseRepoUrl | pick("owner") }}',
                  slug: '${{ parameters.repoUrl | projectSlug }}',
                  team: '${{ parameters.team | parseEntityRef | pick("name") }}',
                  kind: '${{ (parameters.team | parseEntityRef({defaultKind: "group"})).kind }}',
                  ns: '${{ (parameters.system | parseEntityRef).namespace }}',
                  upper: '${{ parameters.name | upper | replace("SHOP", "Shop!") }}',
                },
              },
            },
          ],
        },
      },
      {
        'skeleton/out.txt':
          '${{ values.owner }} ${{ values.slug }} ${{ values.team }} ${{ values.kind }} ${{ values.ns }} ${{ values.upper }} ${{ values.repoUrl | parseRepoUrl | dump }}',
      },
    )
    const template = await loadTemplate(dir)
    const run = await runTemplate(
      template,
      {
        repoUrl: 'github.example.com?owner=acme&repo=shop',
        team: 'group:platform/web',
        system: 'system:payments',
        name: 'shop',
      },
      repo,
    )
    assert.equal(
      run.files[0].content.toString(),
      'acme acme/shop web group default Shop! {"host":"github.example.com","owner":"acme","repo":"shop"}',
    )
    await assert.rejects(
      runTemplate(
        template,
        {repoUrl: 'github.example.com?owner=acme&repo=shop', team: 'platform', system: 'x:y', name: 'shop'},
        repo,
      ),
      (e: unknown) =>
        e instanceof TemplateError && /step fetch input\.values\.team: .*had missing or empty kind/.test(e.message),
    )
  })

  it('keeps the type of an input that is one expression alone, leaves out one that renders empty, and skips a step whose `if` is false', async () => {
    const dir = await templateDir(
      {
        spec: {
          steps: [
            {
              id: 'a',
              action: 'fetch:template',
              input: {
                url: './a',
                values: {
                  port: '${{ parameters.port }}',
                  tags: '${{ parameters.tags }}',
                  label: 'port ${{ parameters.port }}',
                  none: '${{ parameters.missing }}',
                },
              },
            },
            {
              id: 'docs',
              if: '${{ parameters.docs }}',
              action: 'fetch:plain',
              input: {url: './docs', targetPath: './docs'},
            },
            {id: 'never', if: false, action: 'fetch:plain', input: {url: './docs', targetPath: './never'}},
          ],
        },
      },
      {'a/v.json': '${{ values | dump }}', 'docs/index.md': '# ${{ not rendered }}'},
    )
    const template = await loadTemplate(dir)
    const off = await runTemplate(template, {port: 8080, tags: ['a', 'b'], docs: false}, repo)
    assert.deepEqual(JSON.parse(off.files.find((f) => f.path === 'v.json')!.content.toString()), {
      port: 8080,
      tags: ['a', 'b'],
      label: 'port 8080',
    })
    assert.deepEqual(
      off.files.map((f) => f.path),
      ['v.json'],
    )
    const on = await runTemplate(template, {port: 8080, tags: [], docs: true}, repo)
    assert.deepEqual(
      on.files.map((f) => f.path),
      ['docs/index.md', 'v.json'],
    )
    assert.equal(on.files[0].content.toString(), '# ${{ not rendered }}', 'fetch:plain copies as it is')
  })

  it('honours copyWithoutTemplating, copyWithoutRender, templateFileExtension, cookiecutterCompat and targetPath', async () => {
    const files = {
      's/${{ values.name }}.md': 'x ${{ values.name }}',
      's/static/${{ values.name }}.txt': 'raw ${{ values.name }}',
      's/page.html.njk': '<b>${{ values.name }}</b>',
      's/plain.html': '<i>${{ values.name }}</i>',
    }
    const dir = skeleton(files)
    const render = (opts: Record<string, unknown>) => renderSkeleton(path.join(dir, 's'), {name: 'shop'}, opts)
    const text = (list: Array<{path: string; content: Buffer}>) =>
      Object.fromEntries(list.map((f) => [f.path, f.content.toString()]))
    assert.deepEqual(text(await render({copyWithoutTemplating: ['static/**']})), {
      'page.html.njk': '<b>shop</b>',
      'plain.html': '<i>shop</i>',
      'shop.md': 'x shop',
      'static/shop.txt': 'raw ${{ values.name }}',
    })
    // Backstage 4.x accepts copyWithoutRender and ignores it; so does kplat.
    assert.deepEqual(text(await render({copyWithoutRender: ['static/**']}))['static/shop.txt'], 'raw shop')
    assert.deepEqual(
      text(await render({copyWithoutTemplating: ['static/**', '!static/*.md']}))['static/shop.txt'],
      'raw ${{ values.name }}',
    )
    assert.deepEqual(text(await render({templateFileExtension: true, targetPath: './web'})), {
      'web/page.html': '<b>shop</b>',
      'web/plain.html': '<i>${{ values.name }}</i>',
      'web/shop.md': 'x ${{ values.name }}',
      'web/static/shop.txt': 'raw ${{ values.name }}',
    })
    const cookie = skeleton({
      '{{ cookiecutter.name }}/README.md': 'Hello {{ cookiecutter.name }} {{ cookiecutter.tags | jsonify }}',
    })
    assert.deepEqual(text(await renderSkeleton(cookie, {name: 'shop', tags: ['a']}, {cookiecutterCompat: true})), {
      'shop/README.md': 'Hello shop ["a"]',
    })
    await assert.rejects(render({targetPath: '../up'}), /targetPath \.\.\/up leaves the new repository/)
  })

  it("reads step inputs as Backstage does: one template node keeps its values' types, text around them makes a string", async () => {
    const dir = await templateDir(
      {
        spec: {
          steps: [
            {
              id: 'a',
              action: 'fetch:template',
              input: {
                url: './a',
                values: {
                  block: '{% if parameters.on %}${{ parameters.port }}{% endif %}',
                  spaced: ' ${{ parameters.port }} ',
                  object: '${{ {"port": parameters.port} }}',
                  text: '${{ parameters.name }}',
                  numeric: '${{ parameters.digits }}',
                  trailing: '${{ parameters.port }}\n',
                },
              },
            },
          ],
        },
      },
      {'a/v.json': '${{ values | dump }}'},
    )
    const run = await runTemplate(await loadTemplate(dir), {on: true, port: 8080, name: 'shop', digits: '007'}, repo)
    assert.deepEqual(JSON.parse(run.files[0].content.toString()), {
      block: 8080,
      spaced: ' 8080 ',
      object: {port: 8080},
      text: 'shop',
      numeric: '007',
      trailing: '8080\n',
    })
  })

  it('runs a step once per item of `each`, keeps what an earlier step wrote unless `replace`, and honours trimBlocks', async () => {
    const dir = await templateDir(
      {
        spec: {
          steps: [
            {
              id: 'each',
              each: '${{ parameters.services }}',
              action: 'fetch:template',
              input: {
                url: './svc',
                targetPath: './${{ each.value }}',
                values: {name: '${{ each.value }}', index: '${{ each.key }}'},
              },
            },
            {id: 'first', action: 'fetch:template', input: {url: './one', values: {}}},
            {id: 'second', action: 'fetch:template', input: {url: './two', values: {}}},
            {
              id: 'third',
              action: 'fetch:template',
              input: {url: './three', values: {}, replace: true, trimBlocks: true},
            },
          ],
        },
      },
      {
        'svc/name.txt': '${{ values.name }} ${{ values.index }}',
        'one/a.txt': 'one',
        'one/b.txt': 'one',
        'two/a.txt': 'two',
        'three/b.txt': '{% if true %}\nthree\n{% endif %}\n',
      },
    )
    const run = await runTemplate(await loadTemplate(dir), {services: ['api', 'web']}, repo)
    const text = Object.fromEntries(run.files.map((f) => [f.path, f.content.toString()]))
    assert.deepEqual(text, {'a.txt': 'one', 'api/name.txt': 'api 0', 'b.txt': 'three\n', 'web/name.txt': 'web 1'})
  })

  it('keeps a link inside the template as a link, drops one that leaves it or dangles, and copies bytes a text reading would change', async () => {
    const {symlinkSync} = await import('node:fs')
    const outside = skeleton({'secret.txt': 'TOP SECRET'})
    const dir = skeleton({
      'real.txt': 'real',
      'latin1.txt': Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x20, 0xe0, 0xe8, 0xec, 0xf2, 0xf9, 0xff, 0xfe, 0xfd]),
      'pdf.pdf': '%PDF-1.4 ${{ values.name }}',
    })
    symlinkSync('real.txt', path.join(dir, 'inside.txt'))
    symlinkSync(path.join(outside, 'secret.txt'), path.join(dir, 'leak.txt'))
    symlinkSync('nowhere.txt', path.join(dir, 'dangling.txt'))
    const files = await renderSkeleton(dir, {name: 'shop'})
    assert.deepEqual(
      files.map((f) => [f.path, f.mode]),
      [
        ['inside.txt', '120000'],
        ['latin1.txt', '100644'],
        ['pdf.pdf', '100644'],
        ['real.txt', '100644'],
      ],
    )
    assert.equal(files[0].content.toString(), 'real.txt')
    assert.ok(!files.some((f) => f.content.includes('TOP SECRET')))
    assert.deepEqual(
      files[1].content,
      Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x20, 0xe0, 0xe8, 0xec, 0xf2, 0xf9, 0xff, 0xfe, 0xfd]),
    )
    assert.equal(files[2].content.toString(), '%PDF-1.4 ${{ values.name }}')
  })

  it("reports a template's own mistake with its file and line, as a template error", async () => {
    const bad = skeleton({'ok.txt': 'fine', 'conf/app.yaml': 'a: 1\nb: ${{ values.name | nosuchfilter }}\n'})
    await assert.rejects(
      renderSkeleton(bad, {name: 'shop'}),
      (e: unknown) =>
        e instanceof TemplateError &&
        e.message === 'the template does not render: conf/app.yaml line 2: filter not found: nosuchfilter',
    )
    const syntax = skeleton({'broken.txt': 'x\ny\n{% if values.name %}open'})
    await assert.rejects(
      renderSkeleton(syntax, {name: 'shop'}),
      (e: unknown) =>
        e instanceof TemplateError && /^the template does not render: broken\.txt line 3: /.test(e.message),
    )
  })

  it("runs the fetch steps, hands publish:github's and catalog:register's inputs to kplat's flow, and lists the steps it does not run", async () => {
    const dir = await templateDir(
      {
        spec: {
          steps: [
            {
              id: 'fetch',
              action: 'fetch:template',
              input: {url: './skeleton', values: {name: '${{ parameters.name }}'}},
            },
            {
              id: 'publish',
              action: 'publish:github',
              input: {
                repoUrl: '${{ parameters.repoUrl }}',
                description: 'The ${{ parameters.name }} app',
                repoVisibility: 'private',
                topics: ['kplat'],
              },
            },
            {id: 'argocd', action: 'argocd:create-helm-application', input: {appName: '${{ parameters.name }}'}},
            {
              id: 'register',
              action: 'catalog:register',
              input: {
                repoContentsUrl: '${{ steps.publish.output.repoContentsUrl }}',
                catalogInfoPath: '/catalog-info.yaml',
              },
            },
          ],
        },
      },
      {'skeleton/catalog-info.yaml': 'name: ${{ values.name }}'},
    )
    const run = await runTemplate(
      await loadTemplate(dir),
      {name: 'shop', repoUrl: 'github.example.com?owner=acme&repo=shop'},
      repo,
    )
    assert.deepEqual(run.publish, {
      repoUrl: 'github.example.com?owner=acme&repo=shop',
      description: 'The shop app',
      repoVisibility: 'private',
      topics: ['kplat'],
    })
    assert.deepEqual(run.register, {
      repoContentsUrl: 'https://github.example.com/acme/shop/blob/main',
      catalogInfoPath: '/catalog-info.yaml',
    })
    assert.deepEqual(run.skipped, [{id: 'argocd', action: 'argocd:create-helm-application'}])
  })

  it('says what is wrong with a fetch:template:file step: no targetPath, a folder for a file, a path outside the repository', async () => {
    const step = (input: Record<string, unknown>) =>
      templateDir(
        {spec: {steps: [{id: 'one', action: 'fetch:template:file', input}]}},
        {'files/a.txt': 'a ${{ values.x }}'},
      )
    const run = async (input: Record<string, unknown>) =>
      runTemplate(await loadTemplate(await step(input)), {name: 'shop'}, repo)
    assert.deepEqual(
      (await run({url: './files/a.txt', targetPath: 'b/a.txt', values: {x: 1}})).files.map((f) => [
        f.path,
        f.content.toString(),
        f.mode,
      ]),
      [['b/a.txt', 'a 1', '100644']],
    )
    await assert.rejects(
      run({url: './files/a.txt'}),
      (e: unknown) =>
        e instanceof TemplateError && e.message === "the template's step one (fetch:template:file) has no targetPath",
    )
    await assert.rejects(
      run({url: './files', targetPath: 'a.txt'}),
      (e: unknown) =>
        e instanceof TemplateError && e.message === "the template's step one fetches ./files, which is not a file",
    )
    await assert.rejects(
      run({url: './files/a.txt', targetPath: '../a.txt'}),
      (e: unknown) => e instanceof TemplateError && /leaves the new repository/.test(e.message),
    )
  })

  it('never follows a link out of the template, nor writes a file where an earlier step put a folder or under a file', async () => {
    const secret = path.join(mkdtempSync(path.join(os.tmpdir(), 'kplat-secret-')), 'token')
    writeFileSync(secret, 'ghp_not-for-the-repository')
    const dir = await templateDir(
      {
        spec: {
          steps: [{id: 'one', action: 'fetch:template:file', input: {url: './files/linked.txt', targetPath: 'a.txt'}}],
        },
      },
      {'files/a.txt': 'a'},
    )
    symlinkSync(secret, path.join(dir, 'files', 'linked.txt'))
    await assert.rejects(
      runTemplate(await loadTemplate(dir), {name: 'shop'}, repo),
      (e: unknown) =>
        e instanceof TemplateError &&
        e.message === "the template's step one fetches ./files/linked.txt, outside the template's folder",
    )
    const folder = await templateDir(
      {spec: {steps: [{id: 'all', action: 'fetch:template', input: {url: './elsewhere'}}]}},
      {},
    )
    symlinkSync(path.dirname(secret), path.join(folder, 'elsewhere'))
    await assert.rejects(
      runTemplate(await loadTemplate(folder), {name: 'shop'}, repo),
      (e: unknown) =>
        e instanceof TemplateError && /fetches \.\/elsewhere, outside the template's folder/.test(e.message),
    )

    const steps = (targetPath: string) =>
      templateDir(
        {
          spec: {
            steps: [
              {id: 'tree', action: 'fetch:template', input: {url: './tree'}},
              {id: 'one', action: 'fetch:template:file', input: {url: './one.txt', targetPath, replace: true}},
            ],
          },
        },
        {'tree/conf/x.txt': 'x', 'tree/README.md': 'r', 'one.txt': 'one'},
      )
    await assert.rejects(
      runTemplate(await loadTemplate(await steps('conf')), {name: 'shop'}, repo),
      (e: unknown) =>
        e instanceof TemplateError &&
        e.message === "the template's step one writes conf, but conf is a folder an earlier step wrote",
    )
    await assert.rejects(
      runTemplate(await loadTemplate(await steps('README.md/x')), {name: 'shop'}, repo),
      (e: unknown) =>
        e instanceof TemplateError &&
        e.message === "the template's step one writes README.md/x, but README.md is a file an earlier step wrote",
    )
  })

  it("fills Backstage's pickers from the app: EntityNamePicker, RepoUrlPicker (a --param for another repository refused); takes the others and `dependencies` from --param", async () => {
    const dir = await templateDir(
      {
        spec: {
          parameters: [
            {
              required: ['name', 'repoUrl', 'owner'],
              properties: {
                name: {type: 'string', 'ui:field': 'EntityNamePicker'},
                owner: {type: 'string', 'ui:field': 'OwnerPicker', 'ui:options': {catalogFilter: {kind: 'Group'}}},
                repoUrl: {type: 'string', 'ui:field': 'RepoUrlPicker', 'ui:options': {allowedHosts: ['github.com']}},
                token: {type: 'string', 'ui:widget': 'password'},
                database: {type: 'boolean', default: false},
              },
              dependencies: {
                database: {
                  oneOf: [
                    {properties: {database: {const: true}, engine: {type: 'string', enum: ['postgres', 'mysql']}}},
                  ],
                },
              },
            },
          ],
          steps: [],
        },
      },
      {},
    )
    const template = await loadTemplate(dir)
    const secrets: string[] = []
    const app = {...repo, secrets: (v: string) => secrets.push(v)}
    const values = await resolveParameters(
      template,
      {},
      parseParams(['owner=group:default/web', 'token=hunter2-secret', 'database=true', 'engine=postgres']),
      undefined,
      app,
    )
    assert.deepEqual(values, {
      name: 'shop',
      owner: 'group:default/web',
      repoUrl: 'github.example.com?owner=acme&repo=shop',
      token: 'hunter2-secret',
      database: true,
      engine: 'postgres',
    })
    assert.deepEqual(secrets, ['hunter2-secret'], 'a password is registered for redaction')
    await assert.rejects(
      resolveParameters(
        template,
        {},
        {owner: 'x', repoUrl: 'github.example.com?owner=other&repo=thing'},
        undefined,
        app,
      ),
      (e: unknown) =>
        e instanceof UsageError &&
        /^--param repoUrl=github\.example\.com\?owner=other&repo=thing names the repository other\/thing, but kplat creates acme\/shop/.test(
          e.message,
        ) &&
        /kplat create thing --owner other/.test(e.hint ?? ''),
    )
    await assert.rejects(
      resolveParameters(template, {}, {}, undefined, app),
      (e: unknown) =>
        e instanceof UsageError &&
        e.message === 'template parameter "owner" is required (the schema: must have required property \'owner\')' &&
        e.hint === 'Pass --param owner=VALUE',
    )
  })
})

describe('a template.yaml that is not valid YAML', () => {
  it('is a template error naming the file and line, not a bug in kplat', async () => {
    const dir = skeleton({
      'template.yaml':
        'apiVersion: scaffolder.backstage.io/v1beta3\nkind: Template\nspec:\n  steps:\n    - input: {name: ${{ parameters.name }}}\n',
    })
    await assert.rejects(
      loadTemplate(dir),
      (e: unknown) =>
        e instanceof TemplateError &&
        new RegExp(`^${dir}/template\\.yaml line 5 is not valid YAML: `).test(e.message) &&
        /needs quotes/.test(e.hint ?? ''),
    )
  })
})
