import type {Application} from './argocd.js'
import type {Kube} from './client.js'
import * as k8s from './k8s.js'

interface Workload {
  metadata?: {name?: string}
  spec?: {selector?: {matchLabels?: Record<string, string>}}
  status?: {conditions?: Array<{type: string; status: string; reason?: string; message?: string}>}
}

/**
 * Why a Degraded app is Degraded, in the words of its live objects. Argo CD 3.x keeps
 * each resource's health out of the Application (unless the platform turned
 * controller.resource.health.persist on), so kplat reads the app's Deployments and
 * StatefulSets, and the first pod of each that is stuck. Undefined when nothing says more,
 * or when the user may not read them.
 */
export async function whyDegraded(kube: Kube, app: Application): Promise<string | undefined> {
  const resources = app.status?.resources ?? []
  const persisted = resources.find((r) => r.health?.status === 'Degraded')
  if (persisted) return `${persisted.kind} ${persisted.name}: ${persisted.health?.message ?? 'Degraded'}`
  const workloads = resources.filter(
    (r) => r.group === 'apps' && (r.kind === 'Deployment' || r.kind === 'StatefulSet') && r.namespace,
  )
  const reasons = await Promise.all(
    workloads.map(async (r) => {
      try {
        const object = (await kube.objects.read({
          apiVersion: 'apps/v1',
          kind: r.kind,
          metadata: {name: r.name, namespace: r.namespace},
        })) as Workload
        return [workloadProblem(r.kind, r.name, object), await podProblem(kube, r.namespace!, object)]
          .filter(Boolean)
          .join('; ')
      } catch {
        return ''
      }
    }),
  )
  return reasons.filter(Boolean).join('; ') || undefined
}

function workloadProblem(kind: string, name: string, object: Workload): string | undefined {
  const conditions = object.status?.conditions ?? []
  const stalled = conditions.find((c) => c.type === 'Progressing' && c.reason === 'ProgressDeadlineExceeded')
  if (stalled) return `${kind} ${name} exceeded its progress deadline`
  const failure = conditions.find((c) => c.type === 'ReplicaFailure' && c.status === 'True')
  return failure ? `${kind} ${name}: ${failure.message ?? failure.reason}` : undefined
}

/** The first pod of a workload that cannot start, and why: scheduling, image, crash. */
async function podProblem(kube: Kube, namespace: string, object: Workload): Promise<string | undefined> {
  const labels = object.spec?.selector?.matchLabels
  if (!labels) return undefined
  const labelSelector = Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(',')
  const pods = await kube.api(k8s.CoreV1Api).listNamespacedPod({namespace, labelSelector})
  for (const pod of pods.items) {
    const name = `pod ${pod.metadata?.name}`
    const unscheduled = pod.status?.conditions?.find((c) => c.type === 'PodScheduled' && c.status === 'False')
    if (unscheduled) return `${name}: ${unscheduled.reason ?? 'not scheduled'}: ${unscheduled.message ?? ''}`.trim()
    for (const c of pod.status?.containerStatuses ?? []) {
      const waiting = c.state?.waiting
      if (waiting?.reason && waiting.reason !== 'ContainerCreating')
        return `${name}: ${waiting.reason}${waiting.message ? `: ${waiting.message}` : ''}`
      const ended = c.lastState?.terminated ?? c.state?.terminated
      if (ended && ended.exitCode !== 0)
        return `${name}: container ${c.name} exited ${ended.exitCode}${ended.reason ? ` (${ended.reason})` : ''}`
    }
  }

  return undefined
}
