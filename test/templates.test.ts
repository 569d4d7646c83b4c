// A template written for Backstage (UI pickers, the scaffolder's filters, `if`, fetch:plain,
// copyWithoutTemplating, publish:github's inputs, a custom step) creates a working app through
// `kplat create --template PATH`, with no edit, on the proving ground.
import assert from 'node:assert/strict'
import {cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync} from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {execFile} from 'node:child_process'
import {before, describe, it} from 'node:test'
import {promisify} from 'node:util'
import * as k8s from '@kubernetes/client-node'
import {ROOT, runBin} from './helpers/cli.js'
import {ground, uniqueName, type TestGround} from './helpers/ground.js'

const ORG = 'acme'
const exec = promisify(execFile)

const TEMPLATE = `apiVersion: scaffolder.backstage.io/v1beta3
kind: Template
metadata:
  name: backstage-node
  title: Node service, as written for Backstage
spec:
  owner: group:default/platform
  type: service
  parameters:
    - title: Component
      required: [name, owner]
      properties:
        name: {title: Name, type: string, ui:field: EntityNamePicker, ui:autofocus: true}
        owner: {title: Owner, type: string, ui:field: OwnerPicker, ui:options: {catalogFilter: {kind: Group}}}
        docs: {title: With docs, type: boolean, default: true}
    - title: Repository
      required: [repoUrl]
      properties:
        repoUrl: {title: Repository, type: string, ui:field: RepoUrlPicker, ui:options: {allowedHosts: [github.com]}}
  steps:
    - id: fetch
      name: Fetch the skeleton
      action: fetch:template
      input:
        url: ./skeleton
        copyWithoutTemplating: ['static/**']
        values:
          name: \${{ parameters.name }}
          owner: \${{ parameters.repoUrl | parseRepoUrl | pick('owner') }}
          team: \${{ parameters.owner | parseEntityRef | pick('name') }}
          description: \${{ parameters.name }} for \${{ parameters.owner | parseEntityRef | pick('name') }}
          port: 8080
          registry: ghcr.io
          appsDomain: ''
    - id: docs
      if: \${{ parameters.docs }}
      action: fetch:plain
      input: {url: ./docs, targetPath: ./docs}
    - id: publish
      action: publish:github
      input:
        repoUrl: \${{ parameters.repoUrl }}
        description: Made from Backstage's template for \${{ parameters.repoUrl | projectSlug }}
        repoVisibility: public
        topics: [kplat, '\${{ parameters.owner | parseEntityRef | pick("name") }}']
    - id: argocd
      name: Register with Argo CD
      action: argocd:create-helm-application
      input:
        appName: \${{ parameters.name }}
        repoUrl: \${{ steps.publish.output.remoteUrl }}
    - id: register
      action: catalog:register
      input:
        repoContentsUrl: \${{ steps.publish.output.repoContentsUrl }}
        catalogInfoPath: /catalog-info.yaml
`

describe('a template written for Backstage, through kplat create, on the proving ground', () => {
  let g: TestGround
  const work = mkdtempSync(path.join(os.tmpdir(), 'kplat-templates-'))
  const tpl = path.join(work, 'tpl')
  /** Commits all of `source` as the platform team and pushes it to main of `url` (made a repository the first time). */
  const publish = async (source: string, url: string, message: string) => {
    const git = (args: string[]) =>
      exec('git', ['-C', source, ...args], {env: {...process.env, GIT_TERMINAL_PROMPT: '0'}})
    if (!existsSync(path.join(source, '.git'))) await git(['init', '-q', '-b', 'main'])
    await git(['add', '-A'])
    await git(['-c', 'user.name=platform', '-c', 'user.email=platform@example.com', 'commit', '-qm', message])
    const auth = `http.extraHeader=Authorization: Basic ${Buffer.from(`x:${g.env.GITHUB_TOKEN}`).toString('base64')}`
    await git(['-c', auth, 'push', '-q', url, 'main'])
  }

  before(async () => {
    g = await ground()
    cpSync(path.join(ROOT, 'skeletons', 'node', 'skeleton'), path.join(tpl, 'skeleton'), {recursive: true})
    mkdirSync(path.join(tpl, 'skeleton', 'static'), {recursive: true})
    writeFileSync(path.join(tpl, 'skeleton', 'static', 'banner.txt'), 'served as is: ${{ values.name }}\n')
    writeFileSync(path.join(tpl, 'skeleton', 'TEAM'), '${{ values.team }}\n')
    mkdirSync(path.join(tpl, 'docs'), {recursive: true})
    writeFileSync(path.join(tpl, 'docs', 'index.md'), '# Docs\n\n${{ copied as they are }}\n')
    writeFileSync(path.join(tpl, 'template.yaml'), TEMPLATE)
  })

  it("creates a working app with no edit: pickers filled from the app, filters, `if`, fetch:plain, publish:github's inputs, and a warning for the steps kplat does not run", async () => {
    const name = uniqueName('bks')
    const r = await runBin(['create', name, '--template', tpl, '--param', 'owner=group:default/payments', '--json'], {
      env: {PATH: process.env.PATH, HOME: process.env.HOME, ...g.env},
      cwd: work,
    })
    assert.equal(r.code, 0, r.stderr)
    assert.match(
      r.stderr,
      /Warning: the template's step "argocd" \(argocd:create-helm-application\) is not run by kplat: its own flow registers the app with Argo CD/,
    )
    assert.match(r.stderr, /catalog:register step is not run: the platform has no Backstage configured/)
    const warned = r.stderr.indexOf('argocd:create-helm-application')
    assert.ok(
      warned >= 0 && warned < r.stderr.indexOf('Creating the repository'),
      'the warning comes before anything is created',
    )

    const headers = {authorization: `token ${g.env.GITHUB_TOKEN}`}
    const repo = (await (await fetch(`${g.env.GITHUB_API_URL}/repos/${ORG}/${name}`, {headers})).json()) as {
      description: string
      private: boolean
      topics: string[]
    }
    assert.deepEqual(repo.topics, ['kplat', 'payments'], "publish:github's topics")
    assert.equal(
      repo.description,
      `Made from Backstage's template for ${ORG}/${name} (created by kplat)`,
      "the template's description, with the mark kplat knows its repositories by",
    )
    assert.equal(repo.private, false)
    // The clone create made holds what was pushed.
    const result = JSON.parse(r.stdout) as {commit: string; dir: string}
    const file = async (p: string) => readFileSync(path.join(result.dir, p), 'utf8')

    assert.equal(await file('TEAM'), 'payments\n')
    assert.equal(await file('static/banner.txt'), 'served as is: ${{ values.name }}\n')
    assert.equal(await file('docs/index.md'), '# Docs\n\n${{ copied as they are }}\n')

    // It deployed: Healthy, running the pushed commit's image.
    const pods = await g.admin().makeApiClient(k8s.CoreV1Api).listNamespacedPod({namespace: name})
    assert.ok(
      pods.items.some(
        (p) =>
          p.status?.phase === 'Running' && p.spec!.containers[0].image === `ghcr.io/${ORG}/${name}:${result.commit}`,
      ),
    )
  })

  it('lists the shipped templates and those the platform publishes in a git repository, and creates from one by name', async () => {
    const env = {PATH: process.env.PATH, HOME: process.env.HOME, ...g.env}
    const shipped = await runBin(['templates', '--json'], {env, cwd: work})
    assert.equal(shipped.code, 0, shipped.stderr)
    const list = JSON.parse(shipped.stdout) as Array<{
      name: string
      source: string
      title: string
      parameters: Array<{name: string; required: boolean; type?: string; field?: string}>
    }>
    assert.deepEqual(
      list.map((t) => [t.name, t.source]),
      [['node', 'shipped']],
    )
    assert.deepEqual(
      list[0].parameters.filter((p) => p.required).map((p) => p.name),
      ['name', 'owner'],
    )

    // The platform team's repository of golden paths, on the ground's GitHub.
    const headers = {authorization: `token ${g.env.GITHUB_TOKEN}`, 'content-type': 'application/json'}
    const made = (await (
      await fetch(`${g.env.GITHUB_API_URL}/orgs/${ORG}/repos`, {
        method: 'POST',
        headers,
        body: JSON.stringify({name: uniqueName('golden-paths')}),
      })
    ).json()) as {clone_url: string}
    const source = path.join(work, 'golden')
    cpSync(tpl, path.join(source, 'services', 'backstage-node'), {recursive: true})
    await publish(source, made.clone_url, 'Golden paths')

    const withPlatform = {...env, KPLAT_TEMPLATES: made.clone_url, KPLAT_CACHE: path.join(work, 'cache')}
    const both = await runBin(['templates'], {env: withPlatform, cwd: work})
    assert.equal(both.code, 0, both.stderr)
    assert.match(both.stdout, /^NAME\s+TITLE\s+SOURCE\s+PARAMETERS$/m)
    assert.match(
      both.stdout,
      /^node\s+Node\.js HTTP service\s+shipped\s+name owner team\? description\? port\? registry\? appsDomain\?$/m,
    )
    assert.match(
      both.stdout,
      new RegExp(
        `^backstage-node\\s+Node service, as written for Backstage\\s+${made.clone_url.replace(/[.?]/g, '\\$&')}\\s+name owner docs\\? repoUrl$`,
        'm',
      ),
    )

    // A kplat stopped by Ctrl-C while it updated the cache left git's lock behind; the
    // platform team has pushed since. The next use serves the new commit all the same.
    const [copy] = readdirSync(path.join(work, 'cache', 'templates'))
    writeFileSync(path.join(work, 'cache', 'templates', copy, '.git', 'index.lock'), '')
    const yaml = path.join(source, 'services', 'backstage-node', 'template.yaml')
    writeFileSync(
      yaml,
      readFileSync(yaml, 'utf8').replace('Node service, as written for Backstage', 'Node service, revised'),
    )
    await publish(source, made.clone_url, 'Revise')
    const revised = await runBin(['templates'], {env: withPlatform, cwd: work})
    assert.equal(revised.code, 0, revised.stderr)
    assert.match(revised.stdout, /^backstage-node\s+Node service, revised\s+/m)
    assert.deepEqual(readdirSync(path.join(work, 'cache', 'templates')), [copy], 'one copy, swapped in whole')

    const planned = await runBin(
      [
        'create',
        uniqueName('gp'),
        '--template',
        'backstage-node',
        '--param',
        'owner=group:default/payments',
        '--dry-run',
        '--json',
      ],
      {env: withPlatform, cwd: work},
    )
    assert.equal(planned.code, 0, planned.stderr)
    assert.ok((JSON.parse(planned.stdout) as {dryRun: {files: string[]}}).dryRun.files.includes('TEAM'))
    const unknown = await runBin(['create', 'x-app', '--template', 'nosuch', '--dry-run'], {
      env: withPlatform,
      cwd: work,
    })
    assert.equal(unknown.code, 2)
    assert.match(
      unknown.stderr,
      /no template named "nosuch" \(on offer: node, backstage-node\)\. Run `kplat templates` to list them/,
    )
  })

  it('says what is wrong with a template, with its file and line, and creates nothing', async () => {
    const env = {PATH: process.env.PATH, HOME: process.env.HOME, ...g.env}
    const broken = path.join(work, 'broken')
    cpSync(tpl, broken, {recursive: true})
    writeFileSync(path.join(broken, 'skeleton', 'NOTES.md'), 'fine\n${{ values.name | nosuchfilter }}\n')
    const name = uniqueName('broken')
    const r = await runBin(['create', name, '--template', broken, '--param', 'owner=group:default/payments'], {
      env,
      cwd: work,
    })
    assert.equal(r.code, 1, r.stderr)
    assert.match(
      r.stderr,
      /^Error: the template does not render: NOTES\.md line 2: filter not found: nosuchfilter\. Fix the template \(the file and line above\); nothing was created$/m,
    )
    assert.doesNotMatch(r.stderr, /bug in kplat/)
    assert.equal(
      (
        await fetch(`${g.env.GITHUB_API_URL}/repos/${ORG}/${name}`, {
          headers: {authorization: `token ${g.env.GITHUB_TOKEN}`},
        })
      ).status,
      404,
      'no repository was created',
    )

    const old = path.join(work, 'old')
    cpSync(tpl, old, {recursive: true})
    writeFileSync(
      path.join(old, 'template.yaml'),
      TEMPLATE.replace('scaffolder.backstage.io/v1beta3', 'backstage.io/v1beta2'),
    )
    const refused = await runBin(['create', uniqueName('old'), '--template', old], {env, cwd: work})
    assert.equal(refused.code, 2)
    assert.match(
      refused.stderr,
      /template\.yaml is not a Backstage Software Template \(want apiVersion scaffolder\.backstage\.io\/v1beta3, kind Template\)/,
    )
  })

  it("fetches a step's folder named by its GitHub URL, as Backstage templates often do, and refuses a URL it cannot fetch", async () => {
    const env = {PATH: process.env.PATH, HOME: process.env.HOME, ...g.env, KPLAT_CACHE: path.join(work, 'cache-url')}
    const headers = {authorization: `token ${g.env.GITHUB_TOKEN}`, 'content-type': 'application/json'}
    const made = (await (
      await fetch(`${g.env.GITHUB_API_URL}/orgs/${ORG}/repos`, {
        method: 'POST',
        headers,
        body: JSON.stringify({name: uniqueName('shared')}),
      })
    ).json()) as {clone_url: string; html_url: string}
    const source = path.join(work, 'shared-src')
    mkdirSync(path.join(source, 'shared', 'docs'), {recursive: true})
    writeFileSync(path.join(source, 'shared', 'docs', 'index.md'), '# Shared docs ${{ kept }}\n')
    mkdirSync(path.join(source, 'shared', 'extra'), {recursive: true})
    writeFileSync(path.join(source, 'shared', 'extra', '${{ values.name }}.txt'), 'made for ${{ values.name }}\n')
    await publish(source, made.clone_url, 'Shared')

    const remote = path.join(work, 'remote-tpl')
    cpSync(tpl, remote, {recursive: true})
    writeFileSync(
      path.join(remote, 'template.yaml'),
      TEMPLATE.replace(
        '      input: {url: ./docs, targetPath: ./docs}',
        `      input: {url: '${made.html_url}/tree/main/shared/docs', targetPath: ./docs}
    - id: extra
      action: fetch:template
      input: {url: '${made.html_url}/tree/main/shared/extra', targetPath: ./extra, values: {name: '\${{ parameters.name }}'}}`,
      ),
    )
    const name = uniqueName('remote')
    const planned = await runBin(
      ['create', name, '--template', remote, '--param', 'owner=group:default/payments', '--dry-run', '--json'],
      {env, cwd: work},
    )
    assert.equal(planned.code, 0, planned.stderr)
    const files = (JSON.parse(planned.stdout) as {dryRun: {files: string[]}}).dryRun.files
    assert.ok(files.includes('docs/index.md') && files.includes(`extra/${name}.txt`), files.join(' '))

    writeFileSync(
      path.join(remote, 'template.yaml'),
      TEMPLATE.replace(
        '      input: {url: ./docs, targetPath: ./docs}',
        "      input: {url: 'https://example.invalid/archive.zip', targetPath: ./docs}",
      ),
    )
    const refused = await runBin(
      ['create', uniqueName('remote'), '--template', remote, '--param', 'owner=group:default/payments', '--dry-run'],
      {env, cwd: work},
    )
    assert.equal(refused.code, 1)
    assert.match(
      refused.stderr,
      /Error: the template's step docs fetches https:\/\/example\.invalid\/archive\.zip, which kplat cannot fetch\. Use a folder beside template\.yaml, or a GitHub folder URL/,
    )
  })
})
