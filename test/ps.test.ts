// kplat ps, ps:scale and ps:restart on an app made by `kplat create`, on the real Argo CD:
// the formation lives where Argo CD keeps the desired state, so self-heal and a push keep it.
import assert from 'node:assert/strict'
import {execFile} from 'node:child_process'
import {mkdtempSync, readFileSync, writeFileSync} from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {before, describe, it} from 'node:test'
import {promisify} from 'node:util'
import * as k8s from '@kubernetes/client-node'
import {NO_TEAM_CONTEXT} from './ground/cluster.js'
import {runBin, type RunResult} from './helpers/cli.js'
import {crashContainer, ground, uniqueName, type TestGround} from './helpers/ground.js'

const exec = promisify(execFile)

interface Report {
  app: string
  formation: Array<{type: string; desired: number; ready: number}>
  processes: Array<{
    name: string
    type: string
    state: string
    reason?: string
    restarts: number
    release?: string
    commit?: string
    startedAt?: string
  }>
}

describe('kplat ps, ps:scale and ps:restart, on the real Argo CD', () => {
  let g: TestGround
  let core: k8s.CoreV1Api
  let apps: k8s.AppsV1Api
  let custom: k8s.CustomObjectsApi
  const app = uniqueName('ps').slice(0, 24)
  const work = mkdtempSync(path.join(os.tmpdir(), 'kplat-ps-'))
  let commit = ''
  const kplat = (args: string[], extra: NodeJS.ProcessEnv = {}): Promise<RunResult> =>
    runBin(args, {env: {PATH: process.env.PATH, HOME: process.env.HOME, ...g.env, ...extra}, cwd: work})
  const ps = async (...args: string[]): Promise<Report> => {
    const r = await kplat(['ps', '--app', app, '--json', ...args])
    assert.equal(r.code, 0, r.stderr)
    return JSON.parse(r.stdout) as Report
  }

  const livePods = async (type: string) =>
    (await core.listNamespacedPod({namespace: app, labelSelector: `kplat.dev/process=${type}`})).items.filter(
      (p) => !p.metadata?.deletionTimestamp,
    )

  before(async () => {
    g = await ground()
    core = g.admin().makeApiClient(k8s.CoreV1Api)
    apps = g.admin().makeApiClient(k8s.AppsV1Api)
    custom = g.admin().makeApiClient(k8s.CustomObjectsApi)
    const created = await kplat(['create', app, '--json'])
    assert.equal(created.code, 0, created.stderr)
    commit = (JSON.parse(created.stdout) as {commit: string}).commit
  })

  it('lists the process types, the formation and each process with its state, age, restarts and release', async () => {
    const report = await ps()
    assert.deepEqual(report.formation, [
      {type: 'web', desired: 1, ready: 1},
      {type: 'worker', desired: 0, ready: 0},
    ])
    assert.equal(report.processes.length, 1)
    const [web] = report.processes
    assert.match(web.name, new RegExp(`^${app}-web-[a-z0-9]+-[a-z0-9]+$`))
    assert.deepEqual(
      [web.type, web.state, web.restarts, web.release, web.commit],
      ['web', 'up', 0, commit, commit.slice(0, 7)],
    )
    assert.ok(Date.parse(web.startedAt!) <= Date.now())

    const human = await kplat(['ps', '--app', app])
    assert.equal(human.code, 0, human.stderr)
    assert.match(human.stdout, /^=== web \(1\/1 up\)$/m)
    assert.match(human.stdout, /^PROCESS\s+STATE\s+AGE\s+RESTARTS\s+RELEASE$/m)
    assert.match(human.stdout, new RegExp(`^${web.name}\\s+up\\s+\\d+s\\s+0\\s+${commit.slice(0, 7)}$`, 'm'))
    assert.match(human.stdout, /^=== worker \(0\/0 up\)\nno worker processes; `kplat ps:scale worker=1` starts one$/m)
  })

  it('scales web to 3 and waits for them; self-heal and the next git push keep the count', async () => {
    const r = await kplat(['ps:scale', 'web=3', '--app', app, '--json'])
    assert.equal(r.code, 0, r.stderr)
    // v1 is create's deploy; the scale is the next release.
    assert.deepEqual(JSON.parse(r.stdout), {
      app,
      formation: [
        {type: 'web', desired: 3, ready: 3},
        {type: 'worker', desired: 0, ready: 0},
      ],
      release: 2,
    })
    assert.match(r.stderr, /Scaling .* to web=3\.\.\. done/)
    assert.equal((await livePods('web')).filter((p) => p.status?.phase === 'Running').length, 3)

    // Where the count lives: the Application's Helm values, under kplat's own field manager.
    const application = (await custom.getNamespacedCustomObject({
      group: 'argoproj.io',
      version: 'v1alpha1',
      plural: 'applications',
      namespace: 'argocd',
      name: app,
    })) as {
      metadata: {managedFields: Array<{manager: string}>}
      spec: {source: {helm: {valuesObject: unknown}}}
    }
    assert.deepEqual(application.spec.source.helm.valuesObject, {kplat: {formation: {web: 3}}})
    assert.ok(application.metadata.managedFields.some((f) => f.manager === 'kplat-formation'))

    // What `kubectl scale` does is undone by self-heal, back to kplat's count.
    await apps.patchNamespacedDeploymentScale(
      {name: `${app}-web`, namespace: app, body: {spec: {replicas: 1}}, fieldManager: 'kubectl-scale'},
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    )
    await eventually(
      'self-heal restores 3 web processes',
      async () => (await apps.readNamespacedDeployment({name: `${app}-web`, namespace: app})).spec?.replicas === 3,
    )

    // A config var set now must survive the push too.
    const configured = await kplat(['config:set', 'GREETING=hi', '--app', app])
    assert.equal(configured.code, 0, configured.stderr)

    // A push deploys the new commit with 3 web processes still.
    const clone = path.join(work, app)
    writeFileSync(path.join(clone, 'server.js'), readFileSync(path.join(clone, 'server.js'), 'utf8') + '\n// v2\n')
    const git = (args: string[]) =>
      exec('git', ['-C', clone, ...args], {env: {...process.env, GIT_TERMINAL_PROMPT: '0'}})
    await git(['-c', 'user.name=dev', '-c', 'user.email=dev@example.com', 'commit', '-qam', 'v2'])
    const sha = (await git(['rev-parse', 'HEAD'])).stdout.trim()
    await git([
      '-c',
      `http.extraHeader=Authorization: Basic ${Buffer.from(`x:${g.env.GITHUB_TOKEN}`).toString('base64')}`,
      'push',
      '-q',
      'origin',
      'main',
    ])
    await eventually(
      'the push runs on 3 web processes',
      async () => {
        const pods = await livePods('web')
        return (
          pods.length === 3 &&
          pods.every(
            (p) =>
              p.spec!.containers[0].image!.endsWith(`:${sha}`) &&
              p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
          )
        )
      },
      120_000,
    )
    const report = await ps('web')
    assert.deepEqual(report.formation, [{type: 'web', desired: 3, ready: 3}])
    assert.deepEqual(
      report.processes.map((p) => p.commit),
      [sha.slice(0, 7), sha.slice(0, 7), sha.slice(0, 7)],
    )
    // ... and with the config var: its Secret, and the revision that restarted the app.
    const after = (await custom.getNamespacedCustomObject({
      group: 'argoproj.io',
      version: 'v1alpha1',
      plural: 'applications',
      namespace: 'argocd',
      name: app,
    })) as {
      spec: {source: {helm: {valuesObject: {kplat: {formation: unknown; configRevision?: string}}}}}
    }
    assert.deepEqual(after.spec.source.helm.valuesObject.kplat.formation, {web: 3})
    const [pod] = await livePods('web')
    assert.equal(
      pod.metadata?.annotations?.['kplat.dev/config-revision'],
      after.spec.source.helm.valuesObject.kplat.configRevision,
    )
    const config = await kplat(['config:get', 'GREETING', '--app', app])
    assert.equal(config.stdout, 'hi\n')
    commit = sha
  })

  it('prints the formation in a form to paste back, and takes +N and -N', async () => {
    const now = await kplat(['ps:scale', '--app', app])
    assert.equal(now.code, 0, now.stderr)
    assert.equal(now.stdout, 'web=3 worker=0\n')

    const r = await kplat(['ps:scale', 'web-2', 'worker+1', '--app', app])
    assert.equal(r.code, 0, r.stderr)
    assert.equal(r.stdout, 'web=1 worker=1\n')
    assert.match(r.stderr, /Scaling \S+ to web=1 worker=1\.\.\. done/)
    const report = await ps()
    assert.deepEqual(report.formation, [
      {type: 'web', desired: 1, ready: 1},
      {type: 'worker', desired: 1, ready: 1},
    ])
    const worker = report.processes.find((p) => p.type === 'worker')
    assert.match(worker!.name, new RegExp(`^${app}-worker-`))
    assert.equal(worker!.state, 'up')
  })

  it('restarts one type, rolling, replacing every one of its processes and no other', async () => {
    const webBefore = (await livePods('web')).map((p) => p.metadata!.name!)
    const workerBefore = (await livePods('worker')).map((p) => p.metadata!.name!)
    const r = await kplat(['ps:restart', 'web', '--app', app])
    assert.equal(r.code, 0, r.stderr)
    assert.equal(r.stdout, 'Restarted web\n')
    const webAfter = (await livePods('web')).filter((p) => p.status?.phase === 'Running').map((p) => p.metadata!.name!)
    assert.equal(webAfter.length, 1)
    assert.ok(
      webAfter.every((n) => !webBefore.includes(n)),
      `every web process is new: ${webBefore} -> ${webAfter}`,
    )
    assert.deepEqual(
      (await livePods('worker')).map((p) => p.metadata!.name!),
      workerBefore,
      'the worker was left alone',
    )

    const all = await kplat(['ps:restart', '--app', app, '--json'])
    assert.equal(all.code, 0, all.stderr)
    assert.deepEqual(JSON.parse(all.stdout), {app, restarted: ['web', 'worker']})
    assert.ok((await livePods('worker')).every((p) => !workerBefore.includes(p.metadata!.name!)))
    // Argo CD does not count the restart as drift.
    const application = (await custom.getNamespacedCustomObject({
      group: 'argoproj.io',
      version: 'v1alpha1',
      plural: 'applications',
      namespace: 'argocd',
      name: app,
    })) as {status: {sync: {status: string}}}
    assert.equal(application.status.sync.status, 'Synced')
  })

  it('shows a crashed process with the reason the kubelet gave', async () => {
    const [pod] = (await livePods('worker')).filter((p) => p.status?.phase === 'Running')
    await crashContainer(g.admin(), app, pod.metadata!.name!, 'worker', {
      reason: 'OOMKilled',
      exitCode: 137,
      restarts: 4,
    })
    const report = await ps('worker')
    assert.deepEqual(
      report.processes.map((p) => [p.name, p.state, p.reason, p.restarts]),
      [[pod.metadata!.name!, 'crashed', 'OOMKilled, CrashLoopBackOff', 4]],
    )
    const human = await kplat(['ps', 'worker', '--app', app])
    assert.match(
      human.stdout,
      new RegExp(`^${pod.metadata!.name!}\\s+crashed \\(OOMKilled, CrashLoopBackOff\\)\\s+\\d+s\\s+4\\s+`, 'm'),
    )
    assert.match(human.stdout, /^=== worker \(0\/1 up\)$/m)
  })

  it('refuses bad scales before changing anything (exit 2)', async () => {
    const cases: Array<[string[], RegExp]> = [
      [
        ['nosuch=1'],
        new RegExp(`^Error: ${app} has no process type "nosuch" \\(its types: web, worker\\)\\. Name one of those\\n$`),
      ],
      [
        ['web=-1'],
        /^Error: "web=-1" is not a scale: expected TYPE=COUNT, TYPE\+N or TYPE-N\. For example `kplat ps:scale web=2 worker=1`\n$/,
      ],
      [
        ['web=101'],
        /^Error: web=101 would make 101 web processes: at most 100 \(the platform's maxProcesses\)\. Ask for 100 or fewer\n$/,
      ],
      [
        ['web-5'],
        /^Error: web-5 would leave -4 web processes \(it runs 1\)\. Scale to 0 or more, for example `kplat ps:scale web=0`\n$/,
      ],
      [['web=2:standard-2x'], /^Error: "web=2:standard-2x" is not a scale: kplat has no dyno sizes/],
      [['web=1', 'web=2'], /^Error: web is scaled twice on one command line/],
    ]
    for (const [args, message] of cases) {
      const r = await kplat(['ps:scale', ...args, '--app', app])
      assert.equal(r.code, 2, `${args}: ${r.stderr}`)
      assert.match(r.stderr, message, JSON.stringify(r.stderr))
    }

    assert.equal(
      (await apps.readNamespacedDeployment({name: `${app}-web`, namespace: app})).spec?.replicas,
      1,
      'nothing changed',
    )
    const lower = await kplat(['ps:scale', 'web=3', '--app', app], {KPLAT_MAX_PROCESSES: '2'})
    assert.equal(lower.code, 2)
    assert.match(lower.stderr, /at most 2 \(the platform's maxProcesses\)/)
  })

  it('takes the app from the git remotes only when it deploys from one of them: a fork of the same name is refused (exit 2)', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'kplat-fork-'))
    const env = {PATH: process.env.PATH, HOME: process.env.HOME, ...g.env}
    await exec('git', ['init', '-q', dir])
    await exec('git', ['-C', dir, 'remote', 'add', 'origin', `${g.github.web}/alice/${app}.git`])
    const fork = await runBin(['ps'], {env, cwd: dir})
    assert.equal(fork.code, 2)
    assert.equal(
      fork.stderr,
      `Error: this repository's git remote origin points at alice/${app}, but the app ${app} deploys from acme/${app}. Pass --app ${app} if you mean that app all the same\n`,
    )
    const destroy = await runBin(['apps:destroy', '--confirm', app], {env, cwd: dir})
    assert.equal(destroy.code, 2, 'nor is it destroyed')
    await exec('git', ['-C', dir, 'remote', 'add', 'upstream', `${g.github.web}/acme/${app}.git`])
    const upstream = await runBin(['ps', '--json'], {env, cwd: dir})
    assert.equal(upstream.code, 0, upstream.stderr)
    assert.equal((JSON.parse(upstream.stdout) as Report).app, app)
  })

  it('says which app is missing, which is not deployed yet, and which right RBAC refuses', async () => {
    const missing = await kplat(['ps', '--app', 'nosuch-app'])
    assert.equal(missing.code, 1)
    assert.equal(
      missing.stderr,
      'Error: app "nosuch-app" not found. Run `kplat apps` to list your apps, or `kplat create nosuch-app` to create it\n',
    )

    // An app kplat registered whose first sync cannot happen yet: its repository is not there.
    const pending = uniqueName('pending').slice(0, 24)
    await custom.createNamespacedCustomObject({
      group: 'argoproj.io',
      version: 'v1alpha1',
      plural: 'applications',
      namespace: 'argocd',
      body: {
        apiVersion: 'argoproj.io/v1alpha1',
        kind: 'Application',
        metadata: {name: pending, labels: {'app.kubernetes.io/managed-by': 'kplat', 'kplat.dev/app': pending}},
        spec: {
          project: 'default',
          source: {repoURL: `${g.github.web}/acme/${pending}.git`, path: 'chart', targetRevision: 'main'},
          destination: {server: 'https://kubernetes.default.svc', namespace: pending},
        },
      },
    })
    await eventually('Argo CD finds the repository missing', async () => {
      const a = (await custom.getNamespacedCustomObject({
        group: 'argoproj.io',
        version: 'v1alpha1',
        plural: 'applications',
        namespace: 'argocd',
        name: pending,
      })) as {status?: {conditions?: unknown[]}}
      return (a.status?.conditions ?? []).length > 0
    })
    for (const command of [['ps'], ['ps:scale', 'web=2'], ['ps:restart'], ['logs']]) {
      const r = await kplat([...command, '--app', pending])
      assert.equal(r.code, 1, `${command}: ${r.stderr}`)
      assert.match(
        r.stderr,
        new RegExp(
          `^Error: ${pending} has no processes yet: Argo CD cannot deploy it \\(ComparisonError: Failed to load target state: .*repository not found.*\\)\\. \`kplat apps:info --app ${pending}\` shows its deploy state\\n$`,
        ),
      )
    }

    await custom.deleteNamespacedCustomObject({
      group: 'argoproj.io',
      version: 'v1alpha1',
      plural: 'applications',
      namespace: 'argocd',
      name: pending,
    })

    const forbidden = await kplat(['ps', '--app', app, '--context', NO_TEAM_CONTEXT])
    assert.equal(forbidden.code, 1)
    assert.equal(
      forbidden.stderr,
      'Error: forbidden: you may not get applications.argoproj.io in namespace argocd. Ask your platform team for the "get" right on applications.argoproj.io in namespace argocd, or pick another --context\n',
    )
  })
})

async function eventually(what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    assert.ok(Date.now() < deadline, `timed out: ${what}`)
    await new Promise((r) => setTimeout(r, 200))
  }
}
