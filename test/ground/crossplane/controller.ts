// The proving ground's Crossplane: plays what Crossplane's controllers do to the objects kplat
// reads. It turns CompositeResourceDefinitions into the XR (and claim) CRDs, marks the XRDs
// Established/Offered, and brings every XR and claim to Synced+Ready with a connection Secret
// of fake values, or to Synced=False when the instance asks for a scripted failure.
// Nothing is composed: no managed resources, no functions run.
import {createHash} from 'node:crypto'
import * as k8s from '@kubernetes/client-node'

/** An instance with this annotation fails: Synced=False (ReconcileError) with its text as message. */
export const FAIL_ANNOTATION = 'ground.kplat.dev/fail'
/** An instance with this annotation stays Ready=False (Creating) for that many milliseconds. */
export const READY_DELAY_ANNOTATION = 'ground.kplat.dev/ready-delay-ms'
/**
 * The keys of an XR's connection Secret, comma-separated, on the XRD. Crossplane v2 XRDs may
 * not declare spec.connectionSecretKeys (only LegacyCluster XRs have XR connection secrets),
 * so the kit declares them here; v1 XRDs use spec.connectionSecretKeys.
 */
export const CONNECTION_KEYS_ANNOTATION = 'kplat.dev/connection-secret-keys'
/** The Secret type Crossplane gives connection secrets. */
export const CONNECTION_SECRET_TYPE = 'connection.crossplane.io/v1alpha1'

export interface CrossplaneOptions {
  /** How long an instance stays Ready=False (Creating) before it becomes Ready. Default 300 ms. */
  readyDelayMs?: number
  /** Where log lines go; default stderr. */
  log?: (line: string) => void
}

export interface Crossplane {
  stop(): Promise<void>
}

const XP = 'apiextensions.crossplane.io'
const MANAGER = 'crossplane'
const MERGE = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch)
const APPLY = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.ServerSideApply)
const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration'

type Json = {[key: string]: unknown}

interface OwnerRef {
  apiVersion: string
  kind: string
  name: string
  uid: string
  controller?: boolean
  blockOwnerDeletion?: boolean
}

interface Meta {
  name: string
  namespace?: string
  uid: string
  generation?: number
  resourceVersion?: string
  labels?: Record<string, string>
  annotations?: Record<string, string>
  deletionTimestamp?: string
  ownerReferences?: OwnerRef[]
  managedFields?: Array<{manager?: string; apiVersion?: string}>
}

interface Obj {
  apiVersion: string
  kind: string
  metadata: Meta
  spec?: Json
  status?: Json
}

interface Condition {
  type: string
  status: 'True' | 'False' | 'Unknown'
  reason: string
  message?: string
  lastTransitionTime?: string
  observedGeneration?: number
}

interface Names {
  kind: string
  plural: string
  singular?: string
  listKind?: string
  shortNames?: string[]
  categories?: string[]
}

interface XrdVersion {
  name: string
  served: boolean
  referenceable: boolean
  deprecated?: boolean
  deprecationWarning?: string
  additionalPrinterColumns?: Json[]
  schema?: {openAPIV3Schema?: Schema}
}

interface XrdSpec {
  group: string
  names: Names
  claimNames?: Names
  scope?: Scope
  versions: XrdVersion[]
  connectionSecretKeys?: string[]
  conversion?: Json
  metadata?: {labels?: Record<string, string>; annotations?: Record<string, string>}
  defaultCompositionRef?: {name: string}
  enforcedCompositionRef?: {name: string}
  defaultCompositionUpdatePolicy?: string
  defaultCompositeDeletePolicy?: string
}

type Xrd = Obj & {spec: XrdSpec}

interface Schema {
  type?: string
  description?: string
  properties?: Record<string, Schema>
  required?: string[]
  maxLength?: number
  [key: string]: unknown
}

/** One served kind of an XRD: its XR or its claim. */
interface Kind {
  role: 'xr' | 'claim'
  xrd: string
  group: string
  version: string
  plural: string
  kind: string
  namespaced: boolean
  /** A LegacyCluster XR (v1 shape: machinery directly under spec, claims, connection secret). */
  legacy: boolean
}

interface Served {
  xr: Kind
  claim?: Kind
  watchers: Watcher[]
}

/** Starts the stand-in; it runs until stop(). */
export async function startCrossplane(kc: k8s.KubeConfig, opts: CrossplaneOptions = {}): Promise<Crossplane> {
  const controller = new Controller(kc, opts)
  await controller.start()
  return {stop: () => controller.stop()}
}

class Controller {
  readonly custom: k8s.CustomObjectsApi
  readonly core: k8s.CoreV1Api
  readonly watch: k8s.Watch
  readonly log: (line: string) => void
  readonly queue: Queue
  private readonly delay: number
  private readonly xrds = new Map<string, Xrd>()
  private readonly served = new Map<string, Served>()
  private readonly firstSeen = new Map<string, number>()
  private readonly watchers: Watcher[] = []
  stopped = false

  constructor(kc: k8s.KubeConfig, opts: CrossplaneOptions) {
    this.custom = kc.makeApiClient(k8s.CustomObjectsApi)
    this.core = kc.makeApiClient(k8s.CoreV1Api)
    this.watch = new k8s.Watch(kc)
    this.delay = opts.readyDelayMs ?? 300
    this.log = opts.log ?? ((line) => process.stderr.write(`[crossplane] ${line}\n`))
    this.queue = new Queue(this.log)
  }

  async start(): Promise<void> {
    const xrdWatch = new Watcher(this, {group: XP, version: 'v2', plural: 'compositeresourcedefinitions'}, (type, o) => {
      const name = o.metadata.name
      if (type === 'DELETED') {
        this.xrds.delete(name)
        this.unserve(name)
        return
      }

      this.xrds.set(name, o as Xrd)
      this.queue.add(`xrd/${name}`, () => this.reconcileXrd(name))
    })
    // A generated CRD turning Established wakes its XRD.
    const crdWatch = new Watcher(this, {group: 'apiextensions.k8s.io', version: 'v1', plural: 'customresourcedefinitions'}, (type, o) => {
      const owner = o.metadata.ownerReferences?.find((r) => r.controller && r.kind === 'CompositeResourceDefinition' && r.apiVersion.startsWith(`${XP}/`))
      if (owner && type !== 'DELETED') this.queue.add(`xrd/${owner.name}`, () => this.reconcileXrd(owner.name))
    })
    this.watchers.push(xrdWatch, crdWatch)
    await Promise.all([xrdWatch.start(), crdWatch.start()])
    this.log(`started (ready delay ${this.delay} ms)`)
  }

  async stop(): Promise<void> {
    this.stopped = true
    for (const w of this.watchers) w.stop()
    for (const s of this.served.values()) for (const w of s.watchers) w.stop()
    await this.queue.stop()
    for (const s of this.served.values()) for (const w of s.watchers) w.stop()
    this.log('stopped')
  }

  // ---- XRDs ---------------------------------------------------------------------------------

  private async reconcileXrd(name: string): Promise<void> {
    const xrd = await this.get<Xrd>({group: XP, version: 'v2', plural: 'compositeresourcedefinitions'}, name)
    if (!xrd || xrd.metadata.deletionTimestamp) {
      // The generated CRDs are owned by the XRD: the garbage collector removes them.
      this.unserve(name)
      return
    }

    this.xrds.set(name, xrd)
    const legacy = scopeOf(xrd) === 'LegacyCluster'
    const crds = [xrCrd(xrd)]
    if (legacy && xrd.spec.claimNames) crds.push(claimCrd(xrd))
    let established = true
    for (const crd of crds) {
      let live: k8s.V1CustomResourceDefinition
      try {
        // Sent as plain JSON: client-node's typed serializer would drop `default`, `enum` and
        // the x-kubernetes-* keys of the schema (it knows them as _default, _enum, x_kubernetes_*).
        live = await this.custom.patchClusterCustomObject({group: 'apiextensions.k8s.io', version: 'v1', plural: 'customresourcedefinitions',
          name: crd.metadata.name, body: crd, fieldManager: MANAGER, force: true}, APPLY) as k8s.V1CustomResourceDefinition
      } catch (error) {
        // Crossplane records an event and leaves the XRD without conditions.
        this.log(`XRD ${name}: cannot apply CRD ${crd.metadata.name}: ${message(error)}`)
        return
      }

      established &&= live.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True') ?? false
    }

    if (!established) return // the CRD watch wakes us when it is
    this.serve(xrd)

    const ref = referenceable(xrd)
    const wanted: Condition[] = [{type: 'Established', status: 'True', reason: 'WatchingCompositeResource'}]
    const controllers: Json = {compositeResourceType: {apiVersion: `${xrd.spec.group}/${ref.name}`, kind: xrd.spec.names.kind}}
    if (legacy && xrd.spec.claimNames) {
      wanted.push({type: 'Offered', status: 'True', reason: 'WatchingCompositeResourceClaim'})
      controllers.compositeResourceClaimType = {apiVersion: `${xrd.spec.group}/${ref.name}`, kind: xrd.spec.claimNames.kind}
    }

    const current = (xrd.status?.conditions ?? []) as Condition[]
    const conditions = mergeConditions(current, wanted, xrd.metadata.generation)
    if (conditions === current && canonical(xrd.status?.controllers) === canonical(controllers)) return
    // A v1 XRD is written through v1: v2's rules forbid its claimNames and connectionSecretKeys.
    const version = legacy ? 'v1' : 'v2'
    await this.custom.patchClusterCustomObjectStatus({group: XP, version, plural: 'compositeresourcedefinitions', name, body: {status: {conditions, controllers}}, fieldManager: MANAGER}, MERGE)
    this.log(`XRD ${name} Established${wanted.length > 1 ? ' and Offered' : ''}`)
  }

  private serve(xrd: Xrd): void {
    if (this.stopped) return
    const name = xrd.metadata.name
    const xr = kindOf(xrd, 'xr')
    const claim = xrd.spec.claimNames && xr.legacy ? kindOf(xrd, 'claim') : undefined
    const old = this.served.get(name)
    if (old && sameKind(old.xr, xr) && sameKind(old.claim, claim)) return
    this.unserve(name)
    const watchers = [xr, ...(claim ? [claim] : [])].map((kind) => new Watcher(this, kind, (type, o) => this.onInstance(kind, type, o)))
    this.served.set(name, {xr, claim, watchers})
    for (const w of watchers) void w.start()
    this.log(`watching ${[xr, ...(claim ? [claim] : [])].map((k) => `${k.kind} (${k.plural}.${k.group}/${k.version})`).join(' and ')}`)
  }

  private unserve(name: string): void {
    const s = this.served.get(name)
    if (!s) return
    for (const w of s.watchers) w.stop()
    this.served.delete(name)
  }

  // ---- XRs and claims -----------------------------------------------------------------------

  private onInstance(kind: Kind, type: string, o: Obj): void {
    const key = instanceKey(kind, o.metadata.namespace, o.metadata.name)
    if (type === 'DELETED') {
      this.firstSeen.delete(o.metadata.uid)
      // No finalizer: a deleted claim takes its XR along here, the way Crossplane's would.
      const ref = o.spec?.resourceRef as {name?: string} | undefined
      const served = this.served.get(kind.xrd)
      if (kind.role === 'claim' && ref?.name && served) {
        this.queue.add(instanceKey(served.xr, undefined, ref.name), () => this.deleteOrphan(served.xr, ref.name!))
      }
    } else {
      this.queue.add(key, () => this.reconcileInstance(kind, o.metadata.namespace, o.metadata.name))
    }

    // A claim follows its XR's readiness.
    const claimRef = o.spec?.claimRef as {namespace?: string; name?: string} | undefined
    const claim = this.served.get(kind.xrd)?.claim
    if (kind.role === 'xr' && claim && claimRef?.name && claimRef.namespace) {
      this.queue.add(instanceKey(claim, claimRef.namespace, claimRef.name), () => this.reconcileInstance(claim, claimRef.namespace, claimRef.name!))
    }
  }

  private async deleteOrphan(kind: Kind, name: string): Promise<void> {
    try {
      await this.custom.deleteClusterCustomObject({group: kind.group, version: kind.version, plural: kind.plural, name})
      this.log(`${kind.kind} ${name} deleted with its claim`)
    } catch (error) {
      if (code(error) !== 404) throw error
    }
  }

  private async reconcileInstance(kind: Kind, namespace: string | undefined, name: string): Promise<void> {
    const xrd = this.xrds.get(kind.xrd)
    if (!xrd || !this.served.has(kind.xrd)) return
    const o = await this.get<Obj>(kind, name, namespace)
    if (!o || o.metadata.deletionTimestamp) return
    const what = `${kind.kind} ${namespace ? `${namespace}/` : ''}${name}`

    // A claim's XR outlives a missed claim deletion only until here.
    const claimRef = o.spec?.claimRef as {namespace: string; name: string} | undefined
    const claimKind = this.served.get(kind.xrd)?.claim
    if (kind.role === 'xr' && claimRef && claimKind && !(await this.get<Obj>(claimKind, claimRef.name, claimRef.namespace))) {
      await this.deleteOrphan(kind, name)
      return
    }

    const now = Date.now()
    // The delay runs from when the instance first showed Ready=False (Creating), whoever set it:
    // an earlier run, or another stand-in on the same cluster. A Ready instance stays Ready.
    const readyNow = ((o.status?.conditions ?? []) as Condition[]).find((c) => c.type === 'Ready')
    const since = readyNow?.status === 'True' ? 0 : readyNow?.status === 'False' ? Date.parse(readyNow.lastTransitionTime ?? '') : NaN
    const first = Math.min(this.firstSeen.get(o.metadata.uid) ?? now, Number.isFinite(since) ? since : now)
    this.firstSeen.set(o.metadata.uid, first)
    const scripted = Number(o.metadata.annotations?.[READY_DELAY_ANNOTATION])
    const due = first + (o.metadata.annotations?.[READY_DELAY_ANNOTATION] && scripted >= 0 ? scripted : this.delay)
    const failure = o.metadata.annotations?.[FAIL_ANNOTATION]
    const composition = await this.selectComposition(xrd, o, kind)
    const statusExtra: Json = {}
    let wanted: Condition[]
    let synced: Condition = {type: 'Synced', status: 'True', reason: 'ReconcileSuccess'}
    let xr: Obj | undefined

    try {
      if (kind.role === 'claim') xr = await this.claimComposite(xrd, kind, o, composition)
      await this.syncSpec(kind, o, composition, xr)
    } catch (error) {
      synced = {type: 'Synced', status: 'False', reason: 'ReconcileError', message: message(error)}
    }

    const creating: Condition = kind.role === 'claim'
      ? {type: 'Ready', status: 'False', reason: 'Waiting', message: 'Claim is waiting for composite resource to become Ready'}
      : {type: 'Ready', status: 'False', reason: 'Creating', ...unready(composition)}
    const xrReady = kind.role !== 'claim' || (xr?.status?.conditions as Condition[] | undefined)?.some((c) => c.type === 'Ready' && c.status === 'True')

    if (synced.status === 'False') {
      wanted = [synced, creating]
    } else if (now < due) {
      wanted = [synced, creating]
      this.queue.after(due - now, instanceKey(kind, namespace, name), () => this.reconcileInstance(kind, namespace, name))
    } else if (failure !== undefined) {
      wanted = [{type: 'Synced', status: 'False', reason: 'ReconcileError', message: failure}, creating]
    } else if (!xrReady) {
      wanted = [synced, creating]
    } else {
      try {
        const published = await this.publish(xrd, kind, o, composition)
        if (published && kind.role === 'claim') statusExtra.connectionDetails = {lastPublishedTime: new Date().toISOString()}
        wanted = [synced, {type: 'Ready', status: 'True', reason: 'Available'}]
      } catch (error) {
        wanted = [{type: 'Synced', status: 'False', reason: 'ReconcileError', message: message(error)}, creating]
      }
    }

    // Crossplane requeues a failed reconcile; so does the stand-in, slowly.
    const failed = wanted.find((c) => c.type === 'Synced' && c.status === 'False' && c.message !== failure)
    if (failed) this.queue.after(10_000, instanceKey(kind, namespace, name), () => this.reconcileInstance(kind, namespace, name))
    const current = (o.status?.conditions ?? []) as Condition[]
    const conditions = mergeConditions(current, wanted, o.metadata.generation)
    if (conditions === current) return
    // lastPublishedTime only moves when the conditions do, so an update does not wake us forever.
    const body = {status: {conditions, ...statusExtra}}
    if (namespace) await this.custom.patchNamespacedCustomObjectStatus({group: kind.group, version: kind.version, namespace, plural: kind.plural, name, body, fieldManager: MANAGER}, MERGE)
    else await this.custom.patchClusterCustomObjectStatus({group: kind.group, version: kind.version, plural: kind.plural, name, body, fieldManager: MANAGER}, MERGE)
    const ready = wanted.find((c) => c.type === 'Ready')!
    const sync = wanted.find((c) => c.type === 'Synced')!
    this.log(`${what}: Synced=${sync.status}${sync.message && sync.status === 'False' ? ` (${sync.message})` : ''} Ready=${ready.status} (${ready.reason})`)
  }

  /** The Composition Crossplane would pick for this instance, if one exists. */
  private async selectComposition(xrd: Xrd, o: Obj, kind: Kind): Promise<Obj | undefined> {
    const ref = referenceable(xrd)
    const machinery = (kind.legacy || kind.role === 'claim' ? o.spec : (o.spec?.crossplane as Json | undefined)) ?? {}
    const all = (await this.custom.listClusterCustomObject({group: XP, version: 'v1', plural: 'compositions'}) as {items: Obj[]}).items
      .filter((c) => {
        const t = c.spec?.compositeTypeRef as {apiVersion?: string; kind?: string} | undefined
        return t?.apiVersion === `${xrd.spec.group}/${ref.name}` && t.kind === xrd.spec.names.kind
      })
      .sort((a, b) => a.metadata.name.localeCompare(b.metadata.name))
    const byName = (n?: string) => (n ? all.find((c) => c.metadata.name === n) : undefined)
    if (xrd.spec.enforcedCompositionRef) return byName(xrd.spec.enforcedCompositionRef.name)
    const named = (machinery.compositionRef as {name?: string} | undefined)?.name
    if (named) return byName(named)
    const selector = (machinery.compositionSelector as {matchLabels?: Record<string, string>} | undefined)?.matchLabels
    if (selector) return all.find((c) => Object.entries(selector).every(([k, v]) => c.metadata.labels?.[k] === v))
    return byName(xrd.spec.defaultCompositionRef?.name) ?? all[0]
  }

  /** Writes back what Crossplane writes into spec: the chosen composition and the references. */
  private async syncSpec(kind: Kind, o: Obj, composition: Obj | undefined, xr: Obj | undefined): Promise<void> {
    const patch: Json = {}
    const legacyShape = kind.legacy || kind.role === 'claim'
    const machinery = (legacyShape ? o.spec : (o.spec?.crossplane as Json | undefined)) ?? {}
    if (composition && !(machinery.compositionRef as {name?: string} | undefined)?.name) patch.compositionRef = {name: composition.metadata.name}
    if (kind.role === 'claim' && xr && (o.spec?.resourceRef as {name?: string} | undefined)?.name !== xr.metadata.name) {
      patch.resourceRef = {apiVersion: xr.apiVersion, kind: xr.kind, name: xr.metadata.name}
    }

    if (Object.keys(patch).length === 0) return
    const body = {spec: legacyShape ? patch : {crossplane: patch}}
    const {group, version, plural} = kind
    const name = o.metadata.name
    if (o.metadata.namespace) await this.custom.patchNamespacedCustomObject({group, version, namespace: o.metadata.namespace, plural, name, body, fieldManager: MANAGER}, MERGE)
    else await this.custom.patchClusterCustomObject({group, version, plural, name, body, fieldManager: MANAGER}, MERGE)
  }

  /** The XR behind a claim: created on first sight, with the claim's spec, the way Crossplane does. */
  private async claimComposite(xrd: Xrd, claimKind: Kind, claim: Obj, composition: Obj | undefined): Promise<Obj> {
    const xrKind = this.served.get(xrd.metadata.name)!.xr
    const existing = (claim.spec?.resourceRef as {name?: string} | undefined)?.name
    // Crossplane uses generateName; a name derived from the claim's uid keeps a second
    // stand-in (or a retry) from making a twin.
    const name = existing ?? `${claim.metadata.name.slice(0, 57)}-${hash(claim.metadata.uid).slice(0, 5)}`
    let xr = await this.get<Obj>(xrKind, name)
    if (!xr) {
      const {resourceRef: _r, writeConnectionSecretToRef: _w, compositeDeletePolicy: _d, ...spec} = claim.spec ?? {}
      const secretNamespace = composition?.spec?.writeConnectionSecretsToNamespace as string | undefined
      const annotations = {...claim.metadata.annotations}
      delete annotations[LAST_APPLIED]
      const body = {
        apiVersion: `${xrKind.group}/${xrKind.version}`, kind: xrKind.kind,
        metadata: {
          name,
          labels: {...claim.metadata.labels, 'crossplane.io/claim-name': claim.metadata.name, 'crossplane.io/claim-namespace': claim.metadata.namespace!, 'crossplane.io/composite': name},
          annotations,
        },
        spec: {
          ...spec,
          claimRef: {apiVersion: claim.apiVersion, kind: claim.kind, namespace: claim.metadata.namespace, name: claim.metadata.name},
          ...(secretNamespace ? {writeConnectionSecretToRef: {name: claim.metadata.uid, namespace: secretNamespace}} : {}),
        },
      }
      try {
        xr = await this.custom.createClusterCustomObject({group: xrKind.group, version: xrKind.version, plural: xrKind.plural, body, fieldManager: MANAGER}) as Obj
        this.log(`${claimKind.kind} ${claim.metadata.namespace}/${claim.metadata.name}: created ${xrKind.kind} ${name}`)
      } catch (error) {
        if (code(error) !== 409) throw new Error(`cannot create composite resource: ${message(error)}`)
        xr = await this.get<Obj>(xrKind, name)
        if (!xr) throw new Error(`cannot create composite resource ${name}`, {cause: error})
      }
    }

    // The claim's scripted failure follows it to the XR.
    const want = claim.metadata.annotations?.[FAIL_ANNOTATION]
    if (xr.metadata.annotations?.[FAIL_ANNOTATION] !== want) {
      xr = await this.custom.patchClusterCustomObject({group: xrKind.group, version: xrKind.version, plural: xrKind.plural, name: xr.metadata.name,
        body: {metadata: {annotations: {[FAIL_ANNOTATION]: want ?? null}}}, fieldManager: MANAGER}, MERGE) as Obj
    }

    return xr
  }

  private secretRef(kind: Kind, o: Obj): {name: string; namespace: string} | undefined {
    const ref = o.spec?.writeConnectionSecretToRef as {name?: string; namespace?: string} | undefined
    if (kind.role === 'claim') return ref?.name ? {name: ref.name, namespace: o.metadata.namespace!} : undefined
    if (kind.legacy) return ref?.name && ref.namespace ? {name: ref.name, namespace: ref.namespace} : undefined
    // v2: function-patch-and-transform names it from the XR's spec.writeConnectionSecretToRef
    // (which the XRD author adds to the schema), else <xr name>-connection, in the XR's namespace.
    const namespace = ref?.namespace ?? o.metadata.namespace
    return namespace ? {name: ref?.name ?? `${o.metadata.name}-connection`, namespace} : undefined
  }

  /** Writes the connection Secret; false when there is none to write. */
  private async publish(xrd: Xrd, kind: Kind, o: Obj, composition: Obj | undefined): Promise<boolean> {
    const ref = this.secretRef(kind, o)
    const keys = connectionKeys(xrd, kind, composition)
    if (!ref || keys.length === 0) return false
    if (kind.legacy && kind.role === 'xr') {
      try {
        await this.core.readNamespace({name: ref.namespace})
      } catch (error) {
        if (code(error) !== 404) throw error
        return false // Crossplane's own namespace, absent from this ground: nobody reads it
      }
    }

    const owner: OwnerRef = {apiVersion: o.apiVersion, kind: o.kind, name: o.metadata.name, uid: o.metadata.uid, controller: true, blockOwnerDeletion: true}
    const labels: Record<string, string> = kind.role === 'claim'
      ? {'crossplane.io/claim-name': o.metadata.name, 'crossplane.io/claim-namespace': o.metadata.namespace!}
      : {'crossplane.io/composite': o.metadata.name}
    const data = Object.fromEntries(Object.entries(fakeConnectionDetails(keys, o)).map(([k, v]) => [k, Buffer.from(v).toString('base64')]))

    let live: k8s.V1Secret | undefined
    try {
      live = await this.core.readNamespacedSecret({name: ref.name, namespace: ref.namespace})
    } catch (error) {
      if (code(error) !== 404) throw error
    }

    if (!live) {
      try {
        await this.core.createNamespacedSecret({namespace: ref.namespace, fieldManager: MANAGER, body: {
          metadata: {name: ref.name, namespace: ref.namespace, labels, ownerReferences: [owner]}, type: CONNECTION_SECRET_TYPE, data,
        }})
        this.log(`${o.kind} ${o.metadata.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata.name}: wrote Secret ${ref.namespace}/${ref.name} (${keys.join(', ')})`)
        return true
      } catch (error) {
        if (code(error) !== 409) throw error
        live = await this.core.readNamespacedSecret({name: ref.name, namespace: ref.namespace}) // written meanwhile, by another hand
      }
    }

    const controller = live.metadata?.ownerReferences?.find((r) => r.controller)
    if (controller?.uid !== o.metadata.uid) {
      throw new Error(`cannot apply connection Secret ${ref.namespace}/${ref.name}: existing object is not controlled by UID "${o.metadata.uid}"`)
    }

    if (JSON.stringify(sorted(live.data ?? {})) === JSON.stringify(sorted(data))) return true
    await this.core.replaceNamespacedSecret({name: ref.name, namespace: ref.namespace, fieldManager: MANAGER, body: {...live, data}})
    return true
  }

  // ---- helpers ------------------------------------------------------------------------------

  async get<T extends Obj>(r: {group: string; version: string; plural: string}, name: string, namespace?: string): Promise<T | undefined> {
    try {
      const o = namespace
        ? await this.custom.getNamespacedCustomObject({group: r.group, version: r.version, namespace, plural: r.plural, name})
        : await this.custom.getClusterCustomObject({group: r.group, version: r.version, plural: r.plural, name})
      return o as T
    } catch (error) {
      if (code(error) === 404) return undefined
      throw error
    }
  }
}

// ---- CRDs for an XRD (what Crossplane's definition controller renders) ------------------------

function referenceable(xrd: Xrd): XrdVersion {
  return xrd.spec.versions.find((v) => v.referenceable) ?? xrd.spec.versions[0]
}

type Scope = 'Namespaced' | 'Cluster' | 'LegacyCluster'

/**
 * The XRD's scope. The apiserver defaults it by the version the XRD is written at (v1:
 * LegacyCluster, v2: Namespaced); should a ground's XRD CRD have lost its defaults, the API
 * versions of the XRD's writers tell the same.
 */
function scopeOf(xrd: Xrd): Scope {
  if (xrd.spec.scope) return xrd.spec.scope
  const writers = (xrd.metadata.managedFields ?? []).filter((m) => m.manager !== MANAGER)
  return writers.length > 0 && writers.every((m) => m.apiVersion === `${XP}/v2`) ? 'Namespaced' : 'LegacyCluster'
}

function kindOf(xrd: Xrd, role: 'xr' | 'claim'): Kind {
  const names = role === 'xr' ? xrd.spec.names : xrd.spec.claimNames!
  const scope = scopeOf(xrd)
  return {
    role, xrd: xrd.metadata.name, group: xrd.spec.group, version: referenceable(xrd).name, plural: names.plural, kind: names.kind,
    namespaced: role === 'claim' || scope === 'Namespaced', legacy: scope === 'LegacyCluster',
  }
}

function sameKind(a?: Kind, b?: Kind): boolean {
  return JSON.stringify(a) === JSON.stringify(b)
}

function xrCrd(xrd: Xrd): Obj & {spec: Json} {
  const scope = scopeOf(xrd)
  return crd(xrd, xrd.metadata.name, xrd.spec.names, 'composite', scope === 'Namespaced' ? 'Namespaced' : 'Cluster',
    (v) => version(v, 63, xrSpecProps(scope, xrd.spec.defaultCompositionUpdatePolicy), statusProps(scope), xrColumns(scope)))
}

function claimCrd(xrd: Xrd): Obj & {spec: Json} {
  const names = xrd.spec.claimNames!
  return crd(xrd, `${names.plural}.${xrd.spec.group}`, names, 'claim', 'Namespaced',
    (v) => version(v, 63, claimSpecProps(xrd.spec.defaultCompositeDeletePolicy), statusProps('LegacyCluster'), claimColumns()))
}

function crd(xrd: Xrd, name: string, names: Names, category: string, scope: string, render: (v: XrdVersion) => Json): Obj & {spec: Json} {
  const labels = {...xrd.metadata.labels, ...xrd.spec.metadata?.labels}
  return {
    apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition',
    metadata: {
      name, labels, ...(xrd.spec.metadata?.annotations ? {annotations: xrd.spec.metadata.annotations} : {}),
      ownerReferences: [{apiVersion: xrd.apiVersion, kind: xrd.kind, name: xrd.metadata.name, uid: xrd.metadata.uid, controller: true, blockOwnerDeletion: true}],
    } as Meta,
    spec: {
      group: xrd.spec.group,
      names: {...names, categories: [...new Set([...(names.categories ?? []), category])]},
      scope,
      versions: xrd.spec.versions.map(render),
      ...(xrd.spec.conversion ? {conversion: xrd.spec.conversion} : {}),
    },
  }
}

/** One CRD version: the XRD's schema with Crossplane's machinery merged over it. */
function version(v: XrdVersion, maxName: number, specProps: Record<string, Schema>, statusMachinery: Record<string, Schema>, columns: Json[]): Json {
  const s: Schema = v.schema?.openAPIV3Schema ?? {}
  const userSpec = s.properties?.spec ?? {}
  const userStatus = s.properties?.status ?? {}
  const userName = s.properties?.metadata?.properties?.name?.maxLength
  const carry = (from: Schema, keys: string[]) => Object.fromEntries(keys.filter((k) => from[k] !== undefined).map((k) => [k, from[k]]))
  const spec: Schema = {
    type: 'object',
    ...carry(userSpec, ['description', 'required', 'x-kubernetes-validations', 'x-kubernetes-preserve-unknown-fields', 'oneOf']),
    properties: {...userSpec.properties, ...specProps},
  }
  const status: Schema = {
    type: 'object',
    ...carry(userStatus, ['description', 'required', 'x-kubernetes-validations', 'oneOf']),
    properties: {...userStatus.properties, ...statusMachinery},
  }
  return {
    name: v.name, served: v.served, storage: v.referenceable,
    ...(v.deprecated ? {deprecated: true} : {}),
    ...(v.deprecationWarning ? {deprecationWarning: v.deprecationWarning} : {}),
    additionalPrinterColumns: [...(v.additionalPrinterColumns ?? []), ...columns],
    schema: {openAPIV3Schema: {
      type: 'object',
      ...(s.description ? {description: s.description} : {}),
      required: ['spec'],
      properties: {
        apiVersion: {type: 'string'},
        kind: {type: 'string'},
        metadata: {type: 'object', properties: {name: {type: 'string', maxLength: Math.min(maxName, userName ?? maxName)}}},
        spec,
        status,
      },
    }},
    subresources: {status: {}},
  }
}

const str = {type: 'string'}
const nameRef = (): Schema => ({type: 'object', required: ['name'], properties: {name: str}})
const labelSelector = (): Schema => ({type: 'object', required: ['matchLabels'], properties: {matchLabels: {type: 'object', additionalProperties: str}}})

function xrSpecProps(scope: string, updatePolicy?: string): Record<string, Schema> {
  const refProps: Record<string, Schema> = {apiVersion: str, kind: str, name: str}
  if (scope !== 'Namespaced') refProps.namespace = str // a namespaced XR composes only in its own namespace
  const props: Record<string, Schema> = {
    compositionRef: nameRef(),
    compositionSelector: labelSelector(),
    compositionRevisionRef: nameRef(),
    compositionRevisionSelector: labelSelector(),
    compositionUpdatePolicy: {type: 'string', enum: ['Automatic', 'Manual'], ...(updatePolicy ? {default: updatePolicy} : {})},
    resourceRefs: {type: 'array', 'x-kubernetes-list-type': 'atomic', items: {type: 'object', required: ['apiVersion', 'kind'], properties: refProps}},
  }
  if (scope !== 'LegacyCluster') {
    return {crossplane: {type: 'object', description: 'Configures how Crossplane will reconcile this composite resource', properties: props}}
  }

  props.claimRef = {type: 'object', required: ['apiVersion', 'kind', 'namespace', 'name'], properties: {apiVersion: str, kind: str, namespace: str, name: str}}
  props.writeConnectionSecretToRef = {type: 'object', required: ['name', 'namespace'], properties: {name: str, namespace: str}}
  return props
}

function claimSpecProps(deletePolicy?: string): Record<string, Schema> {
  return {
    compositionRef: nameRef(),
    compositionSelector: labelSelector(),
    compositionRevisionRef: nameRef(),
    compositionRevisionSelector: labelSelector(),
    compositionUpdatePolicy: {type: 'string', enum: ['Automatic', 'Manual']},
    compositeDeletePolicy: {type: 'string', enum: ['Background', 'Foreground'], ...(deletePolicy ? {default: deletePolicy} : {})},
    resourceRef: {type: 'object', required: ['apiVersion', 'kind', 'name'], properties: {apiVersion: str, kind: str, name: str}},
    writeConnectionSecretToRef: {type: 'object', required: ['name'], properties: {name: str}},
  }
}

function statusProps(scope: string): Record<string, Schema> {
  const published: Schema = {type: 'object', properties: {lastPublishedTime: {type: 'string', format: 'date-time'}}}
  const props: Record<string, Schema> = {
    conditions: {
      description: 'Conditions of the resource.', type: 'array', 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['type'],
      items: {type: 'object', required: ['lastTransitionTime', 'reason', 'status', 'type'], properties: {
        lastTransitionTime: {type: 'string', format: 'date-time'}, message: str, reason: str, status: str, type: str,
        observedGeneration: {type: 'integer', format: 'int64'},
      }},
    },
  }
  if (scope === 'LegacyCluster') {
    props.connectionDetails = published
    props.claimConditionTypes = {type: 'array', 'x-kubernetes-list-type': 'set', items: str}
  } else {
    props.crossplane = {type: 'object', description: 'Indicates how Crossplane is reconciling this composite resource', properties: {connectionDetails: published}}
  }

  return props
}

function xrColumns(scope: string): Json[] {
  const at = scope === 'LegacyCluster' ? '.spec' : '.spec.crossplane'
  return [
    {name: 'SYNCED', type: 'string', jsonPath: '.status.conditions[?(@.type==\'Synced\')].status'},
    {name: 'READY', type: 'string', jsonPath: '.status.conditions[?(@.type==\'Ready\')].status'},
    {name: 'COMPOSITION', type: 'string', jsonPath: `${at}.compositionRef.name`},
    {name: 'COMPOSITIONREVISION', type: 'string', jsonPath: `${at}.compositionRevisionRef.name`, priority: 1},
    {name: 'AGE', type: 'date', jsonPath: '.metadata.creationTimestamp'},
  ]
}

function claimColumns(): Json[] {
  return [
    {name: 'SYNCED', type: 'string', jsonPath: '.status.conditions[?(@.type==\'Synced\')].status'},
    {name: 'READY', type: 'string', jsonPath: '.status.conditions[?(@.type==\'Ready\')].status'},
    {name: 'CONNECTION-SECRET', type: 'string', jsonPath: '.spec.writeConnectionSecretToRef.name'},
    {name: 'AGE', type: 'date', jsonPath: '.metadata.creationTimestamp'},
  ]
}

// ---- conditions, connection details -----------------------------------------------------------

/** current with each wanted condition set, Crossplane's way; the same array when nothing changed. */
function mergeConditions(current: Condition[], wanted: Condition[], generation?: number): Condition[] {
  let changed = false
  const next = [...current]
  for (const w of wanted) {
    const i = next.findIndex((c) => c.type === w.type)
    const c = next[i]
    if (c && c.status === w.status && c.reason === w.reason && (c.message ?? '') === (w.message ?? '') && c.observedGeneration === generation) continue
    const condition: Condition = {...w, lastTransitionTime: new Date().toISOString(), ...(generation ? {observedGeneration: generation} : {})}
    if (!condition.message) delete condition.message
    if (i >= 0) next[i] = condition
    else next.push(condition)
    changed = true
  }

  return changed ? next : current
}

function unready(composition: Obj | undefined): {message?: string} {
  const names = ptResources(composition).map((r) => r.name).filter(Boolean)
  return names.length > 0 ? {message: `Unready resources: ${names.join(', ')}`} : {}
}

interface PtResource {
  name: string
  connectionDetails?: Array<{name?: string}>
}

/** The resource templates of the composition's function-patch-and-transform steps. */
function ptResources(composition: Obj | undefined): PtResource[] {
  const pipeline = (composition?.spec?.pipeline ?? []) as Array<{input?: {apiVersion?: string; resources?: PtResource[]}}>
  return pipeline.flatMap((s) => (s.input?.apiVersion?.startsWith('pt.fn.crossplane.io/') ? s.input.resources ?? [] : []))
}

/**
 * The keys the connection Secret gets: a v1 XRD's spec.connectionSecretKeys, else the XRD's
 * kplat.dev/connection-secret-keys annotation, else the connection details the composition's
 * patch-and-transform step declares.
 */
function connectionKeys(xrd: Xrd, kind: Kind, composition?: Obj): string[] {
  if (kind.legacy && xrd.spec.connectionSecretKeys?.length) return xrd.spec.connectionSecretKeys
  const annotated = xrd.metadata.annotations?.[CONNECTION_KEYS_ANNOTATION]
  if (annotated) return annotated.split(',').map((k) => k.trim()).filter(Boolean)
  return [...new Set(ptResources(composition).flatMap((r) => (r.connectionDetails ?? []).map((d) => d.name ?? '')).filter(Boolean))]
}

/** Deterministic, obviously fake values, shaped after what each key usually holds. */
export function fakeConnectionDetails(keys: string[], o: {kind: string; metadata: {name: string; namespace?: string}}): Record<string, string> {
  const {name} = o.metadata
  const namespace = o.metadata.namespace ?? 'cluster'
  const h = (salt: string, n: number) => hash(`${o.kind}/${namespace}/${name}/${salt}`).slice(0, n)
  const ident = name.replace(/[^a-z0-9]/g, '_')
  const project = `ground-${namespace}`.slice(0, 30).replace(/-+$/, '')
  const host = `${name}.${namespace}.ground.invalid`
  const user = `u_${ident}`
  const password = `fake-${h('password', 24)}`
  const port = '5432'
  const database = ident
  const out: Record<string, string> = {}
  for (const key of keys) {
    const k = key.toLowerCase()
    out[key] =
      /password/.test(k) ? password
        : /secret/.test(k) ? `fake-${h(k, 32)}`
          : /access_?key_?id/.test(k) ? `AKIAFAKE${h(k, 12).toUpperCase()}`
            : /json|credentials/.test(k) ? JSON.stringify({type: 'service_account', project_id: project, private_key_id: h(k, 16), private_key: 'fake-not-a-key', client_email: `${name.slice(0, 30)}@${project}.iam.gserviceaccount.invalid`, client_id: String(parseInt(h(k, 12), 16))})
              : /(url|uri)$/.test(k) ? (keys.some((x) => /password/i.test(x)) ? `postgresql://${user}:${password}@${host}:${port}/${database}` : `https://${host}`)
                : /port$/.test(k) ? port
                  : /host|endpoint|address/.test(k) ? host
                    : /region|location/.test(k) ? 'eu-west-1'
                      : /project/.test(k) ? project
                        : /bucket/.test(k) ? `${namespace}-${name}`.slice(0, 63)
                          : /user/.test(k) ? user
                            : /database|dbname/.test(k) ? database
                              : `fake-${k.replace(/[^a-z0-9]+/g, '-')}-${h(k, 8)}`
  }

  return out
}

function hash(text: string): string {
  return createHash('sha256').update(text).digest('hex')
}

/** JSON with object keys sorted, to compare what the server echoes back. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => (v && typeof v === 'object' && !Array.isArray(v)
    ? Object.fromEntries(Object.entries(v as Json).sort(([a], [b]) => a.localeCompare(b)))
    : v))
}

function sorted(data: Record<string, string>): Array<[string, string]> {
  return Object.entries(data).sort(([a], [b]) => a.localeCompare(b))
}

function instanceKey(kind: Kind, namespace: string | undefined, name: string): string {
  return `${kind.role}/${kind.plural}.${kind.group}/${namespace ?? ''}/${name}`
}

function code(error: unknown): number | undefined {
  const e = error as {code?: unknown; statusCode?: unknown} | null
  return typeof e?.code === 'number' ? e.code : typeof e?.statusCode === 'number' ? e.statusCode : undefined
}

function message(error: unknown): string {
  const body = (error as {body?: unknown} | null)?.body
  if (typeof body === 'string') {
    try {
      const status = JSON.parse(body) as {message?: string}
      if (status.message) return status.message
    } catch {
      // not a Status
    }
  }

  return error instanceof Error ? error.message : String(error)
}

// ---- list + watch, resumed on errors ----------------------------------------------------------

type Handler = (type: 'ADDED' | 'MODIFIED' | 'DELETED', o: Obj) => void

class Watcher {
  private resourceVersion?: string
  private abort?: AbortController
  private timer?: NodeJS.Timeout
  private stopped = false
  private failures = 0
  private readonly known = new Map<string, Obj>()
  private readonly path: string

  constructor(private readonly c: Controller, private readonly r: {group: string; version: string; plural: string}, private readonly on: Handler) {
    this.path = `/apis/${r.group}/${r.version}/${r.plural}`
  }

  /** Lists (delivering every object), then watches; resolves after the first list. */
  async start(): Promise<void> {
    await this.run()
  }

  stop(): void {
    this.stopped = true
    clearTimeout(this.timer)
    this.abort?.abort()
  }

  private retry(ms: number): void {
    if (this.stopped) return
    this.timer = setTimeout(() => void this.run(), ms)
  }

  private emit(type: 'ADDED' | 'MODIFIED' | 'DELETED', o: Obj): void {
    const key = `${o.metadata.namespace ?? ''}/${o.metadata.name}`
    if (type === 'DELETED') this.known.delete(key)
    else this.known.set(key, o)
    try {
      this.on(type, o)
    } catch (error) {
      this.c.log(`watch ${this.path}: handler failed: ${message(error)}`)
    }
  }

  private async run(): Promise<void> {
    if (this.stopped) return
    if (this.resourceVersion === undefined) {
      try {
        const list = await this.c.custom.listClusterCustomObject({group: this.r.group, version: this.r.version, plural: this.r.plural}) as {items: Obj[]; metadata?: {resourceVersion?: string}}
        if (this.stopped) return
        const seen = new Set<string>()
        for (const o of list.items) {
          seen.add(`${o.metadata.namespace ?? ''}/${o.metadata.name}`)
          this.emit(this.known.has(`${o.metadata.namespace ?? ''}/${o.metadata.name}`) ? 'MODIFIED' : 'ADDED', o)
        }

        for (const [key, o] of [...this.known]) if (!seen.has(key)) this.emit('DELETED', o)
        this.resourceVersion = list.metadata?.resourceVersion
        this.failures = 0
      } catch (error) {
        // A CRD that was just established may not be served for a moment.
        this.failures++
        if (this.failures > 1) this.c.log(`list ${this.path}: ${message(error)}`)
        this.retry(Math.min(1000 * 2 ** (this.failures - 1), 10_000))
        return
      }
    }

    const started = Date.now()
    let expired = false
    const abort = await this.c.watch.watch(this.path, {resourceVersion: this.resourceVersion, allowWatchBookmarks: true}, (type: string, object: Obj & {code?: number}) => {
      if (type === 'ERROR') {
        if (object.code === 410) expired = true
        else this.c.log(`watch ${this.path}: ${JSON.stringify(object)}`)
        return
      }

      this.resourceVersion = object.metadata?.resourceVersion ?? this.resourceVersion
      if (type === 'ADDED' || type === 'MODIFIED' || type === 'DELETED') this.emit(type, object)
    }, (error: unknown) => {
      if (this.stopped) return
      if (expired || code(error) === 410) {
        this.resourceVersion = undefined // relist
      } else if (error && (error as Error).name !== 'AbortError') {
        this.c.log(`watch ${this.path}: ${message(error)}; resuming`)
        if (code(error) === 404) this.resourceVersion = undefined
      }

      // Resume at once after a long watch the server ended; otherwise not faster than 1 s.
      this.retry(Date.now() - started > 1000 && !error ? 0 : 1000)
    })
    this.abort = abort
    if (this.stopped) abort.abort() // stopped while the watch was being opened
  }
}

// ---- a small work queue: one run per key at a time, retried with backoff on errors -----------

class Queue {
  private readonly pending = new Map<string, () => Promise<void>>()
  private readonly running = new Set<string>()
  private readonly failures = new Map<string, number>()
  private readonly timers = new Set<NodeJS.Timeout>()
  private readonly inflight = new Set<Promise<void>>()
  private stopped = false
  private static readonly CONCURRENCY = 2

  constructor(private readonly log: (line: string) => void) {}

  add(key: string, run: () => Promise<void>): void {
    if (this.stopped) return
    this.pending.set(key, run)
    this.pump()
  }

  after(ms: number, key: string, run: () => Promise<void>): void {
    if (this.stopped) return
    const timer = setTimeout(() => {
      this.timers.delete(timer)
      this.add(key, run)
    }, ms)
    this.timers.add(timer)
  }

  async stop(): Promise<void> {
    this.stopped = true
    for (const t of this.timers) clearTimeout(t)
    this.timers.clear()
    this.pending.clear()
    await Promise.allSettled([...this.inflight])
  }

  private pump(): void {
    for (const [key, run] of this.pending) {
      if (this.running.size >= Queue.CONCURRENCY) return
      if (this.running.has(key)) continue
      this.pending.delete(key)
      this.running.add(key)
      const p = run().then(() => {
        this.failures.delete(key)
      }, (error: unknown) => {
        if (this.stopped) return
        const n = (this.failures.get(key) ?? 0) + 1
        this.failures.set(key, n)
        const ms = Math.min(1000 * 2 ** (n - 1), 30_000)
        this.log(`${key}: ${message(error)} (retrying in ${ms / 1000}s)`)
        this.after(ms, key, run)
      }).finally(() => {
        this.running.delete(key)
        this.inflight.delete(p)
        if (!this.stopped) this.pump()
      })
      this.inflight.add(p)
    }
  }
}
