import assert from 'node:assert/strict'
import {execFile, spawn} from 'node:child_process'
import {cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {before, describe, it} from 'node:test'
import {promisify} from 'node:util'
import * as k8s from '@kubernetes/client-node'
import {NO_TEAM_CONTEXT, startControlPlane} from './ground/cluster.js'
import {provideBinaries} from './ground/index.js'
import {ProcessGroup} from './ground/processes.js'
import {BIN, ROOT, runBin, runInProcess, type RunResult} from './helpers/cli.js'
import {callerOf} from './ground/github/server.js'
import {control, ground, tokenFor, uniqueName, type TestGround} from './helpers/ground.js'

const exec = promisify(execFile)
const ORG = 'acme'

describe('kplat create, on the proving ground', () => {
  let g: TestGround
  let env: NodeJS.ProcessEnv
  let custom: k8s.CustomObjectsApi
  let core: k8s.CoreV1Api

  before(async () => {
    g = await ground()
    env = {PATH: process.env.PATH, HOME: process.env.HOME, ...g.env}
    custom = g.admin().makeApiClient(k8s.CustomObjectsApi)
    core = g.admin().makeApiClient(k8s.CoreV1Api)
  })

  const workdir = () => mkdtempSync(path.join(os.tmpdir(), 'kplat-create-'))
  const create = (args: string[], cwd: string, extra: NodeJS.ProcessEnv = {}): Promise<RunResult> =>
    runBin(['create', ...args], {env: {...env, ...extra}, cwd})
  const application = (name: string) =>
    custom
      .getNamespacedCustomObject({
        group: 'argoproj.io',
        version: 'v1alpha1',
        plural: 'applications',
        namespace: 'argocd',
        name,
      })
      .then(
        (a) =>
          a as {
            metadata: {labels: Record<string, string>; finalizers?: string[]}
            spec: Record<string, unknown>
            status?: {sync?: {revision?: string}; health?: {status?: string}}
          },
        () => undefined,
      )
  const repoExists = async (name: string, owner = ORG) =>
    (
      await fetch(`${g.env.GITHUB_API_URL}/repos/${owner}/${name}`, {
        headers: {authorization: `token ${g.env.GITHUB_TOKEN}`},
      })
    ).status === 200
  const podImages = async (namespace: string) => {
    const pods = await core.listNamespacedPod({namespace})
    return pods.items
      .filter((p) => p.status?.phase === 'Running' && !p.metadata?.deletionTimestamp)
      .map((p) => p.spec!.containers[0].image!)
  }

  it('goes from nothing to a Healthy app running the image of the pushed commit, then `git push` deploys', async () => {
    const cwd = workdir()
    const name = uniqueName('app')
    const r = await create([name, '--json'], cwd)
    assert.equal(r.code, 0, r.stderr)
    const result = JSON.parse(r.stdout) as {
      name: string
      commit: string
      revision: string
      url: string
      dir: string
      repository: string
    }
    assert.equal(result.name, name)
    assert.equal(result.dir, path.join(cwd, name))
    assert.match(result.url, new RegExp(`^http://${name}\\.apps\\.ground\\.test/?$`))
    assert.match(r.stderr, /Waiting for CI on [0-9a-f]{7}\.\.\. done/)
    assert.ok(!(r.stdout + r.stderr).includes(g.env.GITHUB_TOKEN), 'the token is never printed')

    const app = await application(name)
    assert.equal(app?.metadata.labels['app.kubernetes.io/managed-by'], 'kplat')
    assert.deepEqual(app?.metadata.finalizers, ['resources-finalizer.argocd.argoproj.io'])
    assert.deepEqual((app?.spec.syncPolicy as {automated: unknown}).automated, {prune: true, selfHeal: true})
    assert.equal(app?.status?.health?.status, 'Healthy')
    assert.equal(app?.status?.sync?.revision, result.revision)
    assert.deepEqual(await podImages(name), [`ghcr.io/${ORG}/${name}:${result.commit}`])
    const ns = await core.readNamespace({name})
    assert.equal(ns.metadata?.labels?.['kplat.dev/app'], name, "the namespace Argo CD made is marked as the app's")

    // The clone is a plain git repository with a clean remote; a push is a release.
    const clone = result.dir
    assert.doesNotMatch(readFileSync(path.join(clone, '.git', 'config'), 'utf8'), /ghp_|extraheader/i)
    writeFileSync(path.join(clone, 'server.js'), readFileSync(path.join(clone, 'server.js'), 'utf8') + '\n// v2\n')
    const git = (args: string[]) =>
      exec('git', ['-C', clone, ...args], {env: {...process.env, GIT_TERMINAL_PROMPT: '0'}})
    await git(['-c', 'user.name=dev', '-c', 'user.email=dev@example.com', 'commit', '-qam', 'v2'])
    const {stdout: sha} = await git(['rev-parse', 'HEAD'])
    await git([
      '-c',
      `http.extraHeader=Authorization: Basic ${Buffer.from(`x:${g.env.GITHUB_TOKEN}`).toString('base64')}`,
      'push',
      '-q',
      'origin',
      'main',
    ])
    for (let i = 0; ; i++) {
      const images = await podImages(name)
      if (images.length === 1 && images[0].endsWith(`:${sha.trim()}`)) break
      assert.ok(i < 600, `the push was not deployed: ${images.join(', ')}`)
      await new Promise((r) => setTimeout(r, 100))
    }

    // The pods can run the new image before Argo CD ends the sync operation and appends it to
    // the history, so the history is awaited, not read once.
    type App = {spec: {source: Record<string, unknown>}; status: {history?: Array<{revision: string}>}}
    let after = (await application(name)) as unknown as App
    for (let i = 0; (after.status.history ?? []).length < 2; i++) {
      assert.ok(i < 300, "the push is a second release in Argo CD's history")
      await new Promise((r) => setTimeout(r, 100))
      after = (await application(name)) as unknown as App
    }
    // Argo CD tracks the deploy branch that CI moves once the image exists, and takes the tag
    // from the commit it deploys; CI never writes to main.
    assert.equal(after.spec.source.targetRevision, 'deploy')
    assert.deepEqual((after.spec.source.helm as {parameters: unknown}).parameters, [
      {name: 'image.tag', value: '$ARGOCD_APP_REVISION', forceString: true},
    ])
    const heads = async () =>
      Object.fromEntries(
        (await git(['ls-remote', '--heads', 'origin'])).stdout
          .trim()
          .split('\n')
          .map((l) => l.split('\trefs/heads/').reverse()),
      )
    assert.deepEqual(await heads(), {main: sha.trim(), deploy: sha.trim()})

    // Two pushes in a row from the same clone, no pull between: both are accepted, as on Heroku.
    const push = async (text: string) => {
      writeFileSync(
        path.join(clone, 'server.js'),
        readFileSync(path.join(clone, 'server.js'), 'utf8') + `\n// ${text}\n`,
      )
      await git(['-c', 'user.name=dev', '-c', 'user.email=dev@example.com', 'commit', '-qam', text])
      await git([
        '-c',
        `http.extraHeader=Authorization: Basic ${Buffer.from(`x:${g.env.GITHUB_TOKEN}`).toString('base64')}`,
        'push',
        '-q',
        'origin',
        'main',
      ])
      return (await git(['rev-parse', 'HEAD'])).stdout.trim()
    }

    await push('v3')
    const v4 = await push('v4')
    for (let i = 0; ; i++) {
      const images = await podImages(name)
      if (images.length === 1 && images[0].endsWith(`:${v4}`)) break
      // Argo CD may fold the second push's refresh into the first's; its poll (30 s at most in
      // the ground) then finds it.
      assert.ok(i < 600, `the second push was not deployed: ${images.join(', ')}`)
      await new Promise((r) => setTimeout(r, 100))
    }

    assert.deepEqual(await heads(), {main: v4, deploy: v4})
  })

  it("--private: a private repository that Argo CD reads with the platform's credential template, never the developer's token", async () => {
    const cwd = workdir()
    const name = uniqueName('priv')
    const r = await create([name, '--private', '--json'], cwd)
    assert.equal(r.code, 0, r.stderr)
    const result = JSON.parse(r.stdout) as {commit: string; dir: string}
    assert.ok(!(r.stdout + r.stderr).includes(g.env.GITHUB_TOKEN), 'the token is never printed')

    // Private for real: anonymous readers get GitHub's 404; Argo CD read it all the same.
    assert.equal((await fetch(`${g.env.GITHUB_API_URL}/repos/${ORG}/${name}`)).status, 404)
    const app = await application(name)
    assert.equal(app?.status?.health?.status, 'Healthy')
    assert.deepEqual(await podImages(name), [`ghcr.io/${ORG}/${name}:${result.commit}`])
    // With the platform's credential (the ground's argocd-reader bot), not the developer's.
    const secrets = (await core.listNamespacedSecret({namespace: 'argocd'})).items
    assert.ok(!secrets.some((s) => s.metadata?.name === `repo-${name}`), "no repository Secret of kplat's")
    assert.ok(
      !secrets.some((s) =>
        Object.values(s.data ?? {}).some((v) => Buffer.from(v, 'base64').toString() === g.env.GITHUB_TOKEN),
      ),
      "the token is in no Secret of Argo CD's",
    )
    assert.ok(!JSON.stringify(app).includes(g.env.GITHUB_TOKEN), 'the token is not in the Application')
    assert.doesNotMatch(readFileSync(path.join(result.dir, '.git', 'config'), 'utf8'), new RegExp(g.env.GITHUB_TOKEN))
  })

  it('--private refuses, before anything exists, a repository no credential template of Argo CD covers', async () => {
    const name = uniqueName('mine')
    // The developer's own account: the platform's template covers the organisation only.
    const r = await create([name, '--private', '--owner', 'developer', '--no-clone'], workdir())
    assert.equal(r.code, 1, r.stderr)
    assert.match(
      r.stderr,
      new RegExp(
        `^Error: Argo CD has no credentials to read the private repository http://127\\.0\\.0\\.1:\\d+/developer/${name}\\.git \\(its credential templates cover http://127\\.0\\.0\\.1:\\d+/${ORG}/\\); nothing was created\\. Ask your platform team for an Argo CD credential template`,
        'm',
      ),
    )
    assert.equal(await repoExists(name, 'developer'), false)
    assert.equal(await application(name), undefined)
  })

  it('waits on a CI run at a fixed cost in rate limit, however long it runs', async () => {
    const name = uniqueName('slow')
    await control(g.github, 'POST', 'decisions', {repo: `${ORG}/${name}`, conclusion: 'success', delayMs: 6000})
    const r = await create([name, '--no-clone'], workdir())
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stderr, new RegExp(`follow it at http://127\\.0\\.0\\.1:\\d+/${ORG}/${name}/actions`))
    // The next commands it suggests are ones that exist.
    assert.match(
      r.stderr,
      new RegExp(
        `Next: git clone http://127\\.0\\.0\\.1:\\d+/${ORG}/${name}\\.git, then git push deploys a change; \`kplat open --app ${name}\` opens it, \`kplat logs --tail --app ${name}\` follows its logs`,
      ),
    )
    const {requests} = await control<{
      requests: Array<{method: string; path: string; status: number; counted: boolean}>
    }>(g.github, 'GET', 'requests')
    const polls = requests.filter((q) => q.method === 'GET' && q.path === `/repos/${ORG}/${name}/actions/runs`)
    // The first look, then the completion; every poll between is a free 304.
    assert.equal(polls.filter((q) => q.counted).length, 2, JSON.stringify(polls))
    assert.ok(
      polls.filter((q) => q.status === 304).length >= 3,
      `polls in between are conditional: ${JSON.stringify(polls)}`,
    )
  })

  it('gives up on a CI run after --timeout, naming the late run, and exits 1', async () => {
    const name = uniqueName('late')
    await control(g.github, 'POST', 'decisions', {repo: `${ORG}/${name}`, conclusion: 'success', delayMs: 8000})
    const r = await create([name, '--no-clone', '--timeout', '1'], workdir())
    assert.equal(r.code, 1, r.stderr)
    assert.match(
      r.stderr,
      new RegExp(
        `Error: timed out after 1s waiting for the CI run of [0-9a-f]{7} in ${ORG}/${name} \\(still (queued|in progress): http://127\\.0\\.0\\.1:\\d+/${ORG}/${name}/actions/runs/\\d+\\)\\. Run \`kplat create\` again to keep waiting`,
      ),
    )
  })

  it("reports a failed CI run with the failed job's name and URL, and exits 1", async () => {
    const name = uniqueName('red')
    await control(g.github, 'POST', 'decisions', {
      repo: `${ORG}/${name}`,
      conclusion: 'failure',
      job: 'Build and push image',
    })
    const r = await create([name, '--no-clone'], workdir())
    assert.equal(r.code, 1, r.stderr)
    assert.match(
      r.stderr,
      new RegExp(
        `Error: the CI run failed; job "Build and push image" failed: http://127\\.0\\.0\\.1:\\d+/${ORG}/${name}/actions/runs/\\d+/job/\\d+`,
      ),
    )
  })

  it('says why a deploy is Degraded, from the live Deployment and its pod', async () => {
    // The node skeleton, with pods that no node will take and a short progress deadline.
    const skel = path.join(workdir(), 'stuck')
    cpSync(path.join(ROOT, 'skeletons', 'node'), skel, {recursive: true})
    const deployment = path.join(skel, 'skeleton', 'chart', 'templates', 'deployment.yaml')
    writeFileSync(
      deployment,
      readFileSync(deployment, 'utf8')
        .replace('  replicas: {{ $replicas }}\n', '  replicas: {{ $replicas }}\n  progressDeadlineSeconds: 2\n')
        .replace('    spec:\n      containers:', '    spec:\n      nodeSelector: {pool: none}\n      containers:'),
    )
    const name = uniqueName('stuck')
    const r = await create([name, '--template', skel, '--no-clone'], workdir())
    assert.equal(r.code, 1, r.stderr)
    assert.match(
      r.stderr,
      new RegExp(
        `Error: the app is Degraded: Deployment ${name}-web exceeded its progress deadline; pod ${name}-web-[a-z0-9-]+: Unschedulable: 0/\\d+ nodes are available`,
      ),
    )
  })

  it('finishes an interrupted create when run again, without creating anything twice', async () => {
    const name = uniqueName('resume')
    const cwd = workdir()
    const child = spawn(process.execPath, [BIN, 'create', name], {cwd, env, stdio: ['ignore', 'pipe', 'pipe']})
    let err = ''
    child.stderr.on('data', (d) => (err += d))
    for (let i = 0; !err.includes('Registering the app with Argo CD... done') && i < 300; i++)
      await new Promise((r) => setTimeout(r, 100))
    child.kill('SIGINT')
    await new Promise((r) => child.on('close', r))
    assert.ok(await repoExists(name), 'the first attempt got as far as the repository')

    const r = await create([name], cwd)
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stderr, /Writing the first commit\.\.\.\n {2}already there/)
    // Inside the clone the app needs no --app, and the closing line says so.
    assert.match(
      r.stderr,
      new RegExp(
        `Next: cd ${name} && git push deploys a change; \`kplat open\` opens it, \`kplat logs --tail\` follows its logs, \`kplat ps\` shows its processes`,
      ),
    )
    const inside = await runBin(['ps', '--json'], {env, cwd: path.join(cwd, name)})
    assert.equal(inside.code, 0, inside.stderr)
    const {workflow_runs: runs} = (await (
      await fetch(`${g.env.GITHUB_API_URL}/repos/${ORG}/${name}/actions/runs`, {
        headers: {authorization: `token ${g.env.GITHUB_TOKEN}`},
      })
    ).json()) as {workflow_runs: unknown[]}
    assert.equal(runs.length, 1, 'one commit, one push, one CI run')
    assert.equal((await application(name))?.status?.health?.status, 'Healthy')
  })

  it('--dry-run prints the plan and changes nothing on GitHub or in the cluster', async () => {
    const name = uniqueName('dry')
    // A token of its own, to tell its requests from those of the files running beside it.
    const token = await tokenFor(g.github, 'developer', ['repo', 'workflow', 'read:org'])
    const r = await create([name, '--dry-run', '--json'], workdir(), {GITHUB_TOKEN: token})
    assert.equal(r.code, 0, r.stderr)
    const plan = JSON.parse(r.stdout) as {
      dryRun: {files: string[]; kubernetes: Array<{kind: string}>; github: string[]}
    }
    assert.ok(plan.dryRun.files.includes('.github/workflows/ci.yaml'))
    assert.deepEqual(
      plan.dryRun.kubernetes.map((k) => k.kind),
      ['Application', 'Namespace'],
    )
    assert.deepEqual(plan.dryRun.github, [
      `POST /orgs/${ORG}/repos`,
      `POST /repos/${ORG}/${name}/git/trees`,
      `POST /repos/${ORG}/${name}/git/commits`,
      `PATCH /repos/${ORG}/${name}/git/refs/heads/main`,
    ])
    const {requests} = await control<{requests: Array<{method: string; caller: string}>}>(g.github, 'GET', 'requests')
    const mine = requests.filter((q) => q.caller === callerOf(token))
    assert.ok(mine.length > 0)
    assert.deepEqual([...new Set(mine.map((q) => q.method))], ['GET'])
    assert.equal(await repoExists(name), false)
    assert.equal(await application(name), undefined)
  })

  it('inside a git repository adds a `kplat` remote instead of cloning, and never repoints one', async () => {
    const inRepo = async () => {
      const dir = workdir()
      await exec('git', ['init', '-q', dir])
      return dir
    }

    const cwd = await inRepo()
    const name = uniqueName('remote')
    const r = await create([name, '--no-wait', '--json'], cwd)
    assert.equal(r.code, 0, r.stderr)
    const result = JSON.parse(r.stdout) as {dir: string; cloneUrl: string}
    assert.equal(result.dir, cwd)
    assert.equal((await exec('git', ['-C', cwd, 'remote', 'get-url', 'kplat'])).stdout.trim(), result.cloneUrl)
    assert.deepEqual(readdirSync(cwd), ['.git'], 'nothing cloned into the repository')
    assert.equal((await create([name, '--no-wait'], cwd)).code, 0, 'a rerun finds its own remote')

    const other = await inRepo()
    await exec('git', ['-C', other, 'remote', 'add', 'kplat', 'https://git.example.com/someone/else.git'])
    const refused = uniqueName('refused')
    const r2 = await create([refused, '--no-wait'], other)
    assert.equal(r2.code, 2, r2.stderr)
    assert.match(
      r2.stderr,
      /this git repository's remote "kplat" already points at https:\/\/git\.example\.com\/someone\/else\.git\. Remove it with `git remote remove kplat`/,
    )
    assert.equal(await repoExists(refused), false, 'refused before anything was created')
    assert.equal(
      (await exec('git', ['-C', other, 'remote', 'get-url', 'kplat'])).stdout.trim(),
      'https://git.example.com/someone/else.git',
    )
  })

  it('makes up a name when none is given, and asks a terminal for a required template parameter', async () => {
    const tpl = path.join(workdir(), 'team-template')
    mkdirSync(path.join(tpl, 'skeleton'), {recursive: true})
    writeFileSync(
      path.join(tpl, 'template.yaml'),
      `apiVersion: scaffolder.backstage.io/v1beta3
kind: Template
metadata: {name: team}
spec:
  parameters:
    - required: [name, owner, team]
      properties:
        name: {type: string}
        owner: {type: string}
        team: {title: Owning team, type: string, pattern: '^[a-z]+$'}
  steps:
    - id: fetch
      action: fetch:template
      input:
        url: ./skeleton
        values: {name: '\${{ parameters.name }}', team: '\${{ parameters.team }}'}
`,
    )
    writeFileSync(path.join(tpl, 'skeleton', 'catalog-info.yaml'), 'metadata: {name: ${{ values.name }}}\n')
    writeFileSync(path.join(tpl, 'skeleton', '${{ values.team }}-owners.txt'), '${{ values.team }}\n')

    // Without a terminal, the missing value is a usage error that names the flag.
    const refused = await create(['--template', tpl, '--dry-run', '--json'], workdir())
    assert.equal(refused.code, 2, refused.stderr)
    assert.match(
      refused.stderr,
      /template parameter "team" is required \(the schema: must have required property 'team'\)\. Pass --param team=VALUE/,
    )

    // On a terminal kplat asks, with the parameter's title.
    const asked = await runInProcess(['create', '--template', tpl, '--dry-run', '--json'], {
      env,
      cwd: workdir(),
      tty: true,
      keys: ['payments', '\r'],
    })
    assert.equal(asked.code, 0, asked.stderr)
    assert.match(asked.stderr, /Owning team/)
    const plan = JSON.parse(asked.stdout) as {name: string; dryRun: {files: string[]}}
    assert.match(plan.name, /^[a-z][a-z0-9-]{0,29}$/, 'a generated name follows the app-name rule')
    assert.deepEqual(plan.dryRun.files.sort(), ['catalog-info.yaml', 'payments-owners.txt'])
  })

  it("a template's code cannot reach kplat's process or the machine, even under --dry-run", async () => {
    const tpl = path.join(workdir(), 'hostile-template')
    const marker = path.join(workdir(), 'escaped')
    mkdirSync(path.join(tpl, 'skeleton'), {recursive: true})
    writeFileSync(
      path.join(tpl, 'template.yaml'),
      `apiVersion: scaffolder.backstage.io/v1beta3
kind: Template
metadata: {name: hostile}
spec:
  steps:
    - id: fetch
      action: fetch:template
      input: {url: ./skeleton, values: {name: '\${{ parameters.name }}'}}
`,
    )
    // Each file name reports what the template's code found; each content tries to act.
    const js = (code: string) => `\${{ range.constructor(${JSON.stringify(code)})() }}`
    writeFileSync(path.join(tpl, 'skeleton', 'catalog-info.yaml'), 'metadata: {name: ${{ values.name }}}\n')
    writeFileSync(
      path.join(tpl, 'skeleton', `${js('return [typeof process, typeof require, typeof fetch].join("-")')}.txt`),
      js(`process.mainModule.require("fs").writeFileSync(${JSON.stringify(marker)}, "x")`),
    )
    writeFileSync(
      path.join(tpl, 'skeleton', `token-${js('try { return process.env.GITHUB_TOKEN } catch (e) { return "none" }')}`),
      'x',
    )
    const name = uniqueName('hostile')
    const r = await create([name, '--template', tpl, '--dry-run', '--json'], workdir())
    assert.equal(r.code, 1, r.stderr)
    assert.match(r.stderr, /the template does not render: .*\.txt: ReferenceError: 'process' is not defined/)
    assert.match(r.stderr, /nothing was created/)
    assert.equal(existsSync(marker), false, 'nothing was written on the machine')
    assert.ok(!r.stderr.includes(g.env.GITHUB_TOKEN!) && !r.stdout.includes(g.env.GITHUB_TOKEN!))

    // Without the acting file, the names show what the code saw: nothing of kplat's process.
    rmSync(path.join(tpl, 'skeleton', `${js('return [typeof process, typeof require, typeof fetch].join("-")')}.txt`))
    const plan = await create([name, '--template', tpl, '--dry-run', '--json'], workdir())
    assert.equal(plan.code, 0, plan.stderr)
    assert.deepEqual((JSON.parse(plan.stdout) as {dryRun: {files: string[]}}).dryRun.files.sort(), [
      'catalog-info.yaml',
      'token-none',
    ])
  })

  it('refuses bad input before creating anything, saying what to type instead', async () => {
    const cwd = workdir()
    const cases: Array<{args: string[]; env?: NodeJS.ProcessEnv; code: number; message: RegExp}> = [
      {args: ['Bad_Name'], code: 2, message: /invalid app name "Bad_Name".*Try "bad-name"/},
      {
        args: ['nonexistent-skeleton', '--template', 'nope'],
        code: 2,
        message: /no template named "nope" \(on offer: node\)/,
      },
      {
        args: ['param-bad', '--param', 'port=notanumber'],
        code: 2,
        message: /template parameter "port" must be integer\. Pass --param port=VALUE/,
      },
      // Every duration is checked before anything exists (a negative one was accepted, and
      // "timed out after -5s" came after the repository and the Application were made).
      {
        args: ['timeout-negative', '--timeout', '-5'],
        code: 2,
        message:
          /invalid --timeout: Expected an integer greater than or equal to 1 but received: -5\. See `kplat create --help`/,
      },
      {
        args: ['timeout-zero', '--timeout=0'],
        code: 2,
        message: /invalid --timeout: Expected an integer greater than or equal to 1/,
      },
      {
        args: ['timeout-word', '--timeout=soon'],
        code: 2,
        message: /invalid --timeout: Expected an integer but received: soon/,
      },
      {
        args: ['no-token'],
        env: {GITHUB_TOKEN: '', GH_TOKEN: '', PATH: '/nonexistent'},
        code: 1,
        message: /no GitHub token found\. Set GITHUB_TOKEN \(or GH_TOKEN\)/,
      },
      {
        args: ['no-scope'],
        env: {GITHUB_TOKEN: await tokenFor(g.github, 'developer', ['repo'])},
        code: 1,
        message: /lacks the workflow scope \(it has: repo\)/,
      },
      {
        args: ['rbac', '--context', NO_TEAM_CONTEXT],
        code: 1,
        message:
          /you belong to no team: you may create Argo CD Applications neither in a team's namespace nor in argocd\. Ask your platform team to add you to a team/,
      },
      {
        args: ['unreachable'],
        env: {KUBECONFIG: unreachableKubeconfig()},
        code: 1,
        message: /cannot reach the cluster at https:\/\/127\.0\.0\.1:9 \(ECONNREFUSED\)/,
      },
    ]
    for (const c of cases) {
      const r = await create(c.args, cwd, c.env)
      assert.equal(r.code, c.code, `${c.args.join(' ')}: ${r.stderr}`)
      assert.match(r.stderr, c.message, c.args.join(' '))
      assert.equal(
        r.stderr
          .trim()
          .split('\n')
          .filter((l) => l.startsWith('Error:')).length,
        1,
      )
      assert.equal(await repoExists(c.args[0]), false, `${c.args[0]}: nothing was created`)
    }
  })

  it('says Argo CD is not installed when the cluster serves no Application CRD', async () => {
    // A bare control plane of its own: the shared ground must keep its CRDs.
    const dir = mkdtempSync(path.join(os.tmpdir(), 'kplat-bare-'))
    const processes = new ProcessGroup(path.join(dir, 'logs'))
    try {
      const plane = await startControlPlane({dir, binDir: await provideBinaries(), processes})
      const r = await create(['no-argo'], workdir(), {KUBECONFIG: plane.kubeconfig})
      assert.equal(r.code, 1, r.stderr)
      assert.match(
        r.stderr,
        /Error: Argo CD is not installed in this cluster \(it serves no applications\.argoproj\.io\)\. Ask your platform team to install Argo CD, or pick another --context/,
      )
      // Without the platform's settings the owner would have been the developer.
      assert.equal(await repoExists('no-argo', 'developer'), false)
    } finally {
      await processes.stop()
    }
  })

  it("will not deploy into a namespace that is not the app's own", async () => {
    for (const name of ['kube-public', 'argocd']) {
      const r = await create([name, '--no-clone'], workdir())
      assert.equal(r.code, 2, r.stderr)
      assert.match(
        r.stderr,
        new RegExp(
          `the name "${name}" is taken: the namespace ${name} exists and kplat did not create it for this app\\. Pick another app name`,
        ),
      )
      assert.equal(await repoExists(name), false)
      assert.equal(await application(name), undefined)
    }
  })

  it('calls a taken name taken, and leaves the other repository alone', async () => {
    const name = uniqueName('taken')
    const headers = {authorization: `token ${g.env.GITHUB_TOKEN}`, 'content-type': 'application/json'}
    await fetch(`${g.env.GITHUB_API_URL}/orgs/${ORG}/repos`, {
      method: 'POST',
      headers,
      body: JSON.stringify({name, description: "someone else's", auto_init: true}),
    })
    const before = await (
      await fetch(`${g.env.GITHUB_API_URL}/repos/${ORG}/${name}/git/ref/heads/main`, {headers})
    ).json()
    const r = await create([name], workdir())
    assert.equal(r.code, 2)
    assert.match(
      r.stderr,
      new RegExp(
        `the name "${name}" is taken: the repository ${ORG}/${name} exists and kplat did not create it\\. Pick another app name`,
      ),
    )
    assert.deepEqual(
      await (await fetch(`${g.env.GITHUB_API_URL}/repos/${ORG}/${name}/git/ref/heads/main`, {headers})).json(),
      before,
    )
    assert.equal(await application(name), undefined)
  })
})

function unreachableKubeconfig(): string {
  const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'kplat-kc-')), 'config')
  writeFileSync(
    file,
    `apiVersion: v1
kind: Config
clusters: [{name: gone, cluster: {server: 'https://127.0.0.1:9', insecure-skip-tls-verify: true}}]
users: [{name: me, user: {token: not-a-real-token}}]
contexts: [{name: gone, context: {cluster: gone, user: me}}]
current-context: gone
`,
  )
  return file
}
