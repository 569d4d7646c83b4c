import {createHash, randomBytes} from 'node:crypto'
import {chmodSync, mkdirSync, rmSync, writeFileSync} from 'node:fs'
import * as http from 'node:http'
import type {AddressInfo} from 'node:net'
import * as path from 'node:path'
import {playRun, workflowsOnPush, type Decision} from './actions.js'
import {Contract, type Match} from './contract.js'
import {
  commitTree,
  git,
  gitBytes,
  httpBackend,
  initBare,
  isEmpty,
  lsTree,
  objectType,
  refs,
  writeBlob,
  writeTree,
} from './git.js'
import * as models from './models.js'
import type {Job, Repo, Run, User} from './models.js'

export interface Token {
  login: string
  scopes: string[]
  /** An Actions token: may read and push this one repository only. */
  repo?: string
}

interface Failure {
  status: number
  count: number
  pathPrefix?: string
  /** Only requests made with this token fail: test files share the server, two at a time. */
  token?: string
  retryAfter?: number
  secondary?: boolean
}

export interface RequestRecord {
  method: string
  route: string
  /** The path under the API root, so a test can pick out one repository's requests. */
  path: string
  status: number
  counted: boolean
  /** Who asked: a digest of the request's Authorization header, so a test can pick out its own. */
  caller: string
}

interface Reply {
  status: number
  body?: unknown
  /** A raw media type's answer (bytes, not JSON): sent as it is. */
  raw?: Buffer
  headers?: Record<string, string>
  /** List endpoints: the whole list, paginated by the server with Link headers. */
  list?: {key?: string; items: unknown[]; extra?: Record<string, unknown>}
}

const DOCS = 'https://docs.github.com/rest'
const ZERO = '0000000000000000000000000000000000000000'

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message)
  }
}

/**
 * A local GitHub: the REST subset kplat uses under /api/v3 (as GitHub Enterprise Server
 * serves it), held to GitHub's OpenAPI description; real git repositories over smart HTTP;
 * and workflow runs for pushes.
 */
export class GitHubServer {
  readonly users = new Map<string, User>()
  readonly tokens = new Map<string, Token>()
  readonly repos = new Map<string, Repo>()
  readonly runs: Run[] = []
  readonly requests: RequestRecord[] = []
  readonly violations: string[] = []
  private readonly decisions = new Map<string, Decision[]>()
  private readonly failures: Failure[] = []
  /** Global webhooks: every push of every repository is sent to each. */
  private readonly hooks: string[] = []
  private readonly limits = new Map<string, {remaining: number; reset: number}>()
  private readonly contract = new Contract()
  private readonly server: http.Server
  private nextId = 1000
  private webUrl = ''
  private running = new Set<Promise<void>>()

  constructor(
    private readonly dir: string,
    readonly adminSecret: string,
  ) {
    mkdirSync(path.join(dir, 'repos'), {recursive: true})
    this.server = http.createServer((req, res) => void this.handle(req, res))
  }

  get urls(): models.Urls {
    return {api: `${this.webUrl}/api/v3`, web: this.webUrl}
  }

  listen(port = 0): Promise<number> {
    return new Promise((resolve) =>
      this.server.listen(port, '127.0.0.1', () => {
        const actual = (this.server.address() as AddressInfo).port
        this.webUrl = `http://127.0.0.1:${actual}`
        resolve(actual)
      }),
    )
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.running])
    this.server.closeAllConnections()
    await new Promise((r) => this.server.close(r))
  }

  addUser(login: string, type: User['type'] = 'User', members: string[] = []): User {
    const user = {login, id: this.nextId++, type, members, createdAt: new Date().toISOString()}
    this.users.set(login, user)
    return user
  }

  issueToken(login: string, scopes: string[], repo?: string): string {
    if (!this.users.has(login) && !repo) this.addUser(login)
    const token = `${repo ? 'ghs' : 'ghp'}_${randomBytes(18).toString('hex')}`
    this.tokens.set(token, {login, scopes, repo})
    return token
  }

  // ---- request handling ------------------------------------------------------------

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.webUrl)
    try {
      if (url.pathname.startsWith('/_ground/')) return await this.admin(req, res, url)
      const gitPath = /^\/([^/]+)\/([^/]+?)\.git(\/.*)$/.exec(url.pathname)
      if (gitPath) return await this.gitRequest(req, res, gitPath[1], gitPath[2], gitPath[3], url.search.slice(1))
      if (url.pathname.startsWith('/api/v3/')) return await this.rest(req, res, url)
      send(res, 404, {message: 'Not Found'})
    } catch (error) {
      send(res, 500, {message: `ground: ${(error as Error).message}`})
    }
  }

  private async rest(req: http.IncomingMessage, res: http.ServerResponse, url: URL): Promise<void> {
    const method = req.method ?? 'GET'
    const pathname = url.pathname.slice('/api/v3'.length)
    const match = this.contract.match(method, pathname)
    const record: RequestRecord = {
      method,
      route: match?.template ?? pathname,
      path: pathname,
      status: 0,
      counted: true,
      caller: callerOf(req.headers.authorization),
    }
    this.requests.push(record)
    const headers: Record<string, string> = {
      'x-github-media-type': 'github.v3; format=json',
      'x-github-request-id': randomBytes(8).toString('hex').toUpperCase(),
    }

    const failure = this.failures.find(
      (f) =>
        (!f.pathPrefix || pathname.startsWith(f.pathPrefix)) &&
        (!f.token || (req.headers.authorization ?? '').split(/\s+/).pop() === f.token),
    )
    if (failure) {
      if (--failure.count <= 0) this.failures.splice(this.failures.indexOf(failure), 1)
      record.status = failure.secondary ? 403 : failure.status
      if (failure.secondary) {
        return send(
          res,
          403,
          {
            message: 'You have exceeded a secondary rate limit. Please wait a few minutes before you try again.',
            documentation_url: `${DOCS}/overview/rate-limits-for-the-rest-api`,
          },
          {...headers, 'retry-after': String(failure.retryAfter ?? 1)},
        )
      }

      return send(res, failure.status, {message: 'Server Error'}, headers)
    }

    const auth = this.authenticate(req.headers.authorization)
    const identity = auth.token ? this.tokens.get(auth.token) : undefined
    if (auth.token && !identity) {
      record.status = 401
      return send(res, 401, {message: 'Bad credentials', documentation_url: DOCS, status: '401'}, headers)
    }

    if (identity) {
      headers['x-oauth-scopes'] = identity.scopes.join(', ')
      headers['x-accepted-oauth-scopes'] = ''
      const limit = this.rateLimit(auth.token!)
      if (limit.remaining <= 0) {
        record.status = 403
        return send(
          res,
          403,
          {
            message: `API rate limit exceeded for user ID ${this.users.get(identity.login)?.id ?? 0}.`,
            documentation_url: DOCS,
          },
          {...headers, ...limitHeaders(limit)},
        )
      }
    }

    if (!match) {
      this.violations.push(`${method} ${pathname}: no such operation in GitHub's REST API`)
      record.status = 404
      return send(res, 404, {message: 'Not Found', documentation_url: DOCS}, headers)
    }

    const body = await readJson(req)
    const problems = this.contract.checkRequest(match, method, body)
    if (problems.length > 0) {
      this.violations.push(...problems)
      record.status = 422
      return send(
        res,
        422,
        {message: `Invalid request.\n\n${problems.join('\n')}`, documentation_url: DOCS, status: '422'},
        headers,
      )
    }

    let reply: Reply
    try {
      reply = await this.route(match, method, body, identity, url.searchParams, req.headers.accept ?? '')
    } catch (error) {
      if (!(error instanceof HttpError)) throw error
      reply = {
        status: error.status,
        body: {message: error.message, documentation_url: DOCS, status: String(error.status), ...error.extra},
      }
    }

    if (reply.list) {
      const perPage = Math.min(Number(url.searchParams.get('per_page') ?? 30), 100)
      const page = Math.max(Number(url.searchParams.get('page') ?? 1), 1)
      const last = Math.max(Math.ceil(reply.list.items.length / perPage), 1)
      const items = reply.list.items.slice((page - 1) * perPage, page * perPage)
      reply.body = reply.list.key ? {...reply.list.extra, [reply.list.key]: items} : items
      const link = (p: number, rel: string) => {
        const u = new URL(url)
        u.searchParams.set('page', String(p))
        u.searchParams.set('per_page', String(perPage))
        return `<${u.href}>; rel="${rel}"`
      }
      const links = [
        ...(page < last ? [link(page + 1, 'next'), link(last, 'last')] : []),
        ...(page > 1 ? [link(1, 'first'), link(page - 1, 'prev')] : []),
      ]
      if (links.length > 0) headers.link = links.join(', ')
    }

    if (reply.raw) {
      record.status = reply.status
      res.writeHead(reply.status, {...headers, ...reply.headers, 'content-length': String(reply.raw.length)})
      return void res.end(reply.raw)
    }

    const responseProblems = this.contract.checkResponse(match, method, reply.status, reply.body)
    if (responseProblems.length > 0)
      this.violations.push(...responseProblems.map((p) => `server answered outside the contract: ${p}`))

    Object.assign(headers, reply.headers)
    if (method === 'GET' && reply.status === 200) {
      const etag = `W/"${createHash('sha1').update(JSON.stringify(reply.body)).digest('hex')}"`
      headers.etag = etag
      headers['cache-control'] = 'private, max-age=60, s-maxage=60'
      if (req.headers['if-none-match'] === etag) {
        // GitHub does not count a 304 against the rate limit.
        record.status = 304
        record.counted = false
        if (auth.token) this.rateLimit(auth.token, -1)
        res.writeHead(304, {...headers, ...(auth.token ? limitHeaders(this.rateLimit(auth.token, 0)) : {})})
        return void res.end()
      }
    }

    record.status = reply.status
    if (auth.token) Object.assign(headers, limitHeaders(this.rateLimit(auth.token, 0)))
    send(res, reply.status, reply.body, headers)
  }

  private authenticate(header: string | undefined): {token?: string} {
    if (!header) return {}
    const [scheme, value] = header.split(' ')
    if (/^basic$/i.test(scheme))
      return {
        token: Buffer.from(value ?? '', 'base64')
          .toString()
          .split(':')
          .slice(1)
          .join(':'),
      }
    return {token: value}
  }

  /** Spends `cost` from the token's hourly budget and returns what is left. */
  private rateLimit(token: string, cost = 1): {remaining: number; reset: number} {
    const now = Math.floor(Date.now() / 1000)
    let limit = this.limits.get(token)
    if (!limit || limit.reset <= now) {
      limit = {remaining: 5000, reset: now + 3600}
      this.limits.set(token, limit)
    }

    limit.remaining = Math.min(5000, limit.remaining - cost)
    return limit
  }

  // ---- REST operations ---------------------------------------------------------------

  private async route(
    match: Match,
    method: string,
    body: Record<string, unknown> | undefined,
    me: Token | undefined,
    query: URLSearchParams,
    accept: string,
  ): Promise<Reply> {
    const p = match.params
    const needMe = () => {
      if (!me) throw new HttpError(401, 'Requires authentication')
      return me
    }

    switch (match.operationId) {
      case 'users/get-authenticated': {
        const user = this.users.get(needMe().login)!
        return {status: 200, body: models.privateUser(user, this.urls, [...this.repos.values()])}
      }

      case 'users/get-by-username': {
        const user = this.users.get(p.username)
        if (!user) throw new HttpError(404, 'Not Found')
        return {status: 200, body: models.publicUser(user, this.urls, [...this.repos.values()])}
      }

      case 'orgs/get': {
        const org = this.users.get(p.org)
        if (!org || org.type !== 'Organization') throw new HttpError(404, 'Not Found')
        return {status: 200, body: models.organization(org, this.urls, [...this.repos.values()])}
      }

      case 'repos/create-for-authenticated-user':
        return this.createRepo(needMe(), needMe().login, body!)

      case 'repos/create-in-org': {
        const org = this.users.get(p.org)
        if (!org || org.type !== 'Organization') throw new HttpError(404, 'Not Found')
        if (!org.members.includes(needMe().login))
          throw new HttpError(403, `You need admin access to the organization before adding a repository to it.`)
        return this.createRepo(needMe(), p.org, body!)
      }

      case 'repos/get': {
        const repo = this.visibleRepo(p.owner, p.repo, me)
        return {status: 200, body: this.repoModel(repo)}
      }

      case 'repos/delete': {
        const repo = this.visibleRepo(p.owner, p.repo, me)
        if (!this.mayPush(repo, needMe()) || !needMe().scopes.includes('delete_repo'))
          throw new HttpError(403, 'Must have admin rights to Repository.')
        this.repos.delete(`${repo.owner}/${repo.name}`)
        rmSync(repo.dir, {recursive: true, force: true})
        return {status: 204}
      }

      case 'repos/list-commits': {
        const repo = this.visibleRepo(p.owner, p.repo, me)
        if (await isEmpty(repo.dir)) throw new HttpError(409, 'Git Repository is empty.')
        const out = await git(repo.dir, ['log', '--format=%H', query.get('sha') ?? repo.defaultBranch])
        const commits = await Promise.all(
          out
            .split('\n')
            .filter(Boolean)
            .map((sha) => this.commitModel(repo, sha)),
        )
        return {
          status: 200,
          list: {
            items: commits.map((c) => ({
              sha: c.sha,
              node_id: c.node_id,
              commit: {...c, comment_count: 0},
              url: c.url,
              html_url: c.html_url,
              comments_url: `${c.url}/comments`,
              author: null,
              committer: null,
              parents: c.parents,
            })),
          },
        }
      }

      case 'git/create-blob': {
        const repo = this.writableRepo(p.owner, p.repo, needMe())
        const content = Buffer.from(String(body!.content), body!.encoding === 'base64' ? 'base64' : 'utf8')
        const sha = await writeBlob(repo.dir, content)
        return {status: 201, body: {sha, url: `${this.urls.api}/repos/${repo.owner}/${repo.name}/git/blobs/${sha}`}}
      }

      case 'git/get-blob': {
        const repo = this.visibleRepo(p.owner, p.repo, me)
        const content = await gitBytes(repo.dir, ['cat-file', 'blob', p.file_sha]).catch(() => {
          throw new HttpError(404, 'Not Found')
        })
        return {
          status: 200,
          body: {
            sha: p.file_sha,
            node_id: p.file_sha,
            size: content.length,
            url: `${this.urls.api}/repos/${repo.owner}/${repo.name}/git/blobs/${p.file_sha}`,
            content: content.toString('base64'),
            encoding: 'base64',
          },
        }
      }

      case 'repos/replace-all-topics': {
        const repo = this.writableRepo(p.owner, p.repo, needMe())
        const names = (body as {names: string[]}).names
        const bad = names.find((n) => !/^[a-z0-9][a-z0-9-]{0,49}$/.test(n))
        if (bad !== undefined)
          throw new HttpError(422, 'Validation Failed', {
            errors: [{resource: 'Repository', code: 'invalid', field: 'names', message: `${bad} is not a valid topic`}],
          })
        repo.topics = [...new Set(names)]
        return {status: 200, body: {names: repo.topics}}
      }

      case 'repos/get-content': {
        // A file, as JSON or raw (what Backstage's GitHub URL reader asks for); folders are not served.
        const repo = this.visibleRepo(p.owner, p.repo, me)
        if (await isEmpty(repo.dir)) throw new HttpError(404, 'This repository is empty.')
        const ref = query.get('ref') ?? repo.defaultBranch
        const spec = `${ref}:${p.path}`
        const type = await objectType(repo.dir, spec)
        if (type === undefined) throw new HttpError(404, 'Not Found')
        if (type !== 'blob') {
          this.violations.push(
            `GET /repos/{owner}/{repo}/contents/{path} for a folder is in GitHub's API but not served by the ground`,
          )
          throw new HttpError(404, 'Not Found')
        }

        const content = await gitBytes(repo.dir, ['cat-file', 'blob', spec])
        if (/application\/vnd\.github(\.v3)?\.raw/.test(accept))
          return {status: 200, raw: content, headers: {'content-type': 'application/vnd.github.raw; charset=utf-8'}}
        const sha = (await git(repo.dir, ['rev-parse', spec])).trim()
        const self = `${this.urls.api}/repos/${repo.owner}/${repo.name}/contents/${p.path}?ref=${encodeURIComponent(ref)}`
        const gitUrl = `${this.urls.api}/repos/${repo.owner}/${repo.name}/git/blobs/${sha}`
        const html = `${this.urls.web}/${repo.owner}/${repo.name}/blob/${ref}/${p.path}`
        return {
          status: 200,
          body: {
            type: 'file',
            encoding: 'base64',
            size: content.length,
            name: path.posix.basename(p.path),
            path: p.path,
            content: content.toString('base64'),
            sha,
            url: self,
            git_url: gitUrl,
            html_url: html,
            download_url: null,
            _links: {self, git: gitUrl, html},
          },
        }
      }

      case 'git/create-tree':
        return this.createTree(
          this.writableRepo(p.owner, p.repo, needMe()),
          body as {tree: TreeInput[]; base_tree?: string},
        )

      case 'git/get-tree': {
        const repo = this.visibleRepo(p.owner, p.repo, me)
        if ((await objectType(repo.dir, p.tree_sha)) === undefined) throw new HttpError(404, 'Not Found')
        return {status: 200, body: await this.treeModel(repo, p.tree_sha, query.get('recursive') !== null)}
      }

      case 'git/create-commit': {
        const repo = this.writableRepo(p.owner, p.repo, needMe())
        const input = body as {
          message: string
          tree: string
          parents?: string[]
          author?: {name: string; email: string; date?: string}
        }
        if ((await objectType(repo.dir, input.tree)) !== 'tree') throw new HttpError(422, 'Tree SHA does not exist')
        for (const parent of input.parents ?? []) {
          if ((await objectType(repo.dir, parent)) !== 'commit')
            throw new HttpError(422, 'Parent SHA does not exist or is not a commit object')
        }

        const author = input.author ?? {name: needMe().login, email: `${needMe().login}@users.noreply.local`}
        const sha = await commitTree(repo.dir, input.tree, input.parents ?? [], input.message, author)
        return {status: 201, body: await this.commitModel(repo, sha)}
      }

      case 'git/get-commit': {
        const repo = this.visibleRepo(p.owner, p.repo, me)
        if ((await objectType(repo.dir, p.commit_sha)) !== 'commit') throw new HttpError(404, 'Not Found')
        return {status: 200, body: await this.commitModel(repo, p.commit_sha)}
      }

      case 'git/get-ref': {
        const repo = this.visibleRepo(p.owner, p.repo, me)
        if (await isEmpty(repo.dir)) throw new HttpError(409, 'Git Repository is empty.')
        const sha = (await refs(repo.dir)).get(`refs/${p.ref}`)
        if (!sha) throw new HttpError(404, 'Not Found')
        return {status: 200, body: this.refModel(repo, `refs/${p.ref}`, sha)}
      }

      case 'git/create-ref': {
        const repo = this.writableRepo(p.owner, p.repo, needMe())
        const input = body as {ref: string; sha: string}
        if (!/^refs\/.+/.test(input.ref))
          throw new HttpError(422, "Reference name must start with 'refs/' and have at least two slashes.")
        const current = await refs(repo.dir)
        if (current.has(input.ref)) throw new HttpError(422, 'Reference already exists')
        await this.moveRef(repo, input.ref, undefined, input.sha, needMe())
        return {status: 201, body: this.refModel(repo, input.ref, input.sha)}
      }

      case 'git/update-ref': {
        const repo = this.writableRepo(p.owner, p.repo, needMe())
        if (await isEmpty(repo.dir)) throw new HttpError(409, 'Git Repository is empty.')
        const input = body as {sha: string; force?: boolean}
        const ref = `refs/${p.ref}`
        const old = (await refs(repo.dir)).get(ref)
        if (!old) throw new HttpError(422, 'Reference does not exist')
        if (!input.force && old !== input.sha) {
          const ancestor = await git(repo.dir, ['merge-base', '--is-ancestor', old, input.sha]).then(
            () => true,
            () => false,
          )
          if (!ancestor) throw new HttpError(422, 'Update is not a fast forward')
        }

        await this.moveRef(repo, ref, old, input.sha, needMe())
        return {status: 200, body: this.refModel(repo, ref, input.sha)}
      }

      case 'actions/list-workflow-runs-for-repo': {
        const repo = this.visibleRepo(p.owner, p.repo, me)
        const full = `${repo.owner}/${repo.name}`
        const runs = this.runs
          .filter((r) => r.repo === full)
          .filter((r) => !query.get('head_sha') || r.headSha === query.get('head_sha'))
          .filter((r) => !query.get('branch') || r.headBranch === query.get('branch'))
          .filter((r) => !query.get('event') || r.event === query.get('event'))
          .filter(
            (r) => !query.get('status') || r.status === query.get('status') || r.conclusion === query.get('status'),
          )
          .sort((a, b) => b.id - a.id)
        return {
          status: 200,
          list: {
            key: 'workflow_runs',
            items: runs.map((r) => models.workflowRun(r, this.repoModel(repo), this.urls)),
            extra: {total_count: runs.length},
          },
        }
      }

      case 'actions/get-workflow-run': {
        const {run, repo} = this.findRun(p, me)
        return {status: 200, body: models.workflowRun(run, this.repoModel(repo), this.urls)}
      }

      case 'actions/delete-workflow-run': {
        // What retention does to old runs, with their artifacts and logs.
        const {run, repo} = this.findRun(p, me)
        if (!this.mayPush(repo, needMe())) throw new HttpError(403, 'Must have admin rights to Repository.')
        if (run.status !== 'completed') throw new HttpError(409, 'Cannot delete a workflow run that is not completed')
        this.runs.splice(this.runs.indexOf(run), 1)
        return {status: 204}
      }

      case 'actions/list-jobs-for-workflow-run': {
        const {run} = this.findRun(p, me)
        return {
          status: 200,
          list: {
            key: 'jobs',
            items: run.jobs.map((j) => models.job(j, run, this.urls)),
            extra: {total_count: run.jobs.length},
          },
        }
      }

      default:
        this.violations.push(
          `${method} ${match.template} (${match.operationId}) is in GitHub's API but not served by the ground`,
        )
        throw new HttpError(404, 'Not Found')
    }
  }

  private async createRepo(me: Token, owner: string, body: Record<string, unknown>): Promise<Reply> {
    if (me.repo) throw new HttpError(403, 'Resource not accessible by integration')
    if (!me.scopes.includes('repo') && body.private)
      throw new HttpError(403, 'Resource not accessible by personal access token')
    const name = String(body.name)
    if (!/^[A-Za-z0-9._-]{1,100}$/.test(name)) {
      throw new HttpError(422, 'Repository creation failed.', {
        errors: [{resource: 'Repository', code: 'custom', field: 'name', message: 'name is invalid'}],
      })
    }

    const full = `${owner}/${name}`
    if (this.repos.has(full)) {
      throw new HttpError(422, 'Repository creation failed.', {
        errors: [
          {resource: 'Repository', code: 'custom', field: 'name', message: 'name already exists on this account'},
        ],
      })
    }

    const now = new Date().toISOString()
    const repo: Repo = {
      id: this.nextId++,
      owner,
      name,
      private: Boolean(body.private),
      description: (body.description as string | undefined) ?? null,
      // GitHub sets pushed_at when it creates a repository, empty or not (its schema says string).
      defaultBranch: 'main',
      createdAt: now,
      updatedAt: now,
      pushedAt: now,
      dir: path.join(this.dir, 'repos', owner, `${name}.git`),
    }
    await initBare(repo.dir, repo.defaultBranch)
    this.installHooks(repo)
    this.repos.set(full, repo)
    if (body.auto_init) {
      const blob = await writeBlob(repo.dir, `# ${name}\n\n${repo.description ?? ''}\n`)
      const tree = await writeTree(repo.dir, new Map([['README.md', {mode: '100644', type: 'blob', sha: blob}]]))
      const commit = await commitTree(repo.dir, tree, [], 'Initial commit', {
        name: me.login,
        email: `${me.login}@users.noreply.local`,
      })
      await this.moveRef(repo, `refs/heads/${repo.defaultBranch}`, undefined, commit, me)
    }

    return {status: 201, body: this.repoModel(repo)}
  }

  private async createTree(repo: Repo, input: {tree: TreeInput[]; base_tree?: string}): Promise<Reply> {
    if (await isEmpty(repo.dir)) throw new HttpError(409, 'Git Repository is empty.')
    const files = new Map<string, {mode: string; type: string; sha: string}>()
    if (input.base_tree) {
      if ((await objectType(repo.dir, input.base_tree)) === undefined)
        throw new HttpError(422, 'base_tree is not a valid tree oid')
      for (const e of await lsTree(repo.dir, input.base_tree, true)) if (e.type !== 'tree') files.set(e.path, e)
    }

    const written = await Promise.all(
      input.tree.map((e) => (e.content === undefined ? undefined : writeBlob(repo.dir, e.content))),
    )
    for (const [i, entry] of input.tree.entries()) {
      if (entry.sha === null) {
        files.delete(entry.path)
        for (const key of [...files.keys()]) if (key.startsWith(`${entry.path}/`)) files.delete(key)
        continue
      }

      const sha = written[i] ?? entry.sha!
      if (entry.content === undefined && (await objectType(repo.dir, sha)) === undefined)
        throw new HttpError(422, `tree.sha ${sha} is not a valid ${entry.type}`)
      files.set(entry.path, {mode: entry.mode, type: entry.type, sha})
    }

    const sha = await writeTree(repo.dir, files)
    return {status: 201, body: await this.treeModel(repo, sha, false)}
  }

  /** Moves a ref as a push does: the workflow-scope rule, then runs for the push. */
  private async moveRef(repo: Repo, ref: string, old: string | undefined, sha: string, me: Token): Promise<void> {
    if ((await objectType(repo.dir, sha)) !== 'commit') throw new HttpError(422, 'Object does not exist')
    const workflow = await this.touchedWorkflow(repo, old, sha)
    if (workflow && (!me.scopes.includes('workflow') || me.repo)) {
      throw new HttpError(
        422,
        `refusing to allow a Personal Access Token to create or update workflow \`${workflow}\` without \`workflow\` scope`,
      )
    }

    await git(repo.dir, ['update-ref', ref, sha, ...(old ? [old] : [])])
    await this.pushed(repo, new Map([[ref, old ?? ZERO]]), me)
  }

  private async touchedWorkflow(repo: Repo, old: string | undefined, sha: string): Promise<string | undefined> {
    if (old)
      return (await git(repo.dir, ['diff', '--name-only', old, sha]))
        .split('\n')
        .find((f) => f.startsWith('.github/workflows/'))
    // A new ref brings only the commits no ref has yet (as the pre-receive hook below).
    const fresh = (await git(repo.dir, ['rev-list', sha, '--not', '--all'])).split('\n').filter(Boolean)
    for (const commit of fresh) {
      const found = (await git(repo.dir, ['diff-tree', '--no-commit-id', '--name-only', '-r', '--root', commit]))
        .split('\n')
        .find((f) => f.startsWith('.github/workflows/'))
      if (found) return found
    }

    return undefined
  }

  /** After refs moved: a push event for each branch, and the workflow runs it starts. */
  private async pushed(repo: Repo, before: Map<string, string>, me: Token): Promise<void> {
    const after = await refs(repo.dir)
    repo.pushedAt = new Date().toISOString()
    for (const [ref, sha] of after) {
      if (!ref.startsWith('refs/heads/') || before.get(ref) === sha || !before.has(ref)) continue
      this.deliver(repo, {ref, before: before.get(ref)!, after: sha}, me)
      const branch = ref.slice('refs/heads/'.length)
      const message = await git(repo.dir, ['log', '-1', '--format=%B', sha])
      if (/\[(skip ci|ci skip|no ci|skip actions|actions skip)\]/i.test(message)) continue
      const files = new Map<string, string>()
      for (const e of await lsTree(repo.dir, sha, true)) {
        if (e.type === 'blob' && /^\.github\/workflows\/[^/]+\.ya?ml$/.test(e.path))
          files.set(e.path, await git(repo.dir, ['cat-file', 'blob', e.sha]))
      }

      for (const workflow of workflowsOnPush(files, branch))
        this.startRun(repo, workflow, sha, branch, message.trim(), me.repo ? 'github-actions[bot]' : me.login)
    }
  }

  /**
   * A push event to every webhook registered with the ground, as GitHub Enterprise Server's
   * global webhooks send it (the fields Argo CD reads). Sent whatever the commit message
   * says: [skip ci] skips workflows, not webhooks.
   */
  private deliver(repo: Repo, push: {ref: string; before: string; after: string}, me: Token): void {
    const model = this.repoModel(repo)
    const payload = JSON.stringify({
      ...push,
      repository: {
        id: repo.id,
        name: repo.name,
        full_name: model.full_name,
        html_url: model.html_url,
        clone_url: model.clone_url,
        default_branch: repo.defaultBranch,
        private: repo.private,
      },
      pusher: {name: me.login},
    })
    for (const hook of this.hooks) {
      fetch(hook, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-github-event': 'push',
          'x-github-delivery': randomBytes(16).toString('hex'),
        },
        body: payload,
      })
        .then((r) => r.body?.cancel())
        .catch((error: Error) => process.stderr.write(`[github] webhook ${hook} not delivered: ${error.message}\n`))
    }
  }

  private startRun(
    repo: Repo,
    workflow: ReturnType<typeof workflowsOnPush>[number],
    sha: string,
    branch: string,
    message: string,
    actor: string,
  ): void {
    const now = new Date().toISOString()
    const full = `${repo.owner}/${repo.name}`
    const runId = this.nextId++
    const jobs: Job[] = workflow.jobs.map((j) => ({
      id: this.nextId++,
      runId,
      name: j.name,
      status: 'queued',
      conclusion: null,
      createdAt: now,
      startedAt: now,
      completedAt: null,
      log: '',
      steps: [
        {name: 'Set up job', number: 1, status: 'completed', conclusion: 'success', started_at: now, completed_at: now},
        ...j.steps.map((s, i) => ({
          name: s.name,
          number: i + 2,
          status: 'queued' as const,
          conclusion: null,
          started_at: null,
          completed_at: null,
        })),
      ],
    }))
    const run: Run = {
      id: runId,
      repo: full,
      workflowId: workflowId(full, workflow.path),
      workflowName: workflow.name,
      workflowPath: workflow.path,
      runNumber: this.runs.filter((r) => r.repo === full && r.workflowPath === workflow.path).length + 1,
      event: 'push',
      status: 'queued',
      conclusion: null,
      headSha: sha,
      headBranch: branch,
      headMessage: message,
      actor,
      createdAt: now,
      updatedAt: now,
      runStartedAt: now,
      jobs,
    }
    this.runs.push(run)
    const token = this.issueToken(repo.owner, ['repo'], full)
    const playing = playRun(run, workflow, {
      repoDir: repo.dir,
      cloneUrl: `${this.webUrl}/${full}.git`,
      token,
      serverUrl: this.webUrl,
      apiUrl: this.urls.api,
      decide: () => this.decisions.get(full)?.shift() ?? {conclusion: 'success'},
      now: () => new Date().toISOString(),
      changed: () => {},
    })
      .catch((error) => {
        run.status = 'completed'
        run.conclusion = 'failure'
        this.violations.push(`ground runner crashed: ${(error as Error).message}`)
      })
      .finally(() => {
        this.tokens.delete(token)
        this.running.delete(playing)
      })
    this.running.add(playing)
  }

  private findRun(p: Record<string, string>, me: Token | undefined): {run: Run; repo: Repo} {
    const repo = this.visibleRepo(p.owner, p.repo, me)
    const run = this.runs.find((r) => r.id === Number(p.run_id) && r.repo === `${repo.owner}/${repo.name}`)
    if (!run) throw new HttpError(404, 'Not Found')
    return {run, repo}
  }

  // ---- permissions -------------------------------------------------------------------

  private visibleRepo(owner: string, name: string, me: Token | undefined): Repo {
    const repo = this.repos.get(`${owner}/${name}`)
    if (!repo || (repo.private && !(me && this.mayRead(repo, me)))) throw new HttpError(404, 'Not Found')
    return repo
  }

  private writableRepo(owner: string, name: string, me: Token): Repo {
    const repo = this.visibleRepo(owner, name, me)
    if (!this.mayPush(repo, me)) throw new HttpError(404, 'Not Found')
    return repo
  }

  private mayRead(repo: Repo, me: Token): boolean {
    return this.mayPush(repo, me)
  }

  private mayPush(repo: Repo, me: Token): boolean {
    if (me.repo) return me.repo === `${repo.owner}/${repo.name}`
    if (!me.scopes.includes('repo') && repo.private) return false
    const owner = this.users.get(repo.owner)
    return repo.owner === me.login || Boolean(owner?.members.includes(me.login))
  }

  // ---- git over HTTP -----------------------------------------------------------------

  private async gitRequest(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    owner: string,
    name: string,
    rest: string,
    query: string,
  ): Promise<void> {
    const repo = this.repos.get(`${owner}/${name}`)
    const push = rest === '/git-receive-pack' || query.includes('service=git-receive-pack')
    const {token} = this.authenticate(req.headers.authorization)
    const me = token ? this.tokens.get(token) : undefined
    if ((token && !me) || ((push || repo?.private) && !me)) {
      res.writeHead(401, {'www-authenticate': 'Basic realm="GitHub"', 'content-type': 'text/plain'})
      return void res.end(token ? 'Invalid username or token.\n' : 'Authentication required.\n')
    }

    if (!repo || (repo.private && !this.mayRead(repo, me!))) {
      res.writeHead(404, {'content-type': 'text/plain'})
      return void res.end('Repository not found.\n')
    }

    if (push && !this.mayPush(repo, me!)) {
      res.writeHead(403, {'content-type': 'text/plain'})
      return void res.end(`Permission to ${owner}/${name}.git denied to ${me!.login}.\n`)
    }

    const before = rest === '/git-receive-pack' ? await refs(repo.dir) : undefined
    // The pre-receive hook reads this to apply GitHub's workflow-scope rule.
    const scope = {GROUND_WORKFLOW_SCOPE: me && me.scopes.includes('workflow') && !me.repo ? '1' : '0'}
    await httpBackend(req, res, path.join(this.dir, 'repos'), `/${owner}/${name}.git${rest}`, query, me?.login, scope)
    if (before) {
      for (const ref of (await refs(repo.dir)).keys()) if (!before.has(ref)) before.set(ref, ZERO)
      await this.pushed(repo, before, me!)
    }
  }

  private installHooks(repo: Repo): void {
    const hook = path.join(repo.dir, 'hooks', 'pre-receive')
    writeFileSync(
      hook,
      `#!/usr/bin/env bash
# GitHub refuses a push that adds or changes a workflow without the token's workflow scope.
[ "$GROUND_WORKFLOW_SCOPE" = 1 ] && exit 0
while read -r old new ref; do
  [ "$new" = ${ZERO} ] && continue
  # A new branch brings only the commits no branch has yet: one made at an existing commit
  # changes no workflow (CI's push of a deploy branch, say).
  if [ "$old" = ${ZERO} ]; then files=$(git rev-list "$new" --not --all | xargs -r -n1 git diff-tree --no-commit-id --name-only -r --root); else files=$(git diff --name-only "$old" "$new"); fi
  wf=$(printf '%s\\n' "$files" | grep -m1 '^\\.github/workflows/' || true)
  if [ -n "$wf" ]; then
    echo "refusing to allow a Personal Access Token to create or update workflow \\\`$wf\\\` without \\\`workflow\\\` scope" >&2
    exit 1
  fi
done
`,
    )
    chmodSync(hook, 0o755)
  }

  // ---- models ------------------------------------------------------------------------

  private repoModel(repo: Repo) {
    const owner = this.users.get(repo.owner) ?? {
      login: repo.owner,
      id: 0,
      type: 'User' as const,
      members: [],
      createdAt: repo.createdAt,
    }
    return models.repository(repo, owner, this.urls)
  }

  private refModel(repo: Repo, ref: string, sha: string) {
    const api = `${this.urls.api}/repos/${repo.owner}/${repo.name}`
    return {
      ref,
      node_id: Buffer.from(`Ref:${ref}`).toString('base64'),
      url: `${api}/git/${ref}`,
      object: {type: 'commit', sha, url: `${api}/git/commits/${sha}`},
    }
  }

  private async commitModel(repo: Repo, sha: string) {
    const out = await git(repo.dir, ['show', '-s', '--format=%T%n%P%n%an%n%ae%n%aI%n%cn%n%ce%n%cI%n%B', sha])
    const [tree, parents, an, ae, ad, cn, ce, cd, ...message] = out.split('\n')
    const api = `${this.urls.api}/repos/${repo.owner}/${repo.name}`
    return {
      sha,
      node_id: Buffer.from(`Commit:${sha}`).toString('base64'),
      url: `${api}/git/commits/${sha}`,
      html_url: `${this.urls.web}/${repo.owner}/${repo.name}/commit/${sha}`,
      author: {name: an, email: ae, date: ad},
      committer: {name: cn, email: ce, date: cd},
      message: message.join('\n').replace(/\n+$/, ''),
      tree: {sha: tree, url: `${api}/git/trees/${tree}`},
      parents: parents
        .split(' ')
        .filter(Boolean)
        .map((p) => ({
          sha: p,
          url: `${api}/git/commits/${p}`,
          html_url: `${this.urls.web}/${repo.owner}/${repo.name}/commit/${p}`,
        })),
      verification: {verified: false, reason: 'unsigned', signature: null, payload: null, verified_at: null},
    }
  }

  private async treeModel(repo: Repo, sha: string, recursive: boolean) {
    const api = `${this.urls.api}/repos/${repo.owner}/${repo.name}`
    const entries = await lsTree(repo.dir, sha, recursive)
    return {
      sha,
      url: `${api}/git/trees/${sha}`,
      truncated: false,
      tree: entries.map((e) => ({
        path: e.path,
        mode: e.mode,
        type: e.type,
        sha: e.sha,
        ...(e.size === undefined ? {} : {size: e.size}),
        url: `${api}/git/${e.type}s/${e.sha}`,
      })),
    }
  }

  // ---- the ground's own controls -----------------------------------------------------

  private async admin(req: http.IncomingMessage, res: http.ServerResponse, url: URL): Promise<void> {
    if (req.headers['x-ground-admin'] !== this.adminSecret)
      return send(res, 403, {message: 'ground admin secret required'})
    const body = (await readJson(req)) ?? {}
    const route = `${req.method} ${url.pathname}`
    switch (route) {
      case 'POST /_ground/users': {
        const u =
          this.users.get(String(body.login)) ??
          this.addUser(String(body.login), (body.type as User['type']) ?? 'User', (body.members as string[]) ?? [])
        for (const m of (body.members as string[] | undefined) ?? []) if (!u.members.includes(m)) u.members.push(m)
        return send(res, 200, {login: u.login, id: u.id, type: u.type})
      }

      case 'POST /_ground/hooks':
        this.hooks.push(String(body.url))
        return send(res, 200, {hooks: this.hooks.length})
      case 'POST /_ground/tokens':
        return send(res, 200, {
          token: this.issueToken(String(body.login), (body.scopes as string[]) ?? ['repo', 'workflow']),
        })
      case 'POST /_ground/decisions': {
        const queue = this.decisions.get(String(body.repo)) ?? []
        queue.push({
          conclusion: (body.conclusion as Decision['conclusion']) ?? 'success',
          job: body.job as string | undefined,
          delayMs: body.delayMs as number | undefined,
        })
        this.decisions.set(String(body.repo), queue)
        return send(res, 200, {queued: queue.length})
      }

      case 'POST /_ground/failures':
        this.failures.push({
          status: Number(body.status ?? 500),
          count: Number(body.count ?? 1),
          pathPrefix: body.pathPrefix as string | undefined,
          token: body.token as string | undefined,
          retryAfter: body.retryAfter as number | undefined,
          secondary: Boolean(body.secondary),
        })
        return send(res, 200, {failures: this.failures.length})
      case 'POST /_ground/rate-limit':
        this.rateLimit(String(body.token), this.rateLimit(String(body.token), 0).remaining - Number(body.remaining))
        return send(res, 200, {})
      case 'GET /_ground/requests':
        return send(res, 200, {requests: this.requests, violations: this.violations})
      // For a benchmark, which runs alone; tests share the server and never reset it.
      case 'POST /_ground/requests/reset':
        this.requests.length = 0
        return send(res, 200, {})
      // Test files run side by side: one forgets only the violations it provoked itself.
      case 'POST /_ground/violations/forget': {
        const including = String(body.including ?? '')
        if (!including) return send(res, 400, {message: 'name what the violations to forget include'})
        const kept = this.violations.filter((v) => !v.includes(including))
        const forgotten = this.violations.length - kept.length
        this.violations.splice(0, this.violations.length, ...kept)
        return send(res, 200, {forgotten})
      }
      default:
        return send(res, 404, {message: `no ground control ${route}`})
    }
  }
}

interface TreeInput {
  path: string
  mode: string
  type: 'blob' | 'tree' | 'commit'
  sha?: string | null
  content?: string
}

function workflowId(repo: string, file: string): number {
  return createHash('sha1').update(`${repo}:${file}`).digest().readUInt32BE(0)
}

function limitHeaders(limit: {remaining: number; reset: number}): Record<string, string> {
  return {
    'x-ratelimit-limit': '5000',
    'x-ratelimit-remaining': String(Math.max(limit.remaining, 0)),
    'x-ratelimit-used': String(5000 - Math.max(limit.remaining, 0)),
    'x-ratelimit-reset': String(limit.reset),
    'x-ratelimit-resource': 'core',
  }
}

function send(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (body === undefined || status === 204) {
    res.writeHead(status, headers)
    return void res.end()
  }

  const text = JSON.stringify(body)
  res.writeHead(status, {
    ...headers,
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(Buffer.byteLength(text)),
  })
  res.end(text)
}

async function readJson(req: http.IncomingMessage): Promise<Record<string, unknown> | undefined> {
  const chunks: Buffer[] = []
  for await (const chunk of req) chunks.push(chunk as Buffer)
  if (chunks.length === 0) return undefined
  const text = Buffer.concat(chunks).toString()
  if (!text.trim()) return undefined
  try {
    return JSON.parse(text)
  } catch {
    throw new HttpError(400, 'Problems parsing JSON')
  }
}

/** A short digest of an Authorization header, never the token itself. */
export function callerOf(authorization: string | undefined): string {
  return authorization ? createHash('sha256').update(authorization.split(/\s+/).pop()!).digest('hex').slice(0, 12) : ''
}
