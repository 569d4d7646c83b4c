// kplat and the platform's Backstage catalog, on the proving ground's real catalog backend:
// create registers the app's catalog-info.yaml, apps:info links the entity, apps:destroy
// removes the location kplat registered (and nothing else), `kplat templates` lists the
// catalog's templates and create runs one; a Backstage that refuses or is down is a warning
// after the app exists, never a rollback.
import assert from 'node:assert/strict'
import {execFile} from 'node:child_process'
import {cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {before, describe, it} from 'node:test'
import {promisify} from 'node:util'
import * as k8s from '@kubernetes/client-node'
import {freePort} from './ground/processes.js'
import {ROOT, runBin, type RunResult} from './helpers/cli.js'
import {ground, uniqueName, type TestGround} from './helpers/ground.js'

const exec = promisify(execFile)
const ORG = 'acme'

describe("kplat and the Backstage catalog, on the ground's real catalog backend", () => {
  let g: TestGround
  const work = mkdtempSync(path.join(os.tmpdir(), 'kplat-catalog-'))
  const env = (extra: NodeJS.ProcessEnv = {}) => ({
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    ...g.env,
    KPLAT_BACKSTAGE_URL: g.env.KPLAT_GROUND_BACKSTAGE_URL,
    KPLAT_BACKSTAGE_TOKEN: g.env.KPLAT_GROUND_BACKSTAGE_TOKEN,
    KPLAT_CACHE: path.join(work, 'cache'),
    ...extra,
  })
  const kplat = (args: string[], extra: NodeJS.ProcessEnv = {}): Promise<RunResult> =>
    runBin(args, {env: env(extra), cwd: work})
  /** Backstage's API, as the test's own client (the catalog's token). */
  const backstage = async (route: string, init: RequestInit = {}) =>
    fetch(`${g.env.KPLAT_GROUND_BACKSTAGE_URL}${route}`, {
      ...init,
      headers: {
        authorization: `Bearer ${g.env.KPLAT_GROUND_BACKSTAGE_TOKEN}`,
        'content-type': 'application/json',
        ...init.headers,
      },
    })
  const entity = async (name: string) => backstage(`/api/catalog/entities/by-name/component/default/${name}`)

  before(async () => {
    g = await ground()
  })

  it("registers a created app's catalog-info.yaml, links it in apps:info, and apps:destroy removes that location", async () => {
    const name = uniqueName('cat')
    const created = await kplat(['create', name, '--no-clone', '--json'])
    assert.equal(created.code, 0, created.stderr)
    const result = JSON.parse(created.stdout) as {catalog: string; repository: string}
    assert.equal(result.catalog, `${g.env.KPLAT_GROUND_BACKSTAGE_URL}/catalog/default/component/${name}`)
    assert.match(created.stderr, new RegExp(`Registering ${name} in the Backstage catalog\\.\\.\\. done`))
    assert.ok(!created.stderr.includes(g.env.KPLAT_GROUND_BACKSTAGE_TOKEN), 'the token is never printed')

    // Backstage read the file from the repository itself (its GitHub reader, through the contents API).
    const found = await entity(name)
    assert.equal(found.status, 200)
    const component = (await found.json()) as {metadata: {annotations: Record<string, string>}; spec: {owner: string}}
    assert.equal(component.metadata.annotations['kplat.dev/app'], name)
    // (Backstage's GitHub integration writes the file's folder URL with /tree/ in the annotation.)
    assert.match(
      component.metadata.annotations['backstage.io/managed-by-location'],
      new RegExp(`^url:${result.repository}/(blob|tree)/main/catalog-info\\.yaml$`),
    )

    const info = await kplat(['apps:info', '--app', name])
    assert.equal(info.code, 0, info.stderr)
    assert.match(info.stdout, new RegExp(`^Catalog:\\s+${result.catalog.replace(/[.?]/g, '\\$&')}$`, 'm'))

    // A rerun of create keeps the one location (Backstage answers 409) and says where it is.
    const again = await kplat(['create', name, '--no-clone', '--json'])
    assert.equal(again.code, 0, again.stderr)
    assert.equal((JSON.parse(again.stdout) as {catalog: string}).catalog, result.catalog)

    const destroyed = await kplat(['apps:destroy', '--app', name, '--confirm', name, '--json'])
    assert.equal(destroyed.code, 0, destroyed.stderr)
    assert.ok(
      (JSON.parse(destroyed.stdout) as {deleted: string[]}).deleted.includes(
        `Backstage catalog location ${result.repository}/blob/main/catalog-info.yaml`,
      ),
    )
    for (let i = 0; (await entity(name)).status !== 404; i++) {
      assert.ok(i < 100, 'the entity left the catalog')
      await new Promise((r) => setTimeout(r, 100))
    }
  })

  it('removes the location of a template whose catalog:register names another file and whose entity has another name', async () => {
    const templates = path.join(work, 'path-templates')
    const folder = path.join(templates, 'node-elsewhere')
    cpSync(path.join(ROOT, 'skeletons', 'node'), folder, {recursive: true})
    const info = path.join(folder, 'skeleton', 'catalog-info.yaml')
    mkdirSync(path.join(folder, 'skeleton', 'backstage'))
    writeFileSync(
      path.join(folder, 'skeleton', 'backstage', 'entity.yaml'),
      readFileSync(info, 'utf8').replace('  name: ${{ values.name }}\n', '  name: ${{ values.name }}-service\n'),
    )
    rmSync(info)
    const yaml = path.join(folder, 'template.yaml')
    writeFileSync(
      yaml,
      readFileSync(yaml, 'utf8')
        .replace('name: node\n', 'name: node-elsewhere\n')
        .replace(
          '  output:\n',
          [
            '    - id: register',
            '      name: Register',
            '      action: catalog:register',
            '      input:',
            '        repoContentsUrl: ${{ steps.publish.output.repoContentsUrl }}',
            '        catalogInfoPath: /backstage/entity.yaml',
            '  output:\n',
          ].join('\n'),
        ),
    )

    const name = uniqueName('cat-path')
    const created = await kplat(['create', name, '--template', 'node-elsewhere', '--no-clone', '--no-wait', '--json'], {
      KPLAT_TEMPLATES: templates,
    })
    assert.equal(created.code, 0, created.stderr)
    const {repository} = JSON.parse(created.stdout) as {repository: string}
    const target = `${repository}/blob/main/backstage/entity.yaml`
    for (let i = 0; (await entity(`${name}-service`)).status !== 200; i++) {
      assert.ok(i < 100, "the template's entity is in the catalog")
      await new Promise((r) => setTimeout(r, 100))
    }

    // A rerun without --template (as the retry hint says) keeps the location the first run recorded.
    const rerun = await kplat(['create', name, '--no-clone', '--no-wait'], {KPLAT_TEMPLATES: templates})
    assert.equal(rerun.code, 0, rerun.stderr)
    const application = (await g.admin().makeApiClient(k8s.CustomObjectsApi).getNamespacedCustomObject({
      group: 'argoproj.io',
      version: 'v1alpha1',
      plural: 'applications',
      namespace: 'argocd',
      name,
    })) as {metadata: {annotations: Record<string, string>}}
    assert.equal(application.metadata.annotations['kplat.dev/catalog-location'], target)
    // apps:info links the entity create registered, whatever its name.
    assert.equal(application.metadata.annotations['kplat.dev/catalog-entity'], `component:default/${name}-service`)
    const shown = await kplat(['apps:info', '--app', name, '--json'])
    assert.equal(shown.code, 0, shown.stderr)
    assert.equal(
      (JSON.parse(shown.stdout) as {catalog?: string}).catalog,
      `${g.env.KPLAT_GROUND_BACKSTAGE_URL}/catalog/default/component/${name}-service`,
    )

    const destroyed = await kplat(['apps:destroy', '--app', name, '--confirm', name, '--json'])
    assert.equal(destroyed.code, 0, destroyed.stderr)
    assert.ok(
      (JSON.parse(destroyed.stdout) as {deleted: string[]}).deleted.includes(`Backstage catalog location ${target}`),
      destroyed.stdout,
    )
    const locations = (await (await backstage('/api/catalog/locations')).json()) as Array<{data: {target: string}}>
    assert.ok(!locations.some((l) => l.data.target === target), 'the location is gone')
    for (let i = 0; (await entity(`${name}-service`)).status !== 404; i++) {
      assert.ok(i < 100, 'the entity left the catalog')
      await new Promise((r) => setTimeout(r, 100))
    }
  })

  it('leaves a location someone else registered for an app of the same name', async () => {
    const name = uniqueName('cat-foreign')
    const created = await kplat(['create', name, '--no-clone'], {KPLAT_BACKSTAGE_URL: ''})
    assert.equal(created.code, 0, created.stderr)
    // The platform team registered the entity from a file of its own (another repository).
    const other = (await (
      await fetch(`${g.env.GITHUB_API_URL}/orgs/${ORG}/repos`, {
        method: 'POST',
        headers: {authorization: `token ${g.env.GITHUB_TOKEN}`, 'content-type': 'application/json'},
        body: JSON.stringify({name: uniqueName('catalog'), auto_init: true}),
      })
    ).json()) as {html_url: string; full_name: string}
    const file = Buffer.from(
      `apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: ${name}}\nspec: {type: service, lifecycle: production, owner: platform}\n`,
    ).toString('base64')
    const api = (route: string, body: unknown) =>
      fetch(`${g.env.GITHUB_API_URL}/repos/${other.full_name}/${route}`, {
        method: 'POST',
        headers: {authorization: `token ${g.env.GITHUB_TOKEN}`, 'content-type': 'application/json'},
        body: JSON.stringify(body),
      }).then((r) => r.json() as Promise<{sha: string}>)
    const head = (await (
      await fetch(`${g.env.GITHUB_API_URL}/repos/${other.full_name}/git/ref/heads/main`, {
        headers: {authorization: `token ${g.env.GITHUB_TOKEN}`},
      })
    ).json()) as {object: {sha: string}}
    const blob = await api('git/blobs', {content: file, encoding: 'base64'})
    const tree = await api('git/trees', {
      tree: [{path: 'catalog-info.yaml', mode: '100644', type: 'blob', sha: blob.sha}],
    })
    const commit = await api('git/commits', {message: 'catalog', tree: tree.sha, parents: [head.object.sha]})
    await fetch(`${g.env.GITHUB_API_URL}/repos/${other.full_name}/git/refs/heads/main`, {
      method: 'PATCH',
      headers: {authorization: `token ${g.env.GITHUB_TOKEN}`, 'content-type': 'application/json'},
      body: JSON.stringify({sha: commit.sha}),
    })
    const registered = await backstage('/api/catalog/locations', {
      method: 'POST',
      body: JSON.stringify({type: 'url', target: `${other.html_url}/blob/main/catalog-info.yaml`}),
    })
    assert.equal(registered.status, 201)
    for (let i = 0; (await entity(name)).status !== 200; i++) {
      assert.ok(i < 100, "the platform team's entity appeared")
      await new Promise((r) => setTimeout(r, 100))
    }

    // Even when the app's Application is edited to name that location as the app's own.
    const target = `${other.html_url}/blob/main/catalog-info.yaml`
    await g
      .admin()
      .makeApiClient(k8s.CustomObjectsApi)
      .patchNamespacedCustomObject(
        {
          group: 'argoproj.io',
          version: 'v1alpha1',
          plural: 'applications',
          namespace: 'argocd',
          name,
          body: {metadata: {annotations: {'kplat.dev/catalog-location': target}}},
        },
        k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
      )
    const destroyed = await kplat(['apps:destroy', '--app', name, '--confirm', name, '--json'])
    assert.equal(destroyed.code, 0, destroyed.stderr)
    assert.ok(!(JSON.parse(destroyed.stdout) as {deleted: string[]}).deleted.some((d) => d.startsWith('Backstage')))
    assert.match(
      destroyed.stderr,
      new RegExp(
        `names the catalog location ${target.replace(/[.?]/g, '\\$&')}, which is not in ${ORG}/${name}: it is left in Backstage`,
      ),
    )
    assert.equal((await entity(name)).status, 200, 'the entity kplat did not register is still there')
  })

  it('warns, after the app exists, when Backstage refuses or is down, with the command that retries', async () => {
    const refused = uniqueName('cat-refused')
    const r = await kplat(['create', refused, '--no-clone', '--no-wait', '--json'], {
      KPLAT_BACKSTAGE_TOKEN: 'not-the-token-at-all',
    })
    assert.equal(r.code, 0, r.stderr)
    assert.match(
      r.stderr,
      new RegExp(
        `Warning: ${refused} is not in the Backstage catalog: Backstage at http://127\\.0\\.0\\.1:\\d+ refused kplat \\(401 .*\\)\\. Run \`kplat create ${refused}\` again to retry`,
      ),
    )
    assert.equal((JSON.parse(r.stdout) as {catalog?: string}).catalog, undefined)
    assert.ok(!r.stderr.includes('not-the-token-at-all'), 'even a wrong token is not printed')
    const fixed = await kplat(['create', refused, '--no-clone', '--no-wait', '--json'])
    assert.equal(fixed.code, 0, fixed.stderr)
    assert.match(
      (JSON.parse(fixed.stdout) as {catalog: string}).catalog,
      new RegExp(`/catalog/default/component/${refused}$`),
    )

    const down = uniqueName('cat-down')
    const closed = await freePort()
    const d = await kplat(['create', down, '--no-clone', '--no-wait'], {
      KPLAT_BACKSTAGE_URL: `http://127.0.0.1:${closed}`,
    })
    assert.equal(d.code, 0, d.stderr)
    assert.match(
      d.stderr,
      new RegExp(
        `Warning: ${down} is not in the Backstage catalog: cannot reach Backstage at http://127\\.0\\.0\\.1:${closed} \\(ECONNREFUSED\\)\\. Run \`kplat create ${down}\` again to retry`,
      ),
    )
  })

  it('says that a template makes no catalog-info.yaml, and offers no rerun that could not help', async () => {
    const templates = path.join(work, 'bare-templates')
    const folder = path.join(templates, 'node-bare')
    cpSync(path.join(ROOT, 'skeletons', 'node'), folder, {recursive: true})
    rmSync(path.join(folder, 'skeleton', 'catalog-info.yaml'))
    const yaml = path.join(folder, 'template.yaml')
    writeFileSync(yaml, readFileSync(yaml, 'utf8').replace('name: node\n', 'name: node-bare\n'))
    const name = uniqueName('cat-bare')
    const r = await kplat(['create', name, '--template', 'node-bare', '--no-clone', '--no-wait', '--json'], {
      KPLAT_TEMPLATES: templates,
    })
    assert.equal(r.code, 0, r.stderr)
    assert.match(
      r.stderr,
      new RegExp(
        `Warning: ${name} is not in the Backstage catalog: the node-bare template makes no catalog-info\\.yaml, so there is nothing to register\\. Add a catalog-info\\.yaml to the template`,
      ),
    )
    assert.doesNotMatch(r.stderr, /again to retry/)
    assert.doesNotMatch(r.stderr, /Registering .* in the Backstage catalog/)
    assert.equal((JSON.parse(r.stdout) as {catalog?: string}).catalog, undefined)
    const locations = (await (await backstage('/api/catalog/locations')).json()) as Array<{data: {target: string}}>
    assert.ok(
      !locations.some((l) => l.data.target.includes(`/${name}/`)),
      'no location points at a file that does not exist',
    )
  })

  it("lists the catalog's templates in `kplat templates`, and creates an app from one", async () => {
    // The platform team's template, in a repository of its own, registered in the catalog.
    const source = path.join(work, 'golden')
    cpSync(path.join(ROOT, 'skeletons', 'node'), path.join(source, 'templates', 'node-svc'), {recursive: true})
    const yaml = path.join(source, 'templates', 'node-svc', 'template.yaml')
    writeFileSync(
      yaml,
      readFileSync(yaml, 'utf8')
        .replace('name: node\n', 'name: catalog-node\n')
        .replace('title: Node.js HTTP service', 'title: Node service from the catalog'),
    )
    const made = (await (
      await fetch(`${g.env.GITHUB_API_URL}/orgs/${ORG}/repos`, {
        method: 'POST',
        headers: {authorization: `token ${g.env.GITHUB_TOKEN}`, 'content-type': 'application/json'},
        body: JSON.stringify({name: uniqueName('golden')}),
      })
    ).json()) as {clone_url: string; html_url: string}
    const git = (args: string[]) =>
      exec('git', ['-C', source, ...args], {env: {...process.env, GIT_TERMINAL_PROMPT: '0'}})
    await git(['init', '-q', '-b', 'main'])
    await git(['add', '-A'])
    await git(['-c', 'user.name=platform', '-c', 'user.email=platform@example.com', 'commit', '-qm', 'Golden paths'])
    await git([
      '-c',
      `http.extraHeader=Authorization: Basic ${Buffer.from(`x:${g.env.GITHUB_TOKEN}`).toString('base64')}`,
      'push',
      '-q',
      made.clone_url,
      'main',
    ])
    const registered = await backstage('/api/catalog/locations', {
      method: 'POST',
      body: JSON.stringify({type: 'url', target: `${made.html_url}/blob/main/templates/node-svc/template.yaml`}),
    })
    assert.equal(registered.status, 201)
    let listed: Array<{name: string; source: string; title: string}> = []
    for (let i = 0; !listed.some((t) => t.name === 'catalog-node'); i++) {
      assert.ok(i < 100, `the catalog's template is listed: ${JSON.stringify(listed)}`)
      await new Promise((r) => setTimeout(r, 150))
      const r = await kplat(['templates', '--json'])
      assert.equal(r.code, 0, r.stderr)
      listed = JSON.parse(r.stdout)
    }

    assert.deepEqual(
      listed.find((t) => t.name === 'catalog-node'),
      {...listed.find((t) => t.name === 'catalog-node'), source: 'backstage', title: 'Node service from the catalog'},
    )
    const name = uniqueName('from-cat')
    const planned = await kplat(['create', name, '--template', 'catalog-node', '--dry-run', '--json'])
    assert.equal(planned.code, 0, planned.stderr)
    assert.ok((JSON.parse(planned.stdout) as {dryRun: {files: string[]}}).dryRun.files.includes('chart/values.yaml'))
  })
})
