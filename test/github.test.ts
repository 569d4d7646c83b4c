import assert from 'node:assert/strict'
import {execFile} from 'node:child_process'
import {mkdirSync, mkdtempSync, writeFileSync} from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {before, describe, it} from 'node:test'
import {promisify} from 'node:util'
import {createGitHub, type GitHub} from '../src/lib/github/client.js'
import {Debug} from '../src/lib/debug.js'
import {Redactor} from '../src/lib/redact.js'
import {callerOf} from './ground/github/server.js'
import {control, ground, tokenFor, uniqueName, type TestGround} from './helpers/ground.js'

const run = promisify(execFile)
const ORG = 'acme'

async function gitIn(dir: string, args: string[], env: Record<string, string> = {}): Promise<string> {
  const {stdout} = await run('git', ['-C', dir, ...args], {env: {...process.env, GIT_TERMINAL_PROMPT: '0', ...env}})
  return stdout.trim()
}

/** A credentialed clone URL: the token as the password, as people use with GitHub. */
const authed = (url: string, token: string) => url.replace('http://', `http://x-access-token:${token}@`)

async function waitForRun(octokit: GitHub, repo: string, sha: string) {
  for (let i = 0; i < 200; i++) {
    const {data} = await octokit.rest.actions.listWorkflowRunsForRepo({owner: ORG, repo, head_sha: sha})
    const found = data.workflow_runs[0]
    if (found?.status === 'completed') return found
    await new Promise((r) => setTimeout(r, 100))
  }

  throw new Error(`no completed run for ${sha}`)
}

const WORKFLOW = `name: CI
on:
  push:
    branches: [main]
jobs:
  build:
    name: build
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - name: Write back
        run: |
          echo "$GITHUB_SHA" > deployed.txt
          git -c user.name=ci -c user.email=ci@example.com commit -qam "deploy \${GITHUB_SHA::7} [skip ci]" || { git add deployed.txt; git -c user.name=ci -c user.email=ci@example.com commit -qm "deploy [skip ci]"; }
          git push -q origin HEAD:main
`

describe("the ground's GitHub", () => {
  let g: TestGround
  let octokit: GitHub
  const quiet = new Debug(false, process.stderr, new Redactor())
  const client = (token: string) =>
    createGitHub({env: {GITHUB_API_URL: g.env.GITHUB_API_URL}, token, debug: quiet, warn: () => {}, version: 'test'})

  before(async () => {
    g = await ground()
    octokit = client(g.env.GITHUB_TOKEN)
  })

  it('answers 401 without a token or with a bad one, as GitHub does', async () => {
    const anonymous = await fetch(`${g.env.GITHUB_API_URL}/user`)
    assert.equal(anonymous.status, 401)
    assert.equal(((await anonymous.json()) as {message: string}).message, 'Requires authentication')
    await assert.rejects(
      client('ghp_' + 'x'.repeat(36)).rest.users.getAuthenticated(),
      (e: {status?: number; message?: string}) => e.status === 401 && /Bad credentials/.test(String(e.message)),
    )
  })

  it("creates a repository with Octokit, then refuses the same name with GitHub's 422 body", async () => {
    const name = uniqueName('repo')
    const {data, headers} = await octokit.rest.repos.createInOrg({org: ORG, name, private: true, auto_init: true})
    assert.equal(data.full_name, `${ORG}/${name}`)
    assert.equal(data.default_branch, 'main')
    assert.match(String(headers['x-ratelimit-remaining']), /^\d+$/)
    assert.equal(headers['x-oauth-scopes'], 'repo, workflow, read:org')
    await assert.rejects(
      octokit.rest.repos.createInOrg({org: ORG, name}),
      (e: {
        status?: number
        response?: {data?: {message?: string; errors?: Array<{field: string; message: string}>}}
      }) =>
        e.status === 422 &&
        e.response?.data?.message === 'Repository creation failed.' &&
        e.response.data.errors?.[0]?.message === 'name already exists on this account',
    )
  })

  it('answers 409 from the Git Data API on an empty repository', async () => {
    const name = uniqueName('empty')
    await octokit.rest.repos.createInOrg({org: ORG, name})
    // Octokit retries a 409; this asks once, to see exactly what GitHub answers.
    await assert.rejects(
      octokit.rest.git.createTree({
        owner: ORG,
        repo: name,
        tree: [{path: 'a.txt', mode: '100644', type: 'blob', content: 'a'}],
        request: {retries: 0},
      }),
      (e: {status?: number}) => e.status === 409,
    )
  })

  it('gives back a binary blob byte for byte, base64-encoded as GitHub does', async () => {
    const name = uniqueName('blob')
    await octokit.rest.repos.createInOrg({org: ORG, name, auto_init: true})
    // Every byte value, and sequences that are not valid UTF-8.
    const bytes = Buffer.concat([
      Buffer.from(Array.from({length: 256}, (_, i) => i)),
      Buffer.from([0xff, 0xfe, 0x00, 0xc3, 0x28, 0x89, 0x50, 0x4e, 0x47]),
    ])
    const {data: created} = await octokit.rest.git.createBlob({
      owner: ORG,
      repo: name,
      content: bytes.toString('base64'),
      encoding: 'base64',
    })
    const {data: blob} = await octokit.rest.git.getBlob({owner: ORG, repo: name, file_sha: created.sha})
    assert.equal(blob.encoding, 'base64')
    assert.equal(blob.size, bytes.length)
    assert.deepEqual(Buffer.from(blob.content, 'base64'), bytes)
  })

  it('hides a private repository from a token that cannot see it (404)', async () => {
    const name = uniqueName('private')
    await octokit.rest.repos.createInOrg({org: ORG, name, private: true})
    const stranger = client(await tokenFor(g.github, 'stranger', ['repo']))
    await assert.rejects(stranger.rest.repos.get({owner: ORG, repo: name}), (e: {status?: number}) => e.status === 404)
  })

  it('serves git over smart HTTP: a push starts a workflow run whose run steps really execute', async () => {
    const name = uniqueName('ci')
    const {data: repo} = await octokit.rest.repos.createInOrg({org: ORG, name, private: true})
    const work = mkdtempSync(path.join(os.tmpdir(), 'gh-work-'))
    // An anonymous push is refused with a Basic challenge.
    await assert.rejects(
      run('git', ['ls-remote', repo.clone_url], {env: {...process.env, GIT_TERMINAL_PROMPT: '0'}}),
      /Authentication failed|could not read Username|401/,
    )
    await gitIn(work, ['init', '-q', '-b', 'main'])
    mkdirSync(path.join(work, '.github', 'workflows'), {recursive: true})
    writeFileSync(path.join(work, '.github', 'workflows', 'ci.yaml'), WORKFLOW)
    writeFileSync(path.join(work, 'deployed.txt'), 'nothing yet\n')
    await gitIn(work, ['add', '.'])
    await gitIn(work, ['-c', 'user.name=dev', '-c', 'user.email=dev@example.com', 'commit', '-qm', 'first'])
    await gitIn(work, ['push', '-q', authed(repo.clone_url, g.env.GITHUB_TOKEN), 'main'])
    const sha = await gitIn(work, ['rev-parse', 'HEAD'])

    const done = await waitForRun(octokit, name, sha)
    assert.equal(done.conclusion, 'success')
    assert.equal(done.event, 'push')
    assert.equal(done.path, '.github/workflows/ci.yaml')
    const {data: jobs} = await octokit.rest.actions.listJobsForWorkflowRun({owner: ORG, repo: name, run_id: done.id})
    assert.deepEqual(
      jobs.jobs.map((j) => [j.name, j.conclusion]),
      [['build', 'success']],
    )
    // The run step's write-back commit landed, and its [skip ci] started no second run.
    const {data: ref} = await octokit.rest.git.getRef({owner: ORG, repo: name, ref: 'heads/main'})
    assert.notEqual(ref.object.sha, sha)
    const {data: blob} = await octokit.rest.git.getCommit({owner: ORG, repo: name, commit_sha: ref.object.sha})
    assert.match(blob.message, /^deploy .*\[skip ci\]/)
    const {data: all} = await octokit.rest.actions.listWorkflowRunsForRepo({owner: ORG, repo: name})
    assert.equal(all.total_count, 1)
  })

  it('reports the failed job when a test decides the run fails', async () => {
    const name = uniqueName('fail')
    await octokit.rest.repos.createInOrg({org: ORG, name, private: true, auto_init: true})
    await control(g.github, 'POST', 'decisions', {repo: `${ORG}/${name}`, conclusion: 'failure'})
    const {data: tree} = await octokit.rest.git.createTree({
      owner: ORG,
      repo: name,
      tree: [{path: '.github/workflows/ci.yaml', mode: '100644', type: 'blob', content: WORKFLOW}],
    })
    const {data: commit} = await octokit.rest.git.createCommit({owner: ORG, repo: name, message: 'ci', tree: tree.sha})
    await octokit.rest.git.updateRef({owner: ORG, repo: name, ref: 'heads/main', sha: commit.sha, force: true})
    const done = await waitForRun(octokit, name, commit.sha)
    assert.equal(done.conclusion, 'failure')
    const {data: jobs} = await octokit.rest.actions.listJobsForWorkflowRun({owner: ORG, repo: name, run_id: done.id})
    assert.equal(jobs.jobs[0].conclusion, 'failure')
    assert.match(jobs.jobs[0].html_url!, new RegExp(`/${ORG}/${name}/actions/runs/${done.id}/job/`))
  })

  it('needs the workflow scope to write .github/workflows, over REST and over git', async () => {
    const name = uniqueName('scope')
    await octokit.rest.repos.createInOrg({org: ORG, name, private: true, auto_init: true})
    const token = await tokenFor(g.github, 'developer', ['repo'])
    const narrow = client(token)
    const {data: tree} = await narrow.rest.git.createTree({
      owner: ORG,
      repo: name,
      tree: [{path: '.github/workflows/ci.yaml', mode: '100644', type: 'blob', content: WORKFLOW}],
    })
    const {data: commit} = await narrow.rest.git.createCommit({owner: ORG, repo: name, message: 'ci', tree: tree.sha})
    await assert.rejects(
      narrow.rest.git.updateRef({owner: ORG, repo: name, ref: 'heads/main', sha: commit.sha, force: true}),
      (e: {status?: number; message?: string}) =>
        e.status === 422 && /without `workflow` scope/.test(String(e.message)),
    )
    const work = mkdtempSync(path.join(os.tmpdir(), 'gh-scope-'))
    const url = authed(`${g.github.web}/${ORG}/${name}.git`, token)
    await run('git', ['clone', '-q', url, work])
    mkdirSync(path.join(work, '.github', 'workflows'), {recursive: true})
    writeFileSync(path.join(work, '.github', 'workflows', 'ci.yaml'), WORKFLOW)
    await gitIn(work, ['add', '.'])
    await gitIn(work, ['-c', 'user.name=dev', '-c', 'user.email=dev@example.com', 'commit', '-qm', 'ci'])
    await assert.rejects(gitIn(work, ['push', '-q', 'origin', 'main']), /without `workflow` scope/)
  })

  it('answers a repeated GET with 304 that costs no rate limit, and paginates with Link headers', async () => {
    const name = uniqueName('etag')
    await octokit.rest.repos.createInOrg({org: ORG, name, auto_init: true})
    const url = `${g.env.GITHUB_API_URL}/repos/${ORG}/${name}`
    const headers = {authorization: `token ${g.env.GITHUB_TOKEN}`}
    const first = await fetch(url, {headers})
    const etag = first.headers.get('etag')!
    const second = await fetch(url, {headers: {...headers, 'if-none-match': etag}})
    assert.equal(second.status, 304)
    assert.equal(second.headers.get('x-ratelimit-remaining'), first.headers.get('x-ratelimit-remaining'))
    const {data: head} = await octokit.rest.git.getRef({owner: ORG, repo: name, ref: 'heads/main'})
    const {data: tree} = await octokit.rest.git.createTree({
      owner: ORG,
      repo: name,
      tree: [{path: 'b.txt', mode: '100644', type: 'blob', content: 'b'}],
    })
    const {data: commit} = await octokit.rest.git.createCommit({
      owner: ORG,
      repo: name,
      message: 'second',
      tree: tree.sha,
      parents: [head.object.sha],
    })
    await octokit.rest.git.updateRef({owner: ORG, repo: name, ref: 'heads/main', sha: commit.sha})
    const commits = await fetch(`${url}/commits?per_page=1`, {headers})
    assert.match(commits.headers.get('link') ?? '', /rel="next"/)
    assert.equal(((await commits.json()) as unknown[]).length, 1)
  })

  it("fails on demand, and Octokit's retry and throttling plugins see what GitHub would send", async () => {
    // A token of this test's own: other files use the server at the same time.
    const token = await tokenFor(g.github, 'developer', ['repo'])
    const mine = client(token)
    await control(g.github, 'POST', 'failures', {status: 502, count: 1, pathPrefix: '/user', token})
    const {data} = await mine.rest.users.getAuthenticated()
    assert.equal(data.login, 'developer')
    await control(g.github, 'POST', 'failures', {secondary: true, retryAfter: 1, count: 1, pathPrefix: '/user', token})
    const started = Date.now()
    const again = await mine.rest.users.getAuthenticated()
    assert.equal(again.data.login, 'developer')
    assert.ok(Date.now() - started >= 900, 'the throttling plugin waited for retry-after')
    const {requests} = await control<{requests: Array<{route: string; status: number; caller: string}>}>(
      g.github,
      'GET',
      'requests',
    )
    const user = requests
      .filter((r) => r.route === '/user' && r.caller === callerOf(token))
      .map((r) => r.status)
      .slice(-4)
    assert.deepEqual(user, [502, 200, 403, 200])
  })

  it("holds requests to GitHub's OpenAPI description", async () => {
    const bad = await fetch(`${g.env.GITHUB_API_URL}/orgs/${ORG}/repos`, {
      method: 'POST',
      headers: {authorization: `token ${g.env.GITHUB_TOKEN}`},
      body: JSON.stringify({name: 42}),
    })
    assert.equal(bad.status, 422)
    const {violations} = await control<{violations: string[]}>(g.github, 'GET', 'requests')
    assert.ok(
      violations.some((v) => v.includes('/name must be string')),
      violations.join('\n'),
    )
    await control(g.github, 'POST', 'violations/forget', {including: '/name must be string'})
  })
})
