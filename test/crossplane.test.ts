import assert from 'node:assert/strict'
import {spawn} from 'node:child_process'
import * as path from 'node:path'
import {after, before, describe, it} from 'node:test'
import * as k8s from '@kubernetes/client-node'
import {applyDocuments, readYamlDir, type Manifest} from './ground/cluster.js'
import {CONNECTION_KEYS_ANNOTATION, CONNECTION_SECRET_TYPE, FAIL_ANNOTATION, READY_DELAY_ANNOTATION, startCrossplane, type Crossplane} from './ground/crossplane/controller.js'
import {REPO, SHARED} from './ground/index.js'
import {ground, uniqueName, type TestGround} from './helpers/ground.js'

const XP = 'apiextensions.crossplane.io'
const GROUP = 'addons.kplat.dev'
const VERSION = 'v1alpha1'
const MERGE = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch)
const READY_DELAY_MS = 300

interface Condition {
  type: string
  status: string
  reason: string
  message?: string
  lastTransitionTime?: string
}

interface Obj {
  apiVersion: string
  kind: string
  metadata: {name: string; namespace?: string; uid: string; labels?: Record<string, string>; annotations?: Record<string, string>}
  spec: Record<string, unknown> & {connectionSecretKeys?: string[]}
  status?: {conditions?: Condition[]} & Record<string, unknown>
}

/** The kit's XRDs and Compositions: what a platform team applies (Functions need Crossplane's package manager). */
function kit(): Manifest[] {
  return ['gcs-bucket', 's3-bucket', 'postgres', 'v1/postgres']
    .flatMap((dir) => readYamlDir(path.join(REPO, 'platform', dir)))
    .filter((o) => o.kind === 'CompositeResourceDefinition' || o.kind === 'Composition')
}

async function eventually<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  for (;;) {
    try {
      const value = await check()
      if (value !== undefined) return value
    } catch (error) {
      last = error
    }

    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

const condition = (o: Obj | undefined, type: string) => o?.status?.conditions?.find((c) => c.type === type)
const code = (error: unknown) => (error as {code?: number}).code
const decode = (s: k8s.V1Secret) => Object.fromEntries(Object.entries(s.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString()]))

describe('the Crossplane stand-in, with the sample platform kit', () => {
  let g: TestGround
  let custom: k8s.CustomObjectsApi
  let core: k8s.CoreV1Api
  let crds: k8s.ApiextensionsV1Api
  let crossplane: Crossplane | undefined
  const logs: string[] = []
  const ns = uniqueName('xp')

  const getXrd = async (name: string) => await custom.getClusterCustomObject({group: XP, version: 'v2', plural: 'compositeresourcedefinitions', name}) as Obj
  const get = async (plural: string, name: string, namespace?: string): Promise<Obj | undefined> => {
    try {
      return (namespace
        ? await custom.getNamespacedCustomObject({group: GROUP, version: VERSION, namespace, plural, name})
        : await custom.getClusterCustomObject({group: GROUP, version: VERSION, plural, name})) as Obj
    } catch (error) {
      if (code(error) === 404) return undefined
      throw error
    }
  }

  const create = async (plural: string, body: Record<string, unknown>) =>
    await custom.createNamespacedCustomObject({group: GROUP, version: VERSION, namespace: ns, plural, body}) as Obj
  const secret = async (name: string, namespace = ns): Promise<k8s.V1Secret | undefined> => {
    try {
      return await core.readNamespacedSecret({name, namespace})
    } catch (error) {
      if (code(error) === 404) return undefined
      throw error
    }
  }

  const ready = (plural: string, name: string, namespace: string | undefined = ns) => eventually(`${plural} ${name} Ready`, async () => {
    const o = await get(plural, name, namespace)
    return condition(o, 'Ready')?.status === 'True' ? o : undefined
  })

  before(async () => {
    g = await ground()
    const kc = g.admin()
    custom = kc.makeApiClient(k8s.CustomObjectsApi)
    core = kc.makeApiClient(k8s.CoreV1Api)
    crds = kc.makeApiClient(k8s.ApiextensionsV1Api)
    crossplane = await startCrossplane(kc, {readyDelayMs: READY_DELAY_MS, log: (line) => logs.push(line)})
    await applyDocuments(kc, kit())
    await core.createNamespace({body: {metadata: {name: ns}}})
  })

  after(async () => {
    await crossplane?.stop()
    await core?.deleteNamespace({name: ns}).catch(() => undefined)
  })

  it('turns the kit\'s XRDs into XR and claim CRDs, and marks the XRDs Established and Offered', {timeout: 60_000}, async () => {
    for (const [plural, kind] of [['gcsbuckets', 'GCSBucket'], ['s3buckets', 'S3Bucket'], ['postgresdatabases', 'PostgresDatabase']]) {
      const name = `${plural}.${GROUP}`
      const xrd = await eventually(`XRD ${name} Established`, async () => {
        const x = await getXrd(name)
        return condition(x, 'Established')?.status === 'True' ? x : undefined
      })
      assert.equal(condition(xrd, 'Established')!.reason, 'WatchingCompositeResource')
      assert.equal(condition(xrd, 'Offered'), undefined, 'a v2 XRD offers no claim')
      assert.deepEqual(xrd.status!.controllers, {compositeResourceType: {apiVersion: `${GROUP}/${VERSION}`, kind}})
      assert.equal(xrd.metadata.labels?.['kplat.dev/addon'], 'true')
      assert.ok(xrd.metadata.annotations?.['kplat.dev/description'])

      const crd = await crds.readCustomResourceDefinition({name})
      assert.equal(crd.spec.scope, 'Namespaced')
      assert.ok(crd.spec.names.categories?.includes('composite'))
      assert.deepEqual(crd.metadata?.ownerReferences?.map((r) => [r.kind, r.uid, r.controller]), [['CompositeResourceDefinition', xrd.metadata.uid, true]])
      const v = crd.spec.versions.find((x) => x.name === VERSION)!
      assert.ok(v.storage && v.served && v.subresources?.status)
      const spec = v.schema!.openAPIV3Schema!.properties!.spec
      assert.ok(spec.properties!.writeConnectionSecretToRef, 'the XRD\'s own fields')
      assert.deepEqual(Object.keys(spec.properties!.crossplane.properties!).sort(),
        ['compositionRef', 'compositionRevisionRef', 'compositionRevisionSelector', 'compositionSelector', 'compositionUpdatePolicy', 'resourceRefs'])
      const status = v.schema!.openAPIV3Schema!.properties!.status
      assert.equal(status.properties!.conditions.x_kubernetes_list_type, 'map')
      assert.ok(status.properties!.crossplane)
    }

    const legacy = await eventually('legacy XRD Established and Offered', async () => {
      const x = await getXrd(`xpostgresqlinstances.${GROUP}`)
      return condition(x, 'Established')?.status === 'True' && condition(x, 'Offered')?.status === 'True' ? x : undefined
    })
    assert.equal(condition(legacy, 'Offered')!.reason, 'WatchingCompositeResourceClaim')
    const xrCrd = await crds.readCustomResourceDefinition({name: `xpostgresqlinstances.${GROUP}`})
    assert.equal(xrCrd.spec.scope, 'Cluster')
    const xrSpec = xrCrd.spec.versions[0].schema!.openAPIV3Schema!.properties!.spec.properties!
    assert.ok(xrSpec.claimRef && xrSpec.compositionRef && xrSpec.parameters && !xrSpec.crossplane, 'a LegacyCluster XR keeps its machinery directly under spec')
    assert.deepEqual(xrSpec.writeConnectionSecretToRef.required, ['name', 'namespace'])
    const claimCrd = await crds.readCustomResourceDefinition({name: `postgresqlinstances.${GROUP}`})
    assert.equal(claimCrd.spec.scope, 'Namespaced')
    assert.equal(claimCrd.spec.names.kind, 'PostgreSQLInstance')
    assert.ok(claimCrd.spec.names.categories?.includes('claim'))
    const claimSpec = claimCrd.spec.versions[0].schema!.openAPIV3Schema!.properties!.spec.properties!
    assert.ok(claimSpec.resourceRef && claimSpec.writeConnectionSecretToRef && claimSpec.compositeDeletePolicy && claimSpec.parameters)

    // The apiserver now validates instances against the merged schema.
    await eventually('GCSBucket served', async () => (await custom.listNamespacedCustomObject({group: GROUP, version: VERSION, namespace: ns, plural: 'gcsbuckets'})) ? true : undefined)
    await assert.rejects(create('gcsbuckets', {apiVersion: `${GROUP}/${VERSION}`, kind: 'GCSBucket', metadata: {name: 'invalid'}, spec: {storageClass: 'PLATINUM'}}),
      (error: unknown) => code(error) === 422 && /storageClass/.test(String((error as {body?: unknown}).body)))
  })

  it('the kit passes the upstream CRDs\' validation, CEL rules included (checked against a faithful copy of them)', {timeout: 60_000}, async () => {
    // The copy lives in a group of its own, so that its rules are exactly upstream's.
    const group = `${uniqueName('xpcheck')}.ground.kplat.dev`
    const upstream = readYamlDir(path.join(SHARED, 'crds', 'crossplane')).filter((c) => ['CompositeResourceDefinition', 'Composition'].includes((c.spec as {names: {kind: string}}).names.kind))
    const copies = upstream.map((c) => {
      const spec = c.spec as {group: string; names: {plural: string}}
      return {...c, metadata: {name: `${spec.names.plural}.${group}`}, spec: {...spec, group}}
    })
    const crdRes = {group: 'apiextensions.k8s.io', version: 'v1', plural: 'customresourcedefinitions'}
    for (const body of copies) await custom.createClusterCustomObject({...crdRes, body})
    try {
      for (const c of copies) {
        await eventually(`CRD ${c.metadata.name} Established`, async () => {
          const live = await crds.readCustomResourceDefinition({name: c.metadata.name})
          return live.status?.conditions?.some((s) => s.type === 'Established' && s.status === 'True') ? true : undefined
        })
      }

      const dryRun = async (o: Manifest) => {
        const [, version] = o.apiVersion!.split('/')
        const plural = o.kind === 'Composition' ? 'compositions' : 'compositeresourcedefinitions'
        await eventually(`${plural}.${group} served`, async () => (await custom.listClusterCustomObject({group, version, plural})) ? true : undefined)
        await custom.createClusterCustomObject({group, version, plural, body: {...o, apiVersion: `${group}/${version}`}, dryRun: 'All'})
      }

      const docs = kit()
      assert.deepEqual(docs.map((o) => `${o.kind}/${o.apiVersion!.split('/')[1]}`).sort(), [
        'CompositeResourceDefinition/v1', ...Array(3).fill('CompositeResourceDefinition/v2'), ...Array(4).fill('Composition/v1')])
      for (const o of docs) await dryRun(o).catch((error: unknown) => assert.fail(`${o.kind} ${o.metadata!.name}: ${String((error as {body?: unknown}).body ?? error)}`))

      // The copy does enforce upstream's rules: a v2 XRD may not declare connection secret keys.
      const bad = structuredClone(docs.find((o) => o.metadata!.name === `gcsbuckets.${GROUP}`)!) as Manifest & {spec: Record<string, unknown>}
      bad.spec.connectionSecretKeys = ['GCS_BUCKET']
      await assert.rejects(dryRun(bad), (error: unknown) => /XR connection secrets aren't supported/.test(String((error as {body?: unknown}).body)))
    } finally {
      for (const c of copies) await crds.deleteCustomResourceDefinition({name: c.metadata.name}).catch(() => undefined)
    }
  })

  it('makes and removes the CRDs of a new XRD: Namespaced by default in v2, cluster-scoped when asked', {timeout: 60_000}, async () => {
    const group = `${uniqueName('t')}.ground.kplat.dev`
    const xrd = (plural: string, kind: string, scope?: string) => ({
      apiVersion: `${XP}/v2`, kind: 'CompositeResourceDefinition', metadata: {name: `${plural}.${group}`},
      spec: {group, names: {kind, plural}, ...(scope ? {scope} : {}), versions: [{name: 'v1', served: true, referenceable: true,
        schema: {openAPIV3Schema: {type: 'object', properties: {spec: {type: 'object', properties: {size: {type: 'integer'}}}}}}}]},
    })
    const plain = xrd('widgets', 'Widget')
    const cluster = xrd('gadgets', 'Gadget', 'Cluster')
    for (const body of [plain, cluster]) await custom.createClusterCustomObject({group: XP, version: 'v2', plural: 'compositeresourcedefinitions', body})
    for (const [x, scope] of [[plain, 'Namespaced'], [cluster, 'Cluster']] as const) {
      const crd = await eventually(`CRD ${x.metadata.name}`, async () => {
        const c = await crds.readCustomResourceDefinition({name: x.metadata.name})
        return c.status?.conditions?.some((s) => s.type === 'Established' && s.status === 'True') ? c : undefined
      })
      assert.equal(crd.spec.scope, scope)
      await eventually(`XRD ${x.metadata.name} Established`, async () => condition(await getXrd(x.metadata.name), 'Established')?.status === 'True' ? true : undefined)
    }

    for (const x of [plain, cluster]) await custom.deleteClusterCustomObject({group: XP, version: 'v2', plural: 'compositeresourcedefinitions', name: x.metadata.name})
    for (const x of [plain, cluster]) {
      await eventually(`CRD ${x.metadata.name} collected`, async () => {
        try {
          await crds.readCustomResourceDefinition({name: x.metadata.name})
          return undefined
        } catch (error) {
          return code(error) === 404 ? true : undefined
        }
      }, 30_000)
    }
  })

  it('brings a v2 namespaced XR to Synced and Ready, with a connection Secret of exactly the declared keys', {timeout: 60_000}, async () => {
    const xrd = await getXrd(`gcsbuckets.${GROUP}`)
    const declared = xrd.metadata.annotations![CONNECTION_KEYS_ANNOTATION].split(',')
    const xr = await create('gcsbuckets', {apiVersion: `${GROUP}/${VERSION}`, kind: 'GCSBucket', metadata: {name: 'uploads'},
      spec: {location: 'EU', writeConnectionSecretToRef: {name: 'uploads-env'}}})

    const live = await ready('gcsbuckets', 'uploads')
    assert.deepEqual([condition(live, 'Synced')?.status, condition(live, 'Synced')?.reason], ['True', 'ReconcileSuccess'])
    assert.equal(condition(live, 'Ready')!.reason, 'Available')
    assert.ok(Date.parse(condition(live, 'Ready')!.lastTransitionTime!) > 0)
    assert.equal((live!.spec.crossplane as {compositionRef?: {name: string}}).compositionRef?.name, 'gcsbuckets-gcp')

    const s = await eventually('Secret uploads-env', () => secret('uploads-env'))
    assert.deepEqual(Object.keys(s.data ?? {}).sort(), [...declared].sort())
    assert.equal(s.type, CONNECTION_SECRET_TYPE)
    assert.deepEqual(s.metadata?.ownerReferences?.map((r) => [r.kind, r.name, r.uid, r.controller]), [['GCSBucket', 'uploads', xr.metadata.uid, true]])
    assert.equal(s.metadata?.labels?.['crossplane.io/composite'], 'uploads')
    const values = decode(s)
    assert.equal(JSON.parse(values.GOOGLE_CREDENTIALS).type, 'service_account')
    assert.ok(values.GCS_BUCKET.includes('uploads') && values.GOOGLE_CLOUD_PROJECT.length > 0)
  })

  it('names a v2 XR\'s Secret <name>-connection when the XR names none, as function-patch-and-transform does', {timeout: 60_000}, async () => {
    await create('postgresdatabases', {apiVersion: `${GROUP}/${VERSION}`, kind: 'PostgresDatabase', metadata: {name: 'db'}, spec: {}})
    await ready('postgresdatabases', 'db')
    const s = await eventually('Secret db-connection', () => secret('db-connection'))
    const v = decode(s)
    assert.deepEqual(Object.keys(v).sort(), ['DATABASE_URL', 'PGDATABASE', 'PGHOST', 'PGPASSWORD', 'PGPORT', 'PGUSER'])
    assert.equal(v.DATABASE_URL, `postgresql://${v.PGUSER}:${v.PGPASSWORD}@${v.PGHOST}:${v.PGPORT}/${v.PGDATABASE}`)
  })

  it('brings a v1 claim to Synced and Ready through its XR, with its Secret in the claim\'s namespace; deleting the claim takes both', {timeout: 60_000}, async () => {
    const xrd = await getXrd(`xpostgresqlinstances.${GROUP}`)
    const claim = await create('postgresqlinstances', {apiVersion: `${GROUP}/${VERSION}`, kind: 'PostgreSQLInstance', metadata: {name: 'legacy-db'},
      spec: {parameters: {storageGB: 50}, writeConnectionSecretToRef: {name: 'legacy-db-env'}}})

    const live = await ready('postgresqlinstances', 'legacy-db')
    assert.equal(condition(live, 'Synced')!.status, 'True')
    assert.equal(condition(live, 'Ready')!.reason, 'Available')
    assert.ok((live!.status!.connectionDetails as {lastPublishedTime?: string}).lastPublishedTime)
    const ref = live!.spec.resourceRef as {apiVersion: string; kind: string; name: string}
    assert.equal(ref.kind, 'XPostgreSQLInstance')
    const xr = await get('xpostgresqlinstances', ref.name)
    assert.ok(xr, 'the claim\'s XR exists')
    assert.deepEqual(xr.spec.claimRef, {apiVersion: `${GROUP}/${VERSION}`, kind: 'PostgreSQLInstance', namespace: ns, name: 'legacy-db'})
    assert.deepEqual(xr.spec.parameters, {storageGB: 50, version: '17', databaseName: 'app'})
    assert.equal(xr.metadata.labels?.['crossplane.io/claim-namespace'], ns)
    assert.equal(condition(xr, 'Ready')?.status, 'True')

    const s = await eventually('Secret legacy-db-env', () => secret('legacy-db-env'))
    assert.deepEqual(Object.keys(s.data ?? {}).sort(), [...xrd.spec.connectionSecretKeys!].sort())
    assert.deepEqual(s.metadata?.ownerReferences?.map((r) => [r.kind, r.uid, r.controller]), [['PostgreSQLInstance', claim.metadata.uid, true]])

    await custom.deleteNamespacedCustomObject({group: GROUP, version: VERSION, namespace: ns, plural: 'postgresqlinstances', name: 'legacy-db'})
    await eventually('the claim\'s XR deleted', async () => (await get('xpostgresqlinstances', ref.name)) ? undefined : true)
    await eventually('the claim\'s Secret collected', async () => (await secret('legacy-db-env')) ? undefined : true, 30_000)
  })

  it('fails an XR that carries the scripted failure: Synced=False with its message, no Secret; it recovers without it', {timeout: 60_000}, async () => {
    const text = 'cannot create Bucket: BucketAlreadyExists (scripted)'
    await create('s3buckets', {apiVersion: `${GROUP}/${VERSION}`, kind: 'S3Bucket', metadata: {name: 'doomed', annotations: {[FAIL_ANNOTATION]: text}},
      spec: {writeConnectionSecretToRef: {name: 'doomed-env'}}})
    const failed = await eventually('S3Bucket doomed Synced=False', async () => {
      const o = await get('s3buckets', 'doomed', ns)
      return condition(o, 'Synced')?.status === 'False' ? o : undefined
    })
    assert.equal(condition(failed, 'Synced')!.reason, 'ReconcileError')
    assert.equal(condition(failed, 'Synced')!.message, text)
    assert.equal(condition(failed, 'Ready')!.status, 'False')
    await new Promise((r) => setTimeout(r, READY_DELAY_MS * 3))
    assert.equal(condition(await get('s3buckets', 'doomed', ns), 'Ready')!.status, 'False')
    assert.equal(await secret('doomed-env'), undefined)

    await custom.patchNamespacedCustomObject({group: GROUP, version: VERSION, namespace: ns, plural: 's3buckets', name: 'doomed',
      body: {metadata: {annotations: {[FAIL_ANNOTATION]: null}}}}, MERGE)
    const healed = await ready('s3buckets', 'doomed')
    assert.equal(condition(healed, 'Synced')!.status, 'True')
    assert.deepEqual(Object.keys((await eventually('Secret doomed-env', () => secret('doomed-env'))).data ?? {}).sort(),
      ['AWS_ACCESS_KEY_ID', 'AWS_REGION', 'AWS_SECRET_ACCESS_KEY', 'S3_BUCKET'])
  })

  it('fails a claim that carries the scripted failure the same way', {timeout: 60_000}, async () => {
    const text = 'cannot create DB instance: quota exceeded (scripted)'
    await create('postgresqlinstances', {apiVersion: `${GROUP}/${VERSION}`, kind: 'PostgreSQLInstance', metadata: {name: 'doomed-db', annotations: {[FAIL_ANNOTATION]: text}},
      spec: {parameters: {}, writeConnectionSecretToRef: {name: 'doomed-db-env'}}})
    const failed = await eventually('claim Synced=False', async () => {
      const o = await get('postgresqlinstances', 'doomed-db', ns)
      return condition(o, 'Synced')?.status === 'False' ? o : undefined
    })
    assert.equal(condition(failed, 'Synced')!.reason, 'ReconcileError')
    assert.equal(condition(failed, 'Synced')!.message, text)
    assert.equal(condition(failed, 'Ready')!.status, 'False')
    await new Promise((r) => setTimeout(r, READY_DELAY_MS * 3))
    assert.equal(await secret('doomed-db-env'), undefined)
  })

  it('keeps an instance Creating for its scripted ready delay, then Ready', {timeout: 60_000}, async () => {
    const started = Date.now()
    await create('s3buckets', {apiVersion: `${GROUP}/${VERSION}`, kind: 'S3Bucket', metadata: {name: 'slow', annotations: {[READY_DELAY_ANNOTATION]: '2000'}}, spec: {}})
    const creating = await eventually('S3Bucket slow with a Ready condition', async () => {
      const o = await get('s3buckets', 'slow', ns)
      return condition(o, 'Ready') ? o : undefined
    })
    assert.deepEqual([condition(creating, 'Synced')?.status, condition(creating, 'Ready')!.status, condition(creating, 'Ready')!.reason], ['True', 'False', 'Creating'])
    assert.match(condition(creating, 'Ready')!.message ?? '', /^Unready resources: bucket, encryption, /)
    assert.equal(await secret('slow-connection'), undefined)
    await ready('s3buckets', 'slow')
    assert.ok(Date.now() - started >= 1900, 'Ready only after the scripted delay')
    assert.ok(await eventually('Secret slow-connection', () => secret('slow-connection')))
  })

  it('deleting an XR deletes its connection Secret', {timeout: 60_000}, async () => {
    await create('s3buckets', {apiVersion: `${GROUP}/${VERSION}`, kind: 'S3Bucket', metadata: {name: 'shortlived'}, spec: {writeConnectionSecretToRef: {name: 'shortlived-env'}}})
    await ready('s3buckets', 'shortlived')
    await eventually('Secret shortlived-env', () => secret('shortlived-env'))
    await custom.deleteNamespacedCustomObject({group: GROUP, version: VERSION, namespace: ns, plural: 's3buckets', name: 'shortlived'})
    await eventually('Secret shortlived-env collected', async () => (await secret('shortlived-env')) ? undefined : true, 30_000)
  })

  it('will not take over a Secret that another owner controls', {timeout: 60_000}, async () => {
    await core.createNamespacedSecret({namespace: ns, body: {metadata: {name: 'taken'}, stringData: {mine: 'yes'}}})
    await create('s3buckets', {apiVersion: `${GROUP}/${VERSION}`, kind: 'S3Bucket', metadata: {name: 'squatter'}, spec: {writeConnectionSecretToRef: {name: 'taken'}}})
    const failed = await eventually('S3Bucket squatter Synced=False', async () => {
      const o = await get('s3buckets', 'squatter', ns)
      return condition(o, 'Synced')?.status === 'False' ? o : undefined
    })
    assert.match(condition(failed, 'Synced')!.message!, /existing object is not controlled by/)
    assert.deepEqual(decode((await secret('taken'))!), {mine: 'yes'})
  })
})

describe('test/ground/crossplane/main.ts', () => {
  it('runs as a process: serves the kit\'s kinds, and exits 0 on SIGTERM', {timeout: 60_000}, async () => {
    const g = await ground()
    await applyDocuments(g.admin(), kit())
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(REPO, 'test/ground/crossplane/main.ts'), '--kubeconfig', g.kubeconfig], {stdio: ['ignore', 'ignore', 'pipe']})
    let stderr = ''
    child.stderr!.on('data', (d) => (stderr += d))
    const exited = new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)))
    try {
      await eventually('the stand-in ready', async () => (/ ready\n/.test(stderr) ? true : undefined), 30_000)
      for (const kind of ['GCSBucket', 'S3Bucket', 'PostgresDatabase', 'XPostgreSQLInstance \\(xpostgresqlinstances\\S+\\) and PostgreSQLInstance']) {
        await eventually(`the stand-in watching ${kind}`, async () => (new RegExp(`watching ${kind}`).test(stderr) ? true : undefined))
      }
    } finally {
      child.kill('SIGTERM')
    }

    const exitCode = await exited
    assert.equal(exitCode, 0, stderr)
    assert.match(stderr, /SIGTERM: stopping/)
  })
})
