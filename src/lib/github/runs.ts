import {KplatError} from '../ui/errors.js'
import type {GitHub} from './client.js'
import {githubError} from './errors.js'

export interface RunResult {
  id: number
  url: string
  conclusion: string
}

export interface RunWaitOptions {
  timeoutMs: number
  pollMs: number
  onStatus: (status: string) => void
  sleep?: (ms: number) => Promise<void>
}

/**
 * Waits for the workflow run of a commit (found by its SHA) to complete. Polls with
 * If-None-Match, so an unchanged answer is a 304 that costs no rate limit; only the few
 * changes of the run's status count. A failed run ends with the failed job's name and URL.
 */
export async function waitForRun(github: GitHub, owner: string, repo: string, sha: string, opts: RunWaitOptions): Promise<RunResult> {
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)))
  const deadline = Date.now() + opts.timeoutMs
  let etag: string | undefined
  let last = ''
  for (;;) {
    let run: {id: number; status: string | null; conclusion: string | null; html_url: string} | undefined
    try {
      const response = await github.request('GET /repos/{owner}/{repo}/actions/runs', {
        owner, repo, head_sha: sha, event: 'push', per_page: 1, headers: etag ? {'if-none-match': etag} : {},
      })
      etag = response.headers.etag
      const found = response.data.workflow_runs[0]
      run = found && {id: Number(found.id), status: found.status, conclusion: found.conclusion, html_url: found.html_url}
      const status = run ? (run.status === 'completed' ? `completed: ${run.conclusion}` : run.status ?? 'unknown') : 'waiting for the run to appear'
      if (status !== last) opts.onStatus(status)
      last = status
    } catch (error) {
      if ((error as {status?: number}).status !== 304) throw githubError(error, `read the workflow runs of ${owner}/${repo}`)
    }

    if (run?.status === 'completed') {
      if (run.conclusion === 'success') return {id: run.id, url: run.html_url, conclusion: run.conclusion}
      throw await failedRun(github, owner, repo, run)
    }

    if (Date.now() > deadline) {
      throw new KplatError(`timed out after ${Math.round(opts.timeoutMs / 1000)}s waiting for the CI run of ${sha.slice(0, 7)} in ${owner}/${repo}${run ? ` (${run.html_url})` : ''}`, {hint: 'Run `kplat create` again to keep waiting'})
    }

    await sleep(opts.pollMs)
  }
}

async function failedRun(github: GitHub, owner: string, repo: string, run: {id: number; conclusion: string | null; html_url: string}): Promise<KplatError> {
  const {data} = await github.rest.actions.listJobsForWorkflowRun({owner, repo, run_id: run.id})
  const job = data.jobs.find((j) => j.conclusion === 'failure') ?? data.jobs.find((j) => j.conclusion !== 'success')
  const where = job ? `job "${job.name}" failed: ${job.html_url}` : `see ${run.html_url}`
  return new KplatError(`the CI run ${run.conclusion === 'failure' ? 'failed' : `ended ${run.conclusion}`}; ${where}`, {hint: 'Fix it and push; or run `kplat create` again to retry the wait'})
}
