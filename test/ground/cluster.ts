import {generateKeyPairSync, randomBytes} from 'node:crypto'
import {
  appendFileSync,
  closeSync,
  existsSync,
  fstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
} from 'node:fs'
import * as https from 'node:https'
import * as path from 'node:path'
import {fileURLToPath} from 'node:url'
import * as k8s from '@kubernetes/client-node'
import {parseAllDocuments, stringify} from 'yaml'
import {freePort, ProcessGroup, trace, waitFor, writeText} from './processes.js'

const HERE = path.dirname(fileURLToPath(import.meta.url))

/**
 * The ground's users besides the admin, each a member of a team by the group its token carries
 * (the group the kit's team chart binds, see teams.ts), or of none:
 * - RESTRICTED_CONTEXT: `developer`, group team-a, working in TEAM_NAMESPACE;
 * - TEAM_B_CONTEXT: `developer-b`, group team-b, working in TEAM_B_NAMESPACE;
 * - NO_TEAM_CONTEXT: `newcomer`, in no team, so with no rights beyond what every user has.
 * A team's namespace is also its Argo CD project's name, and the team's name.
 */
export const TEAM_NAMESPACE = 'team-a'
export const TEAM_B_NAMESPACE = 'team-b'
export const ADMIN_CONTEXT = 'ground-admin'
export const RESTRICTED_CONTEXT = 'ground-restricted'
export const TEAM_B_CONTEXT = 'ground-team-b'
export const NO_TEAM_CONTEXT = 'ground-no-team'
/** `lead`, a member of both teams (groups team-a and team-b): kplat asks which one. */
export const TWO_TEAMS_CONTEXT = 'ground-two-teams'

export interface ClusterOptions {
  /** A fresh folder for data, certificates, logs and the kubeconfig. */
  dir: string
  /** Where provide-binaries.sh put the binaries. */
  binDir: string
  processes: ProcessGroup
}

export interface Cluster {
  server: string
  /** The API server's port on 127.0.0.1. */
  port: number
  /** etcd's client URL, for a test that compacts its history. */
  etcd: string
  kubeconfig: string
  /** A kubeconfig for the platform's own components (cluster-admin). */
  componentsConfig: string
  adminConfig(): k8s.KubeConfig
  restrictedConfig(): k8s.KubeConfig
}

/**
 * A real control plane on 127.0.0.1: etcd, kube-apiserver (RBAC on), controller-manager,
 * scheduler, and kwok playing one node whose pods run (runtime.ts gives them logs and ports).
 */
export async function startCluster(
  opts: ClusterOptions & {
    /**
     * Started as soon as the API server answers, beside the rest of the cluster (controllers
     * need no node). It makes the teams' namespaces (teams.ts), whose service accounts the
     * cluster waits for.
     */
    alongside?: (plane: {
      port: number
      componentsConfig: string
      /** The admin kubeconfig's file (its current context is the admin's). */
      kubeconfig: string
      admin: k8s.KubeConfig
    }) => Promise<void>
  },
): Promise<Cluster> {
  const {dir, binDir, processes} = opts
  const {server, kubeconfig, componentsConfig, servingCert, died: componentDied, etcd} = await startControlPlane(opts)
  trace('cluster: API server ready')
  let failed: string | undefined
  const alongside = opts.alongside?.({
    port: Number(new URL(server).port),
    componentsConfig,
    kubeconfig,
    admin: contextConfig(kubeconfig, ADMIN_CONTEXT),
  })
  alongside?.catch((error: Error) => (failed = error.message))
  // A wait for what `alongside` makes ends as soon as it fails.
  const died = () => componentDied() ?? failed
  const bin = (name: string) => path.join(binDir, name)
  const kwokPort = await freePort()

  processes.start('kube-controller-manager', bin('kube-controller-manager'), [
    `--kubeconfig=${componentsConfig}`,
    '--bind-address=127.0.0.1',
    '--secure-port=0',
    '--leader-elect=false',
    `--service-account-private-key-file=${dir}/certs/sa.key`,
    `--root-ca-file=${servingCert}`,
    '--use-service-account-credentials=false',
    '--controllers=*',
    '--concurrent-gc-syncs=5',
    '--v=0',
  ])
  processes.start('kube-scheduler', bin('kube-scheduler'), [
    `--kubeconfig=${componentsConfig}`,
    '--bind-address=127.0.0.1',
    '--secure-port=0',
    '--leader-elect=false',
    '--v=0',
  ])

  const admin = new k8s.KubeConfig()
  admin.loadFromFile(kubeconfig)
  // kwok watches its own CRDs (per-pod logs and port-forwards), so they come first.
  await applyDocuments(admin, readYamlDir(path.join(binDir, 'kwok-crds')))
  await waitForCrds(admin, readYamlDir(path.join(binDir, 'kwok-crds')))

  processes.start('kwok', bin('kwok'), [
    `--kubeconfig=${componentsConfig}`,
    `--config=${path.join(HERE, 'kwok', 'stages.yaml')}`,
    '--manage-all-nodes=true',
    `--server-address=127.0.0.1:${kwokPort}`,
    '--node-ip=127.0.0.1',
    `--node-port=${kwokPort}`,
    '--node-lease-duration-seconds=40',
    '--cidr=10.0.1.0/24',
    '--enable-crds=Logs,ClusterLogs,PortForward,ClusterPortForward',
  ])

  await applyDocuments(admin, [
    {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: {
        name: 'kwok-node-0',
        labels: {'kubernetes.io/hostname': 'kwok-node-0', type: 'kwok'},
        annotations: {'kwok.x-k8s.io/node': 'fake'},
      },
    },
  ])

  const core = admin.makeApiClient(k8s.CoreV1Api)
  await waitFor(
    'node kwok-node-0 Ready',
    async () => {
      const node = await core.readNode({name: 'kwok-node-0'})
      return node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ? true : undefined
    },
    60_000,
    died,
  )
  trace('cluster: node Ready')
  // Pods in a team's namespace need its default service account (the namespace is the team
  // chart's, installed alongside).
  await Promise.all(
    [TEAM_NAMESPACE, TEAM_B_NAMESPACE].map((namespace) =>
      waitFor(
        `default service account in ${namespace}`,
        async () => ((await core.readNamespacedServiceAccount({name: 'default', namespace})) ? true : undefined),
        60_000,
        died,
      ),
    ),
  )
  trace('cluster: teams have service accounts')
  await alongside

  return {
    server,
    port: Number(new URL(server).port),
    etcd,
    kubeconfig,
    componentsConfig,
    adminConfig: () => contextConfig(kubeconfig, ADMIN_CONTEXT),
    restrictedConfig: () => contextConfig(kubeconfig, RESTRICTED_CONTEXT),
  }
}

/**
 * etcd and kube-apiserver alone, with the kubeconfig of the admin and the ground's users: the
 * start of every ground, and on its own a bare cluster (no Argo CD, no teams, nothing scheduled).
 */
export async function startControlPlane(opts: ClusterOptions) {
  const {dir, binDir, processes} = opts
  for (const sub of ['etcd', 'certs', 'logs']) mkdirSync(path.join(dir, sub), {recursive: true})
  const [etcdPort, peerPort, apiPort] = await Promise.all([freePort(), freePort(), freePort()])
  const bin = (name: string) => path.join(binDir, name)
  const died = () => {
    const gone = processes.started.find((p) => p.child.exitCode !== null)
    return gone && `${gone.name} exited (${gone.child.exitCode}); see ${processes.logDir}/${gone.name}.log`
  }

  // Service-account signing keys and one static token per identity.
  const {privateKey, publicKey} = generateKeyPairSync('rsa', {modulusLength: 2048})
  writeText(`${dir}/certs/sa.key`, privateKey.export({type: 'pkcs8', format: 'pem'}) as string)
  writeText(`${dir}/certs/sa.pub`, publicKey.export({type: 'spki', format: 'pem'}) as string)
  const token = () => randomBytes(24).toString('hex')
  const users = {
    admin: {token: token(), name: 'ground-admin', groups: 'system:masters'},
    components: {token: token(), name: 'ground-components', groups: 'system:masters'},
    developer: {token: token(), name: 'developer', groups: TEAM_NAMESPACE},
    developerB: {token: token(), name: 'developer-b', groups: TEAM_B_NAMESPACE},
    newcomer: {token: token(), name: 'newcomer', groups: ''},
    lead: {token: token(), name: 'lead', groups: `${TEAM_NAMESPACE},${TEAM_B_NAMESPACE}`},
  }
  writeText(
    `${dir}/certs/tokens.csv`,
    Object.values(users)
      .map((u) => `${u.token},${u.name},${u.name},"${u.groups}"`)
      .join('\n') + '\n',
  )

  processes.start('etcd', bin('etcd'), [
    `--data-dir=${dir}/etcd`,
    `--listen-client-urls=http://127.0.0.1:${etcdPort}`,
    `--advertise-client-urls=http://127.0.0.1:${etcdPort}`,
    `--listen-peer-urls=http://127.0.0.1:${peerPort}`,
    `--initial-advertise-peer-urls=http://127.0.0.1:${peerPort}`,
    `--initial-cluster=default=http://127.0.0.1:${peerPort}`,
    '--unsafe-no-fsync=true',
    '--log-level=warn',
  ])
  await waitFor(
    'etcd',
    async () => ((await fetch(`http://127.0.0.1:${etcdPort}/health`)).ok ? true : undefined),
    30_000,
    died,
  )

  processes.start('kube-apiserver', bin('kube-apiserver'), [
    `--etcd-servers=http://127.0.0.1:${etcdPort}`,
    '--bind-address=127.0.0.1',
    '--advertise-address=127.0.0.1',
    `--secure-port=${apiPort}`,
    `--cert-dir=${dir}/certs`,
    `--token-auth-file=${dir}/certs/tokens.csv`,
    '--authorization-mode=RBAC',
    '--service-cluster-ip-range=10.0.0.0/24',
    '--allow-privileged=true',
    '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
    `--service-account-key-file=${dir}/certs/sa.pub`,
    `--service-account-signing-key-file=${dir}/certs/sa.key`,
    '--kubelet-preferred-address-types=InternalIP',
    // Watches on ConfigMaps go to etcd, so a test that compacts etcd sees a resourceVersion
    // expire (410 Gone) at once. (Compacting every few seconds instead made the API server
    // answer 429 while its watch caches re-listed.)
    '--watch-cache-sizes=configmaps#0',
    '--enable-priority-and-fairness=false',
    '--profiling=false',
    '--v=0',
  ])
  const server = `https://127.0.0.1:${apiPort}`
  const servingCert = `${dir}/certs/apiserver.crt`
  await waitFor(
    'kube-apiserver /readyz',
    async () => {
      if (!existsSync(servingCert)) return undefined
      return (await get(`${server}/readyz`, readFileSync(servingCert), users.admin.token)) === 200 ? true : undefined
    },
    90_000,
    died,
  )

  // One kubeconfig shape for people and components: a context per user, the first current.
  const kubeconfigFor = (contexts: Array<{name: string; user: {name: string; token: string}; namespace?: string}>) =>
    stringify({
      apiVersion: 'v1',
      kind: 'Config',
      preferences: {},
      clusters: [
        {name: 'ground', cluster: {server, 'certificate-authority-data': readFileSync(servingCert).toString('base64')}},
      ],
      users: contexts.map((c) => ({name: c.user.name, user: {token: c.user.token}})),
      contexts: contexts.map((c) => ({
        name: c.name,
        context: {cluster: 'ground', user: c.user.name, ...(c.namespace ? {namespace: c.namespace} : {})},
      })),
      'current-context': contexts[0].name,
    })
  const kubeconfig = `${dir}/kubeconfig`
  writeText(
    kubeconfig,
    kubeconfigFor([
      {name: ADMIN_CONTEXT, user: users.admin},
      {name: RESTRICTED_CONTEXT, user: users.developer, namespace: TEAM_NAMESPACE},
      {name: TEAM_B_CONTEXT, user: users.developerB, namespace: TEAM_B_NAMESPACE},
      {name: NO_TEAM_CONTEXT, user: users.newcomer},
      {name: TWO_TEAMS_CONTEXT, user: users.lead},
    ]),
  )
  const componentsConfig = `${dir}/components.kubeconfig`
  writeText(componentsConfig, kubeconfigFor([{name: users.components.name, user: users.components}]))
  return {
    server,
    kubeconfig,
    componentsConfig,
    servingCert,
    died,
    etcd: `http://127.0.0.1:${etcdPort}`,
  }
}

/**
 * A line as kwok reads pod logs: the CRI log format a kubelet writes, the time in RFC 3339
 * with nine digits of fraction. `at` is a Date or nanoseconds since the epoch.
 */
export function criLogLine(
  text: string,
  stream: 'stdout' | 'stderr' = 'stdout',
  at: Date | bigint = new Date(),
): string {
  const ns = typeof at === 'bigint' ? at : BigInt(at.getTime()) * 1_000_000n
  const seconds = new Date(Number(ns / 1_000_000n)).toISOString().slice(0, 19)
  return `${seconds}.${(ns % 1_000_000_000n).toString().padStart(9, '0')}Z ${stream} F ${text}\n`
}

/**
 * Appends one CRI log line to a file. Without `at`, its time is the clock's, made later than
 * the file's last line: a log reader resumes by time, so no two lines of a file may share one,
 * whichever process (the ground's runtime, a test) wrote them.
 */
export function appendCriLine(file: string, text: string, at?: Date): void {
  const now = BigInt(Date.now()) * 1_000_000n
  const last = lastLineTime(file)
  appendFileSync(file, criLogLine(text, 'stdout', at ?? (last !== undefined && last >= now ? last + 1n : now)))
}

function lastLineTime(file: string): bigint | undefined {
  const fd = openSync(file, 'r')
  try {
    const size = fstatSync(fd).size
    const tail = Buffer.alloc(Math.min(size, 4096))
    readSync(fd, tail, 0, tail.length, size - tail.length)
    const m = /(?:^|\n)(\S{19})(?:\.(\d{1,9}))?Z \S+ [FP] [^\n]*\n$/.exec(tail.toString())
    return m ? BigInt(Date.parse(`${m[1]}Z`)) * 1_000_000n + BigInt((m[2] ?? '').padEnd(9, '0')) : undefined
  } finally {
    closeSync(fd)
  }
}

function contextConfig(file: string, context: string): k8s.KubeConfig {
  const kc = new k8s.KubeConfig()
  kc.loadFromFile(file)
  kc.setCurrentContext(context)
  return kc
}

export function readYamlDir(dir: string): Manifest[] {
  // A Helm chart's templates (platform-kit/team) are manifests only once helm renders them.
  if (path.basename(dir) === 'templates' && existsSync(path.join(dir, '..', 'Chart.yaml'))) return []
  return readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .flatMap((f) => parseAllDocuments(readFileSync(path.join(dir, f), 'utf8')).map((d) => d.toJS() as Manifest))
    .filter((o) => o && o.kind)
}

export type Manifest = k8s.KubernetesObject & Record<string, unknown>

/**
 * Server-side applies each object as the raw JSON it is. (The client's typed serializer
 * would drop `default`, `enum` and `x-kubernetes-*` from CRD schemas: the upstream CRDs
 * must reach the apiserver unchanged.)
 */
export async function applyDocuments(
  kc: k8s.KubeConfig,
  objects: Manifest[],
  opts: {subresource?: 'status'; fieldManager?: string; parallel?: boolean} = {},
): Promise<void> {
  const paths = new PathFinder(
    k8s.createConfiguration({
      baseServer: new k8s.ServerConfiguration(kc.getCurrentCluster()!.server, {}),
      authMethods: {default: kc},
    }),
  )
  // Independent objects (a set of CRDs, say) go out together; otherwise in order, so that a
  // namespace exists before what lives in it.
  if (opts.parallel) {
    await Promise.all(objects.map((o) => applyDocuments(kc, [o], {...opts, parallel: false})))
    return
  }

  const api = await kubeConnection(kc)
  for (const object of objects) {
    const url = new URL(`${api.server}${await paths.of(object)}${opts.subresource ? `/${opts.subresource}` : ''}`)
    url.searchParams.set('fieldManager', opts.fieldManager ?? 'kplat-ground')
    url.searchParams.set('force', 'true')
    const status = await kubeRequest(api, 'PATCH', url, JSON.stringify(object), 'application/apply-patch+yaml')
    if (status.code >= 300)
      throw new Error(`applying ${object.kind} ${object.metadata?.name}: ${status.code} ${status.body.slice(0, 500)}`)
  }
}

export interface KubeConnection {
  server: string
  /** The kubeconfig user's credentials, and an agent that keeps connections for the next request. */
  options: https.RequestOptions
}

export async function kubeConnection(kc: k8s.KubeConfig): Promise<KubeConnection> {
  const options: https.RequestOptions = {}
  await kc.applyToHTTPSOptions(options)
  return {
    server: kc.getCurrentCluster()!.server,
    options: {...options, agent: new https.Agent({...(options.agent as https.Agent).options, keepAlive: true})},
  }
}

/** One request to the API server; the answer's status and body. */
export function kubeRequest(
  api: KubeConnection,
  method: string,
  url: URL | string,
  body?: string,
  contentType = 'application/json',
): Promise<{code: number; body: string}> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      new URL(url, api.server),
      {...api.options, method, headers: {...api.options.headers, 'content-type': contentType}},
      (res) => {
        let text = ''
        res.on('data', (d) => (text += d))
        res.on('end', () => resolve({code: res.statusCode ?? 0, body: text}))
      },
    )
    req.on('error', reject)
    req.end(body)
  })
}

class PathFinder extends k8s.KubernetesObjectApi {
  of(object: k8s.KubernetesObject): Promise<string> {
    return this.specUriPath(object, 'patch')
  }
}

/** Waits until every CRD among the objects is Established, with one list a poll. */
export async function waitForCrds(kc: k8s.KubeConfig, objects: k8s.KubernetesObject[]): Promise<void> {
  const api = kc.makeApiClient(k8s.ApiextensionsV1Api)
  const names = objects.filter((o) => o.kind === 'CustomResourceDefinition').map((o) => o.metadata!.name!)
  let waiting = names
  await waitFor(
    `CRDs Established (${names.length})`,
    async () => {
      const established = new Set(
        (await api.listCustomResourceDefinition()).items
          .filter((c) => c.status?.conditions?.some((x) => x.type === 'Established' && x.status === 'True'))
          .map((c) => c.metadata!.name!),
      )
      waiting = names.filter((n) => !established.has(n))
      return waiting.length === 0 ? true : undefined
    },
    30_000,
  ).catch((error: Error) => {
    throw new Error(`${error.message}; not yet: ${waiting.join(', ')}`)
  })
}

function get(url: string, ca: Buffer, token: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = https.get(url, {ca, headers: {authorization: `Bearer ${token}`}}, (res) => {
      res.resume()
      resolve(res.statusCode ?? 0)
    })
    req.on('error', reject)
  })
}
