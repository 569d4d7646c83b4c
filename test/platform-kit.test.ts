import assert from 'node:assert/strict'
import {readFileSync} from 'node:fs'
import * as path from 'node:path'
import {after, before, describe, it} from 'node:test'
import {parse} from 'yaml'
import {provideBinaries, REPO} from './ground/index.js'
import {
  decode,
  legacyConnectionDetails,
  PROJECT,
  reconcile,
  resourceName,
  startRenderer,
  withDefaults,
  type Obj,
  type Reconciled,
  type RenderOutput,
  type Renderer,
} from './ground/render.js'

// The sample platform kit's GCP and AWS compositions cannot run here (no cloud). They are
// rendered with Crossplane's own engine (`crossplane internal render`: the real XR reconciler
// on an in-memory API server) calling the real functions, pass after pass as Crossplane
// reconciles, with a fake provider standing for the cloud (fakeProvider in ground/render.ts),
// against the example XRs and against the same XRs with every spec field off its default, so
// that a value patched from the XR cannot be the composition's own default. Each local plan
// (provider-nop, the proving ground's default) is rendered the same way.

const read = (file: string): Obj => parse(readFileSync(path.join(REPO, 'platform-kit', file), 'utf8'))
/** The uid the API server gave the XR; the compositions name Secrets after it. */
const UID = '5f3c1a2e-8d4b-4c6f-9a7e-0b1c2d3e4f50'
const CONNECTION_SECRET_TYPE = 'connection.crossplane.io/v1alpha1'
const sorted = (xs: string[]) => [...xs].sort()

/** An add-on's example XR as the API server stores it, with some spec fields changed. */
function example(folder: string, xrd: Obj, spec: Obj = {}): Obj {
  const xr = read(`${folder}/example.yaml`)
  return withDefaults({...xr, metadata: {...xr.metadata, uid: UID}, spec: {...xr.spec, ...spec}}, xrd)
}

/** The cluster-scoped XR Crossplane makes for a v1 claim: named after it, with its parameters and a reference back. */
function xrOfClaim(claim: Obj, xrd: Obj, parameters: Obj = {}): Obj {
  const {name, namespace} = claim.metadata
  return withDefaults(
    {
      apiVersion: claim.apiVersion,
      kind: xrd.spec.names.kind,
      metadata: {
        name: `${name}-x7k2p`,
        uid: UID,
        labels: {'crossplane.io/claim-name': name, 'crossplane.io/claim-namespace': namespace},
      },
      spec: {
        parameters: {...claim.spec.parameters, ...parameters},
        claimRef: {apiVersion: claim.apiVersion, kind: claim.kind, name, namespace},
      },
    },
    xrd,
  )
}

/** The keys an XRD promises in the connection Secret: a v1 XRD's spec, a v2 XRD's annotation. */
function promisedKeys(xrd: Obj): string[] {
  return sorted(
    xrd.spec.connectionSecretKeys ?? xrd.metadata.annotations['kplat.dev/connection-secret-keys'].split(','),
  )
}

/**
 * The composition without its function-go-templating step, which cannot run here (the Go
 * module proxy does not serve that function), and the step's template text.
 */
function withoutGoTemplating(composition: Obj): {composition: Obj; template: string} {
  const steps = composition.spec.pipeline as Obj[]
  const step = steps.find((s) => s.functionRef.name === 'function-go-templating')
  assert.ok(step, `${composition.metadata.name} has a function-go-templating step`)
  return {
    composition: {...composition, spec: {...composition.spec, pipeline: steps.filter((s) => s !== step)}},
    template: step.input.inline.template,
  }
}

/** The keys a go-templating template writes (`KEY: {{ ... }}`) and those it reads from the instance's connection details ($rds). */
function templateKeys(template: string): {writes: string[]; reads: string[]} {
  const all = (re: RegExp) => sorted([...new Set([...template.matchAll(re)].map((m) => m[1]))])
  return {
    writes: all(/^\s+([A-Z][A-Z0-9_]*):\s*\{\{/gm),
    reads: all(/\$rds\.(\w+)|hasKey \$rds "(\w+)"/g).filter(Boolean),
  }
}

const condition = (o: Obj, type: string): Obj | undefined => o.status?.conditions?.find((c: Obj) => c.type === type)
const managed = (out: RenderOutput) => out.composed.filter((o) => o.kind !== 'Secret')
const kinds = (out: RenderOutput) => sorted(managed(out).map((o) => `${o.apiVersion} ${o.kind}`))
const warnings = (out: RenderOutput) => out.events.filter((e) => e.type === 'Warning').map((e) => e.message)

function composed(rec: Reconciled, name: string): Obj {
  const found = rec.last.composed.find((o) => resourceName(o) === name)
  assert.ok(found, `composed resource ${name}; composed: ${rec.last.composed.map(resourceName).join(', ')}`)
  return found
}

function observed(rec: Reconciled, name: string): Obj {
  const found = rec.observed.find((o) => resourceName(o) === name)
  assert.ok(found, `observed resource ${name}`)
  return found
}

/** The connection Secret the provider wrote for a composed resource. */
function providerSecret(rec: Reconciled, name: string): Record<string, string> {
  const mr = composed(rec, name)
  const ref = mr.spec.writeConnectionSecretToRef
  const found = rec.secrets.find(
    (s) => s.metadata.name === ref.name && s.metadata.namespace === (mr.metadata.namespace ?? ref.namespace),
  )
  assert.ok(found, `the provider's connection Secret of ${name}`)
  return decode(found)
}

/** The Secret function-patch-and-transform composes for a v2 XR, named by its spec.writeConnectionSecretToRef. */
function xrSecret(rec: Reconciled, xr: Obj): Obj {
  const found = rec.last.composed.find(
    (o) => o.kind === 'Secret' && o.metadata.name === xr.spec.writeConnectionSecretToRef.name,
  )
  assert.ok(found, `Secret ${xr.spec.writeConnectionSecretToRef.name} composed`)
  assert.equal(found.metadata.namespace, xr.metadata.namespace)
  assert.equal(found.type, CONNECTION_SECRET_TYPE)
  return found
}

describe("the platform kit's compositions, rendered by Crossplane's own engine", () => {
  let renderer: Renderer

  // provideBinaries builds on a first run (tens of minutes on 2 cores); later, a cache check.
  before(
    async () => {
      renderer = await startRenderer(await provideBinaries())
    },
    {timeout: 40 * 60_000},
  )
  after(() => renderer?.stop())

  /**
   * What holds for every composition: a fixed point without warnings or garbage collection,
   * everything composed controlled by the XR (and in its namespace, for a v2 XR), and the XR
   * Synced and Ready, though not Ready before what it composes is.
   */
  function settled(rec: Reconciled, xr: Obj): void {
    assert.deepEqual(warnings(rec.last), [], 'the last pass warns of nothing (every Required patch found its field)')
    assert.deepEqual(
      rec.passes.flatMap((p) => p.deleted),
      [],
      'nothing composed was garbage-collected along the way',
    )
    for (const o of rec.last.composed) {
      assert.deepEqual(
        o.metadata.ownerReferences?.filter((r: Obj) => r.controller).map((r: Obj) => [r.kind, r.name, r.uid]),
        [[xr.kind, xr.metadata.name, UID]],
        `${o.kind} ${o.metadata.name} is controlled by the XR`,
      )
      assert.equal(
        o.metadata.namespace,
        xr.metadata.namespace,
        `${o.kind} ${o.metadata.name} in the XR's namespace (none, for a cluster-scoped XR)`,
      )
    }
    assert.equal(condition(rec.passes[0].xr, 'Ready')?.status, 'False', 'not Ready before anything it composes is')
    assert.deepEqual(
      ['Synced', 'Ready'].map((t) => [condition(rec.last.xr, t)?.status, condition(rec.last.xr, t)?.reason]),
      [
        ['True', 'ReconcileSuccess'],
        ['True', 'Available'],
      ],
    )
  }

  /** One more reconcile with one composed resource not Ready: the XR is not Ready, and names it. */
  async function notReadyWithout(rec: Reconciled, input: {composition: Obj; xrd: Obj}, name: string): Promise<void> {
    const unready = rec.observed.map((o) =>
      resourceName(o) !== name
        ? o
        : {
            ...o,
            status: {
              ...o.status,
              conditions: o.status.conditions.map((c: Obj) =>
                c.type === 'Ready' ? {...c, status: 'False', reason: 'Creating'} : c,
              ),
            },
          },
    )
    const out = await renderer.render({...input, xr: rec.xr, observed: unready, secrets: rec.secrets})
    const ready = condition(out.xr, 'Ready')
    assert.equal(ready?.status, 'False', `not Ready while ${name} is not`)
    assert.match(ready?.message ?? '', new RegExp(`Unready resources: .*\\b${name}\\b`))
  }

  const v2ProviderConfig = (rec: Reconciled) => {
    for (const mr of managed(rec.last))
      assert.deepEqual(
        mr.spec.providerConfigRef,
        {kind: 'ClusterProviderConfig', name: 'default'},
        `${mr.kind}'s provider config`,
      )
  }

  describe('gcs-bucket (GCP)', () => {
    const xrd = read('gcs-bucket/definition.yaml')
    const composition = read('gcs-bucket/composition.yaml')
    const KMS_LOCATION: Record<string, string> = {
      EU: 'europe',
      US: 'us',
      'europe-west1': 'europe-west1',
      'us-central1': 'us-central1',
    }

    for (const [what, spec] of [
      ['the example XR', {}],
      ['the example XR, every field off its default', {location: 'US', storageClass: 'NEARLINE', versioning: true}],
    ] as const) {
      it(
        `${what}: key ring and key, service account and key, the bucket encrypted with the key and the account's access to it; a Secret of exactly the promised keys`,
        {timeout: 60_000},
        async () => {
          const xr = example('gcs-bucket', xrd, spec)
          const rec = await reconcile(renderer, {xr, composition, xrd})
          settled(rec, xr)
          v2ProviderConfig(rec)
          assert.deepEqual(kinds(rec.last), [
            'cloudplatform.gcp.m.upbound.io/v1beta1 ServiceAccount',
            'cloudplatform.gcp.m.upbound.io/v1beta1 ServiceAccountKey',
            'kms.gcp.m.upbound.io/v1beta1 CryptoKey',
            'kms.gcp.m.upbound.io/v1beta1 KeyRing',
            'storage.gcp.m.upbound.io/v1beta1 BucketIAMMember',
            'storage.gcp.m.upbound.io/v1beta2 Bucket',
          ])
          for (const name of ['key-ring', 'crypto-key', 'service-account', 'bucket']) {
            assert.equal(
              composed(rec, name).metadata.labels['kplat.dev/app'],
              xr.metadata.labels['kplat.dev/app'],
              `the XR's app label on ${name}`,
            )
          }

          assert.equal(
            composed(rec, 'key-ring').spec.forProvider.location,
            KMS_LOCATION[xr.spec.location],
            'the key ring where the bucket is',
          )
          assert.deepEqual(composed(rec, 'crypto-key').spec.forProvider.keyRingSelector, {matchControllerRef: true})
          const keyId = observed(rec, 'crypto-key').status.atProvider.id
          const bucket = composed(rec, 'bucket').spec.forProvider
          assert.deepEqual(
            [bucket.location, bucket.storageClass, bucket.versioning],
            [xr.spec.location, xr.spec.storageClass, {enabled: xr.spec.versioning}],
          )
          assert.deepEqual([bucket.uniformBucketLevelAccess, bucket.publicAccessPrevention], [true, 'enforced'])
          assert.deepEqual(bucket.encryption, {defaultKmsKeyName: keyId}, 'encrypted with the composed key')
          assert.equal(rec.xr.status.kmsKeyId, keyId)

          const email = observed(rec, 'service-account').status.atProvider.email
          assert.equal(composed(rec, 'service-account').spec.forProvider.displayName, xr.metadata.name)
          assert.equal(rec.xr.status.serviceAccountEmail, email)
          const access = composed(rec, 'bucket-access').spec.forProvider
          assert.deepEqual(access, {
            bucketSelector: {matchControllerRef: true},
            role: 'roles/storage.objectAdmin',
            member: `serviceAccount:${email}`,
          })
          const key = composed(rec, 'service-account-key').spec
          assert.deepEqual(
            [key.forProvider.serviceAccountIdSelector, key.writeConnectionSecretToRef],
            [{matchControllerRef: true}, {name: `${UID}-sa-key`}],
          )

          const bucketName = observed(rec, 'bucket').metadata.annotations['crossplane.io/external-name']
          assert.equal(rec.xr.status.bucketName, bucketName)
          const secret = xrSecret(rec, xr)
          assert.deepEqual(sorted(Object.keys(secret.data)), promisedKeys(xrd))
          const values = decode(secret)
          assert.deepEqual([values.GCS_BUCKET, values.GOOGLE_CLOUD_PROJECT], [bucketName, PROJECT])
          assert.equal(
            values.GOOGLE_CREDENTIALS,
            providerSecret(rec, 'service-account-key').private_key,
            'the key file the provider wrote',
          )
          assert.equal(JSON.parse(values.GOOGLE_CREDENTIALS).client_email, email)

          await notReadyWithout(rec, {composition, xrd}, 'bucket')
        },
      )
    }
  })

  describe('s3-bucket (AWS)', () => {
    const xrd = read('s3-bucket/definition.yaml')
    const composition = read('s3-bucket/composition.yaml')

    for (const [what, spec] of [
      ['the example XR', {}],
      ['the example XR, every field off its default', {region: 'us-east-1', versioning: true}],
    ] as const) {
      it(
        `${what}: an encrypted, private, versioned bucket in the XR's region; an IAM user whose policy allows that bucket only, and its access key; a Secret of exactly the promised keys`,
        {timeout: 60_000},
        async () => {
          const xr = example('s3-bucket', xrd, spec)
          const rec = await reconcile(renderer, {xr, composition, xrd})
          settled(rec, xr)
          v2ProviderConfig(rec)
          assert.deepEqual(kinds(rec.last), [
            'iam.aws.m.upbound.io/v1beta1 AccessKey',
            'iam.aws.m.upbound.io/v1beta1 Policy',
            'iam.aws.m.upbound.io/v1beta1 User',
            'iam.aws.m.upbound.io/v1beta1 UserPolicyAttachment',
            's3.aws.m.upbound.io/v1beta1 Bucket',
            's3.aws.m.upbound.io/v1beta1 BucketPublicAccessBlock',
            's3.aws.m.upbound.io/v1beta1 BucketServerSideEncryptionConfiguration',
            's3.aws.m.upbound.io/v1beta1 BucketVersioning',
          ])
          for (const mr of managed(rec.last).filter((o) => o.apiVersion.startsWith('s3.'))) {
            assert.equal(mr.spec.forProvider.region, xr.spec.region, `${mr.kind} in the XR's region`)
            if (mr.kind !== 'Bucket')
              assert.deepEqual(
                mr.spec.forProvider.bucketSelector,
                {matchControllerRef: true},
                `${mr.kind} of the composed bucket`,
              )
          }
          assert.deepEqual(composed(rec, 'encryption').spec.forProvider.rule, [
            {applyServerSideEncryptionByDefault: [{sseAlgorithm: 'aws:kms'}], bucketKeyEnabled: true},
          ])
          const block = composed(rec, 'public-access-block').spec.forProvider
          assert.deepEqual(
            [block.blockPublicAcls, block.blockPublicPolicy, block.ignorePublicAcls, block.restrictPublicBuckets],
            [true, true, true, true],
          )
          assert.deepEqual(composed(rec, 'versioning').spec.forProvider.versioningConfiguration, [
            {status: xr.spec.versioning ? 'Enabled' : 'Suspended'},
          ])

          const {id: bucketName, arn} = observed(rec, 'bucket').status.atProvider
          assert.deepEqual([rec.xr.status.bucketName, rec.xr.status.bucketArn], [bucketName, arn])
          const policy = JSON.parse(composed(rec, 'policy').spec.forProvider.policy)
          assert.deepEqual(
            policy.Statement.map((s: Obj) => [s.Effect, s.Resource]),
            [
              ['Allow', arn],
              ['Allow', `${arn}/*`],
            ],
            'the composed bucket and its objects, nothing else',
          )
          assert.ok(
            policy.Statement.every((s: Obj) => s.Action.every((a: string) => a.startsWith('s3:') && !a.includes('*'))),
            'S3 actions only, named one by one',
          )
          const attachment = composed(rec, 'policy-attachment').spec.forProvider
          assert.deepEqual(
            [attachment.userSelector, attachment.policyArnSelector],
            [{matchControllerRef: true}, {matchControllerRef: true}],
          )
          const accessKey = composed(rec, 'access-key').spec
          assert.deepEqual(
            [accessKey.forProvider.userSelector, accessKey.writeConnectionSecretToRef],
            [{matchControllerRef: true}, {name: `${UID}-access-key`}],
          )

          const secret = xrSecret(rec, xr)
          assert.deepEqual(sorted(Object.keys(secret.data)), promisedKeys(xrd))
          const values = decode(secret)
          const key = providerSecret(rec, 'access-key')
          assert.deepEqual(
            [values.S3_BUCKET, values.AWS_REGION, values.AWS_ACCESS_KEY_ID, values.AWS_SECRET_ACCESS_KEY],
            [bucketName, xr.spec.region, key.username, key.password],
          )

          await notReadyWithout(rec, {composition, xrd}, 'access-key')
        },
      )
    }
  })

  describe('postgres (AWS)', () => {
    const xrd = read('postgres/definition.yaml')
    const {composition, template} = withoutGoTemplating(read('postgres/composition.yaml'))
    const CLASS: Record<string, [string, number]> = {
      small: ['db.t4g.micro', 20],
      medium: ['db.t4g.medium', 50],
      large: ['db.m7g.large', 100],
    }

    // function-go-templating is not available here, so its step (which composes the XR's
    // connection Secret, DATABASE_URL included) is left out of these renders: what they check
    // is what the other steps compose. That step's template is checked statically below.
    for (const [what, spec] of [
      ['the example XR', {}],
      [
        'the example XR, every field off its default',
        {size: 'medium', version: '16', databaseName: 'orders', region: 'eu-central-1'},
      ],
    ] as const) {
      it(
        `${what}, rendered WITHOUT the go-templating step (function not available): an encrypted, private RDS PostgreSQL instance as the XR asks, with a generated password; no Secret, which only that step composes`,
        {timeout: 60_000},
        async () => {
          const xr = example('postgres', xrd, spec)
          const rec = await reconcile(renderer, {xr, composition, xrd})
          settled(rec, xr)
          v2ProviderConfig(rec)
          assert.deepEqual(kinds(rec.last), ['rds.aws.m.upbound.io/v1beta3 Instance'])
          const db = composed(rec, 'instance').spec
          const [instanceClass, allocatedStorage] = CLASS[xr.spec.size]
          assert.deepEqual(
            [
              db.forProvider.region,
              db.forProvider.engine,
              db.forProvider.engineVersion,
              db.forProvider.dbName,
              db.forProvider.instanceClass,
              db.forProvider.allocatedStorage,
            ],
            [xr.spec.region, 'postgres', xr.spec.version, xr.spec.databaseName, instanceClass, allocatedStorage],
          )
          assert.deepEqual(
            [db.forProvider.storageEncrypted, db.forProvider.publiclyAccessible, db.forProvider.autoGeneratePassword],
            [true, false, true],
          )
          assert.deepEqual(db.forProvider.passwordSecretRef, {name: `${UID}-password`, key: 'password'})
          assert.deepEqual(db.writeConnectionSecretToRef, {name: `${UID}-rds`})
          assert.equal(rec.xr.status.address, observed(rec, 'instance').status.atProvider.address)
          assert.deepEqual(
            rec.last.composed.filter((o) => o.kind === 'Secret'),
            [],
            'no Secret: the go-templating step composes it',
          )

          await notReadyWithout(rec, {composition, xrd}, 'instance')
        },
      )
    }

    it(
      "the go-templating step, checked statically (not run): it writes exactly the promised keys, in the Secret the XR names, from keys the RDS instance's connection Secret has",
      {timeout: 60_000},
      async () => {
        const {writes, reads} = templateKeys(template)
        assert.deepEqual(writes, promisedKeys(xrd))
        assert.ok(writes.includes('DATABASE_URL'))
        assert.match(template, /dig "spec" "writeConnectionSecretToRef" "name"/)
        assert.match(
          template,
          /dig "resources" "instance" "connectionDetails"/,
          'reads the connection details of the composed resource named instance',
        )
        const rec = await reconcile(renderer, {xr: example('postgres', xrd), composition, xrd})
        const written = Object.keys(providerSecret(rec, 'instance'))
        assert.deepEqual(sorted(reads), ['address', 'password', 'port', 'username'])
        for (const key of reads) assert.ok(written.includes(key), `the RDS instance's connection Secret has ${key}`)
      },
    )
  })

  describe('postgres-legacy (AWS, v1 XR and claim)', () => {
    const xrd = read('v1/postgres/definition.yaml')
    const claim = read('v1/postgres/example-claim.yaml')
    const {composition, template} = withoutGoTemplating(read('v1/postgres/composition.yaml'))

    // As for the v2 postgres composition, the go-templating step (which adds DATABASE_URL to
    // the XR's connection details) is not run here; it is checked statically below.
    for (const [what, parameters] of [
      ["the example claim's XR", {}],
      [
        "the example claim's XR, every parameter off its default",
        {storageGB: 50, version: '16', databaseName: 'orders'},
      ],
    ] as const) {
      it(
        `${what}, rendered WITHOUT the go-templating step (function not available): a cluster-scoped RDS instance; the XR's connection details hold every promised key but DATABASE_URL, which only that step adds`,
        {timeout: 60_000},
        async () => {
          const xr = xrOfClaim(claim, xrd, parameters)
          const rec = await reconcile(renderer, {xr, composition, xrd})
          settled(rec, xr)
          assert.deepEqual(
            rec.xr.spec.writeConnectionSecretToRef,
            {name: UID, namespace: composition.spec.writeConnectionSecretsToNamespace},
            "Crossplane names the XR's Secret, in the composition's namespace for them",
          )
          assert.deepEqual(kinds(rec.last), ['rds.aws.upbound.io/v1beta3 Instance'])
          const db = composed(rec, 'instance')
          assert.equal(db.metadata.namespace, undefined, 'cluster-scoped')
          assert.deepEqual(db.spec.providerConfigRef, {name: 'default'})
          const p = xr.spec.parameters
          assert.deepEqual(
            [
              db.spec.forProvider.engine,
              db.spec.forProvider.allocatedStorage,
              db.spec.forProvider.engineVersion,
              db.spec.forProvider.dbName,
            ],
            ['postgres', p.storageGB, p.version, p.databaseName],
          )
          assert.deepEqual(
            [
              db.spec.forProvider.storageEncrypted,
              db.spec.forProvider.publiclyAccessible,
              db.spec.forProvider.autoGeneratePassword,
            ],
            [true, false, true],
          )
          assert.deepEqual(db.spec.forProvider.passwordSecretRef, {
            namespace: 'crossplane-system',
            name: `${UID}-password`,
            key: 'password',
          })
          assert.deepEqual(db.spec.writeConnectionSecretToRef, {namespace: 'crossplane-system', name: `${UID}-rds`})
          assert.deepEqual(
            rec.last.composed.filter((o) => o.kind === 'Secret'),
            [],
            "a legacy XR's connection details are its own, not a composed Secret",
          )

          const values = await legacyConnectionDetails(renderer, composition, rec)
          assert.deepEqual(
            sorted(Object.keys(values)),
            promisedKeys(xrd).filter((k) => k !== 'DATABASE_URL'),
          )
          const rds = providerSecret(rec, 'instance')
          assert.deepEqual(
            [values.PGHOST, values.PGPORT, values.PGDATABASE, values.PGUSER, values.PGPASSWORD],
            [rds.address, rds.port, p.databaseName, rds.username, rds.password],
          )

          await notReadyWithout(rec, {composition, xrd}, 'instance')
        },
      )
    }

    it(
      "the go-templating step, checked statically (not run): it adds DATABASE_URL, the one promised key the rendered steps do not give, from keys the RDS instance's connection Secret has",
      {timeout: 60_000},
      async () => {
        const {writes, reads} = templateKeys(template)
        assert.deepEqual(writes, ['DATABASE_URL'])
        assert.match(template, /kind: CompositeConnectionDetails/)
        const rec = await reconcile(renderer, {xr: xrOfClaim(claim, xrd), composition, xrd})
        const rendered = Object.keys(await legacyConnectionDetails(renderer, composition, rec))
        assert.deepEqual(sorted([...rendered, ...writes]), promisedKeys(xrd))
        const written = Object.keys(providerSecret(rec, 'instance'))
        assert.deepEqual(sorted(reads), ['address', 'password', 'port', 'username'])
        for (const key of reads) assert.ok(written.includes(key), `the RDS instance's connection Secret has ${key}`)
      },
    )
  })

  describe('the local plans (provider-nop)', () => {
    for (const folder of ['gcs-bucket', 's3-bucket', 'postgres']) {
      it(
        `${folder}: one NopResource, the XR Ready, a Secret of exactly the promised keys`,
        {timeout: 60_000},
        async () => {
          const xrd = read(`${folder}/definition.yaml`)
          const composition = read(`${folder}/local.yaml`)
          const xr = example(folder, xrd)
          const rec = await reconcile(renderer, {xr, composition, xrd})
          settled(rec, xr)
          assert.deepEqual(kinds(rec.last), ['nop.crossplane.io/v1alpha1 NopResource'])
          assert.equal(managed(rec.last)[0].metadata.labels['kplat.dev/app'], xr.metadata.labels['kplat.dev/app'])
          const values = decode(xrSecret(rec, xr))
          assert.deepEqual(sorted(Object.keys(values)), promisedKeys(xrd))
          for (const [key, value] of Object.entries(values)) assert.ok(value.length > 0, `${key} is not empty`)
        },
      )
    }

    it(
      'postgres-legacy: one ClusterNopResource, the XR Ready, connection details of exactly the promised keys',
      {timeout: 60_000},
      async () => {
        const xrd = read('v1/postgres/definition.yaml')
        const composition = read('v1/postgres/local.yaml')
        const xr = xrOfClaim(read('v1/postgres/example-claim.yaml'), xrd)
        const rec = await reconcile(renderer, {xr, composition, xrd})
        settled(rec, xr)
        assert.deepEqual(kinds(rec.last), ['nop.crossplane.io/v1alpha1 ClusterNopResource'])
        const values = await legacyConnectionDetails(renderer, composition, rec)
        assert.deepEqual(sorted(Object.keys(values)), promisedKeys(xrd))
        assert.equal(
          values.DATABASE_URL,
          `postgres://app:local-password@${xr.metadata.name}.postgres.local:5432/${xr.spec.parameters.databaseName}`,
        )
      },
    )
  })
})
