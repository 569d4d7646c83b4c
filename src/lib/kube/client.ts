import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import * as k8s from './k8s.js'
import {KplatError, UsageError} from '../errors.js'
import type {Debug} from '../debug.js'
import {KubeHttp} from './http.js'
import type {Redactor} from '../redact.js'
import {requestTimeoutMs} from '../timeouts.js'

export interface Kube {
  config: k8s.KubeConfig
  /** A typed API client that logs its requests under KPLAT_DEBUG. */
  api<T extends k8s.ApiType>(apiClass: new (config: k8s.Configuration) => T): T
  objects: k8s.KubernetesObjectApi
  /** For requests kplat sends itself (streams), so that KPLAT_DEBUG shows them too. */
  debug?: Debug
}

export interface KubeOptions {
  env: NodeJS.ProcessEnv
  context?: string
  debug: Debug
  redactor: Redactor
}

/**
 * Reads kubeconfig as kubectl does: KUBECONFIG (a list), else ~/.kube/config. Merged by
 * kubectl's rule, which client-node's own merge does not follow: the first file to name a
 * cluster, user or context wins, and so does the first current-context. Otherwise kplat
 * could act on another cluster than kubectl, or fail on a name two files share.
 */
export function loadKubeConfig(env: NodeJS.ProcessEnv, context?: string): k8s.KubeConfig {
  const files = (env.KUBECONFIG ?? '').split(path.delimiter).filter(Boolean)
  if (files.length === 0) files.push(path.join(env.HOME ?? os.homedir(), '.kube', 'config'))
  const existing = files.filter((f) => fs.existsSync(f))
  if (existing.length === 0) {
    throw new KplatError(`no kubeconfig found (looked at ${files.join(', ')})`, {
      hint: "Set KUBECONFIG to your cluster's kubeconfig file, or run `npm run sandbox` for a local one",
    })
  }

  const kc = new k8s.KubeConfig()
  if (existing.length === 1) {
    kc.loadFromFile(existing[0])
  } else {
    const first = <T extends {name: string}>(lists: T[][]) => {
      const byName = new Map<string, T>()
      for (const item of lists.flat()) if (!byName.has(item.name)) byName.set(item.name, item)
      return [...byName.values()]
    }

    const each = existing.map((file) => {
      const one = new k8s.KubeConfig()
      one.loadFromFile(file)
      return one
    })
    kc.loadFromOptions({
      clusters: first(each.map((c) => c.getClusters())),
      users: first(each.map((c) => c.getUsers())),
      contexts: first(each.map((c) => c.getContexts())),
      currentContext: each.map((c) => c.getCurrentContext()).find(Boolean) ?? '',
    })
  }

  if (context) {
    if (!kc.getContextObject(context)) {
      const known =
        kc
          .getContexts()
          .map((c) => c.name)
          .join(', ') || 'none'
      throw new UsageError(
        `no context "${context}" in your kubeconfig (contexts: ${known})`,
        'Pass one of those to --context',
      )
    }
    kc.setCurrentContext(context)
  }

  if (!kc.getCurrentCluster()) {
    throw new KplatError('your kubeconfig has no current context', {
      hint: 'Pass --context NAME, or run `kubectl config use-context NAME`',
    })
  }

  return kc
}

export function createKube(opts: KubeOptions): Kube {
  const config = loadKubeConfig(opts.env, opts.context)
  const user = config.getCurrentUser()
  opts.redactor.add(user?.token)
  opts.redactor.add(user?.password)
  for (const key of ['id-token', 'refresh-token', 'client-secret', 'access-token'])
    opts.redactor.add((user?.authProvider as {config?: Record<string, string>} | undefined)?.config?.[key])

  const httpApi = new KubeHttp(new k8s.IsomorphicFetchHttpLibrary(), {
    debug: opts.debug,
    secret: (value) => opts.redactor.add(value),
    timeoutMs: requestTimeoutMs(opts.env),
  })
  const cluster = config.getCurrentCluster()!
  const configuration = k8s.createConfiguration({
    baseServer: new k8s.ServerConfiguration(cluster.server, {}),
    authMethods: {default: config},
    httpApi,
  })

  return {
    config,
    api: (apiClass) => new apiClass(configuration),
    objects: new k8s.KubernetesObjectApi(configuration),
    debug: opts.debug,
  }
}
