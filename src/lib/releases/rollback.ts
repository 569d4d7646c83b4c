// releases:rollback: the app runs an earlier release's code and config again, without a
// rebuild and without turning Argo CD's automated sync off. The code: the deploy branch the
// Application tracks is moved back to that release's commit (its image exists: CI built it
// before it first moved the branch there), so automated sync deploys it and self-heal keeps it.
// The config: the release's snapshot is written back to the app's config Secret, under a new
// revision. The next push's CI moves the branch forward again (a fast-forward from the
// rolled-back commit), so `git push` deploys as always.
import type {Context} from '../context.js'
import {githubError} from '../github/errors.js'
import {applicationRef} from '../kube/argocd.js'
import {waitForKplatValues} from '../kube/argocd-apps.js'
import {watchNewPods} from '../kube/new-pods.js'
import {KplatError, UsageError} from '../errors.js'
import {deployConfigRevision, writeConfig} from '../config-vars/config-vars.js'
import {head, listReleases, readSnapshot, repositoryOf, stuckHint, track, withReleases, type Release} from './ledger.js'
import type {AppTarget} from '../shared/target.js'
import {step} from '../progress.js'
import {requestTimeoutMs} from '../timeouts.js'
import {appSelector} from '../shared/app-selector.js'

const DEPLOY_BRANCH = 'deploy'
/** The branch whose pushes CI builds and deploys (the skeleton's workflow). */
const BUILT_BRANCH = 'main'

export interface RollbackPlan {
  target: AppTarget
  repository: {owner: string; repo: string}
  /** Where the deploy branch was when the plan was made: the move happens only from there. */
  deployAt: string
  from: Release
  to: Release
  /** What the user should know but does not stop the rollback. */
  warnings: string[]
}

export interface RollbackResult {
  app: string
  release: number
  rolledBackTo: number
  commit?: string
  config: 'restored' | 'unchanged'
  warnings: string[]
}

/**
 * Where `releases:rollback` with no version goes: the last release before the latest that did
 * not fail and ran other code or config than it (a scale or an add-on change in between
 * changed neither, so going back to it would change nothing).
 */
export function defaultRollback(releases: Release[], from: Release): Release | undefined {
  return releases.findLast(
    (r) =>
      r.version < from.version &&
      r.outcome !== 'failed' &&
      (r.commit !== from.commit || r.config.version !== from.config.version),
  )
}

/** Picks the release (default: defaultRollback's) and checks, before anything changes, that it can run again. */
export async function planRollback(
  ctx: Context,
  target: AppTarget,
  version: number | undefined,
): Promise<RollbackPlan> {
  const releases = await listReleases(target.ledger)
  // From the latest release even when it failed: after a bad deploy, the one before it is what to go back to.
  const from = head(releases)
  if (!from)
    throw new KplatError(`${target.name} has no releases yet`, {
      hint: 'Its first deploy is its first release: `git push`, then `kplat releases`',
    })
  const to = version === undefined ? defaultRollback(releases, from) : releases.find((r) => r.version === version)
  if (!to) {
    throw version === undefined
      ? new KplatError(
          `no release before v${from.version} ran other code or config and did not fail: there is nothing to roll back to`,
          {hint: '`kplat releases` lists the releases'},
        )
      : new UsageError(
          `${target.name} has no release v${version}`,
          `\`kplat releases --app ${target.name}\` lists them; it has v1 to v${head(releases)!.version}`,
        )
  }

  if (to.outcome === 'failed')
    throw new UsageError(
      `v${to.version} failed (${to.reason ?? 'no reason recorded'}), so kplat will not roll back to it`,
      'Pick a release that succeeded: `kplat releases` shows each outcome',
    )
  if (!to.commit)
    throw new KplatError(`v${to.version} records no commit, so kplat cannot tell which code to run`, {
      hint: 'Pick another release',
    })
  if (to.commit === from.commit && to.config.version === from.config.version) {
    throw new UsageError(
      `v${to.version} runs the same code and config as the current release, v${from.version}`,
      'Pick an earlier release: `kplat releases` lists them',
    )
  }

  const repository = await repositoryOf(ctx, target.application)
  if (!repository)
    throw new KplatError(
      `${target.name} deploys from ${target.application.spec.source?.repoURL ?? 'no repository'}, which is not on the GitHub kplat uses`,
      {hint: "Set GITHUB_API_URL to that GitHub's API"},
    )
  const github = await ctx.github()
  const short = to.commit.slice(0, 7)
  // An image exists for a commit CI built; a run that is gone (retention, or deleted) leaves no
  // proof, and registries delete images on the same schedules.
  const [built, recent, deployRef] = await Promise.all([
    github.rest.actions.listWorkflowRunsForRepo({
      owner: repository.owner,
      repo: repository.repo,
      head_sha: to.commit,
      status: 'success',
      per_page: 1,
    }),
    // Only pushes to the branch CI deploys from can move the deploy branch: a pull request's
    // checks or another branch's build, however unfinished, cannot undo the rollback.
    github.rest.actions.listWorkflowRunsForRepo({
      owner: repository.owner,
      repo: repository.repo,
      event: 'push',
      branch: BUILT_BRANCH,
      per_page: 10,
    }),
    github.rest.git.getRef({owner: repository.owner, repo: repository.repo, ref: `heads/${DEPLOY_BRANCH}`}),
  ]).catch((error: unknown) => {
    throw githubError(error, `read the CI runs and the deploy branch of ${repository.owner}/${repository.repo}`)
  })
  // A deploy in progress would end the rollback as soon as it lands: CI moves the deploy branch
  // forward when its build is done, and a running sync is Argo CD deploying something else.
  const building = recent.data.workflow_runs.find((run) => run.status !== 'completed')
  if (building) {
    throw new KplatError(
      `a deploy is in progress: CI is building ${building.head_sha.slice(0, 7)} (${building.html_url}), and when it is done it deploys that commit, which would undo the rollback`,
      {
        hint: 'Wait for it (`kplat releases` shows the deploy), then roll back',
      },
    )
  }

  if (target.application.status?.operationState?.phase === 'Running') {
    throw new KplatError(`a deploy is in progress: Argo CD is syncing ${target.name} right now`, {
      hint: 'Wait a moment for it to finish (`kplat releases` shows it), then roll back',
    })
  }

  if (built.data.total_count === 0) {
    throw new KplatError(
      `the image of v${to.version} (commit ${short}) may no longer exist: no successful CI run of that commit is left on GitHub`,
      {
        hint: `Roll back to a later release, or rebuild that code: \`git revert\` the commits after ${short} and push`,
      },
    )
  }

  const warnings: string[] = []

  const added = from.addons.filter((a) => !to.addons.includes(a))
  const removed = to.addons.filter((a) => !from.addons.includes(a))
  if (added.length > 0 || removed.length > 0) {
    warnings.push(
      `add-ons are not rolled back: ${[...added.map((a) => `${a} stays attached`), ...removed.map((a) => `${a} (attached at v${to.version}) stays detached`)].join('; ')}; their env vars are as now`,
    )
  }

  return {target, repository, deployAt: deployRef.data.object.sha, from, to, warnings}
}

/** Moves the code and config back and records "Rollback to vN" (one step), then waits until Argo CD runs it (another). */
export async function rollback(ctx: Context, plan: RollbackPlan, opts: {timeoutMs: number}): Promise<RollbackResult> {
  const {target, to} = plan
  const pods = await watchNewPods(target.kube, target.namespace, appSelector(target))
  const {release, revision} = await step(
    ctx.progress,
    `Rolling back ${target.name} to v${to.version} (${to.commit!.slice(0, 7)})`,
    () =>
      withReleases(target.ledger, async ({releases, append}) => {
        const now = head(releases)!
        if (now.version !== plan.from.version)
          throw new KplatError(`${target.name} changed while the rollback was being checked (now at v${now.version})`, {
            hint: 'Run the rollback again',
          })
        // The snapshot is read first and the branch moved next: what may refuse (a deleted
        // snapshot, a token that may not push) does so before the app's config changes.
        const snapshot =
          to.config.version === now.config.version ? undefined : await readSnapshot(target.ledger, to.config.version)
        if (to.commit !== plan.deployAt) {
          const {moveBranchIfAt, BranchMovedError} = await import('../git/move.js')
          const what = `move the ${DEPLOY_BRANCH} branch of ${plan.repository.owner}/${plan.repository.repo} back to ${to.commit!.slice(0, 7)}`
          await moveBranchIfAt(target.application.spec.source!.repoURL!, await ctx.githubToken(), DEPLOY_BRANCH, {
            from: plan.deployAt,
            to: to.commit!,
            timeoutMs: requestTimeoutMs(ctx.env),
          }).catch((error: unknown) => {
            if (error instanceof BranchMovedError)
              throw new KplatError(`a deploy landed while rolling back ${target.name}: ${error.message}`, {
                hint: 'Nothing was changed. See it with `kplat releases`, then roll back again',
                cause: error,
              })
            throw new KplatError(`could not ${what}: ${(error as Error).message}`, {
              hint: 'Nothing was changed; check that your token may push to the repository, then roll back again',
              cause: error,
            })
          })
        }

        const revision = snapshot ? (await writeConfig(target, () => snapshot)).revision : undefined

        if (revision) await deployConfigRevision(target, revision)
        const release = await append({
          kind: 'rollback',
          description: `Rollback to v${to.version}`,
          commit: to.commit,
          config: to.config,
          rollbackOf: to.version,
        })
        return {release, revision}
      }),
  )
  await step(ctx.progress, `Waiting for Argo CD to deploy v${release.version}`, (update) =>
    track(
      target.ledger,
      release,
      pods.guard(
        (signal) =>
          waitForKplatValues(
            target.kube,
            applicationRef(target),
            (values) => revision === undefined || values.configRevision === revision,
            {timeoutMs: opts.timeoutMs, revision: to.commit, onStatus: update, signal},
          ),
        {hint: stuckHint(target.name)},
      ),
    ),
  )
  return {
    app: target.name,
    release: release.version,
    rolledBackTo: to.version,
    commit: to.commit,
    config: revision ? 'restored' : 'unchanged',
    warnings: plan.warnings,
  }
}
