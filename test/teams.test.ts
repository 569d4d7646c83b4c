// Teams on the real Argo CD (applications in any namespace, an AppProject per team) as the
// platform kit's onboarding step made them: each developer with rights only in their team's
// namespace, the Heroku day as one of them, and nothing of one team reachable from another.
import assert from 'node:assert/strict'
import {spawn} from 'node:child_process'
import {mkdtempSync, writeFileSync} from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {before, describe, it} from 'node:test'
import * as k8s from '@kubernetes/client-node'
import {
  ADMIN_CONTEXT,
  NO_TEAM_CONTEXT,
  RESTRICTED_CONTEXT,
  TEAM_B_CONTEXT,
  TWO_TEAMS_CONTEXT,
} from './ground/cluster.js'
import {ORG} from './ground/index.js'
import {BIN, runBin, type RunResult} from './helpers/cli.js'
import {ground, pushChange, uniqueName, type TestGround} from './helpers/ground.js'

const TEAM_A = 'team-a'
const TEAM_B = 'team-b'

describe('teams: each developer in their team, on the real Argo CD', () => {
  let g: TestGround
  let custom: k8s.CustomObjectsApi
  let core: k8s.CoreV1Api
  const work = mkdtempSync(path.join(os.tmpdir(), 'kplat-teams-'))
  /** A kubeconfig whose current context is one user's: kplat runs as that user, as on their laptop. */
  const kubeconfigs: Record<string, string> = {}
  const as = (context: string) => {
    if (kubeconfigs[context]) return kubeconfigs[context]
    const kc = new k8s.KubeConfig()
    kc.loadFromFile(g.kubeconfig)
    kc.setCurrentContext(context)
    const file = path.join(work, `${context}.kubeconfig`)
    writeFileSync(file, kc.exportConfig(), {mode: 0o600})
    return (kubeconfigs[context] = file)
  }
  const kplat = (context: string, args: string[], extra: NodeJS.ProcessEnv = {}): Promise<RunResult> =>
    runBin(args, {
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        ...g.env,
        KUBECONFIG: as(context),
        KPLAT_BACKSTAGE_URL: g.env.KPLAT_GROUND_BACKSTAGE_URL,
        KPLAT_BACKSTAGE_TOKEN: g.env.KPLAT_GROUND_BACKSTAGE_TOKEN,
        KPLAT_CACHE: path.join(work, 'cache'),
        ...extra,
      },
      cwd: work,
    })
  const application = async (namespace: string, name: string) =>
    (await custom.getNamespacedCustomObject({
      group: 'argoproj.io',
      version: 'v1alpha1',
      plural: 'applications',
      namespace,
      name,
    })) as {
      metadata: {labels: Record<string, string>}
      spec: {project: string; destination: {namespace: string}}
      status?: {conditions?: Array<{type: string; message: string}>}
    }

  before(async () => {
    g = await ground()
    custom = g.admin().makeApiClient(k8s.CustomObjectsApi)
    core = g.admin().makeApiClient(k8s.CoreV1Api)
  })

  it('kplat teams lists the teams and says which the user is in; a user in none is told whom to ask', async () => {
    const r = await kplat(RESTRICTED_CONTEXT, ['teams', '--json'])
    assert.equal(r.code, 0, r.stderr)
    const teams = (JSON.parse(r.stdout) as {teams: Array<{name: string; member: boolean; namespace: string}>}).teams
    assert.deepEqual(
      teams.map((t) => [t.name, t.namespace, t.member]),
      [
        [TEAM_A, TEAM_A, true],
        [TEAM_B, TEAM_B, false],
      ],
    )

    const none = await kplat(NO_TEAM_CONTEXT, ['teams'])
    assert.equal(none.code, 1)
    assert.match(none.stderr, /^Error: you belong to no team: .*Ask your platform team to add you to a team/)
    const create = await kplat(NO_TEAM_CONTEXT, ['create', uniqueName('none').slice(0, 24), '--no-clone'])
    assert.equal(create.code, 1)
    assert.match(create.stderr, /you belong to no team/)
    // In two teams: which one is asked on a terminal; without one, a usage error names them.
    const lead = await kplat(TWO_TEAMS_CONTEXT, ['teams', '--json'])
    assert.deepEqual(
      (JSON.parse(lead.stdout) as {teams: Array<{member: boolean}>}).teams.map((t) => t.member),
      [true, true],
    )
    const which = await kplat(TWO_TEAMS_CONTEXT, ['create', uniqueName('two').slice(0, 24), '--no-clone'])
    assert.equal(which.code, 2, which.stderr)
    assert.match(which.stderr, /You are in several teams: team-a, team-b\. Pass --team team-a \(or another of them\)/)
    const wrong = await kplat(RESTRICTED_CONTEXT, ['create', 'x-app', '--team', TEAM_B, '--no-clone'])
    assert.equal(wrong.code, 1)
    assert.match(
      wrong.stderr,
      /you are not in the team team-b: you may not create applications\.argoproj\.io in namespace team-b/,
    )
  })

  it("the README's day as team-a's developer: create, push, config, scale, logs, open, add-on, rollback, destroy", async () => {
    const app = uniqueName('team').slice(0, 24)
    const dev = (args: string[], extra: NodeJS.ProcessEnv = {}) => kplat(RESTRICTED_CONTEXT, args, extra)
    const created = await dev(['create', app, '--json'])
    assert.equal(created.code, 0, created.stderr)
    const result = JSON.parse(created.stdout) as {team: string; namespace: string; dir: string; catalog?: string}
    assert.equal(result.team, TEAM_A, 'the only team of the user is the default')
    assert.equal(result.namespace, TEAM_A)
    const made = await application(TEAM_A, app)
    assert.equal(made.spec.project, TEAM_A)
    assert.equal(made.spec.destination.namespace, TEAM_A)
    assert.equal(made.metadata.labels['kplat.dev/team'], TEAM_A)
    // The catalog and kplat agree on who owns it.
    const entity = (await (
      await fetch(`${g.env.KPLAT_GROUND_BACKSTAGE_URL}/api/catalog/entities/by-name/component/default/${app}`, {
        headers: {authorization: `Bearer ${g.env.KPLAT_GROUND_BACKSTAGE_TOKEN}`},
      })
    ).json()) as {spec: {owner: string}}
    assert.equal(entity.spec.owner, `group:default/${TEAM_A}`)

    const listed = await dev(['apps', '--json'])
    assert.equal(listed.code, 0, listed.stderr)
    const mine = (JSON.parse(listed.stdout) as Array<{name: string; team?: string; namespace: string}>).find(
      (a) => a.name === app,
    )
    assert.deepEqual([mine?.team, mine?.namespace], [TEAM_A, TEAM_A])

    // git push deploys, as ever.
    const sha = await pushChange(g, result.dir, 'v2')
    for (let i = 0; ; i++) {
      const pods = await core.listNamespacedPod({namespace: TEAM_A, labelSelector: `app.kubernetes.io/name=${app}`})
      const images = pods.items.filter((p) => !p.metadata?.deletionTimestamp).map((p) => p.spec!.containers[0].image)
      if (images.length === 1 && images[0]!.endsWith(`:${sha}`)) break
      assert.ok(i < 600, `the push was not deployed: ${images.join(', ')}`)
      await new Promise((r) => setTimeout(r, 100))
    }

    const set = await dev(['config:set', 'GREETING=hello', '--app', app, '--timeout', '120'])
    assert.equal(set.code, 0, set.stderr)
    const config = await dev(['config:get', 'GREETING', '--app', app])
    assert.equal(config.stdout, 'hello\n', config.stderr)

    // A neighbour in the team's namespace whose names start with this app's: APP-web, whose
    // web processes are APP-web-web-...
    const neighbour = `${app}-web`
    const beside = await dev(['create', neighbour, '--no-clone'])
    assert.equal(beside.code, 0, beside.stderr)

    const scaled = await dev(['ps:scale', 'web=2', '--app', app, '--timeout', '120'])
    assert.equal(scaled.code, 0, scaled.stderr)
    const ps = await dev(['ps', '--app', app, '--json'])
    assert.equal(ps.code, 0, ps.stderr)
    const processes = (JSON.parse(ps.stdout) as {processes: Array<{name: string; type: string}>}).processes
    assert.equal(processes.filter((p) => p.type === 'web').length, 2)
    assert.ok(
      processes.every((p) => p.name.startsWith(`${app}-`) && !p.name.startsWith(`${neighbour}-web-`)),
      "only the app's own processes, not the team's other apps'",
    )

    const logs = await dev(['logs', '--app', app, '-n', '200', '--json'])
    assert.equal(logs.code, 0, logs.stderr)
    const lines = logs.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as {source: string; process: string})
    assert.ok(lines.some((l) => l.source === 'app'))
    assert.ok(
      lines.some((l) => l.source === 'platform'),
      'the events of the namespace are readable',
    )
    assert.ok(
      lines
        .filter((l) => l.source === 'platform')
        .every((l) => l.process.split('/')[1]?.startsWith(app) && !l.process.includes(`/${neighbour}-web`)),
      "only the events of the app's own objects, not its neighbour's",
    )
    assert.ok(
      lines.every((l) => !l.process.includes(`${neighbour}-web-`)),
      "no line of the neighbour's processes",
    )

    // open: with no DNS for the apps domain, a forwarded port through the API server, which
    // the team's developer may open in their namespace.
    const open = spawn(process.execPath, [BIN, 'open', '--app', app, '--url'], {
      env: {PATH: process.env.PATH, HOME: process.env.HOME, ...g.env, KUBECONFIG: as(RESTRICTED_CONTEXT)},
      cwd: work,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    try {
      let out = ''
      let err = ''
      open.stdout.on('data', (d) => (out += d))
      open.stderr.on('data', (d) => (err += d))
      for (let i = 0; !out.includes('\n'); i++) {
        assert.ok(i < 300 && open.exitCode === null, `kplat open printed a URL: ${err}`)
        await new Promise((r) => setTimeout(r, 100))
      }
      const answer = (await (await fetch(out.split('\n')[0])).json()) as {pod: string; namespace: string}
      assert.equal(answer.namespace, TEAM_A)
      assert.match(answer.pod, new RegExp(`^${app}-web-`))
    } finally {
      open.kill('SIGINT')
    }

    const addon = await dev(['addons:create', 'gcs-bucket', '--app', app, '--param', 'location=US', '--timeout', '180'])
    assert.equal(addon.code, 0, addon.stderr)
    const addons = await dev(['addons', '--app', app, '--json'])
    assert.equal(addons.code, 0, addons.stderr)
    assert.deepEqual(
      (JSON.parse(addons.stdout) as Array<{name: string; namespace: string}>).map((a) => [a.name, a.namespace]),
      [[`${app}-gcs-bucket`, TEAM_A]],
    )

    // Every app of the user's, across their teams' namespaces, without cluster-wide rights.
    const everywhere = await dev(['addons', '--all', '--json'])
    assert.equal(everywhere.code, 0, everywhere.stderr)
    assert.ok((JSON.parse(everywhere.stdout) as Array<{name: string}>).some((a) => a.name === `${app}-gcs-bucket`))
    assert.doesNotMatch(everywhere.stderr, /may not list/)
    // --team goes straight to the team's namespace.
    const direct = await dev(['config:get', 'GREETING', '--app', app, '--team', TEAM_A])
    assert.equal(direct.stdout, 'hello\n', direct.stderr)
    const elsewhere = await dev(['config:get', 'GREETING', '--app', app, '--team', TEAM_B])
    assert.equal(elsewhere.code, 1)
    assert.match(elsewhere.stderr, /forbidden: you may not get applications\.argoproj\.io in namespace team-b/)

    const back = await dev(['releases:rollback', '--app', app, '--json', '--timeout', '120'])
    assert.equal(back.code, 0, back.stderr)
    const releases = await dev(['releases', '--app', app, '--json'])
    assert.equal(releases.code, 0, releases.stderr)
    assert.ok((JSON.parse(releases.stdout) as unknown[]).length >= 5)

    // The rest of the day's commands, under the same rights.
    for (const args of [
      ['ps:restart', 'web', '--app', app, '--timeout', '120'],
      ['config:set', 'BYE=1', '--app', app, '--timeout', '120'],
      ['config:unset', 'BYE', '--app', app, '--timeout', '120'],
      ['releases:info', 'v1', '--app', app],
      ['addons:info', `${app}-gcs-bucket`, '--app', app],
      ['addons:destroy', `${app}-gcs-bucket`, '--app', app, '--confirm', app, '--timeout', '120'],
      ['apps:info', '--app', app],
      ['templates'],
    ]) {
      const r = await dev(args)
      assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`)
    }

    const destroyed = await dev(['apps:destroy', '--app', app, '--confirm', app, '--json'])
    assert.equal(destroyed.code, 0, destroyed.stderr)
    const left = async (list: () => Promise<{items: unknown[]}>) => (await list()).items.length
    const selector = {namespace: TEAM_A, labelSelector: `kplat.dev/app=${app}`}
    assert.equal(await left(() => core.listNamespacedConfigMap(selector)), 0, 'no release is left')
    assert.equal(await left(() => core.listNamespacedSecret(selector)), 0, 'no config var is left')
    assert.ok(await core.readNamespace({name: TEAM_A}), "the team's namespace stays")
    await assert.rejects(application(TEAM_A, app), (e: {code?: number}) => e.code === 404)
    assert.ok(await application(TEAM_A, neighbour), 'the neighbour is untouched')
    assert.equal((await dev(['apps:destroy', '--app', neighbour, '--confirm', neighbour])).code, 0)
  })

  it("the platform team finishes a team app's destroy that stopped after its Application went", async () => {
    const app = uniqueName('half').slice(0, 24)
    assert.equal((await kplat(RESTRICTED_CONTEXT, ['create', app, '--no-clone'])).code, 0)
    const set = await kplat(RESTRICTED_CONTEXT, ['config:set', 'X=1', '--app', app, '--no-restart'])
    assert.equal(set.code, 0, set.stderr)
    const ours = {namespace: TEAM_A, labelSelector: `kplat.dev/app=${app}`}
    assert.ok((await core.listNamespacedSecret(ours)).items.length > 0)
    // As an interrupted apps:destroy leaves it: the Application, with what it deployed, gone.
    await custom.deleteNamespacedCustomObject({
      group: 'argoproj.io',
      version: 'v1alpha1',
      plural: 'applications',
      namespace: TEAM_A,
      name: app,
    })
    for (let i = 0; ; i++) {
      const gone = await application(TEAM_A, app).then(
        () => false,
        (e: {code?: number}) => e.code === 404,
      )
      if (gone) break
      assert.ok(i < 300, 'the Application went')
      await new Promise((r) => setTimeout(r, 100))
    }

    const r = await kplat(ADMIN_CONTEXT, ['apps:destroy', '--app', app, '--confirm', app])
    assert.equal(r.code, 0, r.stderr)
    assert.equal((await core.listNamespacedSecret(ours)).items.length, 0, 'its config vars are gone')
    assert.equal((await core.listNamespacedConfigMap(ours)).items.length, 0, 'its releases are gone')
  })

  it("team-b's developer neither sees nor changes team-a's app, and Argo CD refuses an Application aimed at team-a", async () => {
    const app = uniqueName('theirs').slice(0, 24)
    const created = await kplat(RESTRICTED_CONTEXT, ['create', app, '--no-clone', '--no-wait'])
    assert.equal(created.code, 0, created.stderr)

    const other = (args: string[]) => kplat(TEAM_B_CONTEXT, args)
    const apps = await other(['apps', '--json'])
    assert.equal(apps.code, 0, apps.stderr)
    assert.ok(!(JSON.parse(apps.stdout) as Array<{name: string}>).some((a) => a.name === app))
    for (const args of [
      ['config', '--app', app],
      ['logs', '--app', app],
      ['config:set', 'X=1', '--app', app],
      ['apps:destroy', '--app', app, '--confirm', app],
    ]) {
      const r = await other(args)
      assert.equal(r.code, 1, `${args.join(' ')}: ${r.stderr}`)
      assert.match(r.stderr, new RegExp(`app "${app}" not found among the apps you may see \\(in namespace team-b\\)`))
    }
    // The name is team-a's: team-b cannot take it over by "rerunning" create.
    const takeover = await other(['create', app, '--no-clone', '--no-wait'])
    assert.equal(takeover.code, 2, takeover.stderr)
    assert.match(
      takeover.stderr,
      new RegExp(
        `the name "${app}" is taken: the repository ${ORG}/${app} is the app of team-a, not of the team team-b`,
      ),
    )
    const theirs = await other(['apps', '--team', TEAM_A])
    assert.equal(theirs.code, 1)
    assert.match(theirs.stderr, /forbidden: you may not list applications\.argoproj\.io in namespace team-a/)
    assert.ok(await application(TEAM_A, app), 'the app is untouched')

    // By hand, past kplat: an Application in team-b's namespace that deploys into team-a's.
    const sneaky = uniqueName('sneaky').slice(0, 24)
    const asB = new k8s.KubeConfig()
    asB.loadFromFile(g.kubeconfig)
    asB.setCurrentContext(TEAM_B_CONTEXT)
    await asB.makeApiClient(k8s.CustomObjectsApi).createNamespacedCustomObject({
      group: 'argoproj.io',
      version: 'v1alpha1',
      plural: 'applications',
      namespace: TEAM_B,
      body: {
        apiVersion: 'argoproj.io/v1alpha1',
        kind: 'Application',
        metadata: {
          name: sneaky,
          namespace: TEAM_B,
          labels: {'app.kubernetes.io/managed-by': 'kplat', 'kplat.dev/app': sneaky, 'kplat.dev/team': TEAM_B},
        },
        spec: {
          project: TEAM_B,
          source: {repoURL: `${g.github.web}/${ORG}/${app}.git`, path: 'chart', targetRevision: 'deploy'},
          destination: {server: 'https://kubernetes.default.svc', namespace: TEAM_A},
          syncPolicy: {automated: {prune: true, selfHeal: true}},
        },
      },
    })
    let info: RunResult | undefined
    for (let i = 0; ; i++) {
      info = await other(['apps:info', '--app', sneaky])
      if (/Argo CD: InvalidSpecError/.test(info.stderr)) break
      assert.ok(i < 60, `kplat shows Argo CD's refusal: ${info.stdout}${info.stderr}`)
      await new Promise((r) => setTimeout(r, 500))
    }
    assert.match(info.stderr, /team-a/, "Argo CD's words name the refused namespace")
    const deployed = await core.listNamespacedPod({
      namespace: TEAM_A,
      labelSelector: `app.kubernetes.io/name=${sneaky}`,
    })
    assert.equal(deployed.items.length, 0, 'nothing of it runs in team-a')
  })
})
