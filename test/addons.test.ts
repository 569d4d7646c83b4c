// The add-on services and plans a cluster offers, read from the real Crossplane's XRDs and
// Compositions on the proving ground (the sample kit, and XRDs written without kplat's labels).
import assert from 'node:assert/strict'
import {mkdtempSync} from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {after, before, describe, it} from 'node:test'
import * as k8s from '@kubernetes/client-node'
import {RESTRICTED_CONTEXT, startControlPlane} from './ground/cluster.js'
import {provideBinaries} from './ground/index.js'
import {ProcessGroup} from './ground/processes.js'
import {ANSI, runBin, type RunResult} from './helpers/cli.js'
import {ground, uniqueName, type TestGround} from './helpers/ground.js'

interface Service {name: string; kind: string; apiVersion: string; shape: string; envVars: string[]; labelled: boolean; parametersAt: string
  parameters: Array<{name: string; type: string; enum?: unknown[]; default?: unknown; required: boolean}>}

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
    await Promise.all(xrds.map((name) => custom.deleteClusterCustomObject({group: 'apiextensions.crossplane.io', version: 'v2', plural: 'compositeresourcedefinitions', name}).catch(() => undefined)))
  })

  it('lists the sample kit\'s services with their shape, env vars and parameters from the XRD\'s schema', async () => {
    const r = await kplat(['addons:services', '--json'])
    assert.equal(r.code, 0, r.stderr)
    const services = JSON.parse(r.stdout) as Service[]
    const kit = services.filter((s) => s.apiVersion.startsWith('addons.kplat.dev/'))
    assert.deepEqual(kit.map((s) => [s.name, s.kind, s.shape, s.envVars.join(',')]), [
      ['gcs-bucket', 'GCSBucket', 'namespaced', 'GCS_BUCKET,GOOGLE_CLOUD_PROJECT,GOOGLE_CREDENTIALS'],
      ['postgres', 'PostgresDatabase', 'namespaced', 'PGHOST,PGPORT,PGDATABASE,PGUSER,PGPASSWORD,DATABASE_URL'],
      ['postgres-legacy', 'PostgreSQLInstance', 'claim', 'PGHOST,PGPORT,PGDATABASE,PGUSER,PGPASSWORD,DATABASE_URL'],
      ['s3-bucket', 'S3Bucket', 'namespaced', 'S3_BUCKET,AWS_REGION,AWS_ACCESS_KEY_ID,AWS_SECRET_ACCESS_KEY'],
    ])
    const gcs = kit.find((s) => s.name === 'gcs-bucket')!
    assert.deepEqual(gcs.parameters.map((p) => p.name), ['location', 'storageClass', 'versioning'], 'writeConnectionSecretToRef is Crossplane\'s, not a parameter')
    assert.deepEqual(gcs.parameters[0], {name: 'location', type: 'string', description: 'Where the bucket and its key live.', enum: ['EU', 'US', 'europe-west1', 'us-central1'], default: 'EU', required: false})
    const legacy = kit.find((s) => s.name === 'postgres-legacy')!
    assert.equal(legacy.parametersAt, 'spec.parameters')
    assert.deepEqual(legacy.parameters.find((p) => p.name === 'storageGB'), {name: 'storageGB', type: 'integer', default: 20, required: false})

    const human = await kplat(['addons:services'])
    assert.equal(human.code, 0)
    assert.doesNotMatch(human.stdout, ANSI)
    assert.match(human.stdout, /^SERVICE\s+KIND\s+SHAPE\s+ENV VARS\s+DESCRIPTION$/m)
    assert.match(human.stdout, /^gcs-bucket\s+GCSBucket\s+namespaced\s+GCS_BUCKET,GOOGLE_CLOUD_PROJECT,GOOGLE_CREDENTIALS\s+Google Cloud Storage bucket/m)
    assert.match(human.stdout, /^ {2}location: string, one of EU\|US\|europe-west1\|us-central1, default EU\. Where the bucket and its key live\.$/m)
  })

  it('offers an XRD written without kplat\'s labels too, named after its claim kind or kind', async () => {
    const group = `${uniqueName('talk')}.example.org`
    const talk = {
      // The KubeCon talk's shape: a v1 XRD with a claim, no kplat label or annotation.
      apiVersion: 'apiextensions.crossplane.io/v1', kind: 'CompositeResourceDefinition', metadata: {name: `xbuckets.${group}`},
      spec: {group, names: {kind: 'XBucket', plural: 'xbuckets'}, claimNames: {kind: 'Bucket', plural: 'buckets'}, connectionSecretKeys: ['BUCKET_NAME'],
        versions: [{name: 'v1alpha1', served: true, referenceable: true, schema: {openAPIV3Schema: {type: 'object', description: 'A bucket.', properties: {
          spec: {type: 'object', required: ['parameters'], properties: {parameters: {type: 'object', required: ['region'], properties: {region: {type: 'string'}}}}}}}}}]},
    }
    const plain = {
      apiVersion: 'apiextensions.crossplane.io/v2', kind: 'CompositeResourceDefinition', metadata: {name: `caches.${group}`},
      spec: {scope: 'Namespaced', group, names: {kind: 'Cache', plural: 'caches'},
        versions: [{name: 'v1', served: true, referenceable: true, schema: {openAPIV3Schema: {type: 'object', properties: {spec: {type: 'object', properties: {sizeMB: {type: 'integer', default: 64}}}}}}}]},
    }
    for (const xrd of [talk, plain]) {
      const version = xrd.apiVersion.split('/')[1]
      await custom.createClusterCustomObject({group: 'apiextensions.crossplane.io', version, plural: 'compositeresourcedefinitions', body: xrd})
      xrds.push(xrd.metadata.name)
    }

    const r = await kplat(['addons:services', '--json'])
    assert.equal(r.code, 0, r.stderr)
    const mine = (JSON.parse(r.stdout) as Service[]).filter((s) => s.apiVersion.startsWith(`${group}/`))
    assert.deepEqual(mine.map((s) => ({name: s.name, kind: s.kind, shape: s.shape, labelled: s.labelled, envVars: s.envVars, parameters: s.parameters.map((p) => `${p.name}:${p.type}:${p.required}`)})), [
      {name: 'bucket', kind: 'Bucket', shape: 'claim', labelled: false, envVars: ['BUCKET_NAME'], parameters: ['region:string:true']},
      {name: 'cache', kind: 'Cache', shape: 'namespaced', labelled: false, envVars: [], parameters: ['sizeMB:integer:false']},
    ])
  })

  it('lists a service\'s plans, the default first and marked', async () => {
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
    assert.match(r.stderr, /^Error: no add-on service named "gcs-buckets" in this cluster\. Services offered: ([a-z0-9-]+, )*gcs-bucket, postgres, postgres-legacy, s3-bucket\b.* \(`kplat addons:services` describes them\)\n$/)
  })

  it('says which right is missing when RBAC forbids reading the XRDs', async () => {
    const r = await kplat(['addons:services', '--context', RESTRICTED_CONTEXT])
    assert.equal(r.code, 1)
    assert.equal(r.stderr, 'Error: forbidden: you may not list compositeresourcedefinitions.apiextensions.crossplane.io. Ask your platform team for the "list" right on compositeresourcedefinitions.apiextensions.crossplane.io, or pick another --context\n')
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
        assert.equal(r.stderr, 'Error: Crossplane is not installed in this cluster (it serves no compositeresourcedefinitions.apiextensions.crossplane.io). Add-ons are Crossplane resources: ask your platform team to install Crossplane, or pick another --context\n')
      }
    } finally {
      await processes.stop()
    }
  })
})
