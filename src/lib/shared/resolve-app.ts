import * as fs from 'node:fs/promises'
import * as path from 'node:path'
import type {Context} from '../context.js'
import {UsageError} from '../errors.js'
import {validateAppName} from './app-names.js'

export interface ResolvedApp {
  name: string
  /** Where the name came from, for messages: "--app", "KPLAT_APP", "git remote origin"... */
  source: string
  /** When the name came from git remotes: the repositories they point at (owner/repo, lower case). */
  remotes?: string[]
}

/**
 * An app named after a git remote is that app only if it deploys from one of the remotes'
 * repositories: a fork (alice/api) or another owner's repository of the same name is not the
 * platform's app `api`, and acting on it by accident could change someone else's app.
 */
export async function checkRemotes(ctx: Context, app: ResolvedApp, repoUrl: string | undefined): Promise<void> {
  if (!app.remotes?.length || !repoUrl) return
  const [{parseGitHubRemote}, {githubHost}] = await Promise.all([import('../git/repo.js'), import('../github/auth.js')])
  const deploys = parseGitHubRemote(repoUrl, githubHost(ctx.env))
  if (!deploys || app.remotes.includes(`${deploys.owner}/${deploys.repo}`.toLowerCase())) return
  throw new UsageError(
    `this repository's ${app.source} points at ${app.remotes.join(', ')}, but the app ${app.name} deploys from ${deploys.owner}/${deploys.repo}`,
    `Pass --app ${app.name} if you mean that app all the same`,
  )
}

/**
 * Which app a command means, Heroku's way: the flag, then KPLAT_APP, then the app of the
 * current git repository (its catalog-info.yaml or its GitHub remotes).
 */
export async function resolveApp(ctx: Context, flag: string | undefined): Promise<ResolvedApp> {
  if (flag) return {name: validateAppName(flag), source: '--app'}
  if (ctx.env.KPLAT_APP) return {name: validateAppName(ctx.env.KPLAT_APP), source: 'KPLAT_APP'}

  const candidates = dedupe(await appsOfRepository(ctx))
  if (candidates.length === 1) return candidates[0]
  if (candidates.length === 0) {
    throw new UsageError(
      "no app specified, and the current directory is not an app's repository",
      "Pass --app APP, set KPLAT_APP, or run it inside the app's git clone",
    )
  }

  const list = candidates.map((c) => `${c.name} (${c.source})`).join(', ')
  const choice = await ctx.ask.select(
    'Several apps could be meant; which one?',
    candidates.map((c) => ({name: `${c.name} (${c.source})`, value: c})),
    `Several apps could be meant: ${list}. Pass --app ${candidates[0].name} (or another of them)`,
  )
  return choice
}

async function appsOfRepository(ctx: Context): Promise<ResolvedApp[]> {
  const [{workTreeRoot, remotes, parseGitHubRemote}, {githubHost}] = await Promise.all([
    import('../git/repo.js'),
    import('../github/auth.js'),
  ])
  const root = await workTreeRoot(ctx.cwd)
  if (!root) return []

  const found: ResolvedApp[] = []
  const fromCatalog = await catalogApp(root)
  if (fromCatalog) found.push({name: fromCatalog, source: 'catalog-info.yaml'})

  const host = githubHost(ctx.env)
  for (const remote of await remotes(root)) {
    const gh = parseGitHubRemote(remote.url, host)
    if (gh && isAppName(gh.repo))
      found.push({
        name: gh.repo,
        source: `git remote ${remote.name}`,
        remotes: [`${gh.owner}/${gh.repo}`.toLowerCase()],
      })
  }

  return found
}

/** The app a Backstage catalog-info.yaml names: its kplat.dev/app annotation. */
async function catalogApp(root: string): Promise<string | undefined> {
  let text: string
  try {
    text = await fs.readFile(path.join(root, 'catalog-info.yaml'), 'utf8')
  } catch {
    return undefined
  }

  const {parseAllDocuments} = await import('yaml')
  for (const doc of parseAllDocuments(text)) {
    const app = (doc.toJS() as {metadata?: {annotations?: Record<string, unknown>}} | null)?.metadata?.annotations?.[
      'kplat.dev/app'
    ]
    if (typeof app === 'string' && isAppName(app)) return app
  }

  return undefined
}

function isAppName(name: string): boolean {
  try {
    validateAppName(name)
    return true
  } catch {
    return false
  }
}

function dedupe(apps: ResolvedApp[]): ResolvedApp[] {
  const byName = new Map<string, ResolvedApp>()
  for (const app of apps) {
    const seen = byName.get(app.name)
    if (!seen) byName.set(app.name, app)
    // The catalog's annotation names the app outright: then no remote has to match.
    else if (seen.remotes && app.remotes) seen.remotes = [...new Set([...seen.remotes, ...app.remotes])]
    else delete seen.remotes
  }

  return [...byName.values()]
}
