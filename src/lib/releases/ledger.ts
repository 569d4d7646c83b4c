// Releases: the app's numbered history, Heroku's `releases`. The one source of truth is a
// ConfigMap per release in the app's namespace (`APP-release-vN`): kplat writes one for every
// change it makes (config, scale, add-on, rollback) and, for deploys, which CI and Argo CD make
// without kplat, it copies each new revision from Argo CD's sync history into the ledger the
// next time any kplat command reads or changes releases. Argo CD keeps 100 history entries
// for kplat's apps (create sets revisionHistoryLimit), so that is how many syncs may pass
// between two kplat commands; once copied, a release outlives Argo CD's history.
//
// Writers take a Lease (`APP-releases`) for the few writes of a change, so release numbers are
// handed out one at a time and a config snapshot is the config of its release even when two
// people change the app at once. Each release records the whole state it leaves (commit,
// config snapshot, formation, add-ons), so a rollback knows what to restore.
import type {Context} from '../context.js'
import * as k8s from '../kube/k8s.js'
import {applicationRef, kplatValues, LABELS, type Application} from '../kube/argocd.js'
import type {Kube} from '../kube/client.js'
import {kubeError} from '../kube/errors.js'
import {holdLease, type HeldLease} from '../kube/lease.js'
import {KplatError, UsageError} from '../errors.js'

export const RELEASE_LABEL = 'kplat.dev/release'
const LOCK_SECONDS = 30

export type ReleaseKind = 'deploy' | 'config' | 'scale' | 'addons' | 'rollback'
export type Outcome = 'deploying' | 'succeeded' | 'failed' | 'superseded'

export interface Release {
  version: number
  kind: ReleaseKind
  description: string
  createdAt: string
  /** Who made it: the cluster user for kplat's changes, the commit's author for a deploy. */
  by: string
  /** The commit the app runs from this release on. */
  commit?: string
  message?: string
  author?: string
  /** The release whose config snapshot holds this release's config vars (0: none), and their names. */
  config: {version: number; keys: string[]}
  formation: Record<string, number>
  addons: string[]
  rollbackOf?: number
  /** The last Argo CD history entry this release accounts for. */
  historyId?: number
  outcome: Outcome
  reason?: string
  /** The release the app runs now (computed, not stored). */
  current?: boolean
}

/** Where an app's releases live, and how to describe a commit (from GitHub; optional). */
export interface Ledger {
  app: string
  kube: Kube
  namespace: string
  application: {name: string; namespace: string}
  describeCommit?: (sha: string) => Promise<{message: string; author: string} | undefined>
  /** The commit the Application's branch is at, asked of GitHub when Argo CD cannot say (its chart does not render). */
  branchHead?: () => Promise<string | undefined>
}

/** What a change adds: its kind and words, and the parts of the state it changes. */
export interface Change {
  kind: ReleaseKind
  description: string
  commit?: string
  config?: {version: number; keys: string[]}
  formation?: Record<string, number>
  addons?: string[]
  rollbackOf?: number
  outcome?: Outcome
  reason?: string
  /** The config vars this release leaves: kept in an immutable Secret of the release's own, for a rollback. */
  snapshot?: Record<string, string>
}

/**
 * The ledger of an app: its namespace, its Application, and its repository on GitHub to
 * describe deploys (without a GitHub token, deploys are recorded without their message).
 */
export function ledgerFor(
  ctx: Context,
  target: {name: string; kube: Kube; namespace: string; application: Application},
): Ledger {
  const {application} = target
  return {
    app: target.name,
    kube: target.kube,
    namespace: target.namespace,
    application: applicationRef(target),
    async describeCommit(sha) {
      const repo = await repositoryOf(ctx, application)
      if (!repo) return undefined
      const github = await ctx.github()
      const {data} = await github.rest.git.getCommit({owner: repo.owner, repo: repo.repo, commit_sha: sha})
      return {message: data.message, author: data.author.name}
    },
    async branchHead() {
      const repo = await repositoryOf(ctx, application)
      const branch = application.spec.source?.targetRevision
      if (!repo || !branch) return undefined
      const github = await ctx.github()
      const {data} = await github.rest.git.getRef({owner: repo.owner, repo: repo.repo, ref: `heads/${branch}`})
      return data.object.sha
    },
  }
}

/** The GitHub repository an app deploys from, when it is on the GitHub kplat talks to. */
export async function repositoryOf(
  ctx: Context,
  application: Application,
): Promise<{owner: string; repo: string} | undefined> {
  const url = application.spec.source?.repoURL
  if (!url) return undefined
  const [{githubHost}, {parseGitHubRemote}] = await Promise.all([import('../github/auth.js'), import('../git/repo.js')])
  return parseGitHubRemote(url, githubHost(ctx.env))
}

const releaseName = (app: string, version: number) => `${app}-release-v${version}`
export const snapshotName = (app: string, version: number) => `${app}-config-v${version}`

/** The app's releases, oldest first, with the current one marked; deploys not yet copied from Argo CD are copied first. */
export async function listReleases(ledger: Ledger): Promise<Release[]> {
  const [application, stored] = await Promise.all([readApplication(ledger), readLedger(ledger)])
  const releases =
    (await pendingDeploys(ledger, application, stored)).length > 0 || syncedAfterAll(application, stored).length > 0
      ? await withLock(ledger, async () => (await catchUp(ledger)).releases)
      : stored
  return markCurrent(releases, application)
}

/** Runs fn under the app's release lock, with the ledger caught up, and lets it append. */
export async function withReleases<T>(
  ledger: Ledger,
  fn: (state: {
    releases: Release[]
    application: Application
    append: (change: Change) => Promise<Release>
  }) => Promise<T>,
): Promise<T> {
  return withLock(ledger, async (lease) => {
    const {releases, application} = await catchUp(ledger)
    return fn({
      releases,
      application,
      append: (change) => {
        lease.assertHeld()
        return append(ledger, releases, application, change)
      },
    })
  })
}

/** What to say when a change's new pods will not start. */
export const stuckHint = (app: string) =>
  `\`kplat releases:rollback --app ${app}\` goes back to the release before; \`kplat logs --app ${app}\` shows more`

/** Sets the outcome of a release once the change is deployed, or has failed. */
export async function settleRelease(
  ledger: Ledger,
  release: Release,
  outcome: Outcome,
  reason?: string,
): Promise<void> {
  const settled: Release = {...release, outcome, ...(reason ? {reason} : {})}
  if (!reason) delete settled.reason
  delete settled.current
  await ledger.kube.objects
    .patch(
      {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: {name: releaseName(ledger.app, release.version), namespace: ledger.namespace},
        data: {release: JSON.stringify(settled)},
      } as k8s.KubernetesObject,
      undefined,
      undefined,
      'kplat',
      undefined,
      k8s.PatchStrategy.MergePatch,
    )
    .catch((error: unknown) => {
      throw kubeError(error, {verb: 'patch', resource: 'configmaps', namespace: ledger.namespace})
    })
}

/** vN or N, as typed. */
export function parseVersion(text: string): number {
  const m = /^v?(\d+)$/.exec(text)
  if (!m || Number(m[1]) < 1)
    throw new UsageError(`"${text}" is not a release: expected vN, such as v3`, '`kplat releases` lists them')
  return Number(m[1])
}

/** One release, or the current one. */
export function findRelease(app: string, releases: Release[], version: number | undefined): Release {
  const found =
    version === undefined
      ? (releases.find((r) => r.current) ?? head(releases))
      : releases.find((r) => r.version === version)
  if (found) return found
  if (releases.length === 0)
    throw new KplatError(`${app} has no releases yet`, {hint: 'Its first deploy is its first release'})
  throw new UsageError(
    `${app} has no release v${version}`,
    `It has v1 to v${head(releases)!.version}; \`kplat releases\` lists them`,
  )
}

/** The latest release, which holds the app's state as kplat knows it. */
export function head(releases: Release[]): Release | undefined {
  return releases.at(-1)
}

async function readApplication(ledger: Ledger): Promise<Application> {
  try {
    return (await ledger.kube.api(k8s.CustomObjectsApi).getNamespacedCustomObject({
      group: 'argoproj.io',
      version: 'v1alpha1',
      plural: 'applications',
      ...ledger.application,
    })) as Application
  } catch (error) {
    throw kubeError(error, {verb: 'get', resource: 'applications.argoproj.io', namespace: ledger.application.namespace})
  }
}

/** One list call, however many releases there are. */
async function readLedger(ledger: Ledger): Promise<Release[]> {
  let list: k8s.V1ConfigMapList
  try {
    list = await ledger.kube.api(k8s.CoreV1Api).listNamespacedConfigMap({
      namespace: ledger.namespace,
      labelSelector: `${LABELS.app}=${ledger.app},${RELEASE_LABEL}`,
    })
  } catch (error) {
    throw kubeError(error, {verb: 'list', resource: 'configmaps', namespace: ledger.namespace})
  }

  return list.items
    .filter((c) => c.metadata?.labels?.[LABELS.managedBy] === 'kplat' && c.data?.release)
    .map((c) => parseRelease(c.metadata?.name ?? '', ledger.namespace, c.data!.release))
    .sort((a, b) => a.version - b.version)
}

/** A release as stored; a ConfigMap someone edited into something else is named, not a crash. */
export function parseRelease(name: string, namespace: string, text: string): Release {
  let release: Partial<Release> | undefined
  try {
    release = JSON.parse(text) as Partial<Release>
  } catch {
    release = undefined
  }

  if (!release || typeof release !== 'object' || !Number.isInteger(release.version) || typeof release.kind !== 'string')
    throw new KplatError(
      `the release ConfigMap ${namespace}/${name} does not hold a release kplat can read (its data.release was changed by hand)`,
      {
        hint: `Restore it from your cluster's backup, or delete it (\`kubectl -n ${namespace} delete configmap ${name}\`): the other releases stay`,
      },
    )
  return {config: {version: 0, keys: []}, formation: {}, addons: [], ...release} as Release
}

interface HistoryEntry {
  id: number
  revision?: string
  deployedAt?: string
  initiatedBy?: {username?: string; automated?: boolean}
}
interface PendingDeploy {
  commit: string
  historyId?: number
  at?: string
  by?: string
  outcome: Outcome
  reason?: string
}
const SHA = /^[0-9a-f]{40}$/

/**
 * Deploys Argo CD made that the ledger does not have: history entries past the last one
 * accounted for whose commit differs from the one before (a config or scale sync keeps the
 * commit), then a commit Argo CD is deploying or failed to deploy, which has no entry yet.
 * Only the newest can still be under way or Degraded; the others were followed by another.
 */
async function pendingDeploys(ledger: Ledger, application: Application, releases: Release[]): Promise<PendingDeploy[]> {
  const seen = Math.max(-1, ...releases.map((r) => r.historyId ?? -1))
  let commit = head(releases)?.commit
  const out: PendingDeploy[] = []
  const history = ((application.status?.history ?? []) as HistoryEntry[])
    .filter((h) => h.id > seen)
    .sort((a, b) => a.id - b.id)
  for (const h of history) {
    if (!h.revision || h.revision === commit) continue
    out.push({commit: h.revision, historyId: h.id, at: h.deployedAt, by: h.initiatedBy?.username, outcome: 'succeeded'})
    commit = h.revision
  }

  // A commit never released: a revision the ledger had is an old state Argo CD has not left yet (a rollback's first seconds).
  const fresh = (sha: string | undefined): sha is string =>
    sha !== undefined &&
    SHA.test(sha) &&
    sha !== commit &&
    !releases.some((r) => r.commit === sha) &&
    !out.some((d) => d.commit === sha)
  let live = application.status?.sync?.revision
  const error = application.status?.conditions?.find((c) => /Error$/.test(c.type))
  // When the chart does not render, Argo CD names the branch, not the commit; GitHub knows which commit that is.
  if (error && !SHA.test(live ?? '')) live = await ledger.branchHead?.().catch(() => undefined)
  if (fresh(live)) out.push({commit: live, outcome: 'deploying'})
  const last = out.at(-1)
  if (last) Object.assign(last, liveOutcome(application, last.commit, live))
  return out
}

/**
 * Deploys recorded `failed` that Argo CD then synced after all: the error it reported when
 * the deploy was recorded was transient (a ComparisonError while the repo server restarted,
 * say), and a history entry of the same commit, newer than anything the ledger accounts
 * for, is a successful sync of it. Only while the app has run no other code since: a deploy
 * that failed and was moved on from stays failed.
 */
function syncedAfterAll(application: Application, releases: Release[]): Array<{release: Release; historyId: number}> {
  const seen = Math.max(-1, ...releases.map((r) => r.historyId ?? -1))
  const synced = ((application.status?.history ?? []) as HistoryEntry[]).filter((h) => h.id > seen)
  const out: Array<{release: Release; historyId: number}> = []
  for (let i = releases.length - 1; i >= 0; i--) {
    const r = releases[i]
    if (r.commit !== head(releases)?.commit) break
    const entry = synced.find((h) => h.revision === r.commit)
    if (r.kind === 'deploy' && r.outcome === 'failed' && entry) out.push({release: r, historyId: entry.id})
  }

  return out
}

async function catchUp(ledger: Ledger): Promise<{releases: Release[]; application: Application}> {
  const [application, releases] = await Promise.all([readApplication(ledger), readLedger(ledger)])
  for (const {release, historyId} of syncedAfterAll(application, releases)) {
    const corrected = {...release, historyId}
    await settleRelease(ledger, corrected, 'succeeded')
    Object.assign(release, corrected, {outcome: 'succeeded'})
    delete release.reason
  }

  const deploys = await pendingDeploys(ledger, application, releases)
  for (const d of deploys) {
    const described = await ledger.describeCommit?.(d.commit).catch(() => undefined)
    const short = d.commit.slice(0, 7)
    await append(
      ledger,
      releases,
      application,
      {
        kind: 'deploy',
        description: `Deploy ${short}${described ? `: ${described.message.split('\n')[0]}` : ''}`,
        commit: d.commit,
        outcome: d.outcome,
        reason: d.reason,
      },
      {
        at: d.at,
        by: d.by ?? described?.author ?? 'git push',
        message: described?.message,
        author: described?.author,
        historyId: d.historyId,
      },
    )
  }

  return {releases, application}
}

async function append(
  ledger: Ledger,
  releases: Release[],
  application: Application,
  change: Change,
  extra: {at?: string; by?: string; message?: string; author?: string; historyId?: number} = {},
): Promise<Release> {
  const previous = head(releases)
  if (previous?.outcome === 'deploying') {
    const live = liveOutcome(application, previous.commit)
    // Still settling (a self-heal of the first sync, pods starting) when the next change comes:
    // a deploy Argo CD has a successful sync of counts as done, and the next release's outcome
    // follows the rest; anything else is superseded.
    const synced =
      previous.kind === 'deploy' &&
      ((application.status?.history ?? []) as HistoryEntry[]).some((h) => h.revision === previous.commit)
    const settled =
      live.outcome === 'deploying' ? {outcome: synced ? ('succeeded' as const) : ('superseded' as const)} : live
    await settleRelease(ledger, previous, settled.outcome, settled.reason)
    Object.assign(previous, settled)
  }

  const version = (previous?.version ?? 0) + 1
  const latestHistory = Math.max(-1, ...((application.status?.history ?? []) as HistoryEntry[]).map((h) => h.id))
  const release: Release = {
    version,
    kind: change.kind,
    description: change.description,
    createdAt: extra.at ?? new Date().toISOString(),
    by: extra.by ?? (await whoAmI(ledger.kube)),
    commit: change.commit ?? previous?.commit ?? application.status?.sync?.revision,
    ...(extra.message ? {message: extra.message, author: extra.author} : {}),
    config: change.config ?? previous?.config ?? {version: 0, keys: []},
    formation: change.formation ?? previous?.formation ?? kplatValues(application.spec.source).formation ?? {},
    addons: change.addons ?? previous?.addons ?? (kplatValues(application.spec.source).addons ?? []).map((a) => a.name),
    ...(change.rollbackOf ? {rollbackOf: change.rollbackOf} : {}),
    historyId: extra.historyId ?? (latestHistory >= 0 ? latestHistory : undefined),
    outcome: change.outcome ?? 'deploying',
    ...(change.reason ? {reason: change.reason} : {}),
  }
  if (change.snapshot) {
    release.config = {version, keys: Object.keys(change.snapshot).sort()}
    await writeSnapshot(ledger, version, change.snapshot)
  }

  try {
    await ledger.kube.api(k8s.CoreV1Api).createNamespacedConfigMap({
      namespace: ledger.namespace,
      body: {
        metadata: {
          name: releaseName(ledger.app, version),
          labels: {[LABELS.managedBy]: 'kplat', [LABELS.app]: ledger.app, [RELEASE_LABEL]: String(version)},
        },
        data: {release: JSON.stringify(release)},
      },
    })
  } catch (error) {
    if ((error as {code?: number}).code === 409) {
      throw new KplatError(
        `release v${version} of ${ledger.app} was written by someone else meanwhile (without kplat's lock)`,
        {hint: 'Run the command again'},
      )
    }

    throw kubeError(error, {verb: 'create', resource: 'configmaps', namespace: ledger.namespace})
  }

  releases.push(release)
  return release
}

async function writeSnapshot(ledger: Ledger, version: number, values: Record<string, string>): Promise<void> {
  const body = {
    metadata: {
      name: snapshotName(ledger.app, version),
      labels: {[LABELS.managedBy]: 'kplat', [LABELS.app]: ledger.app, [RELEASE_LABEL]: String(version)},
    },
    type: 'Opaque',
    immutable: true,
    data: Object.fromEntries(Object.entries(values).map(([k, v]) => [k, Buffer.from(v, 'utf8').toString('base64')])),
  }
  try {
    await ledger.kube.api(k8s.CoreV1Api).createNamespacedSecret({namespace: ledger.namespace, body})
  } catch (error) {
    // Left by an attempt that died before its release was written: that number is being handed out again.
    if ((error as {code?: number}).code === 409) {
      await ledger.kube
        .api(k8s.CoreV1Api)
        .deleteNamespacedSecret({name: body.metadata.name, namespace: ledger.namespace})
      await ledger.kube.api(k8s.CoreV1Api).createNamespacedSecret({namespace: ledger.namespace, body})
      return
    }

    throw kubeError(error, {verb: 'create', resource: 'secrets', namespace: ledger.namespace})
  }
}

/** The config vars a release left (its snapshot); none for version 0. */
export async function readSnapshot(ledger: Ledger, version: number): Promise<Record<string, string>> {
  if (version === 0) return {}
  try {
    const secret = await ledger.kube
      .api(k8s.CoreV1Api)
      .readNamespacedSecret({name: snapshotName(ledger.app, version), namespace: ledger.namespace})
    return Object.fromEntries(
      Object.entries(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]),
    )
  } catch (error) {
    if ((error as {code?: number}).code === 404) {
      throw new KplatError(
        `the config vars of v${version} are gone (Secret ${ledger.namespace}/${snapshotName(ledger.app, version)} was deleted)`,
        {hint: 'Roll back to another release, or set the config vars with `kplat config:set`'},
      )
    }

    throw kubeError(error, {verb: 'get', resource: 'secrets', namespace: ledger.namespace})
  }
}

/** Waits for a change to be deployed and writes its outcome: succeeded, or failed with the reason (and the failure goes on). */
export async function track<T>(ledger: Ledger, release: Release, work: Promise<T>): Promise<T> {
  try {
    const value = await work
    await settleRelease(ledger, release, 'succeeded')
    return value
  } catch (error) {
    await settleRelease(ledger, release, 'failed', (error as Error).message).catch(() => undefined)
    throw error
  }
}

/** What Argo CD says of deploying a commit: done and Healthy, failed (with its words), or under way. */
export function liveOutcome(
  application: Application,
  commit: string | undefined,
  revision = application.status?.sync?.revision,
): {outcome: Outcome; reason?: string} {
  const s = application.status
  const op = s?.operationState
  if (op && ['Failed', 'Error'].includes(op.phase ?? '') && op.syncResult?.revision === commit)
    return {outcome: 'failed', reason: op.message}
  const error = s?.conditions?.find((c) => /Error$/.test(c.type))
  // revision: the commit Argo CD is comparing with, which the caller may know better (a chart that does not render).
  if (revision !== commit) return {outcome: 'deploying'}
  if (!s?.sync) return error ? {outcome: 'failed', reason: error.message} : {outcome: 'deploying'}
  if (error) return {outcome: 'failed', reason: error.message}
  if (s.health?.status === 'Degraded') return {outcome: 'failed', reason: s.health.message ?? 'Degraded'}
  return s.sync.status === 'Synced' && s.health?.status === 'Healthy' && op?.phase !== 'Running'
    ? {outcome: 'succeeded'}
    : {outcome: 'deploying'}
}

/** The newest release that did not fail is what runs; a release still deploying is shown live. */
function markCurrent(releases: Release[], application: Application): Release[] {
  const out = releases.map((r) => ({...r}))
  const last = out.at(-1)
  if (last?.outcome === 'deploying') Object.assign(last, liveOutcome(application, last.commit))
  const current = out.findLast((r) => r.outcome !== 'failed')
  if (current) current.current = true
  return out
}

const users = new WeakMap<Kube, Promise<string>>()
/** The cluster's name for the user, as it will appear in audit logs. */
async function whoAmI(kube: Kube): Promise<string> {
  let user = users.get(kube)
  if (!user) {
    user = kube
      .api(k8s.AuthenticationV1Api)
      .createSelfSubjectReview({body: {}})
      .then(
        (r) => r.status?.userInfo?.username ?? 'unknown',
        () => 'unknown',
      )
    users.set(kube, user)
  }

  return user
}

/**
 * Holds the app's release lock (a Lease in its namespace, renewed while fn runs) so release
 * numbers are handed out one at a time. A holder that died stops renewing, and its Lease is
 * taken over after LOCK_SECONDS, judged without this machine's clock (kube/lease.ts).
 */
function withLock<T>(ledger: Ledger, fn: (lease: HeldLease) => Promise<T>): Promise<T> {
  return holdLease(
    ledger.kube,
    {
      name: `${ledger.app}-releases`,
      namespace: ledger.namespace,
      seconds: LOCK_SECONDS,
      labels: {[LABELS.managedBy]: 'kplat', [LABELS.app]: ledger.app},
      busy: (holder, waited) =>
        new KplatError(
          `another change to ${ledger.app} is being recorded (${holder}) and did not finish within ${waited}s`,
          {hint: 'Run the command again in a moment'},
        ),
    },
    fn,
  )
}
