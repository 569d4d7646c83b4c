// The app's processes, Heroku's dynos: one Deployment per process type (web, worker, ...),
// its pods the processes. What `kplat ps`, `ps:scale` and `ps:restart` read and change.
import * as k8s from '../kube/k8s.js'
import {applicationRef, kplatValues} from '../kube/argocd.js'
import {applyKplatValues, waitForKplatValues} from '../kube/argocd-apps.js'
import type {Kube} from '../kube/client.js'
import {kubeError} from '../kube/errors.js'
import {sleep} from '../kube/observe.js'
import {watchNewPods} from '../kube/new-pods.js'
import {waitFor} from '../kube/wait.js'
import {KplatError, UsageError} from '../errors.js'
import {stuckHint, track, withReleases} from '../releases/ledger.js'
import type {AppTarget} from '../shared/target.js'
import {appSelector} from '../shared/app-selector.js'

/** The pod label (set by the chart) that names a process's type. */
export const PROCESS_LABEL = 'kplat.dev/process'
/** `ps:scale` keeps the formation in the Application's Helm values under a manager of its own (the chart contract). */
const FORMATION_MANAGER = 'kplat-formation'
/** kubectl's own annotation for `rollout restart`, which Argo CD's restart action uses too. */
const RESTARTED_AT = 'kubectl.kubernetes.io/restartedAt'

export type ProcessState = 'starting' | 'up' | 'crashed' | 'terminating'

export interface Process {
  name: string
  type: string
  state: ProcessState
  /** Why it is not up: Unschedulable, CrashLoopBackOff after OOMKilled... */
  reason?: string
  startedAt?: string
  restarts: number
  /** The image tag it runs; the commit, when the tag is one (the skeleton's CI tags images with the SHA). */
  release?: string
  commit?: string
}

export interface FormationEntry {
  type: string
  desired: number
  ready: number
}

export interface ProcessReport {
  app: string
  formation: FormationEntry[]
  processes: Process[]
}

export interface ProcessType {
  type: string
  deployment: k8s.KubernetesObject & {
    spec?: {
      replicas?: number
      selector?: {matchLabels?: Record<string, string>}
      template?: {metadata?: {annotations?: Record<string, string>}}
    }
    status?: {readyReplicas?: number}
  }
}

/** The app's process types and their processes: two list calls, however many pods. */
export async function listProcesses(target: AppTarget, only?: string): Promise<ProcessReport> {
  const [types, pods] = await Promise.all([
    processTypes(target),
    listPods(target.kube, target.namespace, appSelector(target)),
  ])
  if (types.length === 0) throw notDeployed(target)
  if (only) pick(types, only, target.name)
  const processes = pods
    .map((pod) => toProcess(pod, typeOf(pod, types)))
    .filter((p) => !only || p.type === only)
    .sort((a, b) => a.type.localeCompare(b.type) || a.name.localeCompare(b.name))
  const formation = types
    .filter((t) => !only || t.type === only)
    .map((t) => ({
      type: t.type,
      desired: t.deployment.spec?.replicas ?? 0,
      ready: t.deployment.status?.readyReplicas ?? 0,
    }))
  return {app: target.name, formation, processes}
}

/** The app's process types, from its Deployments; a chart from before process types has one, named after the app: web. */
export async function processTypes(target: AppTarget): Promise<ProcessType[]> {
  let list
  try {
    list = await target.kube
      .api(k8s.AppsV1Api)
      .listNamespacedDeployment({namespace: target.namespace, labelSelector: appSelector(target)})
  } catch (error) {
    throw kubeError(error, {verb: 'list', resource: 'deployments', namespace: target.namespace})
  }

  return list.items
    .map((d) => {
      const name = d.metadata?.name ?? ''
      const type =
        d.metadata?.labels?.[PROCESS_LABEL] ?? (name === target.name ? 'web' : name.replace(`${target.name}-`, ''))
      return {type, deployment: {apiVersion: 'apps/v1', kind: 'Deployment', ...d} as ProcessType['deployment']}
    })
    .sort((a, b) => a.type.localeCompare(b.type))
}

export async function listPods(kube: Kube, namespace: string, labelSelector?: string): Promise<k8s.KubernetesObject[]> {
  try {
    return (await kube.api(k8s.CoreV1Api).listNamespacedPod({namespace, labelSelector})).items as k8s.KubernetesObject[]
  } catch (error) {
    throw kubeError(error, {verb: 'list', resource: 'pods', namespace})
  }
}

/** The type of a pod: its process label, else the Deployment whose selector it matches. */
export function typeOf(pod: k8s.KubernetesObject, types: ProcessType[]): string {
  const labels = pod.metadata?.labels ?? {}
  if (labels[PROCESS_LABEL]) return labels[PROCESS_LABEL]
  const owner = types.find((t) =>
    Object.entries(t.deployment.spec?.selector?.matchLabels ?? {}).every(([k, v]) => labels[k] === v),
  )
  return owner?.type ?? 'other'
}

export function pick(types: ProcessType[], type: string, app: string): ProcessType {
  const found = types.find((t) => t.type === type)
  if (!found)
    throw new UsageError(
      `${app} has no process type "${type}" (its types: ${types.map((t) => t.type).join(', ')})`,
      'Name one of those',
    )
  return found
}

export function notDeployed(target: AppTarget): KplatError {
  const s = target.application.status
  const problem = s?.conditions?.find((c) => /Error$/.test(c.type))
  const why = problem
    ? `Argo CD cannot deploy it (${problem.type}: ${problem.message ?? ''})`
    : !s?.sync?.revision
      ? "it is waiting for Argo CD's first sync"
      : s.sync.status !== 'Synced'
        ? `it is waiting for Argo CD to sync it (${s.sync.status ?? 'Unknown'})`
        : 'it is waiting for its first image: the chart deploys processes once CI has built and pushed one'
  return new KplatError(`${target.name} has no processes yet: ${why}`, {
    hint: `\`kplat apps:info --app ${target.name}\` shows its deploy state`,
  })
}

interface PodLike {
  metadata?: {name?: string; deletionTimestamp?: string | Date; creationTimestamp?: string | Date}
  spec?: {containers?: Array<{image?: string}>}
  status?: {
    phase?: string
    reason?: string
    startTime?: string | Date
    conditions?: Array<{type: string; status: string; reason?: string}>
    containerStatuses?: ContainerStatus[]
    initContainerStatuses?: ContainerStatus[]
  }
}

type ContainerStatus = {
  ready?: boolean
  restartCount?: number
  state?: {waiting?: {reason?: string}; terminated?: {reason?: string; exitCode?: number}}
  lastState?: {terminated?: {reason?: string; exitCode?: number}}
}

// Reasons a container waits that mean it failed, not that it is on its way.
const FAILED_WAITING = new Set([
  'CrashLoopBackOff',
  'ImagePullBackOff',
  'ErrImagePull',
  'CreateContainerConfigError',
  'CreateContainerError',
  'InvalidImageName',
  'RunContainerError',
])

export function toProcess(object: k8s.KubernetesObject, type: string): Process {
  const pod = object as PodLike
  const statuses = pod.status?.containerStatuses ?? []
  const restarts = statuses.reduce((n, c) => n + (c.restartCount ?? 0), 0)
  const image = pod.spec?.containers?.[0]?.image ?? ''
  const tag = /:([\w.-]+)$/.exec(image.replace(/@.*$/, ''))?.[1]
  const startedAt = toIso(pod.status?.startTime ?? pod.metadata?.creationTimestamp)
  const base = {
    name: pod.metadata?.name ?? '',
    type,
    startedAt,
    restarts,
    release: tag,
    commit: tag && /^[0-9a-f]{7,40}$/.test(tag) ? tag.slice(0, 7) : undefined,
  }
  if (pod.metadata?.deletionTimestamp) return {...base, state: 'terminating'}
  // A pod that ended for good (evicted, or its processes exited) is not on its way anywhere.
  if (pod.status?.phase === 'Failed' || pod.status?.phase === 'Succeeded') {
    return {
      ...base,
      state: 'crashed',
      reason: pod.status.reason ?? (pod.status.phase === 'Succeeded' ? 'exited 0' : 'failed'),
    }
  }

  // An init container that fails keeps the app's own from starting: its reason is the pod's.
  for (const c of [...(pod.status?.initContainerStatuses ?? []), ...statuses]) {
    const waiting = c.state?.waiting?.reason
    const ended = c.state?.terminated ?? c.lastState?.terminated
    if ((waiting && FAILED_WAITING.has(waiting)) || (c.state?.terminated && c.state.terminated.exitCode !== 0)) {
      const why = [
        ended?.reason ?? (ended?.exitCode === undefined ? undefined : `exit ${ended.exitCode}`),
        waiting,
      ].filter(Boolean)
      return {...base, state: 'crashed', reason: [...new Set(why)].join(', ')}
    }
  }

  const unscheduled = pod.status?.conditions?.find((c) => c.type === 'PodScheduled' && c.status === 'False')
  if (unscheduled) return {...base, state: 'starting', reason: unscheduled.reason ?? 'not scheduled'}
  const ready =
    pod.status?.phase === 'Running' && pod.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')
  if (ready) return {...base, state: 'up'}
  const waiting = statuses.find((c) => c.state?.waiting?.reason)?.state?.waiting?.reason
  return {...base, state: 'starting', reason: waiting}
}

function toIso(t: string | Date | undefined): string | undefined {
  if (!t) return undefined
  return t instanceof Date ? t.toISOString() : t
}

// --- ps:scale ---------------------------------------------------------------------------

export interface ScaleRequest {
  type: string
  op: '=' | '+' | '-'
  count: number
}

/** Heroku's forms: web=3, web+1, web-1. */
export function parseScale(args: string[]): ScaleRequest[] {
  const seen = new Set<string>()
  return args.map((arg) => {
    const m = /^([a-z][a-z0-9-]*)(=|\+|-)(\d+)$/.exec(arg)
    if (!m) {
      const sized = /^[a-z][a-z0-9-]*=\d+:/.test(arg)
      throw new UsageError(
        `"${arg}" is not a scale: ${sized ? "kplat has no dyno sizes; a process's resources are in its chart" : 'expected TYPE=COUNT, TYPE+N or TYPE-N'}`,
        'For example `kplat ps:scale web=2 worker=1`',
      )
    }

    const [, type, op, digits] = m
    const count = Number(digits)
    if (seen.has(type))
      throw new UsageError(
        `${type} is scaled twice on one command line`,
        `Give one count per type, for example \`kplat ps:scale ${type}=${count}\``,
      )
    seen.add(type)
    return {type, op: op as ScaleRequest['op'], count}
  })
}

export interface ScaleResult {
  app: string
  formation: FormationEntry[]
  /** The release the scale made. */
  release: number
}

export interface ScaleOptions {
  wait: boolean
  timeoutMs: number
  onStatus: (status: string) => void
  signal?: AbortSignal
}

export interface ScalePlan {
  target: AppTarget
  /** The whole formation kplat keeps, with the changes. */
  formation: Record<string, number>
  changed: Array<{type: ProcessType; count: number}>
  types: ProcessType[]
}

/** Checks a scale against the app's types, counts and the platform's maximum (its settings), before anything changes. */
export async function planScale(target: AppTarget, requests: ScaleRequest[]): Promise<ScalePlan> {
  const max = target.settings.maxProcesses
  const types = await processTypes(target)
  if (types.length === 0) throw notDeployed(target)
  const formation = {...kplatValues(target.application.spec.source).formation}
  const changed: ScalePlan['changed'] = []
  for (const r of requests) {
    const type = pick(types, r.type, target.name)
    const now = type.deployment.spec?.replicas ?? 0
    const count = r.op === '=' ? r.count : r.op === '+' ? now + r.count : now - r.count
    if (count < 0)
      throw new UsageError(
        `${r.type}${r.op}${r.count} would leave ${count} ${r.type} processes (it runs ${now})`,
        `Scale to 0 or more, for example \`kplat ps:scale ${r.type}=0\``,
      )
    if (count > max)
      throw new UsageError(
        `${r.type}${r.op}${r.count} would make ${count} ${r.type} processes: at most ${max} (the platform's maxProcesses)`,
        `Ask for ${max} or fewer`,
      )
    formation[r.type] = count
    changed.push({type, count})
  }

  return {target, formation, changed, types}
}

/**
 * Sets the formation where Argo CD keeps the desired state: the Application's Helm values
 * (`kplat.formation`), which the chart turns into each Deployment's replicas. A plain
 * `kubectl scale` is undone by self-heal; this survives it and every `git push`.
 */
export async function scale(plan: ScalePlan, opts: ScaleOptions): Promise<ScaleResult> {
  const {target} = plan
  let formation = plan.formation
  const pods = opts.wait ? await watchNewPods(target.kube, target.namespace, appSelector(target)) : undefined
  const release = await withReleases(target.ledger, async ({append, application}) => {
    // The formation as it is now, under the lock: another scale since the plan was made keeps its counts.
    formation = {
      ...kplatValues(application.spec.source).formation,
      ...Object.fromEntries(plan.changed.map((c) => [c.type.type, c.count])),
    }
    await applyKplatValues(target.kube, applicationRef(target), {formation}, FORMATION_MANAGER)
    const whole = {
      ...Object.fromEntries(plan.types.map((t) => [t.type, t.deployment.spec?.replicas ?? 0])),
      ...formation,
    }
    return append({
      kind: 'scale',
      description: `Scale ${plan.changed.map((c) => `${c.type.type}=${c.count}`).join(', ')}`,
      formation: whole,
      outcome: opts.wait ? 'deploying' : 'succeeded',
    })
  })
  if (pods)
    await track(
      target.ledger,
      release,
      pods.guard(
        (signal) => Promise.all(plan.changed.map((c) => waitForCount(target, c.type, c.count, {...opts, signal}))),
        {hint: stuckHint(target.name)},
      ),
    )
  const after = opts.wait ? await processTypes(target) : plan.types
  return {
    app: target.name,
    formation: after.map((t) => ({
      type: t.type,
      desired: formation[t.type] ?? t.deployment.spec?.replicas ?? 0,
      ready: t.deployment.status?.readyReplicas ?? 0,
    })),
    release: release.version,
  }
}

/** Waits until Argo CD has given the Deployment `count` replicas and that many are up; says so when the chart ignores the formation. */
async function waitForCount(target: AppTarget, type: ProcessType, count: number, opts: ScaleOptions): Promise<void> {
  const name = type.deployment.metadata!.name!
  const done = new AbortController()
  opts.signal?.addEventListener('abort', () => done.abort())
  let last = ''
  const up = waitFor(
    target.kube,
    {apiVersion: 'apps/v1', kind: 'Deployment', plural: 'deployments', namespace: target.namespace, name},
    (object) => {
      const d = object as Rollout | undefined
      if (!d) throw new KplatError(`the ${type.type} Deployment ${name} was deleted while scaling`)
      const status = `${type.type}: ${d.status?.readyReplicas ?? 0}/${count} up`
      if (status !== last) opts.onStatus(status)
      last = status
      return d.spec?.replicas === count && settled(d) ? true : undefined
    },
    {timeoutMs: opts.timeoutMs, signal: done.signal},
  )
  // Once Argo CD has rendered the new formation, a Deployment still at another count means
  // the chart does not read it: said at once, rather than after the timeout.
  const ignored = waitForKplatValues(
    target.kube,
    applicationRef(target),
    (values) => values.formation?.[type.type] === count,
    {timeoutMs: opts.timeoutMs, healthy: false, signal: done.signal},
  ).then(
    async () => {
      // (Abortable, so that a scale that is done does not wait for this.)
      await sleep(3000, done.signal)
      if (done.signal.aborted) return new Promise<never>(() => {})
      const live = (await target.kube.objects.read({
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: {name, namespace: target.namespace},
      })) as Rollout
      if (live.spec?.replicas !== count) {
        throw new KplatError(
          `Argo CD deployed the new formation, but the ${type.type} Deployment still asks for ${live.spec?.replicas ?? 0}: the app's chart does not read .Values.kplat.formation`,
          {hint: "See kplat's docs/chart-contract.md"},
        )
      }

      return new Promise<never>(() => {})
    },
    () => new Promise<never>(() => {}),
  )
  try {
    await Promise.race([up, ignored])
  } finally {
    done.abort()
  }
}

interface Rollout {
  metadata?: {generation?: number}
  spec?: {replicas?: number; template?: {metadata?: {annotations?: Record<string, string>}}}
  status?: {readyReplicas?: number; replicas?: number; updatedReplicas?: number; observedGeneration?: number}
}

/** The Deployment controller has seen the latest spec, and every pod runs it and is ready, old ones gone. */
function settled(d: Rollout): boolean {
  const want = d.spec?.replicas ?? 0
  const s = d.status ?? {}
  return (
    (s.observedGeneration ?? 0) >= (d.metadata?.generation ?? 0) &&
    (s.updatedReplicas ?? 0) === want &&
    (s.readyReplicas ?? 0) === want &&
    (s.replicas ?? 0) === want
  )
}

// --- ps:restart -------------------------------------------------------------------------

/** The process types a restart means: one, or all; checked before anything changes. */
export async function typesToRestart(target: AppTarget, only: string | undefined): Promise<ProcessType[]> {
  const types = await processTypes(target)
  if (types.length === 0) throw notDeployed(target)
  return only ? [pick(types, only, target.name)] : types
}

export interface RestartResult {
  app: string
  restarted: string[]
}

/**
 * A rolling restart, as `kubectl rollout restart` and Argo CD's restart action do it: a new
 * pod-template annotation. Argo CD's diff ignores a field its manifests never set, so
 * self-heal keeps it; then it waits until every old process is replaced and the new ones are up.
 */
export async function restart(
  target: AppTarget,
  chosen: ProcessType[],
  opts: {wait: boolean; timeoutMs: number; onStatus: (s: string) => void},
): Promise<RestartResult> {
  const at = new Date().toISOString()
  const pods = opts.wait ? await watchNewPods(target.kube, target.namespace, appSelector(target)) : undefined
  await Promise.all(
    chosen.map(async (t) => {
      const patch = {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: {name: t.deployment.metadata!.name, namespace: target.namespace},
        spec: {template: {metadata: {annotations: {[RESTARTED_AT]: at}}}},
      }
      try {
        await target.kube.objects.patch(patch, undefined, undefined, 'kplat', undefined, k8s.PatchStrategy.MergePatch)
      } catch (error) {
        throw kubeError(error, {verb: 'patch', resource: 'deployments', namespace: target.namespace})
      }
    }),
  )
  if (pods)
    await pods.guard((signal) => Promise.all(chosen.map((t) => waitForRollout(target, t, at, {...opts, signal}))), {
      hint: stuckHint(target.name),
    })
  return {app: target.name, restarted: chosen.map((t) => t.type)}
}

async function waitForRollout(
  target: AppTarget,
  type: ProcessType,
  at: string,
  opts: {timeoutMs: number; onStatus: (s: string) => void; signal?: AbortSignal},
): Promise<void> {
  let last = ''
  await waitFor(
    target.kube,
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      plural: 'deployments',
      namespace: target.namespace,
      name: type.deployment.metadata!.name!,
    },
    (object) => {
      const d = object as Rollout | undefined
      if (!d) throw new KplatError(`the ${type.type} Deployment was deleted while restarting`)
      if (d.spec?.template?.metadata?.annotations?.[RESTARTED_AT] !== at) return undefined
      const status = `${type.type}: ${d.status?.updatedReplicas ?? 0}/${d.spec.replicas ?? 0} restarted`
      if (status !== last) opts.onStatus(status)
      last = status
      return settled(d) ? true : undefined
    },
    {timeoutMs: opts.timeoutMs, signal: opts.signal},
  )
}
