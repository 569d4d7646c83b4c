import {simpleGit} from 'simple-git'

export interface Remote {
  name: string
  url: string
}

/** The top of the git work tree that holds dir, or undefined outside one. */
export async function workTreeRoot(dir: string): Promise<string | undefined> {
  try {
    const top = await simpleGit({baseDir: dir}).revparse(['--show-toplevel'])
    return top.trim() || undefined
  } catch {
    return undefined
  }
}

export async function remotes(dir: string): Promise<Remote[]> {
  const list = await simpleGit({baseDir: dir}).getRemotes(true)
  return list.map((r) => ({name: r.name, url: r.refs.fetch || r.refs.push}))
}

/** owner/name of a GitHub remote URL on the given host (https, ssh or scp-like forms). */
export function parseGitHubRemote(url: string, host: string): {owner: string; repo: string} | undefined {
  const scp = /^[\w.-]+@([^:/]+):([^/]+)\/([^/]+?)(?:\.git)?\/?$/.exec(url)
  if (scp) return scp[1] === host.split(':')[0] ? {owner: scp[2], repo: scp[3]} : undefined
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    return undefined
  }

  if (parsed.host !== host && parsed.hostname !== host) return undefined
  const parts = parsed.pathname
    .replace(/^\/+|\/+$/g, '')
    .replace(/\.git$/, '')
    .split('/')
  return parts.length === 2 ? {owner: parts[0], repo: parts[1]} : undefined
}
