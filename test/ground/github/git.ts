import {execFile, spawn} from 'node:child_process'
import {createHash} from 'node:crypto'
import {existsSync} from 'node:fs'
import {appendFile, mkdir, rename, writeFile} from 'node:fs/promises'
import type {IncomingMessage, ServerResponse} from 'node:http'
import * as path from 'node:path'
import {promisify} from 'node:util'
import {deflate} from 'node:zlib'

const deflateAsync = promisify(deflate)

/** Runs git in a bare repository; resolves with stdout as text. */
export async function git(repoDir: string, args: string[], input?: string | Buffer): Promise<string> {
  return (await gitBytes(repoDir, args, input)).toString()
}

/** Runs git in a bare repository; resolves with stdout's bytes (a blob may be binary). */
export function gitBytes(repoDir: string, args: string[], input?: string | Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      'git',
      ['-C', repoDir, ...args],
      {maxBuffer: 256 << 20, encoding: 'buffer', env: {...process.env, GIT_TERMINAL_PROMPT: '0'}},
      (error, stdout, stderr) => {
        if (error) reject(new Error(`git ${args.join(' ')}: ${stderr.toString().trim() || error.message}`))
        else resolve(stdout)
      },
    )
    if (input !== undefined) child.stdin!.end(input)
  })
}

/**
 * Stores an object as git's own loose object, without a git process: spawning one costs
 * 20-30 ms here, and a tree of 500 files would otherwise cost 500 `git hash-object`s,
 * a wait that GitHub does not make its clients sit through.
 */
async function writeObject(repoDir: string, type: 'blob' | 'tree' | 'commit', body: Buffer): Promise<string> {
  const object = Buffer.concat([Buffer.from(`${type} ${body.length}\0`), body])
  const sha = createHash('sha1').update(object).digest('hex')
  const file = path.join(repoDir, 'objects', sha.slice(0, 2), sha.slice(2))
  if (existsSync(file)) return sha
  await mkdir(path.dirname(file), {recursive: true})
  // Written aside and renamed, so a concurrent reader never sees half an object.
  const temp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`
  await writeFile(temp, await deflateAsync(object), {mode: 0o444})
  await rename(temp, file)
  return sha
}

export function writeBlob(repoDir: string, content: string | Buffer): Promise<string> {
  return writeObject(repoDir, 'blob', typeof content === 'string' ? Buffer.from(content) : content)
}

/** A commit object, as `git commit-tree` writes it; the committer is the author, now. */
export function commitTree(
  repoDir: string,
  tree: string,
  parents: string[],
  message: string,
  who: {name: string; email: string; date?: string},
): Promise<string> {
  const committed = gitDate(new Date().toISOString())
  const lines = [
    `tree ${tree}`,
    ...parents.map((p) => `parent ${p}`),
    `author ${who.name} <${who.email}> ${who.date ? gitDate(who.date) : committed}`,
    `committer ${who.name} <${who.email}> ${committed}`,
  ]
  return writeObject(repoDir, 'commit', Buffer.from(`${lines.join('\n')}\n\n${message}`))
}

/** An ISO 8601 date as git stores it: seconds since the epoch and the zone's offset. */
function gitDate(iso: string): string {
  const seconds = Math.floor(Date.parse(iso) / 1000)
  const zone = /([+-])(\d\d):?(\d\d)$/.exec(iso)
  return `${seconds} ${zone ? `${zone[1]}${zone[2]}${zone[3]}` : '+0000'}`
}

export async function initBare(dir: string, defaultBranch: string): Promise<void> {
  await new Promise<void>((resolve, reject) =>
    execFile('git', ['init', '--bare', '-q', `--initial-branch=${defaultBranch}`, dir], (e) =>
      e ? reject(e) : resolve(),
    ),
  )
  // What `git config http.receivepack true` writes, without another process.
  await appendFile(path.join(dir, 'config'), '[http]\n\treceivepack = true\n')
}

export async function refs(repoDir: string): Promise<Map<string, string>> {
  const out = await git(repoDir, ['for-each-ref', '--format=%(refname) %(objectname)'])
  return new Map(
    out
      .split('\n')
      .filter(Boolean)
      .map((l) => l.split(' ') as [string, string]),
  )
}

export async function isEmpty(repoDir: string): Promise<boolean> {
  return (await refs(repoDir)).size === 0
}

export async function objectType(repoDir: string, sha: string): Promise<string | undefined> {
  try {
    return (await git(repoDir, ['cat-file', '-t', sha])).trim()
  } catch {
    return undefined
  }
}

export interface TreeEntry {
  path: string
  mode: string
  type: 'blob' | 'tree' | 'commit'
  sha: string
  size?: number
}

export async function lsTree(repoDir: string, treeish: string, recursive: boolean): Promise<TreeEntry[]> {
  const out = await git(repoDir, ['ls-tree', '-l', ...(recursive ? ['-r', '-t'] : []), '-z', treeish])
  return out
    .split('\0')
    .filter(Boolean)
    .map((line) => {
      const [meta, path] = line.split('\t')
      const [mode, type, sha, size] = meta.split(/\s+/)
      return {path, mode, type: type as TreeEntry['type'], sha, size: size === '-' ? undefined : Number(size)}
    })
}

/** Writes nested trees for a flat map of file paths; returns the root tree's sha. */
export async function writeTree(
  repoDir: string,
  files: Map<string, {mode: string; type: string; sha: string}>,
): Promise<string> {
  const children = new Map<string, Map<string, {mode: string; type: string; sha: string}>>()
  const dirs = new Set<string>([''])
  for (const path of files.keys()) {
    const parts = path.split('/')
    for (let i = 1; i < parts.length; i++) dirs.add(parts.slice(0, i).join('/'))
  }

  for (const dir of dirs) children.set(dir, new Map())
  for (const [path, entry] of files) {
    const slash = path.lastIndexOf('/')
    children.get(slash === -1 ? '' : path.slice(0, slash))!.set(path.slice(slash + 1), entry)
  }

  // Deepest folders first, so each parent sees its children's shas.
  for (const dir of [...dirs].sort((a, b) => b.split('/').length - a.split('/').length || b.length - a.length)) {
    if (dir === '') continue
    const sha = await mktree(repoDir, children.get(dir)!)
    const slash = dir.lastIndexOf('/')
    children
      .get(slash === -1 ? '' : dir.slice(0, slash))!
      .set(dir.slice(slash + 1), {mode: '040000', type: 'tree', sha})
  }

  return mktree(repoDir, children.get('')!)
}

/** A tree object, as `git mktree` writes it: entries in git's order, where a folder sorts as "name/". */
function mktree(repoDir: string, entries: Map<string, {mode: string; type: string; sha: string}>): Promise<string> {
  const key = (name: string, type: string) => Buffer.from(type === 'tree' ? `${name}/` : name)
  const sorted = [...entries].sort(([a, x], [b, y]) => Buffer.compare(key(a, x.type), key(b, y.type)))
  const body = Buffer.concat(
    sorted.flatMap(([name, e]) => [Buffer.from(`${e.mode.replace(/^0+/, '')} ${name}\0`), Buffer.from(e.sha, 'hex')]),
  )
  return writeObject(repoDir, 'tree', body)
}

/**
 * Serves one request of git's smart HTTP protocol through `git http-backend`, streaming
 * the body both ways. user is set only after the caller's own auth check.
 */
export function httpBackend(
  req: IncomingMessage,
  res: ServerResponse,
  root: string,
  pathInfo: string,
  query: string,
  user?: string,
  extraEnv: Record<string, string> = {},
): Promise<void> {
  return new Promise((resolve) => {
    const child = spawn('git', ['http-backend'], {
      env: {
        ...process.env,
        GIT_PROJECT_ROOT: root,
        GIT_HTTP_EXPORT_ALL: '1',
        PATH_INFO: pathInfo,
        QUERY_STRING: query,
        REQUEST_METHOD: req.method ?? 'GET',
        CONTENT_TYPE: req.headers['content-type'] ?? '',
        ...(req.headers['content-encoding'] ? {HTTP_CONTENT_ENCODING: String(req.headers['content-encoding'])} : {}),
        ...(req.headers['git-protocol'] ? {GIT_PROTOCOL: String(req.headers['git-protocol'])} : {}),
        ...(user ? {REMOTE_USER: user, REMOTE_ADDR: '127.0.0.1'} : {}),
        ...extraEnv,
      },
    })
    req.pipe(child.stdin)
    let head = Buffer.alloc(0)
    let headersDone = false
    child.stdout.on('data', (chunk: Buffer) => {
      if (headersDone) {
        res.write(chunk)
        return
      }

      head = Buffer.concat([head, chunk])
      const end = head.indexOf('\r\n\r\n')
      if (end === -1) return
      headersDone = true
      let status = 200
      for (const line of head.subarray(0, end).toString().split('\r\n')) {
        const i = line.indexOf(':')
        const key = line.slice(0, i).trim()
        const value = line.slice(i + 1).trim()
        if (key.toLowerCase() === 'status') status = Number(value.split(' ')[0])
        else res.setHeader(key, value)
      }

      res.writeHead(status)
      res.write(head.subarray(end + 4))
    })
    child.stderr.on('data', () => {})
    child.on('close', () => {
      res.end()
      resolve()
    })
  })
}
