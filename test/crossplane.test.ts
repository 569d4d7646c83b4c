import assert from 'node:assert/strict'
import {readdirSync} from 'node:fs'
import * as path from 'node:path'
import {after, before, describe, it} from 'node:test'
import * as k8s from '@kubernetes/client-node'
import {readYamlDir, type Manifest} from './ground/cluster.js'
import {REPO, SHARED} from './ground/index.js'
import {ground, uniqueName, type TestGround} from './helpers/ground.js'

// These tests run against the proving ground's real Crossplane (core, function-patch-and-
// transform and provider-nop), where the kit is installed with each add-on's local plan as
// its XRD's default (platformKit() in test/ground/index.ts).

const XP = 'apiextensions.crossplane.io'
const GROUP = 'addons.kplat.dev'
const VERSION = 'v1alpha1'
const API_VERSION = `${GROUP}/${VERSION}`
const NOP = {group: 'nop.crossplane.io', version: 'v1alpha1'}
const KEYS_ANNOTATION = 'kplat.dev/connection-secret-keys'
const CONNECTION_SECRET_TYPE = 'connection.crossplane.io/v1alpha1'
const MERGE = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch)

interface Condition {
  type: string
  status: string
  reason: string
  message?: string
}

interface Obj {
  apiVersion: string
  kind: string
  metadata: {
    name: string
    namespace?: string
    uid: string
    labels?: Record<string, string>
    annotations?: Record<string, string>
    ownerReferences?: Array<{kind: string; name: string; uid: string; controller?: boolean}>
  }
  spec: Record<string, unknown>
  status?: {conditions?: Condition[]} & Record<string, unknown>
}

interface Ref {
  apiVersion: string
  kind: string
  name: string
}
interface ConnectionDetail {
  name: string
  type: string
  fromFieldPath?: string
  fromConnectionSecretKey?: string
}
interface Patch {
  type: string
  toFieldPath?: string
}
interface Template {
  name: string
  base: Obj
  patches?: Patch[]
  connectionDetails?: ConnectionDetail[]
}
interface CompositionSpec {
  compositeTypeRef: {apiVersion: string; kind: string}
  pipeline: Array<{step: string; input: {resources: Template[]}}>
}

/** Every XRD and Composition in platform/, each folder at any depth. */
function kitObjects(): Manifest[] {
  const walk = (dir: string): string[] => [
    dir,
    ...readdirSync(dir, {withFileTypes: true})
      .filter((e) => e.isDirectory())
      .flatMap((e) => walk(path.join(dir, e.name))),
  ]
  return walk(path.join(REPO, 'platform-kit'))
    .flatMap(readYamlDir)
    .filter((o) => o.kind === 'CompositeResourceDefinition' || o.kind === 'Composition')
}

/** Retries check (which may throw, assertions included) until it returns a value; a timeout reports the last failure. */
async function eventually<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  for (;;) {
    try {
      const value = await check()
      if (value !== undefined) return value
      last = undefined
    } catch (error) {
      last = error
    }

    if (Date.now() > deadline)
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`,
      )
    await new Promise((r) => setTimeout(r, 250))
  }
}

const condition = (o: Obj | undefined, type: string) => o?.status?.conditions?.find((c) => c.type === type)
const code = (error: unknown) => (error as {code?: number}).code
/** The API server's message of a failed request, or what else the error says. */
function body(error: unknown): string {
  let b = (error as {body?: unknown}).body
  for (let i = 0; i < 2 && typeof b === 'string'; i++) {
    try {
      b = JSON.parse(b)
    } catch {
      break
    }
  }

  return b && typeof b === 'object' && 'message' in b ? String(b.message) : String(b ?? error)
}
const decode = (s: k8s.V1Secret) =>
  Object.fromEntries(Object.entries(s.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString()]))
const sorted = (xs: Iterable<string>) => [...xs].sort()
const gone = async (read: () => Promise<unknown>) => ((await read()) === undefined ? true : undefined)

/** The value at a dotted path (no brackets: the kit's connection details need none). */
function at(o: unknown, dotted: string): unknown {
  return dotted
    .split('.')
    .reduce<unknown>((v, k) => (v && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined), o)
}

// provider-nop checks a NopResource again only every 10 s (its --poll) and reconciles at most
// one at a time, so "Ready after a second" in the local plans is 10 to 20 s here. The tests
// wait in parallel, each in namespaces and with Compositions of its own.
describe("the ground's real Crossplane, with the sample platform kit", {concurrency: true}, () => {
  let g: TestGround
  let custom: k8s.CustomObjectsApi
  let core: k8s.CoreV1Api
  let crds: k8s.ApiextensionsV1Api
  let objects: k8s.KubernetesObjectApi
  const namespaces: string[] = []
  const compositions: string[] = []

  const getXrd = async (name: string) =>
    (await custom.getClusterCustomObject({
      group: XP,
      version: 'v2',
      plural: 'compositeresourcedefinitions',
      name,
    })) as Obj
  const orUndefined = async <T>(read: () => Promise<T>): Promise<T | undefined> => {
    try {
      return await read()
    } catch (error) {
      if (code(error) === 404) return undefined
      throw error
    }
  }

  const get = (
    plural: string,
    name: string,
    namespace?: string,
    api: {group: string; version: string} = {group: GROUP, version: VERSION},
  ) =>
    orUndefined(
      async () =>
        (namespace
          ? await custom.getNamespacedCustomObject({...api, namespace, plural, name})
          : await custom.getClusterCustomObject({...api, plural, name})) as Obj,
    )
  const secret = (name: string, namespace: string) => orUndefined(() => core.readNamespacedSecret({name, namespace}))
  const create = async (
    namespace: string,
    plural: string,
    kind: string,
    name: string,
    spec: Record<string, unknown>,
    labels?: Record<string, string>,
  ) =>
    (await custom.createNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace,
      plural,
      body: {apiVersion: API_VERSION, kind, metadata: {name, labels}, spec},
    })) as Obj
  const remove = (namespace: string, plural: string, name: string) =>
    custom.deleteNamespacedCustomObject({group: GROUP, version: VERSION, namespace, plural, name})

  /** A namespace of this test's own, deleted in after(). */
  const namespace = async (prefix: string) => {
    const name = uniqueName(prefix)
    await core.createNamespace({body: {metadata: {name}}})
    namespaces.push(name)
    return name
  }

  /** A Composition of this test's own for S3Bucket, named uniquely and deleted in after(). */
  const composition = async (prefix: string, resources: unknown[]) => {
    const name = uniqueName(prefix)
    await custom.createClusterCustomObject({
      group: XP,
      version: 'v1',
      plural: 'compositions',
      body: {
        apiVersion: `${XP}/v1`,
        kind: 'Composition',
        metadata: {name},
        spec: {
          compositeTypeRef: {apiVersion: API_VERSION, kind: 'S3Bucket'},
          mode: 'Pipeline',
          pipeline: [
            {
              step: 'patch-and-transform',
              functionRef: {name: 'function-patch-and-transform'},
              input: {apiVersion: 'pt.fn.crossplane.io/v1beta1', kind: 'Resources', resources},
            },
          ],
        },
      },
    })
    compositions.push(name)
    return name
  }

  /** Waits until the instance's condition has this status, and returns the instance. */
  const until = (
    plural: string,
    name: string,
    namespace: string | undefined,
    want: Record<string, string>,
    timeoutMs = 60_000,
  ) =>
    eventually(
      `${plural} ${name} ${JSON.stringify(want)}`,
      async () => {
        const o = await get(plural, name, namespace)
        const seen = Object.fromEntries(Object.keys(want).map((t) => [t, condition(o, t)?.status]))
        assert.deepEqual(seen, want, `conditions now: ${JSON.stringify(o?.status?.conditions ?? [])}`)
        return o
      },
      timeoutMs,
    )

  const composed = async (namespace: string, xr: string) =>
    (
      (await custom.listNamespacedCustomObject({
        ...NOP,
        namespace,
        plural: 'nopresources',
        labelSelector: `crossplane.io/composite=${xr}`,
      })) as {items: Obj[]}
    ).items
  const warnings = async (namespace: string, name: string) =>
    (await core.listNamespacedEvent({namespace, fieldSelector: `involvedObject.name=${name},type=Warning`})).items.map(
      (e) => e.message ?? '',
    )

  before(async () => {
    g = await ground()
    const kc = g.admin()
    custom = kc.makeApiClient(k8s.CustomObjectsApi)
    core = kc.makeApiClient(k8s.CoreV1Api)
    crds = kc.makeApiClient(k8s.ApiextensionsV1Api)
    objects = k8s.KubernetesObjectApi.makeApiClient(kc)
  })

  after(async () => {
    // Deleting a namespace deletes its XRs and claims; Crossplane and the garbage collector
    // take what they composed.
    await Promise.all([
      ...namespaces.map((name) => core?.deleteNamespace({name}).catch(() => undefined)),
      ...compositions.map((name) =>
        custom
          ?.deleteClusterCustomObject({group: XP, version: 'v1', plural: 'compositions', name})
          .catch(() => undefined),
      ),
    ])
  })

  it(
    "established the kit's XRDs (the legacy one Offered too) and serves their XR and claim kinds",
    {timeout: 60_000},
    async () => {
      for (const [plural, kind] of [
        ['gcsbuckets', 'GCSBucket'],
        ['s3buckets', 'S3Bucket'],
        ['postgresdatabases', 'PostgresDatabase'],
      ]) {
        const name = `${plural}.${GROUP}`
        const xrd = await eventually(`XRD ${name} Established`, async () => {
          const x = await getXrd(name)
          return condition(x, 'Established')?.status === 'True' ? x : undefined
        })
        assert.equal(condition(xrd, 'Established')!.reason, 'WatchingCompositeResource')
        assert.equal(condition(xrd, 'Offered'), undefined, 'a v2 XRD offers no claim')
        assert.deepEqual((xrd.status!.controllers as {compositeResourceType: unknown}).compositeResourceType, {
          apiVersion: API_VERSION,
          kind,
        })
        assert.equal(xrd.metadata.labels?.['kplat.dev/addon'], 'true')
        assert.ok(xrd.metadata.annotations?.['kplat.dev/description'] && xrd.metadata.annotations[KEYS_ANNOTATION])
        assert.deepEqual(
          xrd.spec.defaultCompositionRef,
          {name: `${plural}-local`},
          'the ground makes the local plan the default',
        )

        const crd = await crds.readCustomResourceDefinition({name})
        assert.equal(crd.spec.scope, 'Namespaced')
        assert.deepEqual(sorted(crd.spec.names.categories ?? []), ['composite', 'kplat-addons'])
        assert.deepEqual(
          crd.metadata?.ownerReferences?.map((r) => [r.kind, r.uid, r.controller]),
          [['CompositeResourceDefinition', xrd.metadata.uid, true]],
        )
        assert.ok(crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True'))
        const v = crd.spec.versions.find((x) => x.name === VERSION)!
        assert.ok(v.storage && v.served && v.subresources?.status)
        const spec = v.schema!.openAPIV3Schema!.properties!.spec
        assert.deepEqual(spec.properties!.writeConnectionSecretToRef.required, ['name'], "the XRD's own field")
        assert.deepEqual(sorted(Object.keys(spec.properties!.crossplane.properties!)), [
          'compositionRef',
          'compositionRevisionRef',
          'compositionRevisionSelector',
          'compositionSelector',
          'compositionUpdatePolicy',
          'resourceRefs',
        ])
        assert.ok(v.schema!.openAPIV3Schema!.properties!.status.properties!.conditions)
      }

      const legacy = await eventually('legacy XRD Established and Offered', async () => {
        const x = await getXrd(`xpostgresqlinstances.${GROUP}`)
        return condition(x, 'Established')?.status === 'True' && condition(x, 'Offered')?.status === 'True'
          ? x
          : undefined
      })
      assert.equal(condition(legacy, 'Offered')!.reason, 'WatchingCompositeResourceClaim')
      assert.deepEqual(legacy.status!.controllers, {
        compositeResourceType: {apiVersion: API_VERSION, kind: 'XPostgreSQLInstance'},
        compositeResourceClaimType: {apiVersion: API_VERSION, kind: 'PostgreSQLInstance'},
      })
      assert.deepEqual(legacy.spec.defaultCompositionRef, {name: 'xpostgresqlinstances-local'})
      const xrCrd = await crds.readCustomResourceDefinition({name: `xpostgresqlinstances.${GROUP}`})
      assert.equal(xrCrd.spec.scope, 'Cluster')
      assert.ok(xrCrd.spec.names.categories?.includes('composite'))
      const xrSpec = xrCrd.spec.versions[0].schema!.openAPIV3Schema!.properties!.spec.properties!
      assert.ok(
        xrSpec.claimRef && xrSpec.compositionRef && xrSpec.parameters && !xrSpec.crossplane,
        'a LegacyCluster XR keeps its machinery directly under spec',
      )
      assert.deepEqual(xrSpec.writeConnectionSecretToRef.required, ['name', 'namespace'])
      const claimCrd = await crds.readCustomResourceDefinition({name: `postgresqlinstances.${GROUP}`})
      assert.equal(claimCrd.spec.scope, 'Namespaced')
      assert.equal(claimCrd.spec.names.kind, 'PostgreSQLInstance')
      assert.ok(claimCrd.spec.names.categories?.includes('claim'))
      const claimSpec = claimCrd.spec.versions[0].schema!.openAPIV3Schema!.properties!.spec.properties!
      assert.ok(claimSpec.resourceRef && claimSpec.compositeDeletePolicy && claimSpec.parameters)
      assert.deepEqual(
        claimSpec.writeConnectionSecretToRef.required,
        ['name'],
        'a claim names its Secret, in its own namespace',
      )

      // Each kind is served: namespaced v2 XRs and the claim, the cluster-scoped legacy XR.
      const ns = await namespace('xp-schema')
      for (const plural of ['gcsbuckets', 's3buckets', 'postgresdatabases', 'postgresqlinstances']) {
        assert.deepEqual(
          (
            (await custom.listNamespacedCustomObject({group: GROUP, version: VERSION, namespace: ns, plural})) as {
              items: unknown[]
            }
          ).items,
          [],
        )
      }

      assert.ok(
        Array.isArray(
          (
            (await custom.listClusterCustomObject({
              group: GROUP,
              version: VERSION,
              plural: 'xpostgresqlinstances',
            })) as {items: unknown[]}
          ).items,
        ),
      )
      // The apiserver validates instances against the XRD's schema.
      await assert.rejects(
        custom.createNamespacedCustomObject({
          group: GROUP,
          version: VERSION,
          namespace: ns,
          plural: 'gcsbuckets',
          dryRun: 'All',
          body: {
            apiVersion: API_VERSION,
            kind: 'GCSBucket',
            metadata: {name: 'invalid'},
            spec: {storageClass: 'PLATINUM'},
          },
        }),
        (error: unknown) => code(error) === 422 && /storageClass/.test(body(error)),
      )
    },
  )

  describe('each v2 add-on through its local plan', () => {
    const addons = [
      {
        plural: 'gcsbuckets',
        kind: 'GCSBucket',
        resource: 'bucket',
        spec: {location: 'US'},
        check(xr: Obj, v: Record<string, string>) {
          assert.equal(xr.status!.bucketName, `${xr.metadata.name}-local`)
          assert.equal(v.GCS_BUCKET, xr.status!.bucketName)
          assert.equal(JSON.parse(v.GOOGLE_CREDENTIALS).type, 'service_account')
        },
      },
      {
        plural: 's3buckets',
        kind: 'S3Bucket',
        resource: 'bucket',
        spec: {region: 'eu-central-1'},
        check(xr: Obj, v: Record<string, string>) {
          assert.equal(xr.status!.bucketName, `${xr.metadata.name}-local`)
          assert.equal(v.S3_BUCKET, xr.status!.bucketName)
          assert.equal(v.AWS_REGION, 'eu-central-1', 'patched from spec.region')
        },
      },
      {
        plural: 'postgresdatabases',
        kind: 'PostgresDatabase',
        resource: 'instance',
        spec: {databaseName: 'orders'},
        check(xr: Obj, v: Record<string, string>) {
          assert.equal(xr.status!.address, `${xr.metadata.name}.postgres.local`)
          assert.equal(v.PGHOST, xr.status!.address)
          assert.equal(v.PGDATABASE, 'orders', 'patched from spec.databaseName')
          assert.equal(v.DATABASE_URL, `postgres://${v.PGUSER}:${v.PGPASSWORD}@${v.PGHOST}:${v.PGPORT}/${v.PGDATABASE}`)
        },
      },
    ]

    for (const addon of addons) {
      it(
        `${addon.kind}: Synced and Ready, a NopResource with the app's label, a Secret of exactly the promised keys`,
        {timeout: 120_000},
        async () => {
          const ns = await namespace(`xp-${addon.plural.slice(0, 8)}`)
          const declared = (await getXrd(`${addon.plural}.${GROUP}`)).metadata.annotations![KEYS_ANNOTATION].split(',')
          const created = await create(
            ns,
            addon.plural,
            addon.kind,
            'data',
            {...addon.spec, writeConnectionSecretToRef: {name: 'data-env'}},
            {'kplat.dev/app': 'shop'},
          )

          const xr = await until(addon.plural, 'data', ns, {Synced: 'True', Ready: 'True'})
          assert.deepEqual(
            [condition(xr, 'Synced')!.reason, condition(xr, 'Ready')!.reason],
            ['ReconcileSuccess', 'Available'],
          )
          const crossplane = xr.spec.crossplane as {compositionRef: {name: string}; resourceRefs: Ref[]}
          assert.equal(crossplane.compositionRef.name, `${addon.plural}-local`)
          assert.deepEqual(
            sorted(crossplane.resourceRefs.map((r) => `${r.kind}/${r.name}`)).filter((r) => r.startsWith('Secret/')),
            ['Secret/data-env'],
          )

          const [nop, ...more] = await composed(ns, 'data')
          assert.equal(more.length, 0, 'one composed NopResource')
          assert.equal(
            nop.metadata.labels?.['kplat.dev/app'],
            'shop',
            "the XR's app label, patched onto what it composes",
          )
          assert.equal(nop.metadata.annotations?.['crossplane.io/composition-resource-name'], addon.resource)
          assert.deepEqual(
            nop.metadata.ownerReferences?.map((r) => [r.kind, r.uid, r.controller]),
            [[addon.kind, created.metadata.uid, true]],
          )
          assert.equal(condition(nop, 'Ready')?.status, 'True')
          assert.ok(crossplane.resourceRefs.some((r) => r.kind === 'NopResource' && r.name === nop.metadata.name))

          const s = await eventually('Secret data-env with every promised key', async () => {
            const found = await secret('data-env', ns)
            assert.deepEqual(sorted(Object.keys(found?.data ?? {})), sorted(declared))
            return found
          })
          assert.equal(s.type, CONNECTION_SECRET_TYPE)
          assert.deepEqual(
            s.metadata?.ownerReferences?.map((r) => [r.kind, r.name, r.uid, r.controller]),
            [[addon.kind, 'data', created.metadata.uid, true]],
          )
          assert.equal(s.metadata?.labels?.['crossplane.io/composite'], 'data')
          const values = decode(s)
          for (const key of declared) assert.ok(values[key].length > 0, `${key} is not empty`)
          addon.check(xr, values)
        },
      )
    }

    it('names the Secret <xr>-connection when the XR names none', {timeout: 120_000}, async () => {
      const ns = await namespace('xp-default-secret')
      await create(ns, 'postgresdatabases', 'PostgresDatabase', 'db', {})
      await until('postgresdatabases', 'db', ns, {Synced: 'True', Ready: 'True'})
      const s = await eventually('Secret db-connection', async () => {
        const found = await secret('db-connection', ns)
        assert.deepEqual(sorted(Object.keys(found?.data ?? {})), [
          'DATABASE_URL',
          'PGDATABASE',
          'PGHOST',
          'PGPASSWORD',
          'PGPORT',
          'PGUSER',
        ])
        return found
      })
      assert.equal(decode(s).PGDATABASE, 'app', "the XRD's default databaseName")
    })
  })

  it(
    "brings a v1 claim to Ready through its cluster-scoped XR, with its Secret in the claim's namespace; deleting the claim takes the XR and what it composed",
    {timeout: 120_000},
    async () => {
      const ns = await namespace('xp-claim')
      const keys = (await getXrd(`xpostgresqlinstances.${GROUP}`)).spec.connectionSecretKeys as string[]
      const claim = await create(
        ns,
        'postgresqlinstances',
        'PostgreSQLInstance',
        'legacy-db',
        {parameters: {storageGB: 50}, writeConnectionSecretToRef: {name: 'legacy-db-env'}},
        {'kplat.dev/app': 'shop'},
      )

      const live = await until('postgresqlinstances', 'legacy-db', ns, {Synced: 'True', Ready: 'True'})
      assert.equal(condition(live, 'Ready')!.reason, 'Available')
      assert.ok((live.status!.connectionDetails as {lastPublishedTime?: string}).lastPublishedTime)
      const ref = live.spec.resourceRef as Ref
      assert.equal(ref.kind, 'XPostgreSQLInstance')
      const xr = (await get('xpostgresqlinstances', ref.name))!
      assert.deepEqual(xr.spec.claimRef, {
        apiVersion: API_VERSION,
        kind: 'PostgreSQLInstance',
        namespace: ns,
        name: 'legacy-db',
      })
      assert.deepEqual(xr.spec.parameters, {storageGB: 50, version: '17', databaseName: 'app'})
      assert.deepEqual(xr.spec.compositionRef, {name: 'xpostgresqlinstances-local'})
      assert.equal(xr.metadata.labels?.['crossplane.io/claim-namespace'], ns)
      assert.equal(xr.metadata.labels?.['kplat.dev/app'], 'shop', "the claim's labels reach the XR")
      assert.equal(condition(xr, 'Ready')?.status, 'True')
      const [nopRef, ...moreRefs] = xr.spec.resourceRefs as Ref[]
      assert.deepEqual([nopRef.kind, moreRefs.length], ['ClusterNopResource', 0])
      const nop = (await get('clusternopresources', nopRef.name, undefined, NOP))!
      assert.equal(condition(nop, 'Ready')?.status, 'True')
      assert.deepEqual(
        nop.metadata.ownerReferences?.map((r) => [r.kind, r.uid, r.controller]),
        [['XPostgreSQLInstance', xr.metadata.uid, true]],
      )
      // The XR's own Secret, in the namespace the Composition names, which Crossplane copies for the claim.
      const xrSecretRef = xr.spec.writeConnectionSecretToRef as {name: string; namespace: string}
      assert.equal(xrSecretRef.namespace, 'crossplane-system')

      const s = await eventually('Secret legacy-db-env with every key', async () => {
        const found = await secret('legacy-db-env', ns)
        assert.deepEqual(sorted(Object.keys(found?.data ?? {})), sorted(keys))
        return found
      })
      assert.deepEqual(
        s.metadata?.ownerReferences?.map((r) => [r.kind, r.uid, r.controller]),
        [['PostgreSQLInstance', claim.metadata.uid, true]],
      )
      const values = decode(s)
      for (const key of keys) assert.ok(values[key].length > 0, `${key} is not empty`)
      assert.equal(values.PGHOST, `${xr.metadata.name}.postgres.local`)
      assert.deepEqual(
        Object.keys((await secret(xrSecretRef.name, xrSecretRef.namespace))?.data ?? {}).sort(),
        sorted(keys),
      )

      await remove(ns, 'postgresqlinstances', 'legacy-db')
      await eventually('the claim gone (Foreground: after its XR)', () =>
        gone(() => get('postgresqlinstances', 'legacy-db', ns)),
      )
      await eventually('the XR gone', () => gone(() => get('xpostgresqlinstances', ref.name)))
      await eventually('the ClusterNopResource gone', () =>
        gone(() => get('clusternopresources', nopRef.name, undefined, NOP)),
      )
      await eventually("the claim's Secret gone", () => gone(() => secret('legacy-db-env', ns)))
      await eventually("the XR's Secret gone", () => gone(() => secret(xrSecretRef.name, xrSecretRef.namespace)))
    },
  )

  describe('provisioning failures, as they happen for real', () => {
    it(
      'an XR whose composed resources never become Ready stays Ready=False, naming them (sorted, the first three)',
      {timeout: 120_000},
      async () => {
        const ns = await namespace('xp-unready')
        const nop = (name: string, conditionAfter: unknown[]) => ({
          name,
          base: {apiVersion: `${NOP.group}/${NOP.version}`, kind: 'NopResource', spec: {forProvider: {conditionAfter}}},
        })
        const never = [{time: '1s', conditionType: 'Synced', conditionStatus: 'True'}]
        const comp = await composition('xp-unready', [
          nop('user', never),
          nop('bucket', never),
          nop('policy', []),
          nop('key', never),
          nop('region', [{time: '1s', conditionType: 'Ready', conditionStatus: 'True'}]),
        ])
        await create(ns, 's3buckets', 'S3Bucket', 'stuck', {
          crossplane: {compositionRef: {name: comp}},
          writeConnectionSecretToRef: {name: 'stuck-env'},
        })

        const message = 'Unready resources: bucket, key, policy, and 1 more'
        const stuck = await eventually('S3Bucket stuck naming its four unready resources', async () => {
          const o = await get('s3buckets', 'stuck', ns)
          assert.equal(condition(o, 'Ready')?.message, message)
          return o
        })
        assert.deepEqual(
          [condition(stuck, 'Synced')?.status, condition(stuck, 'Ready')!.status, condition(stuck, 'Ready')!.reason],
          ['True', 'False', 'Creating'],
        )
        const all = await composed(ns, 'stuck')
        assert.deepEqual(sorted(all.map((o) => o.metadata.annotations!['crossplane.io/composition-resource-name'])), [
          'bucket',
          'key',
          'policy',
          'region',
          'user',
        ])
        assert.deepEqual(
          all
            .filter((o) => condition(o, 'Ready')?.status === 'True')
            .map((o) => o.metadata.annotations!['crossplane.io/composition-resource-name']),
          ['region'],
        )

        // It stays so: nothing will make the others Ready.
        await new Promise((r) => setTimeout(r, 3000))
        const later = await get('s3buckets', 'stuck', ns)
        assert.deepEqual([condition(later, 'Ready')?.status, condition(later, 'Ready')?.message], ['False', message])
        assert.equal(await secret('stuck-env', ns), undefined, 'no connection details, so no Secret')
      },
    )

    it(
      "a patch from a Required field that is not set holds its resource back: Ready=False (still Synced), with the function's warning",
      {timeout: 120_000},
      async () => {
        const ns = await namespace('xp-required')
        const comp = await composition('xp-required', [
          {
            name: 'policy',
            base: {
              apiVersion: `${NOP.group}/${NOP.version}`,
              kind: 'NopResource',
              spec: {forProvider: {conditionAfter: [{time: '1s', conditionType: 'Ready', conditionStatus: 'True'}]}},
            },
            patches: [
              {
                type: 'FromCompositeFieldPath',
                fromFieldPath: 'status.bucketArn',
                toFieldPath: 'spec.forProvider.fields.arn',
                policy: {fromFieldPath: 'Required'},
              },
            ],
          },
        ])
        await create(ns, 's3buckets', 'S3Bucket', 'held', {crossplane: {compositionRef: {name: comp}}})

        const text =
          'Pipeline step "patch-and-transform": not adding new composed resource "policy" to desired state because "FromCompositeFieldPath" patch at index 0 has \'policy.fromFieldPath: Required\''
        const events = await eventually("the function's warning on S3Bucket held", async () => {
          const found = await warnings(ns, 'held')
          assert.ok(
            found.some((m) => m.startsWith(text)),
            JSON.stringify(found),
          )
          return found
        })
        assert.ok(
          events.some(
            (m) => m === `${text}: status.bucketArn: no such field` || m === `${text}: status: no such field`,
          ),
          JSON.stringify(events),
        )
        const held = await until('s3buckets', 'held', ns, {Synced: 'True', Ready: 'False'})
        assert.equal(condition(held, 'Ready')!.reason, 'Creating')
        assert.equal(
          condition(held, 'Ready')!.message,
          undefined,
          'the function, not a composed resource, holds it back',
        )
        assert.deepEqual(await composed(ns, 'held'), [], 'the resource is not created')

        // Once the field is set, the resource is composed and the XR becomes Ready.
        await custom.patchNamespacedCustomObjectStatus(
          {
            group: GROUP,
            version: VERSION,
            namespace: ns,
            plural: 's3buckets',
            name: 'held',
            body: {status: {bucketArn: 'arn:aws:s3:::held'}},
          },
          MERGE,
        )
        await until('s3buckets', 'held', ns, {Synced: 'True', Ready: 'True'})
        const [nop] = await composed(ns, 'held')
        assert.equal((nop.spec.forProvider as {fields?: {arn?: string}}).fields?.arn, 'arn:aws:s3:::held')
      },
    )

    it(
      "a patch that fails fails the XR: Synced=False with the function's message; fixing the input heals it",
      {timeout: 120_000},
      async () => {
        const ns = await namespace('xp-fatal')
        const comp = await composition('xp-fatal', [
          {
            name: 'bucket',
            base: {
              apiVersion: `${NOP.group}/${NOP.version}`,
              kind: 'NopResource',
              spec: {forProvider: {conditionAfter: [{time: '1s', conditionType: 'Ready', conditionStatus: 'True'}]}},
            },
            patches: [
              {
                type: 'FromCompositeFieldPath',
                fromFieldPath: 'spec.region',
                toFieldPath: 'spec.forProvider.fields.zone',
                transforms: [{type: 'map', map: {'us-east-1': 'use1', 'us-west-2': 'usw2'}}],
              },
            ],
          },
        ])
        await create(ns, 's3buckets', 'S3Bucket', 'doomed', {
          region: 'eu-west-1',
          crossplane: {compositionRef: {name: comp}},
          writeConnectionSecretToRef: {name: 'doomed-env'},
        })

        const failed = await until('s3buckets', 'doomed', ns, {Synced: 'False'})
        assert.equal(condition(failed, 'Synced')!.reason, 'ReconcileError')
        assert.equal(
          condition(failed, 'Synced')!.message,
          'cannot compose resources: pipeline step "patch-and-transform" returned a fatal result: ' +
            'cannot render composed resource "bucket" "FromCompositeFieldPath" patch at index 0: transform at index 0 returned error: ' +
            'map transform could not resolve: key eu-west-1 is not found in map',
        )
        assert.notEqual(condition(failed, 'Ready')?.status, 'True')
        assert.deepEqual(await composed(ns, 'doomed'), [], 'nothing composed')
        await eventually(
          'the same message as a Warning event',
          async () => (await warnings(ns, 'doomed')).includes(condition(failed, 'Synced')!.message!) || undefined,
        )

        await custom.patchNamespacedCustomObject(
          {
            group: GROUP,
            version: VERSION,
            namespace: ns,
            plural: 's3buckets',
            name: 'doomed',
            body: {spec: {region: 'us-east-1'}},
          },
          MERGE,
        )
        const healed = await until('s3buckets', 'doomed', ns, {Synced: 'True', Ready: 'True'})
        assert.equal(condition(healed, 'Synced')!.reason, 'ReconcileSuccess')
        const [nop] = await composed(ns, 'doomed')
        assert.equal((nop.spec.forProvider as {fields?: {zone?: string}}).fields?.zone, 'use1')
      },
    )

    it(
      'will not take over a Secret of the same name that it does not control: Synced=False, the Secret untouched, and kept when the XR goes',
      {timeout: 120_000},
      async () => {
        const ns = await namespace('xp-taken')
        await core.createNamespacedSecret({namespace: ns, body: {metadata: {name: 'taken'}, stringData: {mine: 'yes'}}})
        await create(ns, 's3buckets', 'S3Bucket', 'squatter', {writeConnectionSecretToRef: {name: 'taken'}})
        const failed = await until('s3buckets', 'squatter', ns, {Synced: 'False'})
        // First the Secret is an unsynced composed resource; once it is among the XR's
        // resourceRefs, composing fails as a whole, on the Secret's missing annotation.
        assert.match(
          condition(failed, 'Synced')!.message!,
          /^Unsynced resources: squatter-connection-secret$|^cannot compose resources: cannot get existing composed resources: encountered composed resource without required "crossplane.io\/composition-resource-name" annotation$/,
        )
        await eventually(
          'the reason as a Warning event',
          async () =>
            (await warnings(ns, 'squatter')).some((m) =>
              m.startsWith(
                'cannot apply composed resource "squatter-connection-secret": Secret "taken" is invalid: type: Invalid value: "connection.crossplane.io/v1alpha1": field is immutable',
              ),
            ) || undefined,
        )
        assert.notEqual(condition(await get('s3buckets', 'squatter', ns), 'Ready')?.status, 'True')
        const s = (await secret('taken', ns))!
        assert.deepEqual([decode(s), s.type, s.metadata?.ownerReferences], [{mine: 'yes'}, 'Opaque', undefined])

        await remove(ns, 's3buckets', 'squatter')
        await eventually('S3Bucket squatter gone', () => gone(() => get('s3buckets', 'squatter', ns)))
        assert.deepEqual(decode((await secret('taken', ns))!), {mine: 'yes'})
      },
    )
  })

  it('deleting a v2 XR deletes what it composed and its connection Secret', {timeout: 120_000}, async () => {
    const ns = await namespace('xp-delete')
    await create(ns, 'gcsbuckets', 'GCSBucket', 'shortlived', {writeConnectionSecretToRef: {name: 'shortlived-env'}})
    await until('gcsbuckets', 'shortlived', ns, {Synced: 'True', Ready: 'True'})
    await eventually('Secret shortlived-env', () => secret('shortlived-env', ns))
    const [nop] = await composed(ns, 'shortlived')
    const nopSecret = (nop.spec.writeConnectionSecretToRef as {name: string}).name
    assert.ok(await secret(nopSecret, ns), "provider-nop wrote the NopResource's own Secret")

    await remove(ns, 'gcsbuckets', 'shortlived')
    await eventually('GCSBucket shortlived gone', () => gone(() => get('gcsbuckets', 'shortlived', ns)))
    await eventually('its NopResource gone', () => gone(() => get('nopresources', nop.metadata.name, ns, NOP)))
    await eventually('its connection Secret gone', () => gone(() => secret('shortlived-env', ns)))
    await eventually("the NopResource's own Secret gone", () => gone(() => secret(nopSecret, ns)))
  })

  describe('the kit as files', () => {
    it(
      "every XRD and Composition in platform/ passes the installed (upstream) CRDs' validation, CEL rules included, by server-side dry-run",
      {timeout: 60_000},
      async () => {
        // The ground installs Crossplane's CRDs as the built version ships them; ../shared/crds
        // holds upstream's as the contract. They are the same schemas, so this is upstream's validation.
        for (const plural of ['compositeresourcedefinitions', 'compositions']) {
          const name = `${plural}.${XP}`
          const copy = readYamlDir(path.join(SHARED, 'crds', 'crossplane')).find((c) => c.metadata!.name === name)!
          const live = (await custom.getClusterCustomObject({
            group: 'apiextensions.k8s.io',
            version: 'v1',
            plural: 'customresourcedefinitions',
            name,
          })) as {spec: {versions: unknown[]}}
          assert.deepEqual(
            live.spec.versions,
            (copy.spec as {versions: unknown[]}).versions,
            `the installed ${name} is upstream's`,
          )
        }

        const docs = kitObjects()
        assert.deepEqual(docs.map((o) => `${o.kind}/${o.apiVersion!.split('/')[1]}/${o.metadata!.name}`).sort(), [
          'CompositeResourceDefinition/v1/xpostgresqlinstances.addons.kplat.dev',
          'CompositeResourceDefinition/v2/gcsbuckets.addons.kplat.dev',
          'CompositeResourceDefinition/v2/postgresdatabases.addons.kplat.dev',
          'CompositeResourceDefinition/v2/s3buckets.addons.kplat.dev',
          'Composition/v1/gcsbuckets-gcp',
          'Composition/v1/gcsbuckets-local',
          'Composition/v1/postgresdatabases-aws',
          'Composition/v1/postgresdatabases-local',
          'Composition/v1/s3buckets-aws',
          'Composition/v1/s3buckets-local',
          'Composition/v1/xpostgresqlinstances-aws',
          'Composition/v1/xpostgresqlinstances-local',
        ])
        const dryRun = (o: Manifest) =>
          objects.patch(o, undefined, 'All', 'kplat-test-dry-run', true, k8s.PatchStrategy.ServerSideApply)
        for (const o of docs) {
          const applied = await dryRun(o).catch((error: unknown) =>
            assert.fail(`${o.kind} ${o.metadata!.name}: ${body(error)}`),
          )
          assert.equal(applied.metadata?.name, o.metadata!.name)
        }

        // The validation has teeth: upstream's CEL rule on v2 XRDs, and a Composition's schema.
        const xrd = structuredClone(docs.find((o) => o.metadata!.name === `gcsbuckets.${GROUP}`)!) as Manifest & {
          spec: Record<string, unknown>
        }
        xrd.spec.connectionSecretKeys = ['GCS_BUCKET']
        await assert.rejects(
          dryRun(xrd),
          (error: unknown) =>
            code(error) === 422 &&
            /XR connection secrets aren't supported in apiextensions.crossplane.io\/v2/.test(body(error)),
        )
        const comp = structuredClone(docs.find((o) => o.metadata!.name === 'gcsbuckets-local')!) as Manifest & {
          spec: Record<string, unknown>
        }
        comp.spec.mode = 'Resources'
        await assert.rejects(
          dryRun(comp),
          (error: unknown) => code(error) === 422 && /spec.mode: Unsupported value: "Resources"/.test(body(error)),
        )
      },
    )

    it("each local plan's connection details make exactly the keys its XRD promises, from fields and Secret keys its resources have", () => {
      const docs = kitObjects()
      const xrds = docs.filter((o) => o.kind === 'CompositeResourceDefinition')
      const locals = docs.filter((o) => o.kind === 'Composition' && o.metadata!.labels?.provider === 'local')
      assert.equal(locals.length, xrds.length, 'one local plan per XRD')
      for (const xrd of xrds) {
        const spec = xrd.spec as {names: {kind: string}; connectionSecretKeys?: string[]}
        const promised = spec.connectionSecretKeys ?? xrd.metadata!.annotations?.[KEYS_ANNOTATION]?.split(',')
        assert.ok(promised?.length, `${xrd.metadata!.name} promises keys`)
        const plan = locals.find((c) => (c.spec as CompositionSpec).compositeTypeRef.kind === spec.names.kind)
        assert.ok(plan, `a local plan for ${spec.names.kind}`)
        const resources = (plan.spec as CompositionSpec).pipeline.flatMap((s) => s.input.resources)
        const made: string[] = []
        for (const r of resources) {
          const secretKeys = ((at(r.base, 'spec.forProvider.connectionDetails') ?? []) as Array<{name: string}>).map(
            (d) => d.name,
          )
          for (const d of r.connectionDetails ?? []) {
            made.push(d.name)
            if (d.type === 'FromConnectionSecretKey') {
              assert.ok(
                secretKeys.includes(d.fromConnectionSecretKey!),
                `${plan.metadata!.name}: ${d.name} from Secret key ${d.fromConnectionSecretKey}, which ${r.name} writes`,
              )
            } else {
              assert.equal(d.type, 'FromFieldPath', `${plan.metadata!.name}: ${d.name}`)
              const set =
                at(r.base, d.fromFieldPath!) !== undefined ||
                (r.patches ?? []).some((p) => p.toFieldPath === d.fromFieldPath)
              assert.ok(
                set,
                `${plan.metadata!.name}: ${d.name} from ${d.fromFieldPath}, which ${r.name}'s base or patches set`,
              )
            }
          }
        }

        assert.deepEqual(
          sorted(made),
          sorted(promised),
          `${plan.metadata!.name} makes the keys ${xrd.metadata!.name} promises`,
        )
        assert.equal(new Set(made).size, made.length, `${plan.metadata!.name} makes each key once`)
      }
    })
  })
})
