import {mkdirSync, symlinkSync} from 'node:fs'
import * as path from 'node:path'
import type * as k8s from '@kubernetes/client-node'
import {applyDocuments, readYamlDir, waitForCrds} from './cluster.js'
import type {Netns} from './netns.js'
import {trace, waitFor} from './processes.js'

export const ARGOCD_NAMESPACE = 'argocd'

/** Ports inside the ground's network namespace; nothing else listens there. */
const PORTS = {redis: 6379, repoServer: 8081, repoServerMetrics: 8084, controllerMetrics: 8082}

export interface ArgoCdOptions {
  dir: string
  binDir: string
  netns: Netns
  admin: k8s.KubeConfig
  /** The kubeconfig the components act with (cluster-admin, as Argo CD's own service accounts are in effect). */
  componentsConfig: string
  /** The port argocd-server listens on inside the namespace, bridged to the host's loopback. */
  serverPort: number
  /**
   * Run once Argo CD's namespace and CRDs are there (the teams' AppProjects need them), beside
   * the start of its processes; startArgoCd waits for it too.
   */
  withCrds?: () => Promise<void>
}

/**
 * The real Argo CD, one binary as its components: redis, repo-server, application-controller
 * and argocd-server (which serves the webhook GitHub calls on every push), all as processes in
 * the ground's network namespace.
 */
export async function startArgoCd(opts: ArgoCdOptions): Promise<{webhook: string}> {
  const {dir, binDir, netns, admin} = opts
  const work = path.join(dir, 'argocd')
  const bin = path.join(work, 'bin')
  mkdirSync(path.join(work, 'tmp'), {recursive: true})
  mkdirSync(bin, {recursive: true})
  // git asks `argocd` (through GIT_ASKPASS, found on PATH) for a private repository's password.
  symlinkSync(path.join(binDir, 'argocd'), path.join(bin, 'argocd'))
  symlinkSync(path.join(binDir, 'helm'), path.join(bin, 'helm'))

  const crds = readYamlDir(path.join(binDir, 'argocd-crds'))
  const {namespace, objects, project, cmdParams} = settings()
  await applyDocuments(admin, [namespace])
  await applyDocuments(admin, [...objects, ...crds], {parallel: true})
  await waitForCrds(admin, crds)
  const withCrds = opts.withCrds?.()
  withCrds?.catch(() => {})
  await applyDocuments(admin, [project])
  trace('argocd: CRDs established, settings applied')

  const redis = `127.0.0.1:${PORTS.redis}`
  const repoServer = `127.0.0.1:${PORTS.repoServer}`
  const env = {
    ...process.env,
    KUBECONFIG: opts.componentsConfig,
    // `https://kubernetes.default.svc` (the in-cluster destination) then means KUBECONFIG's cluster.
    ARGOCD_FAKE_IN_CLUSTER: 'true',
    TMPDIR: path.join(work, 'tmp'),
    PATH: `${bin}:${process.env.PATH}`,
    // After three failures Argo CD serves a cached error for an hour; a test that fixes a
    // broken chart must see the fix.
    ARGOCD_PAUSE_GEN_AFTER_FAILED_ATTEMPTS: '0',
  }
  // Where Applications may live besides argocd, for the two components that read them. Argo
  // CD's Deployments take it from argocd-cmd-params-cm by configMapKeyRef (the binaries never
  // read that ConfigMap), so it is passed the same way: from that ConfigMap, as env.
  const appNamespaces = {ARGOCD_APPLICATION_NAMESPACES: cmdParams.data['application.namespaces']}
  const common = ['--redis', redis, '--loglevel', 'warn']
  netns.start('redis', 'redis-server', [
    '--bind',
    '127.0.0.1',
    '--port',
    String(PORTS.redis),
    '--save',
    '',
    '--appendonly',
    'no',
    '--loglevel',
    'warning',
  ])
  netns.start(
    'argocd-repo-server',
    path.join(binDir, 'argocd'),
    [
      ...common,
      '--address',
      '127.0.0.1',
      '--port',
      String(PORTS.repoServer),
      '--metrics-address',
      '127.0.0.1',
      '--metrics-port',
      String(PORTS.repoServerMetrics),
      '--disable-tls',
    ],
    {
      ...env,
      ARGOCD_BINARY_NAME: 'argocd-repo-server',
      ARGOCD_GPG_ENABLED: 'false',
      ARGOCD_ASK_PASS_SOCK: path.join(work, 'askpass.sock'),
      // How long resolved branches are cached: a platform's timeout.reconciliation (see below).
      ARGOCD_RECONCILIATION_TIMEOUT: '15s',
    },
  )
  netns.start(
    'argocd-application-controller',
    path.join(binDir, 'argocd'),
    [
      ...common,
      '--namespace',
      ARGOCD_NAMESPACE,
      '--repo-server',
      repoServer,
      '--repo-server-plaintext',
      '--metrics-port',
      String(PORTS.controllerMetrics),
      // Errors from the repo-server show at once instead of after three minutes of grace.
      '--repo-error-grace-period-seconds',
      '0',
      '--status-processors',
      '4',
      '--operation-processors',
      '4',
      // Two webhook refreshes of one app that come while its first is running are folded into
      // one, so of two pushes in a row the second can wait for this poll, which resolves
      // branches from the repo-server's cache: 15 s (plus up to 5 s of jitter), and the cache as
      // long, where Argo CD's defaults are 120 s plus up to 60 s, and 3 minutes.
      '--app-resync',
      '15',
      '--app-resync-jitter',
      '5',
    ],
    {...env, ...appNamespaces, ARGOCD_BINARY_NAME: 'argocd-application-controller'},
  )
  netns.start(
    'argocd-server',
    path.join(binDir, 'argocd'),
    [
      ...common,
      '--namespace',
      ARGOCD_NAMESPACE,
      '--insecure',
      '--address',
      '127.0.0.1',
      '--port',
      String(opts.serverPort),
      '--metrics-port',
      String(opts.serverPort + 1),
      '--repo-server',
      repoServer,
      '--repo-server-plaintext',
      '--staticassets',
      path.join(work, 'ui'),
    ],
    {...env, ...appNamespaces, ARGOCD_BINARY_NAME: 'argocd-server'},
  )

  const webhook = `http://127.0.0.1:${opts.serverPort}/api/webhook`
  let failed: string | undefined
  withCrds?.catch((error: Error) => (failed = error.message))
  await Promise.all([
    waitFor(
      'argocd-server /healthz',
      async () => ((await fetch(`http://127.0.0.1:${opts.serverPort}/healthz`)).ok ? true : undefined),
      60_000,
      () => failed,
    ).then(() => trace('argocd: argocd-server answers')),
    withCrds,
  ])
  return {webhook}
}

/** What a platform team installs beside the binaries: Argo CD's settings and its default project. */
function settings() {
  const partOf = {'app.kubernetes.io/part-of': 'argocd'}
  // The one-time setting of platform-kit/README.md (Teams): Applications may also live in the
  // teams' namespaces, each of which its own AppProject admits (sourceNamespaces).
  const cmdParams = {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {name: 'argocd-cmd-params-cm', namespace: ARGOCD_NAMESPACE, labels: partOf},
    data: {'application.namespaces': 'team-*'},
  }
  return {
    namespace: {apiVersion: 'v1', kind: 'Namespace', metadata: {name: ARGOCD_NAMESPACE}},
    cmdParams,
    objects: [
      cmdParams,
      {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: {name: 'argocd-cm', namespace: ARGOCD_NAMESPACE, labels: partOf},
        data: {},
      },
      // argocd-server fills in its own signing key; without a webhook secret, pushes are not signed.
      {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: {name: 'argocd-secret', namespace: ARGOCD_NAMESPACE, labels: partOf},
        data: {},
      },
    ],
    project: {
      apiVersion: 'argoproj.io/v1alpha1',
      kind: 'AppProject',
      metadata: {name: 'default', namespace: ARGOCD_NAMESPACE},
      spec: {
        sourceRepos: ['*'],
        destinations: [{server: '*', namespace: '*'}],
        clusterResourceWhitelist: [{group: '*', kind: '*'}],
      },
    },
  }
}
