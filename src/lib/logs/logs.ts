// `kplat logs`: every process's output and what the platform did to the app, as one stream.
// Past lines come in time order; with --tail the stream follows pods as they come and go,
// and a dropped log connection resumes from its last line, without gaps or repeats.
import {setMaxListeners} from 'node:events'
import type * as http from 'node:http'
import {kplatValues, type Application} from '../kube/argocd.js'
import {describe, observe, type Observed} from '../kube/observe.js'
import {openStream, readAll, StreamError} from '../kube/stream.js'
import {kubeError} from '../kube/errors.js'
import {KplatError} from '../errors.js'
import {listXrds} from '../kube/crossplane.js'
import {addonState} from '../addons/instances.js'
import {toService, type AddonService} from '../addons/services.js'
import {listPods, notDeployed, PROCESS_LABEL, processTypes} from '../processes/processes.js'
import type {AppTarget} from '../shared/target.js'
import {NANO_UTC} from './time.js'
import {addonSelector, appSelector} from '../shared/app-selector.js'
import {bindingsOf} from '../addons/bindings.js'

export type LogSource = 'app' | 'platform'

export interface LogLine {
  /** RFC 3339 with the precision the source gave. */
  time: string
  source: LogSource
  /** The pod, or for platform lines what the platform acted on (Pod/NAME, Application/NAME). */
  process: string
  /** Every app line's container; undefined for platform lines. */
  container?: string
  /** The pod has more than one container, so a human reader needs the container's name too. */
  sharedPod?: boolean
  message: string
}

export interface LogOptions {
  tail: boolean
  /** How many past lines, across every process; undefined for all (--since alone). */
  num?: number
  type?: string
  pod?: string
  source?: LogSource
  sinceSeconds?: number
  /** How long the cluster may be away during --tail before kplat gives up. */
  giveUpMs: number
  /**
   * How long a followed stream may bring nothing before it is opened again. A half-open
   * connection (a laptop that slept, a load balancer that dropped it) says nothing, not even
   * that it is gone: reopening from the last line seen loses and repeats nothing, so a quiet
   * app costs one request per period and a dead connection at most one period of lines late.
   */
  idleMs: number
  signal: AbortSignal
  /** Called with lines in order; returns false when the consumer wants a pause (stdout is full). */
  emit: (lines: LogLine[]) => boolean
  /** Resumes paused streams once the consumer has room again. */
  onDrain: (resume: () => void) => void
  notice: (text: string) => void
}

interface PodLike extends Observed {
  metadata?: Observed['metadata'] & {
    name?: string
    uid?: string
    labels?: Record<string, string>
    deletionTimestamp?: string
  }
  spec?: {containers?: Array<{name: string}>}
  status?: {
    phase?: string
    containerStatuses?: Array<{
      name: string
      restartCount?: number
      state?: {running?: unknown; terminated?: unknown; waiting?: unknown}
    }>
  }
}

/** Runs `kplat logs`: the past lines, then (with tail) the live ones until the signal ends it. */
export async function streamLogs(target: AppTarget, opts: LogOptions): Promise<void> {
  // Every request and watch listens on the one signal: as many as the app has containers,
  // which is no leak, and no reason for node to warn of one on stderr.
  setMaxListeners(0, opts.signal)
  const wantApp = opts.source !== 'platform'
  const wantPlatform = opts.source !== 'app'
  const started = Date.now()
  const [pods, events, {kinds, lines: addonLines}, ownEvent] = await Promise.all([
    wantApp || opts.pod || opts.type
      ? (listPods(target.kube, target.namespace, appSelector(target)) as Promise<PodLike[]>)
      : [],
    wantPlatform ? listEvents(target) : [],
    // Add-on lines are never a process's: --ps and --dyno leave them out, so kplat does not ask.
    wantPlatform && !opts.pod && !opts.type ? addonsNow(target, opts.notice) : {kinds: [], lines: []},
    wantPlatform ? eventOwner(target) : () => true,
  ])
  const chosen = pods.filter((p) => selected(p, opts))
  if (opts.pod && !pods.some((p) => p.metadata?.name === opts.pod)) {
    throw new KplatError(
      `${target.name} has no process "${opts.pod}" (its processes: ${pods.map((p) => p.metadata?.name).join(', ') || 'none'})`,
      {hint: `\`kplat ps --app ${target.name}\` lists them`},
    )
  }

  if (!opts.tail && wantApp && pods.length === 0) throw notDeployed(target)
  if (opts.type && !opts.tail && chosen.length === 0) {
    const types = [...new Set(pods.map((p) => p.metadata?.labels?.[PROCESS_LABEL]).filter(Boolean))]
    throw new KplatError(
      `${target.name} has no ${opts.type} processes running (types with processes: ${types.join(', ') || 'none'})`,
      {hint: `\`kplat ps:scale ${opts.type}=1 --app ${target.name}\` starts one`},
    )
  }

  // Past lines: one request per container, merged by time; the last `num` of them all.
  const cursors = new Map<string, Cursor>()
  const past: LogLine[] = []
  if (wantApp) {
    await Promise.all(
      chosen.flatMap((pod) =>
        containersOf(pod).map(async (container) => {
          const cursor = new Cursor(pod.metadata!.name!, container, multi(pod))
          cursors.set(cursor.key, cursor)
          try {
            const text = await readAll(
              target.kube,
              logPath(target.namespace, cursor.pod),
              {container, timestamps: true, tailLines: opts.num, sinceSeconds: opts.sinceSeconds},
              opts.signal,
            )
            past.push(...cursor.take(text, true))
          } catch (error) {
            if (opts.signal.aborted) return
            // A process that has not started yet has nothing to say: not a failure of the whole command.
            if (error instanceof StreamError && error.code === 400) return
            throw kubeError(error, {verb: 'get', resource: 'pods/log', namespace: target.namespace})
          }
        }),
      ),
    )
  }

  if (wantPlatform)
    past.push(
      ...[...events.filter(ownEvent), ...addonLines].filter((e) => platformSelected(e, target, opts)),
      ...applicationLines(target.application),
    )
  const since =
    opts.sinceSeconds === undefined ? undefined : timeKey(new Date(started - opts.sinceSeconds * 1000).toISOString())
  const ordered = byTime(past.filter((l) => !since || l.source === 'app' || timeKey(l.time) >= since))
  // (slice(-0) would be everything.)
  opts.emit(opts.num === undefined ? ordered : opts.num === 0 ? [] : ordered.slice(-opts.num))
  if (!opts.tail) return

  if (wantApp && pods.length === 0) opts.notice(`${notDeployed(target).message}; waiting for its processes...`)
  const follower = new Follower(target, opts, cursors, started)
  const watches: Array<Promise<void>> = []
  const trouble = troubleReporter(opts)
  if (wantApp) {
    watches.push(
      observe(target.kube, {
        apiVersion: 'v1',
        plural: 'pods',
        namespace: target.namespace,
        labelSelector: appSelector(target),
        giveUpMs: opts.giveUpMs,
        signal: opts.signal,
        ...trouble,
        onList: (items) => follower.reconcile(items as PodLike[]),
        onEvent: (type, pod) => follower.podChanged(type, pod as PodLike),
      }),
    )
  }

  if (wantPlatform) {
    const seen = new Set(events.map((e) => e.time + e.process + e.message))
    watches.push(
      observe(target.kube, {
        apiVersion: 'v1',
        plural: 'events',
        namespace: target.namespace,
        giveUpMs: opts.giveUpMs,
        signal: opts.signal,
        ...trouble,
        onList: (items) => emitNew(items),
        onEvent: (type, event) => type !== 'DELETED' && emitNew([event]),
      }),
    )
    const emitNew = (items: Observed[]) => {
      const fresh = items
        .map(eventLine)
        .filter((l) => !seen.has(l.time + l.process + l.message) && ownEvent(l) && platformSelected(l, target, opts))
      for (const l of fresh) seen.add(l.time + l.process + l.message)
      if (fresh.length > 0) opts.emit(byTime(fresh))
    }

    // Each add-on's state as it changes: Crossplane writes no event when one turns ready.
    const addonStates = new Map(addonLines.map((l) => [l.process, l.message]))
    const addonChanged = (line: LogLine) => {
      if (addonStates.get(line.process) === line.message) return
      addonStates.set(line.process, line.message)
      opts.emit([line])
    }

    const deleted = (kind: string, name: string): LogLine => ({
      time: new Date().toISOString(),
      source: 'platform',
      process: `${kind}/${name}`,
      message: 'add-on deleted',
    })
    for (const kind of kinds) {
      const watch = observe(target.kube, {
        apiVersion: kind.apiVersion,
        plural: kind.plural,
        namespace: target.namespace,
        labelSelector: addonSelector(target),
        giveUpMs: opts.giveUpMs,
        signal: opts.signal,
        ...trouble,
        onList: (items) => {
          // A re-list after a lost watch: an add-on that went meanwhile is said to be gone.
          const there = new Set(items.map((o) => `${kind.kind}/${o.metadata?.name ?? ''}`))
          for (const [process, message] of addonStates) {
            if (process.startsWith(`${kind.kind}/`) && !there.has(process) && message !== 'add-on deleted')
              addonChanged(deleted(kind.kind, process.slice(kind.kind.length + 1)))
          }

          for (const o of items) addonChanged(addonLine(o, kind.kind))
        },
        onEvent: (type, o) =>
          addonChanged(type === 'DELETED' ? deleted(kind.kind, o.metadata?.name ?? '') : addonLine(o, kind.kind)),
      })
      // A kind this user may not watch costs its add-on lines, never the tail.
      watches.push(
        watch.catch((error: unknown) => {
          if (!opts.signal.aborted) opts.notice(`not following ${kind.plural}: ${(error as Error).message}`)
        }),
      )
    }

    let last = applicationState(target.application)
    watches.push(
      observe(target.kube, {
        apiVersion: 'argoproj.io/v1alpha1',
        plural: 'applications',
        namespace: target.application.metadata.namespace!,
        fieldSelector: `metadata.name=${target.application.metadata.name}`,
        giveUpMs: opts.giveUpMs,
        signal: opts.signal,
        ...trouble,
        onList: (items) => items.forEach((a) => changed(a as unknown as Application)),
        onEvent: (type, a) => type !== 'DELETED' && changed(a as unknown as Application),
      }),
    )
    const changed = (application: Application) => {
      const now = applicationState(application)
      if (now === last) return
      last = now
      opts.emit([
        {
          time: new Date().toISOString(),
          source: 'platform',
          process: `Application/${application.metadata.name}`,
          message: `Argo CD: ${now}`,
        },
      ])
    }
  }

  try {
    await Promise.race([
      Promise.all(watches),
      new Promise<void>((resolve) => opts.signal.addEventListener('abort', () => resolve(), {once: true})),
    ])
  } finally {
    follower.stop()
  }
}

function selected(pod: PodLike, opts: LogOptions): boolean {
  if (opts.pod && pod.metadata?.name !== opts.pod) return false
  if (opts.type && pod.metadata?.labels?.[PROCESS_LABEL] !== opts.type) return false
  return true
}

/**
 * Which events are about the app's own objects. In a namespace of its own, every event is. In
 * a team's namespace, shared with the team's other apps, names decide, exactly for workloads:
 * a Deployment is APP-TYPE, its ReplicaSets APP-TYPE-HASH, their pods APP-TYPE-HASH-ID, for
 * the app's process types (its Deployments, by label), so that app `shop`'s logs never show
 * app `shop-web`'s processes; anything else is the app's when named APP, after one of its
 * add-ons, or APP-something (an add-on not yet bound).
 */
async function eventOwner(target: AppTarget): Promise<(line: LogLine) => boolean> {
  if (!appSelector(target)) return () => true
  const types = new Set([
    ...(await processTypes(target).catch(() => [])).map((t) => t.type),
    ...Object.keys(kplatValues(target.application.spec.source).formation ?? {}),
  ])
  const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
  const workload = new RegExp(
    `^${escape(target.name)}-(${[...types].map(escape).join('|') || '(?!)'})(-[a-z0-9]+)?(-[a-z0-9]+)?$`,
  )
  const bound = new Set(bindingsOf(target.application).map((b) => b.name))
  return (line) => {
    const slash = line.process.indexOf('/')
    const kind = line.process.slice(0, slash)
    const name = line.process.slice(slash + 1)
    const match = workload.exec(name)
    if (kind === 'Deployment') return Boolean(match && !match[2])
    if (kind === 'ReplicaSet') return Boolean(match && match[2] && !match[3])
    if (kind === 'Pod') return Boolean(match && match[3])
    return name === target.name || bound.has(name) || name.startsWith(`${target.name}-`)
  }
}

function platformSelected(line: LogLine, target: AppTarget, opts: LogOptions): boolean {
  if (opts.pod) return line.process.endsWith(`/${opts.pod}`)
  if (opts.type) return line.process.includes(`/${target.name}-${opts.type}`)
  return true
}

function containersOf(pod: PodLike): string[] {
  return (pod.spec?.containers ?? []).map((c) => c.name)
}

function multi(pod: PodLike): boolean {
  return (pod.spec?.containers ?? []).length > 1
}

function logPath(namespace: string, pod: string): string {
  return `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(pod)}/log`
}

/**
 * Where one container's log stands: the time of the last line shown, and how many lines
 * with exactly that time were shown. The API server resumes a log from a whole second
 * (sinceTime), so on a reconnect the lines up to there come again and are skipped here.
 */
class Cursor {
  readonly key: string
  lastKey = ''
  atLast = 0
  private partial = ''
  private countingKey = ''
  private counting = 0

  constructor(
    readonly pod: string,
    readonly container: string,
    private readonly sharedPod: boolean,
  ) {
    this.key = `${pod}/${container}`
  }

  /** The new lines in a chunk of `timestamps=true` output; a line cut by the chunk waits for the next. */
  take(chunk: string, whole = false): LogLine[] {
    const text = this.partial + chunk
    const parts = text.split('\n')
    this.partial = whole ? '' : parts.pop()!
    const out: LogLine[] = []
    for (const raw of parts) {
      if (raw === '') continue
      const space = raw.indexOf(' ')
      const time = space > 0 ? raw.slice(0, space) : ''
      const key = timeKey(time)
      if (!key) continue
      // A resumed stream repeats its last second: skip what was shown already.
      if (key === this.countingKey) this.counting++
      else {
        this.countingKey = key
        this.counting = 1
      }

      if (key < this.lastKey || (key === this.lastKey && this.counting <= this.atLast)) continue
      if (key === this.lastKey) this.atLast++
      else {
        this.lastKey = key
        this.atLast = 1
      }

      out.push({
        time,
        source: 'app',
        process: this.pod,
        container: this.container,
        sharedPod: this.sharedPod,
        message: raw.slice(space + 1).replace(/\r$/, ''),
      })
    }

    return out
  }

  /** Forget the cut line and the repeat count: a new connection starts at a line's beginning. */
  restart(): void {
    this.partial = ''
    this.countingKey = ''
    this.counting = 0
  }

  /** The whole second to resume from. */
  sinceTime(): string | undefined {
    return this.lastKey ? `${this.lastKey.slice(0, 19)}Z` : undefined
  }
}

/** A sortable key for an RFC 3339 time: UTC, nanoseconds, fixed width. */
export function timeKey(time: string): string {
  // The runtime's own form (RFC 3339, nanoseconds, UTC) is the key less its Z: every line of
  // a tail takes this path, so it is a test, without the captures and strings below.
  if (NANO_UTC.test(time)) return time.slice(0, 29)
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$/.exec(time)
  if (!m) return ''
  const fraction = (m[2] ?? '').padEnd(9, '0')
  if (m[3] === 'Z') return `${m[1]}.${fraction}`
  const utc = new Date(Date.parse(`${m[1]}${m[3]}`)).toISOString().slice(0, 19)
  return `${utc}.${fraction}`
}

/** Lines in time order, stable; each time parsed once, not once per comparison. */
function byTime(lines: LogLine[]): LogLine[] {
  return lines
    .map((line) => ({key: timeKey(line.time), line}))
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
    .map((k) => k.line)
}

interface Stream {
  cursor: Cursor
  response?: http.IncomingMessage
  abort?: AbortController
  /** A connection is open or being opened. */
  busy: boolean
  failures: number
  timer?: NodeJS.Timeout
}

/** Follows every container of every selected pod, as pods come, restart and go. */
class Follower {
  private readonly streams = new Map<string, Stream>()
  private readonly pods = new Map<string, PodLike>()
  private readonly known: Set<string>
  private paused = false
  private stopped = false

  constructor(
    private readonly target: AppTarget,
    private readonly opts: LogOptions,
    cursors: Map<string, Cursor>,
    private readonly startedAt: number,
  ) {
    for (const cursor of cursors.values()) this.streams.set(cursor.key, {cursor, busy: false, failures: 0})
    // Pods there at the start resume from where the past lines ended; later pods are read from their first line.
    this.known = new Set([...cursors.values()].map((c) => c.pod))
  }

  reconcile(items: PodLike[]): void {
    const names = new Set(items.map((p) => p.metadata?.name))
    for (const name of this.pods.keys()) if (!names.has(name)) this.podChanged('DELETED', this.pods.get(name)!)
    for (const pod of items) this.podChanged('MODIFIED', pod)
  }

  podChanged(type: 'ADDED' | 'MODIFIED' | 'DELETED', pod: PodLike): void {
    const name = pod.metadata?.name
    if (!name || !selected(pod, this.opts)) return
    if (type === 'DELETED') {
      this.pods.delete(name)
      // Its last lines may still be on their way; then its streams go.
      setTimeout(() => this.drop(name), 1000).unref()
      return
    }

    this.pods.set(name, pod)
    for (const container of containersOf(pod)) {
      const key = `${name}/${container}`
      let stream = this.streams.get(key)
      if (!stream) {
        const cursor = new Cursor(name, container, multi(pod))
        stream = {cursor, busy: false, failures: 0}
        this.streams.set(key, stream)
      }

      if (!stream.busy && running(pod, container)) this.open(stream)
    }
  }

  private drop(pod: string): void {
    if (this.pods.has(pod)) return
    for (const [key, stream] of this.streams) {
      if (stream.cursor.pod !== pod) continue
      stream.abort?.abort()
      clearTimeout(stream.timer)
      this.streams.delete(key)
    }
  }

  private open(stream: Stream): void {
    if (this.stopped) return
    stream.busy = true
    clearTimeout(stream.timer)
    const abort = new AbortController()
    stream.abort = abort
    const cursor = stream.cursor
    cursor.restart()
    // Pods there at the start: from the last line shown (or from when kplat looked); new pods: from their first line.
    const since =
      cursor.sinceTime() ??
      (this.known.has(cursor.pod)
        ? new Date(Math.floor(this.startedAt / 1000) * 1000).toISOString().replace('.000', '')
        : undefined)
    const query = {container: cursor.container, follow: true, timestamps: true, sinceTime: since}
    // Its own signal only: stop() aborts every stream when the command's signal ends the tail.
    const signal = abort.signal
    let idle = false
    void openStream(this.target.kube, logPath(this.target.namespace, cursor.pod), query, signal)
      .then((response) => {
        stream.response = response
        stream.failures = 0
        response.setTimeout(this.opts.idleMs, () => {
          idle = true
          response.destroy()
        })
        response.setEncoding('utf8')
        if (this.paused) response.pause()
        response.on('data', (chunk: string) => {
          const lines = cursor.take(chunk)
          if (lines.length > 0 && !this.opts.emit(lines)) this.pause()
        })
        return new Promise<void>((resolve, reject) => {
          response.on('end', resolve)
          response.on('error', reject)
          response.on('close', resolve)
        })
      })
      .catch((error: unknown) => {
        if (!signal.aborted && !(error instanceof StreamError && error.code === 400))
          this.opts.notice(
            `log stream of ${cursor.key} broke (${error instanceof StreamError ? error.message : describe(error)}); resuming`,
          )
      })
      .finally(() => {
        stream.busy = false
        stream.response = undefined
        if (signal.aborted || this.stopped || !this.streams.has(cursor.key)) return
        // Ended: the container stopped, the connection dropped, or it was not ready yet. Try
        // again soon, while the pod is there and its container runs; a new pod's first try is fast.
        // Reopened at once after a quiet period: that is not a failure.
        stream.failures = idle ? 0 : stream.failures + 1
        const pod = this.pods.get(cursor.pod)
        if (!pod) return
        const delay = idle ? 0 : Math.min(100 * 2 ** Math.min(stream.failures - 1, 6), 5000)
        stream.timer = setTimeout(() => {
          const now = this.pods.get(cursor.pod)
          if (now && running(now, cursor.container) && !stream.busy) this.open(stream)
        }, delay)
        stream.timer.unref()
      })
  }

  private pause(): void {
    if (this.paused) return
    this.paused = true
    for (const s of this.streams.values()) s.response?.pause()
    this.opts.onDrain(() => {
      this.paused = false
      for (const s of this.streams.values()) s.response?.resume()
    })
  }

  stop(): void {
    this.stopped = true
    for (const s of this.streams.values()) {
      s.abort?.abort()
      clearTimeout(s.timer)
    }
  }
}

function running(pod: PodLike, container: string): boolean {
  if (pod.metadata?.deletionTimestamp && pod.status?.phase !== 'Running') return false
  const status = pod.status?.containerStatuses?.find((c) => c.name === container)
  return Boolean(status?.state?.running) || (status === undefined && pod.status?.phase === 'Running')
}

function troubleReporter(opts: LogOptions) {
  let reported = false
  return {
    onTrouble: (why: string) => {
      if (!reported) opts.notice(`lost the connection to the cluster (${why}); reconnecting...`)
      reported = true
    },
    onRecovered: () => {
      if (reported) opts.notice('reconnected to the cluster')
      reported = false
    },
  }
}

// --- platform lines ----------------------------------------------------------------------

interface EventLike extends Observed {
  reason?: string
  message?: string
  type?: string
  count?: number
  lastTimestamp?: string
  firstTimestamp?: string
  eventTime?: string
  metadata?: Observed['metadata'] & {creationTimestamp?: string}
  involvedObject?: {kind?: string; name?: string}
}

async function listEvents(target: AppTarget): Promise<LogLine[]> {
  try {
    const body = await readAll(target.kube, `/api/v1/namespaces/${encodeURIComponent(target.namespace)}/events`, {})
    return ((JSON.parse(body) as {items?: Observed[]}).items ?? []).map(eventLine)
  } catch (error) {
    throw kubeError(error, {verb: 'list', resource: 'events', namespace: target.namespace})
  }
}

/** A Kubernetes event as a log line: what happened to which object, in the kubelet's or controller's words. */
function eventLine(object: Observed): LogLine {
  const e = object as EventLike
  const time = normalise(
    e.lastTimestamp ?? e.eventTime ?? e.firstTimestamp ?? e.metadata?.creationTimestamp ?? new Date().toISOString(),
  )
  const count = (e.count ?? 1) > 1 ? ` (x${e.count})` : ''
  const warning = e.type === 'Warning' ? 'Warning ' : ''
  return {
    time,
    source: 'platform',
    process: `${e.involvedObject?.kind ?? 'Object'}/${e.involvedObject?.name ?? ''}`,
    message: `${warning}${e.reason ?? ''}: ${e.message ?? ''}${count}`.trim(),
  }
}

/**
 * The app's add-ons, each as a line of its state since it last changed, and the kinds they
 * may be (the XRDs an app can own). A cluster without Crossplane, or a user who may not read
 * XRDs, has none to show; the rest of the logs does not depend on them.
 */
async function addonsNow(
  target: AppTarget,
  notice: (text: string) => void,
): Promise<{kinds: AddonService[]; lines: LogLine[]}> {
  let kinds: AddonService[]
  try {
    kinds = (await listXrds(target.kube)).map(toService).filter((s) => s.shape !== 'cluster')
  } catch {
    return {kinds: [], lines: []}
  }

  const lists = await Promise.all(
    kinds.map(async (kind) => {
      try {
        const body = await readAll(
          target.kube,
          `/apis/${kind.apiVersion}/namespaces/${encodeURIComponent(target.namespace)}/${kind.plural}`,
          {labelSelector: addonSelector(target)},
        )
        return {
          kind,
          lines: ((JSON.parse(body) as {items?: Observed[]}).items ?? []).map((o) => addonLine(o, kind.kind)),
        }
      } catch (error) {
        // A kind whose controller has not started yet, or that this user may not list: its
        // add-ons go unshown (said, unless it is simply not served), and it is not followed.
        if (!(error instanceof StreamError && error.code === 404))
          notice(
            `add-ons of kind ${kind.kind} not shown: ${error instanceof StreamError ? `HTTP ${error.code}: ${error.message}` : describe(error)}`,
          )
        return undefined
      }
    }),
  )
  const listed = lists.filter((l) => l !== undefined)
  return {kinds: listed.map((l) => l.kind), lines: listed.flatMap((l) => l.lines)}
}

/** An add-on's state as a line, at the time Crossplane last changed it. */
function addonLine(object: Observed, kind: string): LogLine {
  const o = object as Observed & {
    status?: {conditions?: Parameters<typeof addonState>[0]}
    metadata?: {creationTimestamp?: string; deletionTimestamp?: string}
  }
  const {state, message, since} = addonState(o.status?.conditions ?? [])
  const process = `${kind}/${o.metadata?.name ?? ''}`
  if (o.metadata?.deletionTimestamp)
    return {time: normalise(o.metadata.deletionTimestamp), source: 'platform', process, message: 'add-on deleting'}
  return {
    time: normalise(since ?? o.metadata?.creationTimestamp ?? new Date().toISOString()),
    source: 'platform',
    process,
    message: `add-on ${state}${message ? `: ${message}` : ''}`,
  }
}

function normalise(time: string): string {
  return /Z$/.test(time) ? time : new Date(time).toISOString()
}

/** Argo CD's record of deploys, as lines: each synced revision, and the last sync's outcome. */
function applicationLines(application: Application): LogLine[] {
  const process = `Application/${application.metadata.name}`
  const lines: LogLine[] = (application.status?.history ?? [])
    .filter((h) => h.deployedAt)
    .map((h) => ({
      time: normalise(h.deployedAt!),
      source: 'platform',
      process,
      message: `Argo CD: deployed revision ${h.revision?.slice(0, 7) ?? '?'}`,
    }))
  return lines
}

function applicationState(application: Application): string {
  const s = application.status
  const problem = s?.conditions?.find((c) => /Error$/.test(c.type))
  return `sync ${s?.sync?.status ?? 'Unknown'} at ${s?.sync?.revision?.slice(0, 7) ?? '-'}, health ${s?.health?.status ?? 'Unknown'}${s?.health?.message ? ` (${s.health.message})` : ''}${problem ? `; ${problem.type}: ${problem.message ?? ''}` : ''}`
}
