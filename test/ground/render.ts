import {spawn} from 'node:child_process'
import {mkdtempSync, rmSync} from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import protobuf from 'protobufjs'
import {startNetns} from './netns.js'
import {ProcessGroup, waitFor} from './processes.js'

/**
 * Renders compositions offline with Crossplane's own engine: `crossplane internal render` runs
 * one real reconcile of an XR against an in-memory client and calls the real composition
 * functions over gRPC. The functions and every render run inside a network namespace of their
 * own, since each function opens a metrics listener on :8080 of every interface that no flag
 * moves (see netns.ts).
 */

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Obj = Record<string, any>

export interface RenderInput {
  xr: Obj
  composition: Obj
  /** Picks the XR's shape: a v1 XRD with scope LegacyCluster gives a legacy XR. */
  xrd?: Obj
  /** Composed resources as the API server holds them (named, with their status). */
  observed?: Obj[]
  /** Secrets the composed resources' connection details are read from. */
  secrets?: Obj[]
}

export interface RenderOutput {
  xr: Obj
  composed: Obj[]
  deleted: Obj[]
  events: {type: string; reason: string; message: string}[]
  /** The stderr of a render whose pipeline returned a FATAL result (exit 3); the output is partial. */
  fatal?: string
}

export interface Renderer {
  render(input: RenderInput): Promise<RenderOutput>
  stop(): Promise<void>
}

/** The functions the platform kit's compositions call that are available here. */
const FUNCTIONS = [
  {name: 'function-patch-and-transform', port: 9443},
  {name: 'function-auto-ready', port: 9444},
]

export async function startRenderer(binDir: string): Promise<Renderer> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'kplat-render-'))
  const processes = new ProcessGroup(path.join(dir, 'logs'))
  const stop = async () => {
    await processes.stop()
    rmSync(dir, {recursive: true, force: true})
  }

  try {
    const root = await new protobuf.Root().load(path.join(binDir, 'crossplane-render.proto'))
    const request = root.lookupType('crossplane.render.v1alpha1.RenderRequest')
    const response = root.lookupType('crossplane.render.v1alpha1.RenderResponse')

    // The namespace is the renderer's own, so fixed ports cannot clash with anything; it
    // bridges nothing.
    const netns = await startNetns(processes, dir, {out: [], in: []})
    const started = FUNCTIONS.map((f) =>
      netns.start(f.name, path.join(binDir, f.name), ['--insecure', `--address=127.0.0.1:${f.port}`]),
    )
    const died = () => {
      const gone = started.find((p) => p.child.exitCode !== null)
      return gone && `${gone.name} exited (${gone.child.exitCode}); see ${processes.logDir}/${gone.name}.log`
    }
    for (const f of FUNCTIONS) await waitFor(`${f.name} to listen`, () => netns.listening(f.port), 60_000, died)
    const functions = FUNCTIONS.map((f) => ({name: f.name, address: `127.0.0.1:${f.port}`}))
    const crossplane = path.join(binDir, 'crossplane')

    const render = async (input: RenderInput): Promise<RenderOutput> => {
      const message = request.fromObject({
        composite: {
          compositeResource: toStruct(input.xr),
          composition: toStruct(input.composition),
          functions,
          observedResources: (input.observed ?? []).map(toStruct),
          // Crossplane puts these Secrets in its in-memory store as they are, where the
          // composed resources' connection details are read from; the field's name says what
          // the engine otherwise uses them for (the functions' credentials).
          credentials: (input.secrets ?? []).map(toStruct),
          ...(input.xrd ? {compositeResourceDefinition: toStruct(input.xrd)} : {}),
        },
      })
      const {code, stdout, stderr} = await run(
        'nsenter',
        [`--net=/proc/${netns.pid}/ns/net`, '--', crossplane, 'internal', 'render'],
        Buffer.from(request.encode(message).finish()),
        60_000,
      )
      if (code !== 0 && code !== 3)
        throw new Error(`crossplane internal render exited with ${code}: ${stderr.slice(-4000)}`)
      const decoded = response.toObject(response.decode(stdout), {oneofs: true, defaults: false, arrays: true}) as Obj
      const out = decoded.composite as Obj | undefined
      if (!out) throw new Error(`crossplane internal render gave no composite output: ${stderr.slice(-4000)}`)
      return {
        xr: fromStruct(out.compositeResource),
        composed: (out.composedResources ?? []).map(fromStruct),
        deleted: (out.deletedResources ?? []).map(fromStruct),
        events: (out.events ?? []).map((e: Obj) => ({
          type: e.type ?? '',
          reason: e.reason ?? '',
          message: e.message ?? '',
        })),
        ...(code === 3 ? {fatal: stderr} : {}),
      }
    }

    return {render, stop}
  } catch (error) {
    await stop()
    throw error
  }
}

/** Runs a command to its end with the given stdin; kills it (by its pid) after timeoutMs. */
function run(
  command: string,
  args: string[],
  stdin: Buffer,
  timeoutMs: number,
): Promise<{code: number | null; stdout: Buffer; stderr: string}> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {stdio: ['pipe', 'pipe', 'pipe'], timeout: timeoutMs, killSignal: 'SIGKILL'})
    const stdout: Buffer[] = []
    const stderr: Buffer[] = []
    child.stdout.on('data', (b: Buffer) => stdout.push(b))
    child.stderr.on('data', (b: Buffer) => stderr.push(b))
    child.once('error', reject)
    child.once('close', (code, signal) => {
      if (signal)
        reject(
          new Error(
            `${command} ${args.join(' ')} ended by ${signal} (timeout ${timeoutMs} ms?): ${Buffer.concat(stderr).toString().slice(-4000)}`,
          ),
        )
      else resolve({code, stdout: Buffer.concat(stdout), stderr: Buffer.concat(stderr).toString()})
    })
    child.stdin.end(stdin)
  })
}

// google.protobuf.Struct has no JSON mapping in protobufjs: these build and read its
// messages as plain objects (the shape fromObject takes and toObject with oneofs gives).
export function toStruct(value: Obj): Obj {
  return {
    fields: Object.fromEntries(
      Object.entries(value)
        .filter(([, v]) => v !== undefined)
        .map(([k, v]) => [k, toValue(v)]),
    ),
  }
}

function toValue(value: unknown): Obj {
  if (value === null) return {nullValue: 0}
  if (Array.isArray(value)) return {listValue: {values: value.map(toValue)}}
  switch (typeof value) {
    case 'string':
      return {stringValue: value}
    case 'number':
      return {numberValue: value}
    case 'boolean':
      return {boolValue: value}
    case 'object':
      return {structValue: toStruct(value as Obj)}
    default:
      throw new Error(`cannot put a ${typeof value} in a google.protobuf.Struct`)
  }
}

export function fromStruct(struct: Obj | undefined): Obj {
  return Object.fromEntries(Object.entries(struct?.fields ?? {}).map(([k, v]) => [k, fromValue(v as Obj)]))
}

function fromValue(value: Obj): unknown {
  switch (value.kind) {
    case 'nullValue':
      return null
    case 'numberValue':
      return value.numberValue
    case 'stringValue':
      return value.stringValue
    case 'boolValue':
      return value.boolValue
    case 'structValue':
      return fromStruct(value.structValue)
    case 'listValue':
      return ((value.listValue as Obj).values ?? []).map(fromValue)
    default:
      return null
  }
}

export interface Reconciled {
  /** Every pass's output; the last is the fixed point. */
  passes: RenderOutput[]
  last: RenderOutput
  /** The XR as the API server holds it after the last pass. */
  xr: Obj
  /** The composed resources and Secrets as the last pass observed them. */
  observed: Obj[]
  secrets: Obj[]
}

/**
 * Renders as Crossplane reconciles: each pass's composed resources come back, as the cloud
 * provider leaves them (see fakeProvider), as the next pass's observed resources, and the
 * status Crossplane wrote on the XR stays on it; until a pass changes nothing.
 */
export async function reconcile(
  renderer: Renderer,
  input: {xr: Obj; composition: Obj; xrd?: Obj},
  maxPasses = 8,
): Promise<Reconciled> {
  let xr = input.xr
  let observed: Obj[] = []
  let secrets: Obj[] = []
  let previous = ''
  const passes: RenderOutput[] = []
  while (passes.length < maxPasses) {
    const out = await renderer.render({...input, xr, observed, secrets})
    if (out.fatal) throw new Error(`pass ${passes.length + 1}: the pipeline returned a fatal result: ${out.fatal}`)
    passes.push(out)
    // The output XR holds what this reconcile wrote (its resource references and status).
    xr = {...merge(xr, out.xr), status: out.xr.status}
    const state = fingerprint(out)
    if (state === previous) return {passes, last: out, xr, observed, secrets}
    previous = state
    ;({observed, secrets} = fakeProvider(out.composed))
  }

  throw new Error(
    `no fixed point after ${maxPasses} passes; the last composed: ${JSON.stringify(passes.at(-1)?.composed)}`,
  )
}

/**
 * The composed resources and the XR's status, minus timestamps, with every object's keys in
 * order (Go's maps give them in any order).
 */
function fingerprint(out: RenderOutput): string {
  const canonical = (v: unknown): unknown =>
    Array.isArray(v)
      ? v.map(canonical)
      : isObject(v)
        ? Object.fromEntries(
            Object.keys(v)
              .filter((k) => k !== 'lastTransitionTime')
              .sort()
              .map((k) => [k, canonical(v[k])]),
          )
        : v
  const composed = [...out.composed].sort((a, b) => resourceName(a).localeCompare(resourceName(b)))
  return JSON.stringify(canonical({composed, status: out.xr.status}))
}

/** The name a composed resource has in its composition (its pipeline's resource name). */
export function resourceName(o: Obj): string {
  return o.metadata?.annotations?.['crossplane.io/composition-resource-name'] ?? ''
}

function merge(a: Obj, b: Obj): Obj {
  const out: Obj = {...a}
  for (const [k, v] of Object.entries(b)) {
    out[k] = isObject(v) && isObject(a[k]) ? merge(a[k], v) : v
  }
  return out
}

function isObject(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** The values the fake cloud reports, as the real APIs format them. */
export const PROJECT = 'kplat-example'
const ACCOUNT = '123456789012'

interface Emulated {
  atProvider?: Obj
  /** The keys and values the provider writes to the resource's connection Secret. */
  connection?: Record<string, string>
  ready?: boolean
}

const externalName = (mr: Obj): string => mr.metadata.annotations?.['crossplane.io/external-name'] ?? mr.metadata.name
const sibling = (all: Obj[], kind: string): Obj => {
  const found = all.find((o) => o.kind === kind)
  if (!found) throw new Error(`no ${kind} composed beside the resource that selects one`)
  return found
}
const keyRingId = (kr: Obj) =>
  `projects/${PROJECT}/locations/${kr.spec.forProvider.location}/keyRings/${externalName(kr)}`
const serviceAccountEmail = (sa: Obj) => `${externalName(sa)}@${PROJECT}.iam.gserviceaccount.com`
const rdsAddress = (db: Obj) => `${externalName(db)}.c9akciq32example.${db.spec.forProvider.region}.rds.amazonaws.com`

/**
 * What each provider writes back on a managed resource once its cloud resource exists, by
 * kind and API group (the namespaced `.m` groups as their cluster-scoped twins): the
 * status.atProvider fields the compositions read, and the connection Secret keys the
 * providers' code writes (provider-upjet-gcp's ServiceAccountKey decodes `private_key` to the
 * key file's JSON; provider-upjet-aws writes an AccessKey's id and secret as `username` and
 * `password`, an RDS Instance's endpoint, address, host, port, username and password).
 * `matchControllerRef` selectors resolve, as the providers resolve them, to the resource of
 * that kind composed by the same XR.
 */
const CLOUD: Record<string, (mr: Obj, all: Obj[]) => Emulated> = {
  'KeyRing.kms.gcp.upbound.io': (mr) => ({atProvider: {id: keyRingId(mr), project: PROJECT}}),
  'CryptoKey.kms.gcp.upbound.io': (mr, all) => ({
    atProvider: {id: `${keyRingId(sibling(all, 'KeyRing'))}/cryptoKeys/${externalName(mr)}`},
  }),
  'ServiceAccount.cloudplatform.gcp.upbound.io': (mr) => ({
    atProvider: {
      email: serviceAccountEmail(mr),
      id: `projects/${PROJECT}/serviceAccounts/${serviceAccountEmail(mr)}`,
      project: PROJECT,
    },
  }),
  'ServiceAccountKey.cloudplatform.gcp.upbound.io': (_mr, all) => ({
    atProvider: {
      id: `projects/${PROJECT}/serviceAccounts/${serviceAccountEmail(sibling(all, 'ServiceAccount'))}/keys/0123456789abcdef`,
    },
    connection: {
      private_key: JSON.stringify({
        type: 'service_account',
        project_id: PROJECT,
        private_key_id: '0123456789abcdef',
        private_key: '-----BEGIN PRIVATE KEY-----\nnot-a-real-key\n-----END PRIVATE KEY-----\n',
        client_email: serviceAccountEmail(sibling(all, 'ServiceAccount')),
      }),
    },
  }),
  'Bucket.storage.gcp.upbound.io': (mr) => ({
    atProvider: {id: externalName(mr), project: PROJECT, url: `gs://${externalName(mr)}`},
  }),
  'BucketIAMMember.storage.gcp.upbound.io': (mr, all) => ({
    atProvider: {
      id: `b/${externalName(sibling(all, 'Bucket'))}/${mr.spec.forProvider.role}/${mr.spec.forProvider.member}`,
    },
  }),
  'Bucket.s3.aws.upbound.io': (mr) => ({
    atProvider: {id: externalName(mr), arn: `arn:aws:s3:::${externalName(mr)}`, region: mr.spec.forProvider.region},
  }),
  'BucketServerSideEncryptionConfiguration.s3.aws.upbound.io': (_mr, all) => ({
    atProvider: {id: externalName(sibling(all, 'Bucket'))},
  }),
  'BucketPublicAccessBlock.s3.aws.upbound.io': (_mr, all) => ({atProvider: {id: externalName(sibling(all, 'Bucket'))}}),
  'BucketVersioning.s3.aws.upbound.io': (_mr, all) => ({atProvider: {id: externalName(sibling(all, 'Bucket'))}}),
  'User.iam.aws.upbound.io': (mr) => ({
    atProvider: {id: externalName(mr), arn: `arn:aws:iam::${ACCOUNT}:user/${externalName(mr)}`},
  }),
  'Policy.iam.aws.upbound.io': (mr) => ({
    atProvider: {
      id: `arn:aws:iam::${ACCOUNT}:policy/${externalName(mr)}`,
      arn: `arn:aws:iam::${ACCOUNT}:policy/${externalName(mr)}`,
    },
  }),
  'UserPolicyAttachment.iam.aws.upbound.io': (mr) => ({atProvider: {id: externalName(mr)}}),
  'AccessKey.iam.aws.upbound.io': () => ({
    atProvider: {id: 'AKIAIOSFODNN7EXAMPLE', status: 'Active'},
    connection: {
      username: 'AKIAIOSFODNN7EXAMPLE',
      password: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
      'attribute.secret': 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
      'attribute.ses_smtp_password_v4': 'BExampleSmtpPassword',
    },
  }),
  'Instance.rds.aws.upbound.io': (mr) => ({
    atProvider: {id: 'db-EXAMPLE0123456789', address: rdsAddress(mr), port: 5432, endpoint: `${rdsAddress(mr)}:5432`},
    connection: {
      endpoint: `${rdsAddress(mr)}:5432`,
      address: rdsAddress(mr),
      host: rdsAddress(mr),
      port: '5432',
      username: mr.spec.forProvider.username,
      password: 'generated-password-0123',
    },
  }),
  // provider-nop (the local plans): writes the connection details its spec lists, and the
  // conditions its spec schedules (here, as they stand once every one is due).
  'NopResource.nop.crossplane.io': (mr) => nop(mr),
  'ClusterNopResource.nop.crossplane.io': (mr) => nop(mr),
}

function nop(mr: Obj): Emulated {
  const ready = (mr.spec.forProvider.conditionAfter ?? []).filter((c: Obj) => c.conditionType === 'Ready').at(-1)
  return {
    connection: Object.fromEntries((mr.spec.forProvider.connectionDetails ?? []).map((d: Obj) => [d.name, d.value])),
    ready: ready?.conditionStatus === 'True',
  }
}

/**
 * The fake provider, which stands for the cloud provider: the one thing emulated here. It
 * turns the composed resources a pass applied into what the next pass observes, once the
 * provider has created them: a managed resource (one with spec.forProvider) gets its external
 * name (the default, its metadata.name), Synced and Ready conditions, the status.atProvider
 * fields and the connection Secret of CLOUD; anything else (the XR's connection Secret) is
 * observed as it was applied. A kind it does not know fails the test rather than pass unseen.
 */
export function fakeProvider(composed: Obj[]): {observed: Obj[]; secrets: Obj[]} {
  const secrets: Obj[] = []
  const observed = composed.map((applied) => {
    if (!applied.spec?.forProvider) return applied
    const mr = structuredClone(applied)
    mr.metadata.annotations = {'crossplane.io/external-name': mr.metadata.name, ...mr.metadata.annotations}
    const group = mr.apiVersion.split('/')[0].replace(/\.m\.upbound\.io$/, '.upbound.io')
    const emulate = CLOUD[`${mr.kind}.${group}`]
    if (!emulate) throw new Error(`the fake provider does not know ${mr.kind} (${mr.apiVersion})`)
    const {atProvider, connection, ready = true} = emulate(mr, composed)
    const at = '2026-01-01T00:00:00Z'
    mr.status = {
      ...(atProvider ? {atProvider} : {}),
      conditions: [
        {type: 'Synced', status: 'True', reason: 'ReconcileSuccess', lastTransitionTime: at},
        {
          type: 'Ready',
          status: ready ? 'True' : 'False',
          reason: ready ? 'Available' : 'Creating',
          lastTransitionTime: at,
        },
      ],
    }
    const ref = mr.spec.writeConnectionSecretToRef
    if (ref && connection) {
      secrets.push({
        apiVersion: 'v1',
        kind: 'Secret',
        type: 'connection.crossplane.io/v1alpha1',
        // A namespaced resource writes its Secret in its own namespace.
        metadata: {name: ref.name, namespace: mr.metadata.namespace ?? ref.namespace},
        data: Object.fromEntries(Object.entries(connection).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
      })
    }
    return mr
  })
  return {observed, secrets}
}

/**
 * The XR as the API server stores it: the defaults of its XRD's schema (for the XR's
 * version) filled in, as structural defaulting does, parents before their children.
 */
export function withDefaults(xr: Obj, xrd: Obj): Obj {
  const version = xrd.spec.versions.find((v: Obj) => `${xrd.spec.group}/${v.name}` === xr.apiVersion)
  if (!version) throw new Error(`${xrd.metadata.name} has no version ${xr.apiVersion}`)
  const fill = (schema: Obj | undefined, value: unknown): unknown => {
    if (!schema?.properties || !isObject(value)) return value
    const out: Obj = {...value}
    for (const [key, property] of Object.entries(schema.properties as Obj)) {
      if (out[key] === undefined && property.default !== undefined) out[key] = structuredClone(property.default)
      if (out[key] !== undefined) out[key] = fill(property, out[key])
    }
    return out
  }
  return fill(version.schema.openAPIV3Schema, xr) as Obj
}

/**
 * A legacy (v1) XR's composite connection details, decoded. `crossplane internal render` has no
 * output for them: its reconciler publishes a legacy XR's connection details through a no-op
 * ConnectionPublisher (internal/render/composite/render.go), where Crossplane writes the XR's
 * Secret. They are the connection details function-patch-and-transform returns for the desired
 * XR; for a modern XR (one with spec.crossplane) the same function composes those same details
 * into a Secret instead. So the reconciled state is rendered once more with no XRD (the engine
 * then takes the XR as a modern one), and the data of the Secret composed under the name the
 * legacy XR's spec.writeConnectionSecretToRef gives is returned.
 */
export async function legacyConnectionDetails(
  renderer: Renderer,
  composition: Obj,
  reconciled: Reconciled,
): Promise<Record<string, string>> {
  const ref = reconciled.xr.spec.writeConnectionSecretToRef
  if (!ref) throw new Error('the legacy XR names no connection Secret (spec.writeConnectionSecretToRef)')
  const out = await renderer.render({
    xr: reconciled.xr,
    composition,
    observed: reconciled.observed,
    secrets: reconciled.secrets,
  })
  if (out.fatal) throw new Error(`the pipeline returned a fatal result: ${out.fatal}`)
  const secret = out.composed.find(
    (o) => o.kind === 'Secret' && o.metadata.name === ref.name && o.metadata.namespace === ref.namespace,
  )
  if (!secret)
    throw new Error(
      `no Secret ${ref.namespace}/${ref.name} composed; composed: ${out.composed.map((o) => `${o.kind}/${o.metadata.name}`).join(', ')}`,
    )
  return decode(secret)
}

export function decode(secret: Obj): Record<string, string> {
  return Object.fromEntries(
    Object.entries(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(v as string, 'base64').toString()]),
  )
}
