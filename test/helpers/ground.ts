import * as k8s from '@kubernetes/client-node'
import {ADMIN_CONTEXT, RESTRICTED_CONTEXT} from '../ground/cluster.js'
import {control, type GitHubGround} from '../ground/github.js'
import {startGround, type Ground} from '../ground/index.js'

export interface TestGround {
  kubeconfig: string
  logsFile: string
  /** etcd's client URL. */
  etcd: string
  github: GitHubGround
  /** KUBECONFIG, GITHUB_API_URL, GITHUB_TOKEN...: what points kplat at the ground. */
  env: Record<string, string>
  admin(): k8s.KubeConfig
  restricted(): k8s.KubeConfig
}

let own: Promise<Ground> | undefined

/**
 * The ground of this test run: the one scripts/test.ts started (described by the
 * environment), or, when a file is run on its own, one started for this process.
 */
export async function ground(): Promise<TestGround> {
  let env: Record<string, string>
  if (process.env.KUBECONFIG && process.env.KPLAT_GROUND_LOGS_FILE && process.env.KPLAT_GROUND_GITHUB) {
    env = Object.fromEntries(['KUBECONFIG', 'GITHUB_API_URL', 'GITHUB_TOKEN', 'KPLAT_GROUND_LOGS_FILE', 'KPLAT_GROUND_DIR', 'KPLAT_GROUND_GITHUB', 'KPLAT_GROUND_ETCD']
      .map((k) => [k, process.env[k] ?? '']))
  } else {
    // Run on its own, a test file owns its ground: the file's process may exit when its
    // tests end, and the group's exit handler then kills the ground's processes by pid.
    own ??= startGround().then((g) => {
      g.processes.unref()
      return g
    })
    env = (await own).env
  }

  const load = (context: string) => {
    const kc = new k8s.KubeConfig()
    kc.loadFromFile(env.KUBECONFIG)
    kc.setCurrentContext(context)
    return kc
  }

  return {
    kubeconfig: env.KUBECONFIG, logsFile: env.KPLAT_GROUND_LOGS_FILE, etcd: env.KPLAT_GROUND_ETCD, github: JSON.parse(env.KPLAT_GROUND_GITHUB) as GitHubGround, env,
    admin: () => load(ADMIN_CONTEXT), restricted: () => load(RESTRICTED_CONTEXT),
  }
}

/** A token of the ground's GitHub for a user (created if new) with these scopes. */
export async function tokenFor(gh: GitHubGround, login: string, scopes: string[]): Promise<string> {
  await control(gh, 'POST', 'users', {login})
  return (await control<{token: string}>(gh, 'POST', 'tokens', {login, scopes})).token
}

/** A name no other test uses. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${Math.floor(Math.random() * 1e4)}`
}

export {control}
