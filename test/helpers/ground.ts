import {execFile} from 'node:child_process'
import {readFileSync, writeFileSync} from 'node:fs'
import * as path from 'node:path'
import {promisify} from 'node:util'
import * as k8s from '@kubernetes/client-node'
import {ADMIN_CONTEXT, appendCriLine, RESTRICTED_CONTEXT} from '../ground/cluster.js'
import {control, type GitHubGround} from '../ground/github.js'
import {startGround, type Ground} from '../ground/index.js'
import {podLogPath} from '../ground/runtime.js'

const exec = promisify(execFile)

export interface TestGround {
  kubeconfig: string
  /** The ground's folder (logs/pods/ holds what the pods log). */
  dir: string
  /** etcd's client URL. */
  etcd: string
  github: GitHubGround
  /** KUBECONFIG, GITHUB_API_URL, GITHUB_TOKEN...: what points kplat at the ground. */
  env: Record<string, string>
  admin(): k8s.KubeConfig
  restricted(): k8s.KubeConfig
  /** The kubeconfig at one of the ground's contexts (TEAM_B_CONTEXT, NO_TEAM_CONTEXT...). */
  as(context: string): k8s.KubeConfig
}

let own: Promise<Ground> | undefined

/**
 * The ground of this test run: the one scripts/test.ts started (described by the
 * environment), or, when a file is run on its own, one started for this process.
 */
export async function ground(): Promise<TestGround> {
  let env: Record<string, string>
  if (process.env.KUBECONFIG && process.env.KPLAT_GROUND_DIR && process.env.KPLAT_GROUND_GITHUB) {
    env = Object.fromEntries(
      [
        'KUBECONFIG',
        'GITHUB_API_URL',
        'GITHUB_TOKEN',
        'KPLAT_GROUND_DIR',
        'KPLAT_GROUND_GITHUB',
        'KPLAT_GROUND_ETCD',
        'KPLAT_GROUND_BACKSTAGE_URL',
        'KPLAT_GROUND_BACKSTAGE_TOKEN',
      ].map((k) => [k, process.env[k] ?? '']),
    )
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
    kubeconfig: env.KUBECONFIG,
    dir: env.KPLAT_GROUND_DIR,
    etcd: env.KPLAT_GROUND_ETCD,
    github: JSON.parse(env.KPLAT_GROUND_GITHUB) as GitHubGround,
    env,
    admin: () => load(ADMIN_CONTEXT),
    restricted: () => load(RESTRICTED_CONTEXT),
    as: load,
  }
}

/** A token of the ground's GitHub for a user (created if new) with these scopes. */
export async function tokenFor(gh: GitHubGround, login: string, scopes: string[]): Promise<string> {
  await control(gh, 'POST', 'users', {login})
  return (await control<{token: string}>(gh, 'POST', 'tokens', {login, scopes})).token
}

/**
 * The file a pod's container logs to: ${dir}/logs/pods/<namespace>/<pod>/<container>.log,
 * in the CRI log format. The ground's runtime creates it once the pod is scheduled.
 */
export function podLogFile(g: TestGround, namespace: string, pod: string, container: string): string {
  return podLogPath(g.dir, namespace, pod, container)
}

/** Appends a line to what a container logged, at a time after its last line unless `at` is given. */
export function appendPodLog(
  g: TestGround,
  namespace: string,
  pod: string,
  container: string,
  text: string,
  at?: Date,
): void {
  appendCriLine(podLogFile(g, namespace, pod, container), text, at)
}

export interface Crash {
  reason: 'OOMKilled' | 'Error'
  exitCode: number
  /** The container's restartCount (at least 1: it crashed). */
  restarts: number
}

/**
 * Writes into a pod's status what a kubelet reports for a container in CrashLoopBackOff:
 * waiting, its last run terminated, not ready, and the pod not Ready. The pod stays Running,
 * as with a kubelet, so kwok's stages leave the status alone (see kwok/stages.yaml).
 */
export async function crashContainer(
  kc: k8s.KubeConfig,
  namespace: string,
  pod: string,
  container: string,
  crash: Crash,
): Promise<k8s.V1Pod> {
  const core = kc.makeApiClient(k8s.CoreV1Api)
  // kwok first: a status it is still to write, computed from an older pod, would overwrite this one.
  for (let i = 0; (await core.readNamespacedPod({namespace, name: pod})).status?.phase !== 'Running'; i++) {
    if (i >= 200) throw new Error(`pod ${namespace}/${pod} is not Running`)
    await new Promise((r) => setTimeout(r, 50))
  }

  for (;;) {
    const current = await core.readNamespacedPod({namespace, name: pod})
    const now = new Date()
    const status = current.status!
    if (!status.containerStatuses?.some((c) => c.name === container))
      throw new Error(`pod ${namespace}/${pod} has no container ${container}`)
    // The kubelet's back-off doubles from 10 s up to 5 minutes.
    const backOff = Math.min(10 * 2 ** (crash.restarts - 1), 300)
    status.containerStatuses = status.containerStatuses.map((c) =>
      c.name !== container
        ? c
        : {
            ...c,
            ready: false,
            started: false,
            restartCount: crash.restarts,
            state: {
              waiting: {
                reason: 'CrashLoopBackOff',
                message: `back-off ${backOff >= 60 ? `${Math.floor(backOff / 60)}m${backOff % 60}s` : `${backOff}s`} restarting failed container=${container} pod=${pod}_${namespace}(${current.metadata!.uid})`,
              },
            },
            lastState: {
              terminated: {
                reason: crash.reason,
                exitCode: crash.exitCode,
                startedAt: c.state?.running?.startedAt ?? now,
                finishedAt: now,
                containerID: c.containerID,
              },
            },
          },
    )
    const unready = `containers with unready status: [${status.containerStatuses
      .filter((c) => !c.ready)
      .map((c) => c.name)
      .join(' ')}]`
    const notReady = {status: 'False', reason: 'ContainersNotReady', message: unready, lastTransitionTime: now}
    status.conditions = status.conditions?.map((c) =>
      ['ContainersReady', 'Ready'].includes(c.type) ? {...c, ...notReady} : c,
    )

    try {
      return await core.replaceNamespacedPodStatus({namespace, name: pod, body: current})
    } catch (error) {
      // kwok or a controller wrote the pod in between: read it again.
      if ((error as {code?: number}).code !== 409) throw error
    }
  }
}

/**
 * A developer's change: a line appended to server.js in the clone, committed and pushed to
 * main with the ground's token (as the sandbox's export lines do). The new commit's SHA.
 */
export async function pushChange(g: TestGround, clone: string, text: string): Promise<string> {
  const git = (args: string[]) => exec('git', ['-C', clone, ...args], {env: {...process.env, GIT_TERMINAL_PROMPT: '0'}})
  const file = path.join(clone, 'server.js')
  writeFileSync(file, `${readFileSync(file, 'utf8')}\n// ${text}\n`)
  await git(['-c', 'user.name=dev', '-c', 'user.email=dev@example.com', 'commit', '-qam', text])
  const auth = Buffer.from(`x:${g.env.GITHUB_TOKEN}`).toString('base64')
  await git(['-c', `http.extraHeader=Authorization: Basic ${auth}`, 'push', '-q', 'origin', 'main'])
  return (await git(['rev-parse', 'HEAD'])).stdout.trim()
}

/** A name no other test uses. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${Math.floor(Math.random() * 1e4)}`
}

export {control}
