import {lstat, readdir, readFile, readlink, realpath, stat} from 'node:fs/promises'
import * as path from 'node:path'
import {UsageError} from '../errors.js'
import {createTemplater, renderInput, TemplateError, truthy} from './expressions.js'
import type {Template, TemplateStep} from './template.js'

export interface RenderedFile {
  /** Path inside the new repository, always with forward slashes. */
  path: string
  /** The bytes; for a symbolic link (mode 120000), the path it points to. */
  content: Buffer
  mode: '100644' | '100755' | '120000'
  binary: boolean
}

/** fetch:template's inputs besides url and values. */
export interface FetchOptions {
  targetPath?: string
  /** Globs of files copied as they are; their paths are still templated. */
  copyWithoutTemplating?: string[]
  /** The older form, which Backstage (4.x) accepts and ignores: so does kplat. */
  copyWithoutRender?: string[]
  /** Nunjucks' whitespace control, passed through. */
  trimBlocks?: boolean
  lstripBlocks?: boolean
  /** Only files with this extension are templated (true: .njk), and lose it. */
  templateFileExtension?: string | boolean
  /** `{{ cookiecutter.x }}` instead of `${{ values.x }}`. */
  cookiecutterCompat?: boolean
}

/**
 * Renders a skeleton folder the way Backstage's fetch:template does: Nunjucks with
 * ${{ values.x }} (so {{ }} stays free for Helm and GitHub Actions, and {% raw %} works),
 * templated paths (an entry whose rendered path is empty, absolute or has an empty part is
 * skipped), binary files copied byte for byte, executable bits kept.
 */
export async function renderSkeleton(
  dir: string,
  values: Record<string, unknown>,
  opts: FetchOptions = {},
): Promise<RenderedFile[]> {
  const render = await valuesRenderer(values, opts)
  const extension = opts.templateFileExtension === true ? '.njk' : opts.templateFileExtension || undefined
  const verbatim = await globMatcher(opts.copyWithoutTemplating ?? [])
  const base = normalizeTarget(opts.targetPath)
  const {isBinaryFile} = await import('isbinaryfile')

  const files: RenderedFile[] = []
  for (const source of await walk(dir)) {
    const relative = path.relative(dir, source).split(path.sep).join('/')
    let output = relative
    let templated: boolean
    if (extension) {
      templated = output.endsWith(extension)
      if (templated) output = output.slice(0, -extension.length)
    } else {
      templated = !verbatim(relative)
    }

    // The path is templated either way; copyWithoutTemplating keeps only the content as it is.
    output = render(output, `the path ${relative}`)
    if (output === '' || output.startsWith('/') || output.includes('//') || output.endsWith('/')) continue
    const target = path.posix.normalize(path.posix.join(base, output))
    if (target.startsWith('../') || target === '..') {
      throw new UsageError(
        `the skeleton path ${relative} renders to ${target}, outside the new repository`,
        "Fix the template's file names",
      )
    }

    const link = await symlink(dir, source)
    if (link !== undefined) {
      if (link) files.push({path: target, content: Buffer.from(link), mode: '120000', binary: false})
      continue
    }

    const raw = await readFile(source)
    const binary = await isBinaryFile(raw, raw.length)
    const content = binary || !templated ? raw : Buffer.from(render(raw.toString('utf8'), relative))
    const executable = ((await stat(source)).mode & 0o111) !== 0
    files.push({path: target, content, mode: executable ? '100755' : '100644', binary})
  }

  return files.sort((a, b) => a.path.localeCompare(b.path))
}

/** fetch:template's Nunjucks with the step's options, reading `values` (or cookiecutter's `cookiecutter`). */
async function valuesRenderer(
  values: Record<string, unknown>,
  opts: FetchOptions,
): Promise<(text: string, name: string) => string> {
  const templater = await createTemplater({
    cookiecutterCompat: opts.cookiecutterCompat,
    trimBlocks: opts.trimBlocks,
    lstripBlocks: opts.lstripBlocks,
  })
  const context = {[opts.cookiecutterCompat ? 'cookiecutter' : 'values']: values}
  return (text, name) => templater.render(text, context, name)
}

/**
 * A symbolic link of the template: its target when it stays inside the template and exists
 * (kept as a link, as Backstage does), '' when it leaves or dangles (dropped: a template may
 * not copy the machine's files into a repository), undefined when it is not a link.
 */
async function symlink(dir: string, source: string): Promise<string | undefined> {
  if (!(await lstat(source)).isSymbolicLink()) return undefined
  const target = await readlink(source)
  const resolved = path.resolve(path.dirname(source), target)
  const inside = resolved.startsWith(path.resolve(dir) + path.sep)
  const exists = await stat(resolved).then(
    () => true,
    () => false,
  )
  return inside && exists ? target : ''
}

/** globby's reading of a glob list: any positive pattern, less the `!` ones. */
async function globMatcher(globs: string[]): Promise<(file: string) => boolean> {
  if (globs.length === 0) return () => false
  const {default: picomatch} = await import('picomatch')
  const positive = globs.filter((g) => !g.startsWith('!'))
  const negative = globs.filter((g) => g.startsWith('!')).map((g) => g.slice(1))
  const yes = positive.length > 0 ? picomatch(positive, {dot: true}) : () => false
  const no = negative.length > 0 ? picomatch(negative, {dot: true}) : () => false
  return (file) => yes(file) && !no(file)
}

/** fetch:plain: the folder as it is. */
async function copyPlain(dir: string, targetPath: string | undefined): Promise<RenderedFile[]> {
  const base = normalizeTarget(targetPath)
  const {isBinaryFile} = await import('isbinaryfile')
  const files: RenderedFile[] = []
  for (const source of await walk(dir)) {
    const target = path.posix.join(base, path.relative(dir, source).split(path.sep).join('/'))
    const link = await symlink(dir, source)
    if (link !== undefined) {
      if (link) files.push({path: target, content: Buffer.from(link), mode: '120000', binary: false})
      continue
    }

    const raw = await readFile(source)
    const executable = ((await stat(source)).mode & 0o111) !== 0
    files.push({
      path: target,
      content: raw,
      mode: executable ? '100755' : '100644',
      binary: await isBinaryFile(raw, raw.length),
    })
  }

  return files
}

function normalizeTarget(targetPath: string | undefined): string {
  const base = path.posix.normalize(targetPath ?? '.')
  if (base.startsWith('../') || base === '..' || path.posix.isAbsolute(base))
    throw new TemplateError(`the template's targetPath ${targetPath} leaves the new repository`, {
      hint: 'Use a path inside it, such as ./app',
    })
  return base === '.' ? '' : base
}

async function walk(dir: string): Promise<string[]> {
  const out: string[] = []
  let entries
  try {
    entries = await readdir(dir, {withFileTypes: true})
  } catch {
    throw new TemplateError(`the template's folder ${dir} cannot be read`, {
      hint: 'Check the url of its fetch:template or fetch:plain step',
    })
  }

  for (const entry of entries) {
    const full = path.join(dir, entry.name)
    if (entry.isDirectory()) out.push(...(await walk(full)))
    else if (entry.isFile() || entry.isSymbolicLink()) out.push(full)
  }

  return out
}

/** What publish:github was asked for, honoured by kplat's own repository creation. */
export interface PublishInput {
  repoUrl?: string
  description?: string
  repoVisibility?: 'private' | 'internal' | 'public'
  defaultBranch?: string
  topics?: string[]
}

export interface TemplateRun {
  files: RenderedFile[]
  publish?: PublishInput
  /** catalog:register's input, for when the platform has a Backstage catalog. */
  register?: {catalogInfoPath?: string; repoContentsUrl?: string; catalogInfoUrl?: string}
  /** Steps kplat does not run (its own flow covers Argo CD and waiting for CI), to warn about before anything is created. */
  skipped: Array<{id: string; action: string}>
}

/**
 * Runs a template's steps as Backstage's workflow runner would, as far as kplat runs them:
 * each step's `if` and input are rendered against the parameters and the earlier steps'
 * outputs; fetch:* steps render into one tree; publish:github's and catalog:register's
 * inputs are returned for kplat's own flow; any other step is listed as skipped.
 */
export async function runTemplate(
  template: Template,
  parameters: Record<string, unknown>,
  repo: {host: string; owner: string; name: string; defaultBranch?: string},
  fetchUrl?: (url: string) => Promise<string | undefined>,
): Promise<TemplateRun> {
  const templater = await createTemplater()
  const steps: Record<string, {output: Record<string, unknown>}> = {}
  const context = {parameters, steps, user: {}}
  const files = new Map<string, RenderedFile>()
  const run: TemplateRun = {files: [], skipped: []}
  for (const step of template.steps) {
    const where = `step ${step.id}`
    for (const each of iterations(
      step.each === undefined ? undefined : renderInput(templater, step.each, context, `${where} each`),
    )) {
      const scope = each ? {...context, each} : context
      if (step.if !== undefined && !truthy(renderInput(templater, step.if, scope, `${where} if`))) continue
      const input = (renderInput(templater, step.input ?? {}, scope, `${where} input`) ?? {}) as Record<string, unknown>
      await runStep(step, input)
    }
  }

  async function runStep(step: TemplateStep, input: Record<string, unknown>): Promise<void> {
    switch (step.action) {
      case 'fetch:template':
      case 'fetch:plain': {
        const dir = await sourceFolder(template, step, input.url, fetchUrl)
        const rendered =
          step.action === 'fetch:plain'
            ? await copyPlain(dir, input.targetPath as string | undefined)
            : await renderSkeleton(dir, (input.values ?? {}) as Record<string, unknown>, input as FetchOptions)
        // As in Backstage's workspace: a file an earlier step wrote stays, unless this step says replace.
        for (const file of rendered) if (!files.has(file.path) || input.replace === true) files.set(file.path, file)
        steps[step.id] = {output: {}}
        break
      }

      case 'fetch:template:file': {
        // One file, rendered whole as Backstage does (no binary check, no executable bit);
        // a path the workspace already has, file or folder, is kept unless replace.
        const target = normalizeTarget(typeof input.targetPath === 'string' ? input.targetPath : '')
        if (!target)
          throw new TemplateError(`the template's step ${step.id} (fetch:template:file) has no targetPath`, {
            hint: 'Give it the file to write, such as ./config/app.yaml',
          })
        steps[step.id] = {output: {}}
        const folder = [...files.keys()].some((f) => f.startsWith(`${target}/`))
        if ((files.has(target) || folder) && input.replace !== true) break
        // Where Backstage's writeFile fails (EISDIR, ENOTDIR), so does kplat, rather than make a tree git cannot hold.
        const parent = target
          .split('/')
          .slice(0, -1)
          .map((_, i, parts) => parts.slice(0, i + 1).join('/'))
          .find((p) => files.has(p))
        if (folder || parent)
          throw new TemplateError(
            `the template's step ${step.id} writes ${target}, but ${folder ? `${target} is a folder` : `${parent} is a file`} an earlier step wrote`,
            {hint: 'Give it another targetPath'},
          )
        const source = await sourceFolder(template, step, input.url, fetchUrl)
        const text = await readFile(source, 'utf8').catch(() => {
          throw new TemplateError(`the template's step ${step.id} fetches ${String(input.url)}, which is not a file`, {
            hint: 'fetch:template:file takes one file; fetch:template takes a folder',
          })
        })
        const render = await valuesRenderer((input.values ?? {}) as Record<string, unknown>, input as FetchOptions)
        const content = Buffer.from(render(text, String(input.url)))
        // Written over a file, as Backstage's writeFile does, it keeps that file's executable bit.
        files.set(target, {
          path: target,
          content,
          mode: files.get(target)?.mode === '100755' ? '100755' : '100644',
          binary: false,
        })
        break
      }

      case 'publish:github': {
        run.publish = input as PublishInput
        const branch = String(input.defaultBranch ?? repo.defaultBranch ?? 'main')
        const remoteUrl = `https://${repo.host}/${repo.owner}/${repo.name}`
        steps[step.id] = {output: {remoteUrl, repoContentsUrl: `${remoteUrl}/blob/${branch}`}}
        break
      }

      case 'catalog:register':
        run.register = input as TemplateRun['register']
        steps[step.id] = {output: {}}
        break
      default:
        if (!run.skipped.some((s) => s.id === step.id)) run.skipped.push({id: step.id, action: step.action})
        steps[step.id] = {output: {}}
    }
  }

  run.files = [...files.values()].sort((a, b) => a.path.localeCompare(b.path))
  return run
}

/** The items a step's `each` runs it for: a list's (key: the index) or an object's entries. */
function iterations(each: unknown): Array<{key: string | number; value: unknown} | undefined> {
  if (each === undefined) return [undefined]
  if (Array.isArray(each)) return each.map((value, key) => ({key, value}))
  if (each && typeof each === 'object') return Object.entries(each).map(([key, value]) => ({key, value}))
  throw new TemplateError(`the template's each must be a list or an object, not ${JSON.stringify(each)}`, {
    hint: "Fix the step's each",
  })
}

/** A fetch step's url: a folder beside template.yaml, or a folder of a GitHub repository named by its URL. */
async function sourceFolder(
  template: Template,
  step: TemplateStep,
  url: unknown,
  fetchUrl?: (url: string) => Promise<string | undefined>,
): Promise<string> {
  if (typeof url !== 'string' || url === '')
    throw new TemplateError(`the template's step ${step.id} (${step.action}) has no url`, {
      hint: 'Give it the folder to fetch, such as ./skeleton',
    })
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) {
    const fetched = await fetchUrl?.(url)
    if (fetched) return fetched
    throw new TemplateError(`the template's step ${step.id} fetches ${url}, which kplat cannot fetch`, {
      hint: 'Use a folder beside template.yaml, or a GitHub folder URL (https://HOST/OWNER/REPO/tree/REF/PATH)',
    })
  }

  // Compared as the files really are: a link may not lead a template to the machine's files
  // (a kubeconfig, a token), which would be rendered into the new repository.
  const root = await realpath(template.dir)
  const dir = await realpath(path.resolve(template.dir, url)).catch(() => path.resolve(root, url))
  if (dir !== root && !dir.startsWith(root + path.sep)) {
    throw new TemplateError(`the template's step ${step.id} fetches ${url}, outside the template's folder`, {
      hint: 'Use a folder beside template.yaml',
    })
  }

  return dir
}

/**
 * The values a template's fetch:template step hands its skeleton: each `${{ parameters.x }}`
 * replaced, keeping the parameter's type when the value is that expression alone.
 */
export async function stepValues(
  values: Record<string, unknown>,
  parameters: Record<string, unknown>,
): Promise<Record<string, unknown>> {
  return renderInput(await createTemplater(), values, {parameters}, 'values') as Record<string, unknown>
}
