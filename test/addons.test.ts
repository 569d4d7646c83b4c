// The add-on services and plans a cluster offers, read from the real Crossplane's XRDs and
// Compositions on the proving ground (the sample kit, and XRDs written without kplat's labels).
import assert from 'node:assert/strict'
import {execFile, spawn} from 'node:child_process'
import {mkdtempSync, readFileSync, writeFileSync} from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {after, before, describe, it} from 'node:test'
import {promisify} from 'node:util'
import * as k8s from '@kubernetes/client-node'
import {NO_TEAM_CONTEXT, startControlPlane} from './ground/cluster.js'
import {provideBinaries} from './ground/index.js'
import {ProcessGroup} from './ground/processes.js'
import {ANSI, BIN, runBin, type RunResult} from './helpers/cli.js'
import {ground, uniqueName, type TestGround} from './helpers/ground.js'

const exec = promisify(execFile)

interface Service {
  name: string
  kind: string
  apiVersion: string
  shape: string
  envVars: string[]
  labelled: boolean
  parametersAt: string
  parameters: Array<{name: string; type: string; enum?: unknown[]; default?: unknown; required: boolean}>
}

describe('kplat addons:services and addons:plans, on the real Crossplane', () => {
  let g: TestGround
  let custom: k8s.CustomObjectsApi
  const kplat = (args: string[], extra: NodeJS.ProcessEnv = {}): Promise<RunResult> =>
    runBin(args, {env: {PATH: process.env.PATH, HOME: process.env.HOME, ...g.env, ...extra}})
  const xrds: string[] = []

  before(async () => {
    g = await ground()
    custom = g.admin().makeApiClient(k8s.CustomObjectsApi)
  })

  after(async () => {
    await Promise.all(
      xrds.map((name) =>
        custom
          .deleteClusterCustomObject({
            group: 'apiextensions.crossplane.io',
            version: 'v2',
            plural: 'compositeresourcedefinitions',
            name,
          })
          .catch(() => undefined),
      ),
    )
  })

  it("lists the sample kit's services with their shape, env vars and parameters from the XRD's schema", async () => {
    const r = await kplat(['addons:services', '--json'])
    assert.equal(r.code, 0, r.stderr)
    const services = JSON.parse(r.stdout) as Service[]
    const kit = services.filter((s) => s.apiVersion.startsWith('addons.kplat.dev/'))
    assert.deepEqual(
      kit.map((s) => [s.name, s.kind, s.shape, s.envVars.join(',')]),
      [
        ['gcs-bucket', 'GCSBucket', 'namespaced', 'GCS_BUCKET,GOOGLE_CLOUD_PROJECT,GOOGLE_CREDENTIALS'],
        ['postgres', 'PostgresDatabase', 'namespaced', 'PGHOST,PGPORT,PGDATABASE,PGUSER,PGPASSWORD,DATABASE_URL'],
        ['postgres-legacy', 'PostgreSQLInstance', 'claim', 'PGHOST,PGPORT,PGDATABASE,PGUSER,PGPASSWORD,DATABASE_URL'],
        ['s3-bucket', 'S3Bucket', 'namespaced', 'S3_BUCKET,AWS_REGION,AWS_ACCESS_KEY_ID,AWS_SECRET_ACCESS_KEY'],
      ],
    )
    const gcs = kit.find((s) => s.name === 'gcs-bucket')!
    assert.deepEqual(
      gcs.parameters.map((p) => p.name),
      ['location', 'storageClass', 'versioning'],
      "writeConnectionSecretToRef is Crossplane's, not a parameter",
    )
    assert.deepEqual(gcs.parameters[0], {
      name: 'location',
      type: 'string',
      description: 'Where the bucket and its key live.',
      enum: ['EU', 'US', 'europe-west1', 'us-central1'],
      default: 'EU',
      required: false,
    })
    const legacy = kit.find((s) => s.name === 'postgres-legacy')!
    assert.equal(legacy.parametersAt, 'spec.parameters')
    assert.deepEqual(
      legacy.parameters.find((p) => p.name === 'storageGB'),
      {name: 'storageGB', type: 'integer', default: 20, required: false},
    )

    const human = await kplat(['addons:services'])
    assert.equal(human.code, 0)
    assert.doesNotMatch(human.stdout, ANSI)
    assert.match(human.stdout, /^SERVICE\s+KIND\s+SHAPE\s+ENV VARS\s+DESCRIPTION$/m)
    assert.match(
      human.stdout,
      /^gcs-bucket\s+GCSBucket\s+namespaced\s+GCS_BUCKET,GOOGLE_CLOUD_PROJECT,GOOGLE_CREDENTIALS\s+Google Cloud Storage bucket/m,
    )
    assert.match(
      human.stdout,
      /^ {2}location: string, one of EU\|US\|europe-west1\|us-central1, default EU\. Where the bucket and its key live\.$/m,
    )
  })

  it("offers an XRD written without kplat's labels too, named after its claim kind or kind", async () => {
    const group = `${uniqueName('talk')}.example.org`
    // The KubeCon talk's shape: a v1 XRD with a claim, no kplat label or annotation.
    const talk = claimXrd(group, 'Bucket', ['BUCKET_NAME'], {
      type: 'object',
      required: ['parameters'],
      properties: {parameters: {type: 'object', required: ['region'], properties: {region: {type: 'string'}}}},
    })
    talk.spec.versions[0].schema.openAPIV3Schema.description = 'A bucket.'
    const plain = {
      apiVersion: 'apiextensions.crossplane.io/v2',
      kind: 'CompositeResourceDefinition',
      metadata: {name: `caches.${group}`},
      spec: {
        scope: 'Namespaced',
        group,
        names: {kind: 'Cache', plural: 'caches'},
        versions: [
          {
            name: 'v1',
            served: true,
            referenceable: true,
            schema: {
              openAPIV3Schema: {
                type: 'object',
                properties: {spec: {type: 'object', properties: {sizeMB: {type: 'integer', default: 64}}}},
              },
            },
          },
        ],
      },
    }
    for (const xrd of [talk, plain]) {
      const version = xrd.apiVersion.split('/')[1]
      await custom.createClusterCustomObject({
        group: 'apiextensions.crossplane.io',
        version,
        plural: 'compositeresourcedefinitions',
        body: xrd,
      })
      xrds.push(xrd.metadata.name)
    }

    const r = await kplat(['addons:services', '--json'])
    assert.equal(r.code, 0, r.stderr)
    const mine = (JSON.parse(r.stdout) as Service[]).filter((s) => s.apiVersion.startsWith(`${group}/`))
    assert.deepEqual(
      mine.map((s) => ({
        name: s.name,
        kind: s.kind,
        shape: s.shape,
        labelled: s.labelled,
        envVars: s.envVars,
        parameters: s.parameters.map((p) => `${p.name}:${p.type}:${p.required}`),
      })),
      [
        {
          name: 'bucket',
          kind: 'Bucket',
          shape: 'claim',
          labelled: false,
          envVars: ['BUCKET_NAME'],
          parameters: ['region:string:true'],
        },
        {
          name: 'cache',
          kind: 'Cache',
          shape: 'namespaced',
          labelled: false,
          envVars: [],
          parameters: ['sizeMB:integer:false'],
        },
      ],
    )
  })

  it("lists a service's plans, the default first and marked", async () => {
    const r = await kplat(['addons:plans', 'gcs-bucket', '--json'])
    assert.equal(r.code, 0, r.stderr)
    assert.deepEqual(JSON.parse(r.stdout), [
      {name: 'local', composition: 'gcsbuckets-local', default: true, provider: 'local'},
      {name: 'gcp', composition: 'gcsbuckets-gcp', default: false, provider: 'gcp'},
    ])
    const human = await kplat(['addons:plans', 'postgres-legacy'])
    assert.match(human.stdout, /^postgres-legacy:local\s+yes\s+local\s+xpostgresqlinstances-local$/m)
    assert.match(human.stdout, /^postgres-legacy:aws\s+aws\s+xpostgresqlinstances-aws$/m)
  })

  it('names the services there are when asked for one that is not (exit 2)', async () => {
    const r = await kplat(['addons:plans', 'gcs-buckets'])
    assert.equal(r.code, 2)
    assert.equal(r.stdout, '')
    // (Other tests may have added services of their own to the list.)
    assert.match(
      r.stderr,
      /^Error: no add-on service named "gcs-buckets" in this cluster\. Services offered: ([a-z0-9-]+, )*gcs-bucket, postgres, postgres-legacy, s3-bucket\b.* \(`kplat addons:services` describes them\)\n$/,
    )
  })

  it('says which right is missing when RBAC forbids reading the XRDs', async () => {
    const r = await kplat(['addons:services', '--context', NO_TEAM_CONTEXT])
    assert.equal(r.code, 1)
    assert.equal(
      r.stderr,
      'Error: forbidden: you may not list compositeresourcedefinitions.apiextensions.crossplane.io. Ask your platform team for the "list" right on compositeresourcedefinitions.apiextensions.crossplane.io, or pick another --context\n',
    )
  })

  it('says Crossplane is not installed when the cluster serves no XRDs', async () => {
    // A bare control plane of its own: the shared ground must keep Crossplane.
    const dir = mkdtempSync(path.join(os.tmpdir(), 'kplat-bare-'))
    const processes = new ProcessGroup(path.join(dir, 'logs'))
    try {
      const plane = await startControlPlane({dir, binDir: await provideBinaries(), processes})
      for (const args of [['addons:services'], ['addons:plans', 'gcs-bucket']]) {
        const r = await kplat(args, {KUBECONFIG: plane.kubeconfig})
        assert.equal(r.code, 1, r.stderr)
        assert.equal(
          r.stderr,
          'Error: Crossplane is not installed in this cluster (it serves no compositeresourcedefinitions.apiextensions.crossplane.io). Add-ons are Crossplane resources: ask your platform team to install Crossplane, or pick another --context\n',
        )
      }
    } finally {
      await processes.stop()
    }
  })
})

describe('kplat addons:create, on the real Crossplane and Argo CD', () => {
  let g: TestGround
  let custom: k8s.CustomObjectsApi
  let core: k8s.CoreV1Api
  const app = uniqueName('shop').slice(0, 24)
  const work = mkdtempSync(path.join(os.tmpdir(), 'kplat-addons-'))
  const kplat = (args: string[], extra: NodeJS.ProcessEnv = {}): Promise<RunResult> =>
    runBin(args, {env: {PATH: process.env.PATH, HOME: process.env.HOME, ...g.env, ...extra}, cwd: work})
  const compositions: string[] = []

  before(async () => {
    g = await ground()
    custom = g.admin().makeApiClient(k8s.CustomObjectsApi)
    core = g.admin().makeApiClient(k8s.CoreV1Api)
    const created = await kplat(['create', app])
    assert.equal(created.code, 0, created.stderr)
  })

  after(async () => {
    await Promise.all(
      compositions.map((name) =>
        custom
          .deleteClusterCustomObject({
            group: 'apiextensions.crossplane.io',
            version: 'v1',
            plural: 'compositions',
            name,
          })
          .catch(() => undefined),
      ),
    )
  })

  /** A pod's add-on env sources (the config vars' Secret, always there, left out). */
  const addonSources = (p: k8s.V1Pod) =>
    (p.spec!.containers[0].envFrom ?? [])
      .filter((e) => e.secretRef?.name !== `${app}-config`)
      .map((e) => ({prefix: e.prefix, secret: e.secretRef?.name}))

  /** The env sources of the app's running pods, once every one of them has `want` of them. */
  async function envFromOfPods(want: number): Promise<Array<Array<{prefix?: string; secret?: string}>>> {
    for (let i = 0; ; i++) {
      const pods = (await core.listNamespacedPod({namespace: app})).items.filter(
        (p) => p.status?.phase === 'Running' && !p.metadata?.deletionTimestamp,
      )
      const sources = pods.map(addonSources)
      if (pods.length > 0 && sources.every((s) => s.length === want)) return sources
      assert.ok(i < 600, `the app's pods did not get ${want} env sources: ${JSON.stringify(sources)}`)
      await new Promise((r) => setTimeout(r, 100))
    }
  }

  const application = async () =>
    custom.getNamespacedCustomObject({
      group: 'argoproj.io',
      version: 'v1alpha1',
      plural: 'applications',
      namespace: 'argocd',
      name: app,
    }) as Promise<{
      spec: {source: {helm?: {valuesObject?: unknown}}}
      status?: {sync?: {status?: string; revision?: string}; health?: {status?: string}}
    }>

  it("creates a v2 add-on, waits until it is Ready, and the app's processes get its Secret as env vars", async () => {
    // What the platform logs show meanwhile, live: the add-on is made once the tail has printed
    // its past lines, after which it follows.
    const tail = spawn(
      process.execPath,
      [BIN, 'logs', '--tail', '--source', 'platform', '--json', '-n', '1000', '--app', app],
      {env: {PATH: process.env.PATH, HOME: process.env.HOME, ...g.env}, cwd: work, stdio: ['ignore', 'pipe', 'pipe']},
    )
    after(() => {
      if (tail.exitCode === null) tail.kill('SIGKILL')
    })
    let live = ''
    tail.stdout.on('data', (d) => (live += d))
    const tailed = new Promise<number | null>((resolve) => tail.on('close', resolve))
    for (let i = 0; !live.includes('\n'); i++) {
      assert.ok(i < 300, 'the tail printed its past lines')
      await new Promise((r) => setTimeout(r, 100))
    }
    const r = await kplat([
      'addons:create',
      'gcs-bucket',
      '--app',
      app,
      '--param',
      'location=US',
      '--json',
      '--timeout',
      '120',
    ])
    assert.equal(r.code, 0, r.stderr)
    const result = JSON.parse(r.stdout) as {
      name: string
      secret: string
      envVars: string[]
      state: string
      namespace: string
    }
    assert.deepEqual(result, {
      name: `${app}-gcs-bucket`,
      app,
      service: 'gcs-bucket',
      kind: 'GCSBucket',
      namespace: app,
      secret: `${app}-gcs-bucket-connection`,
      envVars: ['GCS_BUCKET', 'GOOGLE_CLOUD_PROJECT', 'GOOGLE_CREDENTIALS'],
      state: 'ready',
    })
    assert.match(r.stderr, /Waiting for .* to be ready\.\.\. done/)

    const xr = (await custom.getNamespacedCustomObject({
      group: 'addons.kplat.dev',
      version: 'v1alpha1',
      plural: 'gcsbuckets',
      namespace: app,
      name: result.name,
    })) as {metadata: {labels: Record<string, string>}; spec: {location: string}}
    assert.equal(xr.spec.location, 'US')
    assert.deepEqual(
      [xr.metadata.labels['app.kubernetes.io/managed-by'], xr.metadata.labels['kplat.dev/app']],
      ['kplat', app],
    )
    const secret = await core.readNamespacedSecret({namespace: app, name: result.secret})
    assert.deepEqual(Object.keys(secret.data ?? {}).sort(), [
      'GCS_BUCKET',
      'GOOGLE_CLOUD_PROJECT',
      'GOOGLE_CREDENTIALS',
    ])
    for (const value of Object.values(secret.data ?? {}))
      assert.ok(!(r.stdout + r.stderr).includes(Buffer.from(value, 'base64').toString()), 'no credential is printed')

    // The binding is the Application's (the desired state), and the pods run with it.
    assert.deepEqual(await envFromOfPods(1), [[{prefix: undefined, secret: result.secret}]])
    const app1 = await application()
    assert.deepEqual(app1.spec.source.helm?.valuesObject, {
      kplat: {addons: [{name: result.name, secret: result.secret}]},
    })
    assert.ok(
      !JSON.stringify(app1).includes(Buffer.from(Object.values(secret.data!)[0], 'base64').toString()),
      'no credential in the Application',
    )

    // The add-on's state changes are platform lines: live (Crossplane writes no event when it
    // turns ready), and in the past lines afterwards.
    const addon = `GCSBucket/${result.name}`
    const linesOf = (text: string) =>
      text
        .trimEnd()
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as {process: string; message: string})
    for (let i = 0; !linesOf(live).some((l) => l.process === addon && l.message === 'add-on ready'); i++) {
      assert.ok(i < 100, `the tail showed the add-on turn ready:\n${live}`)
      await new Promise((resolve) => setTimeout(resolve, 100))
    }

    tail.kill('SIGINT')
    assert.equal(await tailed, 0)
    const mine = linesOf(live)
      .filter((l) => l.process === addon)
      .map((l) => l.message)
    assert.ok(
      mine.indexOf('add-on ready') > 0 &&
        mine.slice(0, mine.indexOf('add-on ready')).some((m) => m.startsWith('add-on provisioning')),
      mine.join('\n'),
    )
    const past = await kplat(['logs', '--source', 'platform', '--json', '-n', '1000', '--app', app])
    assert.equal(past.code, 0, past.stderr)
    assert.ok(
      linesOf(past.stdout).some((l) => l.process === addon && l.message === 'add-on ready'),
      past.stdout,
    )
  })

  it('binds a v1 claim under a prefix, and a git push keeps both bindings', async () => {
    const r = await kplat(['addons:create', 'postgres-legacy', '--app', app, '--as', 'DB', '--timeout', '120'])
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, new RegExp(`${app}-postgres-legacy \\(postgres-legacy\\) is ready and bound to ${app}`))
    assert.match(r.stdout, /Env vars: +DB_PGHOST, DB_PGPORT, DB_PGDATABASE, DB_PGUSER, DB_PGPASSWORD, DB_DATABASE_URL/)
    const claimSecret = await core.readNamespacedSecret({namespace: app, name: `${app}-postgres-legacy-connection`})
    assert.deepEqual(Object.keys(claimSecret.data ?? {}).sort(), [
      'DATABASE_URL',
      'PGDATABASE',
      'PGHOST',
      'PGPASSWORD',
      'PGPORT',
      'PGUSER',
    ])
    const expected = [
      {prefix: undefined, secret: `${app}-gcs-bucket-connection`},
      {prefix: 'DB_', secret: `${app}-postgres-legacy-connection`},
    ]
    assert.deepEqual(await envFromOfPods(2), [expected])

    // A push deploys a new image; the bindings are not in git, and stay.
    const clone = path.join(work, app)
    const git = (args: string[]) =>
      exec('git', ['-C', clone, '-c', 'user.name=dev', '-c', 'user.email=dev@example.com', ...args], {
        env: {...process.env, GIT_TERMINAL_PROMPT: '0'},
      })
    const auth = `http.extraHeader=Authorization: Basic ${Buffer.from(`x:${g.env.GITHUB_TOKEN}`).toString('base64')}`
    await git(['-c', auth, 'pull', '-q', '--rebase', 'origin', 'main'])
    writeFileSync(path.join(clone, 'server.js'), `${readFileSync(path.join(clone, 'server.js'), 'utf8')}\n// v2\n`)
    await git(['commit', '-qam', 'v2'])
    const sha = (await git(['rev-parse', 'HEAD'])).stdout.trim()
    await git(['-c', auth, 'push', '-q', 'origin', 'main'])
    for (let i = 0; ; i++) {
      const pods = (await core.listNamespacedPod({namespace: app})).items.filter(
        (p) => p.status?.phase === 'Running' && !p.metadata?.deletionTimestamp,
      )
      if (pods.length > 0 && pods.every((p) => p.spec!.containers[0].image!.endsWith(`:${sha}`))) {
        assert.deepEqual(pods.map(addonSources), [expected])
        break
      }

      assert.ok(i < 600, 'the push was not deployed')
      await new Promise((r) => setTimeout(r, 100))
    }

    // Argo CD settles on the push's deploy, with the bindings, and stays there (self-heal on).
    for (let i = 0; ; i++) {
      const now = await application()
      if (now.status?.sync?.status === 'Synced' && now.status.health?.status === 'Healthy') break
      assert.ok(
        i < 300,
        `the Application did not settle: ${JSON.stringify(now.status?.sync)} ${JSON.stringify(now.status?.health)}`,
      )
      await new Promise((r) => setTimeout(r, 100))
    }
  })

  it('runs again to finish the job, and refuses a name taken by something kplat did not create', async () => {
    const again = await kplat([
      'addons:create',
      'gcs-bucket',
      '--app',
      app,
      '--param',
      'location=US',
      '--timeout',
      '120',
    ])
    assert.equal(again.code, 0, again.stderr)
    assert.match(again.stdout, /is ready and bound/)

    const foreign = uniqueName('theirs')
    await custom.createNamespacedCustomObject({
      group: 'addons.kplat.dev',
      version: 'v1alpha1',
      plural: 'gcsbuckets',
      namespace: app,
      body: {apiVersion: 'addons.kplat.dev/v1alpha1', kind: 'GCSBucket', metadata: {name: foreign}, spec: {}},
    })
    const r = await kplat(['addons:create', 'gcs-bucket', '--app', app, '--name', foreign])
    assert.equal(r.code, 1)
    assert.equal(
      r.stderr.trim().split('\n').at(-1),
      `Error: the name "${foreign}" is taken: a GCSBucket ${app}/${foreign} exists that kplat did not create for ${app}. Pick another name with --name NAME`,
    )
    const left = (await custom.getNamespacedCustomObject({
      group: 'addons.kplat.dev',
      version: 'v1alpha1',
      plural: 'gcsbuckets',
      namespace: app,
      name: foreign,
    })) as {metadata: {labels?: Record<string, string>}}
    assert.equal(left.metadata.labels?.['app.kubernetes.io/managed-by'], undefined, 'left alone')
  })

  it('refuses bad input before anything exists, saying what to type instead', async () => {
    const cases: Array<{args: string[]; code: number; message: string}> = [
      {
        args: ['gcs-bucket', '--param', 'location=MARS'],
        code: 2,
        message:
          'Error: gcs-bucket parameter "location" must be one of: EU, US, europe-west1, us-central1. Pass --param location=VALUE',
      },
      {
        args: ['gcs-bucket', '--param', 'colour=blue'],
        code: 2,
        message:
          'Error: gcs-bucket has no parameter "colour". Its parameters: location, storageClass, versioning (`kplat addons:services`)',
      },
      {
        args: ['gcs-bucket', '--param', 'versioning=maybe'],
        code: 2,
        message: 'Error: gcs-bucket parameter "versioning" must be boolean. Pass --param versioning=VALUE',
      },
      // The default plan first (other tests may have plans of their own after it).
      {
        args: ['gcs-bucket:nope'],
        code: 2,
        message: 'Error: gcs-bucket has no plan "nope". Its plans: gcs-bucket:local, ',
      },
      {args: ['bigtable'], code: 2, message: 'Error: no add-on service named "bigtable" in this cluster'},
      {
        args: ['gcs-bucket', '--as', 'db'],
        code: 2,
        message:
          'Error: --as "db" is not an env var prefix. Use capital letters, digits and underscores, starting with a letter: --as DB',
      },
      {
        args: ['gcs-bucket', '--timeout', '-1'],
        code: 2,
        message:
          'Error: invalid --timeout: Expected an integer greater than or equal to 1 but received: -1. See `kplat addons:create --help`',
      },
    ]
    for (const c of cases) {
      const name = uniqueName('bad')
      const r = await kplat(['addons:create', ...c.args, '--app', app, '--name', name])
      assert.equal(r.code, c.code, `${c.args.join(' ')}: ${r.stderr}`)
      assert.ok(r.stderr.startsWith(c.message), `${c.args.join(' ')}: ${r.stderr}`)
      const list = (await custom.listNamespacedCustomObject({
        group: 'addons.kplat.dev',
        version: 'v1alpha1',
        plural: 'gcsbuckets',
        namespace: app,
      })) as {items: Array<{metadata: {name: string}}>}
      assert.ok(!list.items.some((x) => x.metadata.name === name), `${c.args.join(' ')}: nothing was created`)
    }

    const ghost = await kplat(['addons:create', 'gcs-bucket', '--app', 'no-such-app'])
    assert.equal(ghost.code, 1)
    assert.match(ghost.stderr, /^Error: app "no-such-app" not found/)

    // An app registered but never deployed: Argo CD has not made its namespace yet.
    const undeployed = uniqueName('undeployed').slice(0, 28)
    await custom.createNamespacedCustomObject({
      group: 'argoproj.io',
      version: 'v1alpha1',
      plural: 'applications',
      namespace: 'argocd',
      body: {
        apiVersion: 'argoproj.io/v1alpha1',
        kind: 'Application',
        metadata: {name: undeployed, labels: {'app.kubernetes.io/managed-by': 'kplat', 'kplat.dev/app': undeployed}},
        spec: {
          project: 'not-yet',
          source: {repoURL: 'http://127.0.0.1:9/none.git', path: 'chart'},
          destination: {server: 'https://kubernetes.default.svc', namespace: undeployed},
        },
      },
    })
    try {
      const early = await kplat(['addons:create', 'gcs-bucket', '--app', undeployed])
      assert.equal(early.code, 1)
      assert.equal(
        early.stderr,
        `Error: the app's namespace ${undeployed} does not exist yet: Argo CD creates it when it first deploys ${undeployed}. Wait for the first deploy (\`kplat apps:info --app ${undeployed}\`), then run this again\n`,
      )
    } finally {
      await custom.deleteNamespacedCustomObject({
        group: 'argoproj.io',
        version: 'v1alpha1',
        plural: 'applications',
        namespace: 'argocd',
        name: undeployed,
      })
    }
  })

  it("lists the app's add-ons with their state, env vars and maker, and shows one without its Secret's values", async () => {
    const r = await kplat(['addons', '--app', app, '--json'])
    assert.equal(r.code, 0, r.stderr)
    const list = JSON.parse(r.stdout) as Array<{
      name: string
      service: string
      state: string
      envVars: string[]
      origin: string
      plan?: string
    }>
    assert.deepEqual(
      list.filter((a) => a.origin === 'kplat').map((a) => [a.name, a.service, a.state, a.envVars.join(','), a.origin]),
      [
        [`${app}-gcs-bucket`, 'gcs-bucket', 'ready', 'GCS_BUCKET,GOOGLE_CLOUD_PROJECT,GOOGLE_CREDENTIALS', 'kplat'],
        [
          `${app}-postgres-legacy`,
          'postgres-legacy',
          'ready',
          'DB_PGHOST,DB_PGPORT,DB_PGDATABASE,DB_PGUSER,DB_PGPASSWORD,DB_DATABASE_URL',
          'kplat',
        ],
      ],
    )
    // The GCSBucket an earlier test made without kplat is listed too, as nobody's binding.
    assert.deepEqual(
      list.filter((a) => a.origin !== 'kplat').map((a) => [a.service, a.origin, a.envVars.length]),
      [['gcs-bucket', 'other', 0]],
    )

    const all = await kplat(['addons', '--all'])
    assert.equal(all.code, 0, all.stderr)
    assert.match(all.stdout, new RegExp(`^APP +NAME +SERVICE +STATE +ENV VARS +BY$`, 'm'))
    // The plan is the one Crossplane chose: the default, when none was asked for.
    assert.match(
      all.stdout,
      new RegExp(
        `^${app} +${app}-gcs-bucket +gcs-bucket:local +ready +GCS_BUCKET,GOOGLE_CLOUD_PROJECT,GOOGLE_CREDENTIALS +kplat$`,
        'm',
      ),
    )

    const info = await kplat(['addons:info', `${app}-gcs-bucket`, '--app', app, '--json'])
    assert.equal(info.code, 0, info.stderr)
    const details = JSON.parse(info.stdout) as {
      conditions: Array<{type: string; status: string}>
      resources: Array<{kind: string; ready?: string}>
      secretKeys: string[]
    }
    assert.deepEqual(
      details.conditions
        .filter((c) => ['Ready', 'Synced'].includes(c.type))
        .map((c) => `${c.type}=${c.status}`)
        .sort(),
      ['Ready=True', 'Synced=True'],
    )
    // The connection Secret is composed too; a Secret has no conditions.
    assert.deepEqual(details.resources.map((x) => `${x.kind} ${x.ready ?? 'no conditions'}`).sort(), [
      'NopResource True',
      'Secret no conditions',
    ])
    assert.deepEqual(details.secretKeys, ['GCS_BUCKET', 'GOOGLE_CLOUD_PROJECT', 'GOOGLE_CREDENTIALS'])
    const secret = await core.readNamespacedSecret({namespace: app, name: `${app}-gcs-bucket-connection`})
    for (const value of Object.values(secret.data ?? {}))
      assert.ok(!info.stdout.includes(Buffer.from(value, 'base64').toString()), 'no value is shown')

    const human = await kplat(['addons:info', `${app}-postgres-legacy`, '--app', app])
    assert.equal(human.code, 0, human.stderr)
    assert.match(human.stdout, /^Env vars: +DB_PGHOST, DB_PGPORT/m)
    assert.match(
      human.stdout,
      /^ {2}ClusterNopResource\/\S+: Ready True, Synced True$/m,
      "a claim's composed resources are its XR's",
    )

    const unknown = await kplat(['addons:info', 'nope', '--app', app])
    assert.equal(unknown.code, 1)
    assert.equal(
      unknown.stderr,
      `Error: ${app} has no add-on named "nope". \`kplat addons --app ${app}\` lists its add-ons\n`,
    )
  })

  it('destroys only with confirmation: unbinds, then deletes the add-on and what was composed for it', async () => {
    const name = `${app}-gcs-bucket`
    const noTerminal = await kplat(['addons:destroy', name, '--app', app])
    assert.equal(noTerminal.code, 2)
    assert.equal(
      noTerminal.stderr,
      `Error: Destroying ${name} (gcs-bucket) deletes its data, and there is no terminal to confirm it on. Pass --confirm ${app}\n`,
    )
    const wrong = await kplat(['addons:destroy', name, '--app', app, '--confirm', 'other-app'])
    assert.equal(wrong.code, 2)
    assert.match(
      wrong.stderr,
      new RegExp(
        `^Error: --confirm other-app does not name the app \\(${app}\\); nothing was changed\\. Pass --confirm ${app}`,
      ),
    )
    const xr = (await custom.getNamespacedCustomObject({
      group: 'addons.kplat.dev',
      version: 'v1alpha1',
      plural: 'gcsbuckets',
      namespace: app,
      name,
    })) as {spec: {crossplane: {resourceRefs: Array<{kind: string; name: string}>}}}
    const nop = xr.spec.crossplane.resourceRefs.find((ref) => ref.kind === 'NopResource')!

    const r = await kplat(['addons:destroy', name, '--app', app, '--confirm', app, '--timeout', '120', '--json'])
    assert.equal(r.code, 0, r.stderr)
    assert.deepEqual(JSON.parse(r.stdout), {name, app, destroyed: true})
    assert.match(r.stderr, /Unbinding .*\.\.\. done[\s\S]*Deleting .*\.\.\. done/)
    const gone = (read: Promise<unknown>) =>
      read.then(
        () => false,
        (e: {code?: number}) => e.code === 404,
      )
    assert.ok(
      await gone(
        custom.getNamespacedCustomObject({
          group: 'addons.kplat.dev',
          version: 'v1alpha1',
          plural: 'gcsbuckets',
          namespace: app,
          name,
        }),
      ),
      'the XR is gone',
    )
    assert.ok(
      await gone(
        custom.getNamespacedCustomObject({
          group: 'nop.crossplane.io',
          version: 'v1alpha1',
          plural: 'nopresources',
          namespace: app,
          name: nop.name,
        }),
      ),
      'what it composed is gone',
    )
    assert.ok(await gone(core.readNamespacedSecret({namespace: app, name: `${name}-connection`})), 'its Secret is gone')
    const now = await application()
    assert.deepEqual(
      (now.spec.source.helm?.valuesObject as {kplat: {addons: Array<{name: string}>}}).kplat.addons.map((b) => b.name),
      [`${app}-postgres-legacy`],
    )
    assert.deepEqual(await envFromOfPods(1), [[{prefix: 'DB_', secret: `${app}-postgres-legacy-connection`}]])
  })

  it("refuses to destroy an add-on that the app's own chart declares, and says what to remove instead", async () => {
    // The talk's way: the claim in the chart, deployed by Argo CD on a push.
    const clone = path.join(work, app)
    const git = (args: string[]) =>
      exec('git', ['-C', clone, '-c', 'user.name=dev', '-c', 'user.email=dev@example.com', ...args], {
        env: {...process.env, GIT_TERMINAL_PROMPT: '0'},
      })
    const auth = `http.extraHeader=Authorization: Basic ${Buffer.from(`x:${g.env.GITHUB_TOKEN}`).toString('base64')}`
    await git(['-c', auth, 'pull', '-q', '--rebase', 'origin', 'main'])
    writeFileSync(
      path.join(clone, 'chart', 'templates', 'uploads.yaml'),
      'apiVersion: addons.kplat.dev/v1alpha1\nkind: S3Bucket\nmetadata:\n  name: uploads\nspec: {}\n',
    )
    await git(['add', '-A'])
    await git(['commit', '-qm', 'An S3 bucket for uploads'])
    await git(['-c', auth, 'push', '-q', 'origin', 'main'])
    let listed: Array<{name: string; origin: string}> = []
    for (let i = 0; !listed.some((a) => a.name === 'uploads'); i++) {
      assert.ok(i < 600, "the chart's add-on did not appear")
      await new Promise((r) => setTimeout(r, 100))
      listed = JSON.parse((await kplat(['addons', '--app', app, '--json'])).stdout) as typeof listed
    }

    assert.equal(listed.find((a) => a.name === 'uploads')!.origin, 'chart')
    const r = await kplat(['addons:destroy', 'uploads', '--app', app, '--confirm', app])
    assert.equal(r.code, 1)
    assert.equal(
      r.stderr,
      `Error: uploads is declared in ${app}'s chart: Argo CD deployed it, and would bring it back. Remove the S3Bucket named uploads from the chart in ${app}'s repository and push\n`,
    )
    await custom.getNamespacedCustomObject({
      group: 'addons.kplat.dev',
      version: 'v1alpha1',
      plural: 's3buckets',
      namespace: app,
      name: 'uploads',
    })
  })

  it("says why provisioning failed, from Crossplane's own condition, and names what is not ready on a timeout", async () => {
    // Two plans of the test's own, failing the ways they fail for real: a patch that cannot
    // apply (Synced=False), and a resource that never becomes Ready.
    const plan = (name: string, resource: Record<string, unknown>) => ({
      apiVersion: 'apiextensions.crossplane.io/v1',
      kind: 'Composition',
      metadata: {name: `gcsbuckets-${name}`, labels: {provider: 'test'}},
      spec: {
        compositeTypeRef: {apiVersion: 'addons.kplat.dev/v1alpha1', kind: 'GCSBucket'},
        mode: 'Pipeline',
        pipeline: [
          {
            step: 'pt',
            functionRef: {name: 'function-patch-and-transform'},
            input: {apiVersion: 'pt.fn.crossplane.io/v1beta1', kind: 'Resources', resources: [resource]},
          },
        ],
      },
    })
    const nop = {
      apiVersion: 'nop.crossplane.io/v1alpha1',
      kind: 'NopResource',
      spec: {forProvider: {conditionAfter: [{time: '0s', conditionType: 'Ready', conditionStatus: 'False'}]}},
    }
    const broken = `broken${Date.now().toString(36)}`
    const stuck = `stuck${Date.now().toString(36)}`
    for (const c of [
      plan(broken, {
        name: 'bucket',
        base: nop,
        patches: [
          {
            type: 'FromCompositeFieldPath',
            fromFieldPath: 'spec.location',
            toFieldPath: 'spec.forProvider.fields.region',
            transforms: [{type: 'map', map: {MARS: 'mars'}}],
          },
        ],
      }),
      plan(stuck, {name: 'bucket', base: nop}),
    ]) {
      await custom.createClusterCustomObject({
        group: 'apiextensions.crossplane.io',
        version: 'v1',
        plural: 'compositions',
        body: c,
      })
      compositions.push(c.metadata.name)
    }

    const failed = await kplat([
      'addons:create',
      `gcs-bucket:${broken}`,
      '--app',
      app,
      '--name',
      uniqueName('broken'),
      '--timeout',
      '60',
    ])
    assert.equal(failed.code, 1)
    assert.match(
      failed.stderr,
      /Error: provisioning .* failed: cannot compose resources: pipeline step "pt" returned a fatal result: .*map/,
    )

    const slow = await kplat([
      'addons:create',
      `gcs-bucket:${stuck}`,
      '--app',
      app,
      '--name',
      uniqueName('stuck'),
      '--timeout',
      '8',
    ])
    assert.equal(slow.code, 1)
    assert.match(
      slow.stderr,
      /Error: timed out after 8s waiting for .* to be ready \(Creating: Unready resources: bucket\); first failing resource NopResource\/\S+ \(Ready False\)\. Run the same command again to keep waiting/,
    )
  })

  it("refuses a service no Composition composes before creating anything, and fails at once when a claim's composite cannot sync", async () => {
    // The talk's shape (a v1 XRD with a claim), first with no Composition at all.
    const group = `${uniqueName('tub')}.example.org`
    const xrd = claimXrd(group, 'Tub', ['TUB_NAME'], {
      type: 'object',
      properties: {parameters: {type: 'object', properties: {location: {type: 'string'}}}},
    })
    await custom.createClusterCustomObject({
      group: 'apiextensions.crossplane.io',
      version: 'v1',
      plural: 'compositeresourcedefinitions',
      body: xrd,
    })
    try {
      for (let i = 0; ; i++) {
        const got = (await custom.getClusterCustomObject({
          group: 'apiextensions.crossplane.io',
          version: 'v1',
          plural: 'compositeresourcedefinitions',
          name: xrd.metadata.name,
        })) as {status?: {conditions?: Array<{type: string; status: string}>}}
        if (got.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')) break
        assert.ok(i < 600, 'the XRD is established')
        await new Promise((r) => setTimeout(r, 100))
      }

      const none = await kplat(['addons:create', 'tub', '--app', app, '--param', 'location=us'])
      assert.equal(none.code, 2, none.stderr)
      assert.match(
        none.stderr,
        /^Error: tub has no plans: no Composition composes Tub yet, so nothing could provision it\. Ask your platform team/,
      )
      const tubs = (await custom.listNamespacedCustomObject({
        group,
        version: 'v1alpha1',
        plural: 'tubs',
        namespace: app,
      })) as {items: unknown[]}
      assert.equal(tubs.items.length, 0, 'no claim was created')

      // A Composition whose pipeline calls a function that is not installed: the composite
      // says Synced=False, and kplat says so at once instead of waiting out --timeout.
      const composition = {
        apiVersion: 'apiextensions.crossplane.io/v1',
        kind: 'Composition',
        metadata: {name: `xtubs-${group.split('.')[0]}`},
        spec: {
          compositeTypeRef: {apiVersion: `${group}/v1alpha1`, kind: 'XTub'},
          mode: 'Pipeline',
          pipeline: [{step: 'make', functionRef: {name: 'function-not-installed'}}],
        },
      }
      await custom.createClusterCustomObject({
        group: 'apiextensions.crossplane.io',
        version: 'v1',
        plural: 'compositions',
        body: composition,
      })
      compositions.push(composition.metadata.name)
      const failed = await kplat(['addons:create', 'tub', '--app', app, '--param', 'location=us', '--timeout', '300'])
      assert.equal(failed.code, 1, failed.stderr)
      assert.match(failed.stderr, new RegExp(`Error: provisioning ${app}-tub failed: .*function-not-installed`))
      assert.doesNotMatch(failed.stderr, /timed out/)
    } finally {
      await custom
        .deleteNamespacedCustomObject({group, version: 'v1alpha1', plural: 'tubs', namespace: app, name: `${app}-tub`})
        .catch(() => undefined)
      await custom
        .deleteClusterCustomObject({
          group: 'apiextensions.crossplane.io',
          version: 'v1',
          plural: 'compositeresourcedefinitions',
          name: xrd.metadata.name,
        })
        .catch(() => undefined)
    }
  })

  it('asks for a required parameter, and says which right is missing when RBAC forbids', async () => {
    const group = `${uniqueName('req')}.example.org`
    await custom.createClusterCustomObject({
      group: 'apiextensions.crossplane.io',
      version: 'v2',
      plural: 'compositeresourcedefinitions',
      body: {
        apiVersion: 'apiextensions.crossplane.io/v2',
        kind: 'CompositeResourceDefinition',
        metadata: {name: `queues.${group}`, annotations: {'kplat.dev/addon-name': `queue-${group.split('.')[0]}`}},
        spec: {
          scope: 'Namespaced',
          group,
          names: {kind: 'Queue', plural: 'queues'},
          versions: [
            {
              name: 'v1',
              served: true,
              referenceable: true,
              schema: {
                openAPIV3Schema: {
                  type: 'object',
                  properties: {
                    spec: {
                      type: 'object',
                      required: ['retentionDays'],
                      properties: {retentionDays: {type: 'integer', minimum: 1}},
                    },
                  },
                },
              },
            },
          ],
        },
      },
    })
    try {
      const service = `queue-${group.split('.')[0]}`
      const missing = await kplat(['addons:create', service, '--app', app])
      assert.equal(missing.code, 2)
      assert.equal(
        missing.stderr,
        `Error: ${service} parameter "retentionDays" is required. Pass --param retentionDays=VALUE\n`,
      )
      const low = await kplat(['addons:create', service, '--app', app, '--param', 'retentionDays=0'])
      assert.equal(low.code, 2)
      assert.equal(
        low.stderr,
        `Error: ${service} parameter "retentionDays" must be >= 1. Pass --param retentionDays=VALUE\n`,
      )
    } finally {
      await custom.deleteClusterCustomObject({
        group: 'apiextensions.crossplane.io',
        version: 'v2',
        plural: 'compositeresourcedefinitions',
        name: `queues.${group}`,
      })
    }

    const forbidden = await kplat(['addons:create', 's3-bucket', '--app', app, '--context', NO_TEAM_CONTEXT])
    assert.equal(forbidden.code, 1)
    assert.match(
      forbidden.stderr,
      /^Error: forbidden: you may not (list compositeresourcedefinitions\.apiextensions\.crossplane\.io|get applications\.argoproj\.io in namespace argocd)\. Ask your platform team/,
    )
  })

  it('never shows a credential, not even in debug output', async () => {
    const name = `${app}-postgres-legacy`
    const r = await kplat(['addons:info', name, '--app', app, '--json'], {KPLAT_DEBUG: '1'})
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stderr, /\[debug\] GET /)
    // The credentials: PGPORT's 5432 or PGUSER's "app" may well appear for other reasons.
    const secret = await core.readNamespacedSecret({namespace: app, name: `${name}-connection`})
    for (const key of ['PGPASSWORD', 'DATABASE_URL']) {
      const value = Buffer.from(secret.data![key], 'base64').toString()
      assert.ok(value.length > 8 && !(r.stdout + r.stderr).includes(value), `${key} is not shown`)
    }
  })

  it("warns when the app's chart does not read the bindings", async () => {
    // The chart as a platform team's own might be: the envFrom block taken out.
    const clone = path.join(work, app)
    const git = (args: string[]) =>
      exec('git', ['-C', clone, '-c', 'user.name=dev', '-c', 'user.email=dev@example.com', ...args], {
        env: {...process.env, GIT_TERMINAL_PROMPT: '0'},
      })
    const auth = `http.extraHeader=Authorization: Basic ${Buffer.from(`x:${g.env.GITHUB_TOKEN}`).toString('base64')}`
    await git(['-c', auth, 'pull', '-q', '--rebase', 'origin', 'main'])
    const file = path.join(clone, 'chart', 'templates', 'deployment.yaml')
    const chart = readFileSync(file, 'utf8')
    const start = chart.indexOf("          # The add-ons' connection Secrets")
    const end = chart.indexOf('          {{- if eq $type "web" }}\n          readinessProbe:')
    const without = chart.slice(0, start) + chart.slice(end)
    assert.ok(
      start > 0 && end > start && !without.includes('envFrom') && without.includes('readinessProbe:'),
      'the envFrom block was taken out',
    )
    writeFileSync(file, without)
    await git(['commit', '-qam', 'Our own env handling'])
    await git(['-c', auth, 'push', '-q', 'origin', 'main'])
    await envFromOfPods(0)

    const r = await kplat(['addons:create', 's3-bucket', '--app', app, '--timeout', '120'])
    assert.equal(r.code, 0, r.stderr)
    assert.match(
      r.stderr,
      new RegExp(
        `Warning: ${app}'s chart does not read kplat\\.addons, so ${app}-s3-bucket's env vars do not reach its processes\\. Its Deployments need envFrom from \\.Values\\.kplat\\.addons: see kplat's docs/chart-contract.md`,
      ),
    )
  })
})

/** A v1 XRD with a claim, as the KubeCon talk writes one: XR kind X<Claim>, no kplat labels. */
function claimXrd(group: string, claim: string, keys: string[], spec: Record<string, unknown>) {
  const lower = claim.toLowerCase()
  return {
    apiVersion: 'apiextensions.crossplane.io/v1',
    kind: 'CompositeResourceDefinition',
    metadata: {name: `x${lower}s.${group}`},
    spec: {
      group,
      names: {kind: `X${claim}`, plural: `x${lower}s`},
      claimNames: {kind: claim, plural: `${lower}s`},
      connectionSecretKeys: keys,
      versions: [
        {
          name: 'v1alpha1',
          served: true,
          referenceable: true,
          schema: {openAPIV3Schema: {type: 'object', properties: {spec}} as Record<string, unknown>},
        },
      ],
    },
  }
}
