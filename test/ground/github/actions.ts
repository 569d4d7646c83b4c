import {execFile} from 'node:child_process'
import {mkdtempSync, rmSync} from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {parse} from 'yaml'
import type {Job, Run, Step} from './models.js'

/** What a test decides for the next runs of a repository. */
export interface Decision {
  conclusion: 'success' | 'failure'
  /** The job that fails (default: the first). */
  job?: string
  /** How long the run stays in progress before its jobs run, to test waiting. */
  delayMs?: number
}

export interface Workflow {
  path: string
  name: string
  jobs: Array<{name: string; steps: Array<{name: string; run?: string; uses?: string; env?: Record<string, string>}>}>
}

/** The workflows of a commit that run on a push to branch. */
export function workflowsOnPush(files: Map<string, string>, branch: string): Workflow[] {
  const found: Workflow[] = []
  for (const [file, text] of files) {
    let doc: {
      name?: string
      on?: unknown
      jobs?: Record<string, {name?: string; steps?: Array<Record<string, unknown>>}>
    }
    try {
      doc = parse(text)
    } catch {
      continue
    }

    if (!doc || !triggersOnPush(doc.on, branch)) continue
    found.push({
      path: file,
      name: doc.name ?? file,
      jobs: Object.entries(doc.jobs ?? {}).map(([id, job]) => ({
        name: job.name ?? id,
        steps: (job.steps ?? []).map((s, i) => ({
          name: String(
            s.name ?? (s.uses ? `Run ${s.uses}` : s.run ? `Run ${String(s.run).split('\n')[0]}` : `Step ${i + 1}`),
          ),
          run: s.run === undefined ? undefined : String(s.run),
          uses: s.uses === undefined ? undefined : String(s.uses),
          env: s.env as Record<string, string> | undefined,
        })),
      })),
    })
  }

  return found
}

function triggersOnPush(on: unknown, branch: string): boolean {
  if (on === 'push') return true
  if (Array.isArray(on)) return on.includes('push')
  if (on && typeof on === 'object' && 'push' in on) {
    const push = (on as {push?: {branches?: string[]; 'branches-ignore'?: string[]} | null}).push
    if (!push) return true
    if (push.branches) return push.branches.some((b) => globMatch(b, branch))
    if (push['branches-ignore']) return !push['branches-ignore'].some((b) => globMatch(b, branch))
    return true
  }

  return false
}

function globMatch(pattern: string, value: string): boolean {
  const regex = new RegExp(
    '^' +
      pattern
        .split('**')
        .map((p) =>
          p
            .split('*')
            .map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
            .join('[^/]*'),
        )
        .join('.*') +
      '$',
  )
  return regex.test(value)
}

export interface RunContext {
  /** Where the repository's bare git folder is, to check the commit out quickly. */
  repoDir: string
  /** The repository's clone URL on the server, for the steps' own pushes. */
  cloneUrl: string
  /** A token that may push to this repository, like GITHUB_TOKEN in Actions. */
  token: string
  serverUrl: string
  apiUrl: string
  decide: () => Decision
  now: () => string
  changed: () => void
}

/**
 * Plays a workflow run as a GitHub-hosted runner would, as far as kplat can see: each job
 * goes queued → in_progress → completed, `run:` steps execute for real with bash in a
 * checkout of the commit (so a CI's own pushes really happen), and `uses:` steps
 * (checkout, image build and push) are recorded as done without running.
 */
export async function playRun(run: Run, workflow: Workflow, ctx: RunContext): Promise<void> {
  const decision = ctx.decide()
  const failing = decision.conclusion === 'failure' ? (decision.job ?? workflow.jobs[0]?.name) : undefined
  await pause(150)
  run.status = 'in_progress'
  run.updatedAt = ctx.now()
  ctx.changed()
  if (decision.delayMs) await pause(decision.delayMs)

  let failed = false
  for (const job of run.jobs) {
    const spec = workflow.jobs.find((j) => j.name === job.name)!
    if (failed) {
      finishJob(job, 'skipped', ctx)
      continue
    }

    job.status = 'in_progress'
    job.startedAt = ctx.now()
    ctx.changed()
    const ok = job.name === failing ? await failAtLastStep(job, ctx) : await runSteps(job, spec, run, ctx)
    finishJob(job, ok ? 'success' : 'failure', ctx)
    failed = !ok
  }

  run.status = 'completed'
  run.conclusion = failed ? 'failure' : 'success'
  run.updatedAt = ctx.now()
  ctx.changed()
}

function finishJob(job: Job, conclusion: Job['conclusion'], ctx: RunContext): void {
  job.status = 'completed'
  job.conclusion = conclusion
  job.completedAt = ctx.now()
  for (const step of job.steps) {
    if (step.status !== 'completed') {
      step.status = 'completed'
      step.conclusion = 'skipped'
    }
  }

  ctx.changed()
}

async function failAtLastStep(job: Job, ctx: RunContext): Promise<boolean> {
  await pause(100)
  const step = job.steps.at(-1)
  if (step) completeStep(step, 'failure', ctx)
  job.log += `${step?.name ?? 'job'}: failed (decided by the test)\n`
  return false
}

async function runSteps(job: Job, spec: Workflow['jobs'][number], run: Run, ctx: RunContext): Promise<boolean> {
  const work = mkdtempSync(path.join(os.tmpdir(), 'ground-runner-'))
  try {
    await sh(
      `git clone -q "${ctx.repoDir}" . && git checkout -q ${run.headSha} && git remote set-url origin "${ctx.cloneUrl}"`,
      work,
      {},
    )
    const auth = Buffer.from(`x-access-token:${ctx.token}`).toString('base64')
    const env = {
      CI: 'true',
      GITHUB_ACTIONS: 'true',
      GITHUB_SHA: run.headSha,
      GITHUB_REF: `refs/heads/${run.headBranch}`,
      GITHUB_REF_NAME: run.headBranch,
      GITHUB_REPOSITORY: run.repo,
      GITHUB_REPOSITORY_OWNER: run.repo.split('/')[0],
      GITHUB_ACTOR: run.actor,
      GITHUB_RUN_ID: String(run.id),
      GITHUB_RUN_NUMBER: String(run.runNumber),
      GITHUB_SERVER_URL: ctx.serverUrl,
      GITHUB_API_URL: ctx.apiUrl,
      GITHUB_WORKSPACE: work,
      GITHUB_TOKEN: ctx.token,
      GITHUB_WORKFLOW: run.workflowName,
      GITHUB_JOB: job.name,
      // actions/checkout leaves the token as an extra header, so plain `git push` works.
      GIT_CONFIG_COUNT: '1',
      GIT_CONFIG_KEY_0: `http.${ctx.serverUrl}/.extraheader`,
      GIT_CONFIG_VALUE_0: `AUTHORIZATION: basic ${auth}`,
    }
    for (const [i, step] of spec.steps.entries()) {
      const record = job.steps[i + 1]
      record.status = 'in_progress'
      record.started_at = ctx.now()
      ctx.changed()
      if (step.run) {
        const result = await sh(step.run, work, {...env, ...step.env}).then(
          () => true,
          (error: Error) => {
            job.log += `${step.name}: ${error.message}\n`
            return false
          },
        )
        if (!result) {
          completeStep(record, 'failure', ctx)
          return false
        }
      } else {
        job.log += `${step.name}: ${step.uses} (emulated)\n`
      }

      completeStep(record, 'success', ctx)
    }

    return true
  } finally {
    rmSync(work, {recursive: true, force: true})
  }
}

function completeStep(step: Step, conclusion: Step['conclusion'], ctx: RunContext): void {
  step.status = 'completed'
  step.conclusion = conclusion
  step.completed_at = ctx.now()
  ctx.changed()
}

function sh(script: string, cwd: string, env: Record<string, string>): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      'bash',
      ['-e', '-c', script],
      {cwd, env: {PATH: process.env.PATH, HOME: cwd, ...env}, timeout: 120_000},
      (error, stdout, stderr) => {
        if (error)
          reject(new Error(`exit ${error.code ?? 'signal'}: ${stderr.trim().split('\n').slice(-3).join(' | ')}`))
        else resolve(stdout)
      },
    )
  })
}

function pause(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms))
}
