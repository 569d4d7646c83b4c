import {execFile, spawn} from 'node:child_process'
import type {IncomingMessage, ServerResponse} from 'node:http'

/** Runs git in a bare repository; resolves with stdout. */
export function git(repoDir: string, args: string[], input?: string | Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile('git', ['-C', repoDir, ...args], {maxBuffer: 256 << 20, encoding: 'buffer', env: {...process.env, GIT_TERMINAL_PROMPT: '0'}}, (error, stdout, stderr) => {
      if (error) reject(new Error(`git ${args.join(' ')}: ${stderr.toString().trim() || error.message}`))
      else resolve(stdout.toString())
    })
    if (input !== undefined) child.stdin!.end(input)
  })
}

export function commitTree(repoDir: string, tree: string, parents: string[], message: string, who: {name: string; email: string; date?: string}): Promise<string> {
  return new Promise((resolve, reject) => {
    const env = {
      ...process.env, GIT_AUTHOR_NAME: who.name, GIT_AUTHOR_EMAIL: who.email, GIT_COMMITTER_NAME: who.name, GIT_COMMITTER_EMAIL: who.email,
      ...(who.date ? {GIT_AUTHOR_DATE: who.date} : {}),
    }
    const child = execFile('git', ['-C', repoDir, 'commit-tree', tree, ...parents.flatMap((p) => ['-p', p])], {env}, (error, stdout, stderr) => {
      if (error) reject(new Error(`git commit-tree: ${String(stderr).trim()}`))
      else resolve(String(stdout).trim())
    })
    child.stdin!.end(message)
  })
}

export async function initBare(dir: string, defaultBranch: string): Promise<void> {
  await new Promise<void>((resolve, reject) => execFile('git', ['init', '--bare', '-q', `--initial-branch=${defaultBranch}`, dir], (e) => (e ? reject(e) : resolve())))
  await git(dir, ['config', 'http.receivepack', 'true'])
}

export async function refs(repoDir: string): Promise<Map<string, string>> {
  const out = await git(repoDir, ['for-each-ref', '--format=%(refname) %(objectname)'])
  return new Map(out.split('\n').filter(Boolean).map((l) => l.split(' ') as [string, string]))
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
  return out.split('\0').filter(Boolean).map((line) => {
    const [meta, path] = line.split('\t')
    const [mode, type, sha, size] = meta.split(/\s+/)
    return {path, mode, type: type as TreeEntry['type'], sha, size: size === '-' ? undefined : Number(size)}
  })
}

/** Writes nested trees for a flat map of file paths; returns the root tree's sha. */
export async function writeTree(repoDir: string, files: Map<string, {mode: string; type: string; sha: string}>): Promise<string> {
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
    children.get(slash === -1 ? '' : dir.slice(0, slash))!.set(dir.slice(slash + 1), {mode: '040000', type: 'tree', sha})
  }

  return mktree(repoDir, children.get('')!)
}

async function mktree(repoDir: string, entries: Map<string, {mode: string; type: string; sha: string}>): Promise<string> {
  const input = [...entries].map(([name, e]) => `${e.mode} ${e.type} ${e.sha}\t${name}\0`).join('')
  return (await git(repoDir, ['mktree', '-z'], input)).trim()
}

/**
 * Serves one request of git's smart HTTP protocol through `git http-backend`, streaming
 * the body both ways. user is set only after the caller's own auth check.
 */
export function httpBackend(req: IncomingMessage, res: ServerResponse, root: string, pathInfo: string, query: string, user?: string, extraEnv: Record<string, string> = {}): Promise<void> {
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
