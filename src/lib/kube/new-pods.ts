// Fail a rollout wait as soon as the platform knows it will not finish. Argo CD reports an
// app whose new pods crash-loop as Progressing until the Deployment's progress deadline
// (ten minutes by default), so a wait on Argo CD alone sits out its whole timeout. kplat
// looks at the pods themselves: the pods that exist before a change are set aside (a change
// that mends a crash loop must not fail on the old pods), and a new pod that cannot start
// ends the wait with the kubelet's reason and the container's last lines.
import * as k8s from './k8s.js'
import type {Kube} from './client.js'
import {KplatError} from '../errors.js'

/** Waiting reasons after which a container will not start without a change. */
const STUCK = new Set([
  'ImagePullBackOff',
  'ErrImagePull',
  'ErrImageNeverPull',
  'InvalidImageName',
  'CreateContainerConfigError',
  'CreateContainerError',
  'RunContainerError',
])
/** Restarts after which a crash loop counts as the new version's failure, not a slow start. */
export const CRASH_RESTARTS = 2
const POLL_MS = 2000
const LOG_LINES = 10

export interface NewPods {
  /**
   * Runs the wait, and ends it with an error as soon as a pod made since `watchNewPods`
   * cannot start or a Deployment stalls past its progress deadline. The wait gets a signal
   * that is aborted when the guard ends it.
   */
  guard<T>(wait: (signal: AbortSignal) => Promise<T>, opts: {hint: string}): Promise<T>
}

/** Notes the namespace's pods and stalled Deployments now, before a change makes new ones. */
export async function watchNewPods(kube: Kube, namespace: string, labelSelector?: string): Promise<NewPods> {
  // Failing fast is a help, not a right the change needs: a user who may not list pods or
  // Deployments there waits on Argo CD alone, as before.
  const before = await look(kube, namespace, labelSelector).catch(() => undefined)
  if (!before) return {guard: (wait) => wait(new AbortController().signal)}
  const oldPods = new Set(before.pods.map((p) => p.metadata?.uid))
  const oldStalls = new Set(before.deployments.map(stall).filter(Boolean))
  return {
    async guard(wait, opts) {
      const done = new AbortController()
      const failure = new Promise<never>((_, reject) => {
        const poll = async () => {
          if (done.signal.aborted) return
          try {
            const now = await look(kube, namespace, labelSelector)
            const problem =
              (await podProblem(
                kube,
                namespace,
                now.pods.filter((p) => !oldPods.has(p.metadata?.uid)),
              )) ??
              now.deployments
                .filter((d) => stall(d) && !oldStalls.has(stall(d)))
                .map((d) => `Deployment ${d.metadata?.name} exceeded its progress deadline`)[0]
            if (problem) {
              reject(new KplatError(problem, {hint: opts.hint}))
              return
            }
          } catch {
            // A read that fails (a right the user lacks, a blip) leaves the wait to Argo CD.
          }

          setTimeout(() => void poll(), POLL_MS).unref()
        }

        setTimeout(() => void poll(), POLL_MS).unref()
      })
      try {
        return await Promise.race([wait(done.signal), failure])
      } finally {
        done.abort()
      }
    },
  }
}

/** The namespace's pods and Deployments. Both callers fall back to Argo CD alone when this fails. */
async function look(
  kube: Kube,
  namespace: string,
  labelSelector: string | undefined,
): Promise<{pods: k8s.V1Pod[]; deployments: k8s.V1Deployment[]}> {
  const [pods, deployments] = await Promise.all([
    kube.api(k8s.CoreV1Api).listNamespacedPod({namespace, labelSelector}),
    kube.api(k8s.AppsV1Api).listNamespacedDeployment({namespace, labelSelector}),
  ])
  return {pods: pods.items, deployments: deployments.items}
}

/** A Deployment's stalled condition, as a key that changes when it stalls again. */
function stall(d: k8s.V1Deployment): string {
  const c = d.status?.conditions?.find((c) => c.type === 'Progressing' && c.reason === 'ProgressDeadlineExceeded')
  return c ? `${d.metadata?.name}@${d.metadata?.generation}` : ''
}

/** The first new pod that will not start, in the kubelet's words and with its last log lines. */
async function podProblem(kube: Kube, namespace: string, pods: k8s.V1Pod[]): Promise<string | undefined> {
  for (const pod of pods) {
    const name = pod.metadata?.name ?? ''
    for (const c of [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])]) {
      const waiting = c.state?.waiting
      if (waiting?.reason && STUCK.has(waiting.reason))
        return `pod ${name}: container ${c.name} cannot start: ${waiting.reason}${waiting.message ? `: ${waiting.message}` : ''}`
      const ended = c.lastState?.terminated
      if (waiting?.reason === 'CrashLoopBackOff' && (c.restartCount ?? 0) >= CRASH_RESTARTS) {
        const exit = ended ? `exit code ${ended.exitCode}${ended.reason ? `, ${ended.reason}` : ''}; ` : ''
        const lines = await lastLines(kube, namespace, name, c.name)
        return `pod ${name}: container ${c.name} is crash-looping (${exit}${c.restartCount} restarts)${
          lines ? `\nits last lines:\n${lines}` : ''
        }`
      }
    }
  }

  return undefined
}

async function lastLines(kube: Kube, namespace: string, pod: string, container: string): Promise<string> {
  const core = kube.api(k8s.CoreV1Api)
  // The run that crashed is the previous one; a runtime that keeps no previous log has the current one.
  const read = (previous: boolean) =>
    core.readNamespacedPodLog({name: pod, namespace, container, previous, tailLines: LOG_LINES})
  const text = await read(true)
    .catch(() => read(false))
    .catch(() => '')
  return text
    .trimEnd()
    .split('\n')
    .filter(Boolean)
    .map((l) => `  ${l}`)
    .join('\n')
}
