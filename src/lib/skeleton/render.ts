import {readdir, readFile, stat} from 'node:fs/promises'
import * as path from 'node:path'
import {KplatError, UsageError} from '../ui/errors.js'

export interface RenderedFile {
  /** Path inside the new repository, always with forward slashes. */
  path: string
  content: Buffer
  mode: '100644' | '100755'
  binary: boolean
}

/**
 * Renders a skeleton folder the way Backstage's fetch:template does: Nunjucks with
 * ${{ values.x }} (so {{ }} stays free for Helm and GitHub Actions, and {% raw %} works),
 * templated file and folder names, an entry whose rendered name is empty is skipped,
 * binary files are copied byte for byte and executable bits are kept.
 */
export async function renderSkeleton(dir: string, values: Record<string, unknown>): Promise<RenderedFile[]> {
  const nunjucks = (await import('nunjucks')).default
  const env = new nunjucks.Environment(null, {autoescape: false, throwOnUndefined: false, tags: {variableStart: '${{', variableEnd: '}}'}})
  const render = (text: string, where: string) => {
    try {
      return env.renderString(text, {values})
    } catch (error) {
      throw new KplatError(`the skeleton's ${where} does not render: ${(error as Error).message.split('\n').at(-1)?.trim()}`, {cause: error})
    }
  }

  const files: RenderedFile[] = []
  for (const source of await walk(dir)) {
    const relative = path.relative(dir, source).split(path.sep)
    const rendered = relative.map((part) => render(part, `path ${relative.join('/')}`).trim())
    if (rendered.some((part) => part === '')) continue
    const target = path.posix.normalize(rendered.join('/'))
    if (target.startsWith('../') || target === '..' || path.posix.isAbsolute(target)) {
      throw new UsageError(`the skeleton path ${relative.join('/')} renders to ${target}, outside the new repository`, 'Fix the template\'s file names')
    }

    const raw = await readFile(source)
    const binary = isBinary(raw)
    const content = binary ? raw : Buffer.from(render(raw.toString('utf8'), `file ${relative.join('/')}`))
    const executable = ((await stat(source)).mode & 0o111) !== 0
    files.push({path: target, content, mode: executable ? '100755' : '100644', binary})
  }

  return files.sort((a, b) => a.path.localeCompare(b.path))
}

async function walk(dir: string): Promise<string[]> {
  const out: string[] = []
  for (const entry of await readdir(dir, {withFileTypes: true})) {
    const full = path.join(dir, entry.name)
    if (entry.isDirectory()) out.push(...await walk(full))
    else if (entry.isFile()) out.push(full)
  }

  return out
}

// What git and Backstage's isbinaryfile check both come down to: a NUL byte early on.
function isBinary(content: Buffer): boolean {
  return content.subarray(0, 8000).includes(0)
}

/**
 * The values a template's fetch:template step hands its skeleton: each `${{ parameters.x }}`
 * replaced, keeping the parameter's type when the value is that expression alone.
 */
export async function stepValues(stepValues: Record<string, unknown>, parameters: Record<string, unknown>): Promise<Record<string, unknown>> {
  const nunjucks = (await import('nunjucks')).default
  const env = new nunjucks.Environment(null, {autoescape: false, tags: {variableStart: '${{', variableEnd: '}}'}})
  const out: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(stepValues)) {
    const whole = typeof value === 'string' ? /^\$\{\{\s*parameters\.([\w-]+)\s*\}\}$/.exec(value) : null
    out[key] = whole ? parameters[whole[1]] : typeof value === 'string' ? env.renderString(value, {parameters}) : value
  }

  return out
}
