import {KplatError} from '../errors.js'
import type {GitHub} from './client.js'
import {githubError} from './errors.js'

export interface RunResult {
  id: number
  url: string
  conclusion: string
}

export interface RunWaitOptions {
  timeoutMs: number
  onStatus: (status: string) => void
}

/** The first pause between polls, and the longest it grows to as a run goes on. */
const FIRST_POLL_MS = 500
const MAX_POLL_MS = 5000

interface Run {
  id: number
  status: string | null
  conclusion: string | null
  html_url: string
}

/**
 * Waits for the workflow run of a commit (found by its SHA) to complete, at a fixed cost
 * in rate limit however long it runs: two counted requests, the first look and the
 * completion. kplat asks only for the commit's *completed* runs, with If-None-Match: that
 * list stays empty, so unchanged, until the end, and an unchanged answer is a 304 that
 * GitHub does not count; the run's own comings and goings (queued, jobs starting, steps
 * finishing) cost nothing. A failed run ends with the failed job's name and URL.
 */
export async function waitForRun(
  github: GitHub,
  repo: {owner: string; name: string; htmlUrl: string},
  sha: string,
  opts: RunWaitOptions,
): Promise<RunResult> {
  const started = Date.now()
  const list = conditionalList(github, repo.owner, repo.name, sha)
  opts.onStatus(`follow it at ${repo.htmlUrl}/actions`)
  for (;;) {
    const run = await list('completed')
    if (run) {
      if (run.conclusion === 'success') return {id: run.id, url: run.html_url, conclusion: run.conclusion}
      throw await failedRun(github, repo.owner, repo.name, run)
    }

    if (Date.now() - started > opts.timeoutMs) {
      // Only now is it worth a counted request to say which run, if any, is late.
      const late = await list()
      throw new KplatError(
        `timed out after ${Math.round(opts.timeoutMs / 1000)}s waiting for the CI run of ${sha.slice(0, 7)} in ${repo.owner}/${repo.name} ${late ? `(still ${(late.status ?? 'queued').replace('_', ' ')}: ${late.html_url})` : '(no run appeared: does the repository have a workflow that runs on push?)'}`,
        {hint: 'Run `kplat create` again to keep waiting'},
      )
    }

    // Quick at first, so that a short run is noticed at once; slower as it goes on.
    await new Promise((resolve) =>
      setTimeout(resolve, Math.min(MAX_POLL_MS, FIRST_POLL_MS + (Date.now() - started) / 10)),
    )
  }
}

/**
 * The newest push run of a commit (of a given status), asked with If-None-Match: an
 * unchanged answer gives back what the last full answer said.
 */
function conditionalList(
  github: GitHub,
  owner: string,
  repo: string,
  sha: string,
): (status?: 'completed') => Promise<Run | undefined> {
  const etags = new Map<string, string>()
  const last = new Map<string, Run | undefined>()
  return async (status) => {
    const key = status ?? 'any'
    try {
      const etag = etags.get(key)
      const response = await github.request('GET /repos/{owner}/{repo}/actions/runs', {
        owner,
        repo,
        head_sha: sha,
        event: 'push',
        per_page: 1,
        ...(status ? {status} : {}),
        headers: etag ? {'if-none-match': etag} : {},
      })
      if (response.headers.etag) etags.set(key, response.headers.etag)
      const found = response.data.workflow_runs[0]
      last.set(
        key,
        found && {id: Number(found.id), status: found.status, conclusion: found.conclusion, html_url: found.html_url},
      )
    } catch (error) {
      if ((error as {status?: number}).status !== 304)
        throw githubError(error, `read the workflow runs of ${owner}/${repo}`)
    }

    return last.get(key)
  }
}

async function failedRun(github: GitHub, owner: string, repo: string, run: Run): Promise<KplatError> {
  const {data} = await github.rest.actions.listJobsForWorkflowRun({owner, repo, run_id: run.id})
  const job = data.jobs.find((j) => j.conclusion === 'failure') ?? data.jobs.find((j) => j.conclusion !== 'success')
  const where = job ? `job "${job.name}" failed: ${job.html_url}` : `see ${run.html_url}`
  return new KplatError(`the CI run ${run.conclusion === 'failure' ? 'failed' : `ended ${run.conclusion}`}; ${where}`, {
    hint: 'Fix it and push; or run `kplat create` again to retry the wait',
  })
}
