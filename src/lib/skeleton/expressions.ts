// Backstage's `${{ }}` expressions: Nunjucks with `${{` as the variable start (so `{{ }}` stays
// free for Helm and GitHub Actions), the scaffolder's filters (parseRepoUrl, parseEntityRef,
// pick, projectSlug) beside Nunjucks' own, and its rule that an input which is one expression
// alone keeps the type of its value. A template's own mistake is a TemplateError that names
// the file and line, never "a bug in kplat".
import type nunjucksType from 'nunjucks'
import {KplatError} from '../errors.js'

/** A mistake in a template (a syntax error, an unknown filter): exit 1, nothing created. */
export class TemplateError extends KplatError {}

export interface Templater {
  /** Renders one string; `where` names it in errors ("skeleton/README.md", "step fetch input url"). */
  render(text: string, context: Record<string, unknown>, where: string): string
  /** Whether the text is one template node that is not plain text (one expression, one if block, ...). */
  single(text: string): boolean
}

/** What Backstage's parseRepoUrl gives for `HOST?owner=O&repo=R` (and the other hosts' keys). */
export interface RepoUrl {
  host: string
  owner?: string
  repo?: string
  organization?: string
  workspace?: string
  project?: string
}

export function parseRepoUrl(url: string): RepoUrl {
  let parsed: URL
  try {
    parsed = new URL(`https://${url}`)
  } catch {
    throw new Error(`Invalid repo URL passed to publisher: https://${url}`)
  }

  const q = parsed.searchParams
  const host = parsed.host
  const out: RepoUrl = {host}
  for (const key of ['owner', 'repo', 'organization', 'workspace', 'project'] as const) {
    const value = q.get(key)
    if (value !== null) out[key] = value
  }

  if (!out.repo) throw new Error(`Invalid repo URL passed to publisher: https://${url}, missing repo`)
  return out
}

/** kind:namespace/name, with the defaults Backstage's catalog model applies. */
export function parseEntityRef(
  ref: unknown,
  context: {defaultKind?: string; defaultNamespace?: string} = {},
): {kind: string; namespace: string; name: string} {
  if (typeof ref !== 'string') throw new Error(`Entity reference must be a string, got ${typeof ref}`)
  const colon = ref.indexOf(':')
  const slash = ref.indexOf('/')
  const kind = colon === -1 ? context.defaultKind : ref.slice(0, colon)
  const rest = colon === -1 ? ref : ref.slice(colon + 1)
  const namespace = slash === -1 ? (context.defaultNamespace ?? 'default') : rest.slice(0, rest.indexOf('/'))
  const name = slash === -1 ? rest : rest.slice(rest.indexOf('/') + 1)
  if (!kind)
    throw new Error(
      `Entity reference "${ref}" had missing or empty kind (e.g. did not start with "component:" or similar)`,
    )
  if (!namespace) throw new Error(`Entity reference "${ref}" had missing or empty namespace`)
  if (!name) throw new Error(`Entity reference "${ref}" had missing or empty name`)
  return {kind, namespace, name}
}

/** lodash's get: a dotted path into an object. */
function pick(object: unknown, key: string): unknown {
  let value = object
  for (const part of String(key).split('.')) {
    if (value === null || value === undefined) return undefined
    value = (value as Record<string, unknown>)[part]
  }

  return value
}

function projectSlug(url: string): string {
  const {owner, organization, workspace, repo} = parseRepoUrl(url)
  return `${owner ?? organization ?? workspace}/${repo}`
}

/**
 * A Nunjucks environment as Backstage's scaffolder sets one up: `${{ }}` variables (or
 * cookiecutter's `{{ }}` with cookiecutterCompat), no autoescaping, its filters.
 */
export async function createTemplater(
  opts: {cookiecutterCompat?: boolean; trimBlocks?: boolean; lstripBlocks?: boolean} = {},
): Promise<Templater> {
  const nunjucks = (await import('nunjucks')).default as typeof nunjucksType
  const tags = opts.cookiecutterCompat ? {} : {tags: {variableStart: '${{', variableEnd: '}}'}}
  const env = new nunjucks.Environment(null, {
    autoescape: false,
    trimBlocks: Boolean(opts.trimBlocks),
    lstripBlocks: Boolean(opts.lstripBlocks),
    ...tags,
  })
  const parser = (
    nunjucks as unknown as {
      parser: {
        parse(
          src: string,
          extensions: unknown[],
          opts: unknown,
        ): {children: Array<{typename: string; children?: Array<{typename: string}>}>}
      }
    }
  ).parser
  env.addFilter('parseRepoUrl', (url: string) => parseRepoUrl(url))
  env.addFilter('parseEntityRef', (ref: unknown, context?: {defaultKind?: string; defaultNamespace?: string}) =>
    parseEntityRef(ref, context),
  )
  env.addFilter('pick', pick)
  env.addFilter('projectSlug', projectSlug)
  if (opts.cookiecutterCompat) env.addFilter('jsonify', (value: unknown) => JSON.stringify(value))
  return {
    render(text, context, where) {
      try {
        return env.renderString(text, context)
      } catch (error) {
        throw templateError(error, where, text)
      }
    },
    single(text) {
      try {
        const {children} = parser.parse(text, [], tags)
        return (
          children.length === 1 &&
          !(children[0].typename === 'Output' && children[0].children?.[0]?.typename === 'TemplateData')
        )
      } catch {
        return false
      }
    },
  }
}

/** Nunjucks' "(unknown path) [Line 3, Column 9]\n  Error: filter not found: x" as "FILE line 3: filter not found: x". */
function templateError(error: unknown, where: string, text: string): TemplateError {
  const message = (error as Error).message ?? String(error)
  // An unclosed tag is found at the end of the text, where Nunjucks gives no position.
  const what =
    message
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean)
      .at(-1)
      ?.replace(/^Error: /, '') ?? message
  // Nunjucks gives no position for an unknown filter: the line is where the text uses it.
  const filter = /filter not found: (\S+)/.exec(what)?.[1]
  const use = filter ? text.search(new RegExp(`\\|\\s*${filter.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\b`)) : -1
  const line =
    /\[Line (\d+), Column \d+\]/.exec(message)?.[1] ??
    (/end of file/.test(message) ? String(text.split('\n').length) : undefined) ??
    (use >= 0 ? String(text.slice(0, use).split('\n').length) : undefined)
  return new TemplateError(`the template does not render: ${where}${line ? ` line ${line}` : ''}: ${what}`, {
    hint: 'Fix the template (the file and line above); nothing was created',
    cause: error,
  })
}

/**
 * Renders a step input as Backstage's workflow runner does: every string in it, deeply. A
 * string that is one template node (one expression, or one if or for block) keeps its values'
 * types: what it prints is JSON-encoded and read back, so a number stays a number and an
 * object an object, and plain text around them leaves the whole a string. A string that
 * renders empty is left out.
 */
export function renderInput(
  templater: Templater,
  value: unknown,
  context: Record<string, unknown>,
  where: string,
): unknown {
  if (typeof value === 'string') {
    if (templater.single(value)) {
      const encoded = templater.render(
        value.replace(/\$\{\{([\s\S]*?)\}\}/g, (_m, expression: string) => `\${{ (${expression}) | dump }}`),
        context,
        where,
      )
      if (encoded === '') return undefined
      try {
        return JSON.parse(encoded)
      } catch {
        // Text and values together: the plain rendering below.
      }
    }

    const text = templater.render(value, context, where)
    return text === '' ? undefined : text
  }

  if (Array.isArray(value)) return value.map((v, i) => renderInput(templater, v, context, `${where}[${i}]`))
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value)
        .map(([k, v]) => [k, renderInput(templater, v, context, `${where}.${k}`)])
        .filter(([, v]) => v !== undefined),
    )
  }

  return value
}

/** Backstage's truthiness for a step's `if`: empty arrays and objects are false too. */
export function truthy(value: unknown): boolean {
  if (Array.isArray(value)) return value.length > 0
  if (value && typeof value === 'object') return Object.keys(value).length > 0
  return Boolean(value)
}
