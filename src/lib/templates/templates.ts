// The golden paths on offer: the templates kplat ships, and those the platform team publishes
// (the `templates` setting: a folder, or a git repository, of Backstage templates). A name
// given to `create --template` is looked up in that order, after a path.
import {execFile} from 'node:child_process'
import {createHash} from 'node:crypto'
import {existsSync} from 'node:fs'
import {mkdir, readdir, realpath, rename, rm} from 'node:fs/promises'
import * as path from 'node:path'
import {fileURLToPath} from 'node:url'
import {cacheRoot} from '../cache.js'
import type {Context} from '../context.js'
import {loadTemplate, parseTemplate, type Template, type TemplateDoc} from '../skeleton/template.js'
import type {CatalogEntity} from './catalog.js'
import {KplatError, UsageError} from '../errors.js'
import type {PlatformSettings} from '../shared/settings.js'

const SHIPPED = fileURLToPath(new URL('../../../skeletons', import.meta.url))

export interface TemplateParameter {
  name: string
  type?: string
  title?: string
  description?: string
  required: boolean
  default?: unknown
  /** Backstage's UI field, when the template names one (kplat fills some from the app). */
  field?: string
}

export interface TemplateSummary {
  name: string
  title: string
  description?: string
  /** `shipped`, or where the platform publishes it. */
  source: string
  parameters: TemplateParameter[]
}

/** Every template on offer: shipped, the platform's folder or repository, the Backstage catalog's. */
export async function listTemplates(ctx: Context, settings: PlatformSettings): Promise<TemplateSummary[]> {
  const [shipped, platform, catalog] = await Promise.all([
    templatesIn(SHIPPED),
    platformTemplates(ctx, settings),
    catalogTemplates(ctx, settings),
  ])
  return [
    ...shipped.map((t) => summary(t, 'shipped')),
    ...platform.map((t) => summary(t, settings.templates!)),
    ...catalog.map((c) => summary(parseTemplate(c.entity as TemplateDoc, '(catalog)'), 'backstage')),
  ]
}

/** The catalog's Template entities, with where each one's folder is (Backstage's managed-by-location). */
async function catalogTemplates(
  ctx: Context,
  settings: PlatformSettings,
): Promise<Array<{entity: CatalogEntity; location?: string}>> {
  const {catalogOf, templateEntities} = await import('./catalog.js')
  const catalog = catalogOf(ctx, settings)
  if (!catalog) return []
  return (await templateEntities(catalog)).map((entity) => ({
    entity,
    location: entity.metadata.annotations?.['backstage.io/managed-by-location']?.replace(/^url:/, ''),
  }))
}

/**
 * A catalog template's folder: Backstage knows it as the URL of its template.yaml on GitHub
 * (`.../OWNER/REPO/blob/REF/PATH/template.yaml`); kplat fetches that repository like the
 * platform's own and reads the template from it.
 */
async function fetchCatalogTemplate(ctx: Context, name: string, location: string | undefined): Promise<Template> {
  const folder = location ? await fetchFolder(ctx, location.replace(/\/template\.ya?ml$/, '')) : undefined
  if (!folder)
    throw new KplatError(
      `the catalog's template ${name} is at ${location ?? 'no known location'}, which kplat cannot fetch`,
      {hint: 'kplat fetches templates registered from a GitHub repository'},
    )
  return loadTemplate(folder)
}

/**
 * A folder named by its GitHub URL (`https://HOST/OWNER/REPO/tree/REF/PATH`, or blob), as
 * Backstage's fetch steps and catalog name them: a shallow copy of that repository at REF,
 * kept in kplat's cache, and the folder in it; undefined for a URL of another shape.
 */
export async function fetchFolder(ctx: Context, url: string): Promise<string | undefined> {
  const m = /^(https?:\/\/[^/]+)\/([^/]+)\/([^/]+)\/(?:blob|tree)\/([^/]+)(?:\/(.*?))?\/?$/.exec(url)
  if (!m) return undefined
  const [, origin, owner, repo, ref, folder] = m
  const dir = await realpath(await fetchRepository(ctx, `${origin}/${owner}/${repo}.git#${ref}`))
  // As the files really are: a link in the repository may not lead out of it.
  const resolved = await realpath(path.resolve(dir, folder ?? '.')).catch(() => path.resolve(dir, folder ?? '.'))
  if (resolved !== dir && !resolved.startsWith(dir + path.sep)) return undefined
  return resolved
}

/**
 * The template `--template` names: a folder (a value with a slash or a leading dot), a shipped
 * one, or one the platform publishes; the settings are read only when it is none of the first.
 */
export async function findTemplate(
  ctx: Context,
  name: string,
  opts: {settings: () => Promise<PlatformSettings>},
): Promise<Template> {
  if (name.includes('/') || name.startsWith('.')) return loadTemplate(path.resolve(ctx.cwd, name))
  if (existsSync(path.join(SHIPPED, name, 'template.yaml'))) return loadTemplate(path.join(SHIPPED, name))
  const resolved = await opts.settings()
  const platform = await platformTemplates(ctx, resolved)
  const found = platform.find((t) => t.name === name)
  if (found) return found
  const catalog = await catalogTemplates(ctx, resolved)
  const entry = catalog.find((c) => c.entity.metadata.name === name)
  if (entry) return fetchCatalogTemplate(ctx, name, entry.location)
  const names = [...(await templatesIn(SHIPPED)), ...platform]
    .map((t) => t.name)
    .concat(catalog.map((c) => c.entity.metadata.name))
  throw new UsageError(
    `no template named "${name}" (on offer: ${names.join(', ')})`,
    'Run `kplat templates` to list them, or pass --template a folder that holds a template.yaml',
  )
}

function summary(t: Template, source: string): TemplateSummary {
  return {
    name: t.name,
    title: t.title,
    ...(t.description ? {description: t.description} : {}),
    source,
    parameters: Object.entries(t.parameters.properties).map(([name, s]) => ({
      name,
      required: t.parameters.required.includes(name),
      ...(s.type ? {type: s.type} : {}),
      ...(s.title ? {title: s.title} : {}),
      ...(s.description ? {description: s.description} : {}),
      ...(s.default === undefined ? {} : {default: s.default}),
      ...(s['ui:field'] ? {field: s['ui:field']} : {}),
    })),
  }
}

async function platformTemplates(ctx: Context, settings: PlatformSettings): Promise<Template[]> {
  if (!settings.templates) return []
  const dir = isGitUrl(settings.templates)
    ? await fetchRepository(ctx, settings.templates)
    : path.resolve(ctx.cwd, settings.templates)
  if (!existsSync(dir))
    throw new KplatError(`the platform's templates folder ${dir} does not exist`, {
      hint: 'Fix the templates setting (KPLAT_TEMPLATES, or the templates key of ConfigMap kplat-system/kplat)',
    })
  return templatesIn(dir)
}

/** A folder that is a template, or holds templates one or two levels down. */
async function templatesIn(dir: string, depth = 2): Promise<Template[]> {
  if (existsSync(path.join(dir, 'template.yaml'))) return [await loadTemplate(dir)]
  if (depth === 0) return []
  const entries = await readdir(dir, {withFileTypes: true}).catch(() => [])
  const found = await Promise.all(
    entries
      .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
      .map((e) => templatesIn(path.join(dir, e.name), depth - 1)),
  )
  return found.flat().sort((a, b) => a.name.localeCompare(b.name))
}

function isGitUrl(value: string): boolean {
  return /^(https?|ssh|git):\/\//.test(value) || /^[\w.-]+@[\w.-]+:/.test(value)
}

/**
 * A shallow copy of the templates repository (URL#ref picks a branch or tag), kept in kplat's
 * cache and brought up to date on each use. On the GitHub kplat talks to, the token is sent
 * as a header for the one command, as create's clone does.
 *
 * The cache is never written in place: kplat asks the remote for the ref's commit
 * (`ls-remote`, read-only here), keeps the copy when it is that commit, and otherwise clones
 * a new copy aside and swaps it in. A kplat interrupted at any point (Ctrl-C during a fetch
 * used to leave `index.lock`, and every later use failed) leaves the old copy or the new one.
 */
async function fetchRepository(ctx: Context, value: string): Promise<string> {
  const [url, ref] = value.split('#', 2)
  const cache = path.join(
    cacheRoot(ctx.env),
    'templates',
    createHash('sha256').update(value).digest('hex').slice(0, 16),
  )
  const env: NodeJS.ProcessEnv = {...process.env, GIT_TERMINAL_PROMPT: '0'}
  const [{githubHost}, {tokenHeaderEnv}] = await Promise.all([import('../github/auth.js'), import('../git/clone.js')])
  if (/^https?:\/\//.test(url) && new URL(url).host === githubHost(ctx.env))
    Object.assign(env, tokenHeaderEnv(url, await ctx.githubToken()))

  const git = (args: string[], cwd?: string) =>
    new Promise<string>((resolve, reject) => {
      execFile('git', args, {env, cwd}, (error, stdout, stderr) =>
        error
          ? reject(
              new KplatError(
                `could not fetch the platform's templates from ${url}: ${String(stderr).trim().split('\n').at(-1)}`,
                {hint: 'Check the templates setting and that your GitHub token can read that repository', cause: error},
              ),
            )
          : resolve(String(stdout)),
      )
    })
  if (existsSync(path.join(cache, '.git'))) {
    // A tag's line and its peeled commit's (`^{}`) both count.
    const [remote, local] = await Promise.all([
      git(['ls-remote', url, ...(ref ? [ref, `${ref}^{}`] : ['HEAD'])]),
      git(['rev-parse', 'HEAD'], cache).catch(() => ''),
    ])
    const commits = remote.split('\n').map((l) => l.split('\t')[0])
    if (local.trim() && commits.includes(local.trim())) return cache
  }

  await mkdir(path.dirname(cache), {recursive: true})
  const partial = `${cache}.${process.pid}`
  const old = `${cache}.old.${process.pid}`
  await rm(partial, {recursive: true, force: true})
  await git(['clone', '--quiet', '--depth', '1', ...(ref ? ['--branch', ref] : []), url, partial])
  if (existsSync(cache)) await rename(cache, old)
  // Another kplat may have swapped its copy in between the two renames: then it serves.
  await rename(partial, cache).catch(() => rm(partial, {recursive: true, force: true}))
  await rm(old, {recursive: true, force: true})
  return cache
}
