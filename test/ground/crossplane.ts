import {execFile} from 'node:child_process'
import {createHash} from 'node:crypto'
import {mkdirSync, readFileSync, writeFileSync} from 'node:fs'
import * as path from 'node:path'
import {promisify} from 'node:util'
import {gzipSync} from 'node:zlib'
import * as k8s from '@kubernetes/client-node'
import {applyDocuments, readYamlDir, waitForCrds, type Manifest} from './cluster.js'
import type {Netns} from './netns.js'
import {trace, waitFor} from './processes.js'

const run = promisify(execFile)

/** Ports inside the ground's network namespace. provider-nop takes 8080 and 9443 itself (no flag moves them). */
const PORTS = {function: 9444, metrics: 18080, health: 18081}
const FUNCTION = 'function-patch-and-transform'
const FUNCTION_SOURCE = `xpkg.crossplane.io/crossplane-contrib/${FUNCTION}`

export interface CrossplaneOptions {
  /** XRDs and Compositions to install once Crossplane's CRDs are served. */
  kit: Manifest[]
  dir: string
  binDir: string
  netns: Netns
  admin: k8s.KubeConfig
  componentsConfig: string
}

/**
 * The real Crossplane: core with the External package runtime, function-patch-and-transform
 * as a local process that core dials over mutual TLS, and provider-nop, whose NopResources
 * stand in for a cloud's managed resources. All run in the ground's network namespace.
 */
export async function startCrossplane(opts: CrossplaneOptions): Promise<void> {
  const {dir, binDir, netns, admin} = opts
  const work = path.join(dir, 'crossplane')
  const cache = path.join(work, 'xpkg-cache')
  mkdirSync(cache, {recursive: true})

  const crds = [
    ...readYamlDir(path.join(binDir, 'crossplane-crds')),
    ...readYamlDir(path.join(binDir, 'provider-nop-crds')),
  ]
  const [tls] = await Promise.all([
    makeCertificates(path.join(work, 'tls')),
    applyDocuments(admin, [{apiVersion: 'v1', kind: 'Namespace', metadata: {name: 'crossplane-system'}}, ...crds], {
      parallel: true,
    }).then(() => waitForCrds(admin, crds)),
  ])

  trace('crossplane: CRDs established, certificates made')
  // Played the External runtime's part: the package is in core's cache (so core makes the
  // revision and reads its capabilities offline), and the revision's endpoint is the process.
  const meta =
    'apiVersion: meta.pkg.crossplane.io/v1\nkind: Function\nmetadata:\n  name: function-patch-and-transform\nspec: {}\n'
  const digest = `sha256:${createHash('sha256').update(meta).digest('hex')}`
  writeFileSync(path.join(cache, `${friendlyId(FUNCTION_SOURCE, digest)}.gz`), gzipSync(meta))
  await applyDocuments(admin, [
    {
      apiVersion: 'pkg.crossplane.io/v1',
      kind: 'Function',
      metadata: {name: FUNCTION},
      spec: {
        package: `${FUNCTION_SOURCE}@${digest}`,
        packagePullPolicy: 'IfNotPresent',
        skipDependencyResolution: true,
      },
    },
  ])
  // The kit before core starts: core then reconciles every XRD from its first moment.
  const applied = applyDocuments(admin, opts.kit, {parallel: true})
  applied.catch(() => {})
  const env = {...process.env, KUBECONFIG: opts.componentsConfig}
  // provider-nop first: it dies when its fixed metrics port is taken, and the function's own
  // metrics server (also fixed, on the same port) gives up quietly. By default it observes a
  // resource every 10 s and one at a time, so a plan Ready after a second took 10-20 s.
  netns.start('provider-nop', path.join(binDir, 'provider-nop'), ['--poll=1s', '--max-reconcile-rate=10'], {
    ...env,
    TLS_SERVER_CERTS_DIR: tls.nop,
  })
  await waitFor("provider-nop's metrics port", () => netns.listening(8080), 30_000)
  trace('crossplane: provider-nop listens')
  netns.start(
    FUNCTION,
    path.join(binDir, FUNCTION),
    [`--address=127.0.0.1:${PORTS.function}`, `--tls-certs-dir=${tls.function}`],
    env,
  )
  netns.start(
    'crossplane',
    path.join(binDir, 'crossplane'),
    [
      'core',
      'start',
      '--package-runtime=External',
      '--enable-webhooks=false',
      `--cache-dir=${cache}`,
      `--tls-client-certs-dir=${tls.client}`,
      `--metrics-port=${PORTS.metrics}`,
      `--health-probe-port=${PORTS.health}`,
    ],
    env,
  )

  await applied
  const custom = admin.makeApiClient(k8s.CustomObjectsApi)
  const revision = await waitFor(
    'the FunctionRevision of function-patch-and-transform',
    async () => {
      const list = (await custom.listClusterCustomObject({
        group: 'pkg.crossplane.io',
        version: 'v1',
        plural: 'functionrevisions',
        labelSelector: `pkg.crossplane.io/package=${FUNCTION}`,
      })) as {items: Manifest[]}
      return list.items.find((r) => (r.spec as {desiredState?: string}).desiredState === 'Active')
    },
    60_000,
  )
  await applyDocuments(
    admin,
    [
      {
        apiVersion: 'pkg.crossplane.io/v1',
        kind: 'FunctionRevision',
        metadata: {name: revision.metadata!.name},
        status: {endpoint: `127.0.0.1:${PORTS.function}`},
      },
    ],
    {subresource: 'status', fieldManager: 'kplat-ground-runtime'},
  )
  trace('crossplane: function revision has its endpoint')
  await waitForXrds(
    admin,
    opts.kit.filter((o) => o.kind === 'CompositeResourceDefinition'),
  )
}

/**
 * Waits until the kit's XR (and claim) kinds are served: then an add-on can be created, and
 * core's controller for its kind picks it up as it starts. (The XRDs themselves report
 * Established a few seconds later: core backs off while it starts each kind's controller.)
 */
async function waitForXrds(admin: k8s.KubeConfig, xrds: Manifest[]): Promise<void> {
  const kinds = xrds.flatMap((xrd) => {
    const spec = xrd.spec as {group: string; names: {plural: string}; claimNames?: {plural: string}}
    return [spec.names.plural, ...(spec.claimNames ? [spec.claimNames.plural] : [])].map(
      (plural) => `${plural}.${spec.group}`,
    )
  })
  await waitForCrds(
    admin,
    kinds.map((name) => ({apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', metadata: {name}})),
  )
  trace("crossplane: the kit's kinds are served")
}

/** Crossplane's name for a cached package: FriendlyID(source, digest) of crossplane-runtime's xpkg. */
function friendlyId(source: string, digest: string): string {
  const s = `${source.slice(0, 50)}-${digest.slice(0, 12)}`
  let out = ''
  for (let i = 0; i < s.length; i++) {
    const c = s[i]
    if (/[a-z0-9]/.test(c)) out += c
    if ('./:-'.includes(c) && i !== 0 && i !== 62 && i !== s.length - 1) out += '-'
    if (i === 62) break
  }

  return out.replace(/^-+|-+$/g, '')
}

/**
 * A CA, the function's server certificate (for 127.0.0.1, which core dials), core's client
 * certificate, and a certificate for provider-nop's webhook server (which nothing calls, but
 * which it will not start without).
 */
async function makeCertificates(dir: string): Promise<{client: string; function: string; nop: string}> {
  const dirs = {client: path.join(dir, 'client'), function: path.join(dir, 'function'), nop: path.join(dir, 'nop')}
  for (const d of Object.values(dirs)) mkdirSync(d, {recursive: true})
  const ca = {crt: path.join(dir, 'ca.crt'), key: path.join(dir, 'ca.key')}
  await run('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-days',
    '30',
    '-subj',
    '/CN=kplat-ground-crossplane-ca',
    '-keyout',
    ca.key,
    '-out',
    ca.crt,
  ])
  const issue = async (to: string, cn: string, ext: string) => {
    const key = path.join(to, 'tls.key')
    const csr = path.join(to, 'tls.csr')
    const extFile = path.join(to, 'ext.cnf')
    writeFileSync(extFile, ext)
    await run('openssl', [
      'req',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-subj',
      `/CN=${cn}`,
      '-keyout',
      key,
      '-out',
      csr,
    ])
    await run('openssl', [
      'x509',
      '-req',
      '-in',
      csr,
      '-CA',
      ca.crt,
      '-CAkey',
      ca.key,
      '-CAcreateserial',
      '-days',
      '30',
      '-extfile',
      extFile,
      '-out',
      path.join(to, 'tls.crt'),
    ])
    writeFileSync(path.join(to, 'ca.crt'), readFileSync(ca.crt))
  }

  const server = 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n'
  await Promise.all([
    issue(dirs.function, FUNCTION, server),
    issue(dirs.nop, 'provider-nop', server),
    issue(dirs.client, 'crossplane', 'extendedKeyUsage=clientAuth\n'),
  ])
  return dirs
}
