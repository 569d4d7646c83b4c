// Backstage's `${{ }}` expressions: Nunjucks with `${{` as the variable start (so `{{ }}` stays
// free for Helm and GitHub Actions), the scaffolder's filters (parseRepoUrl, parseEntityRef,
// pick, projectSlug) beside Nunjucks' own, and its rule that an input which is one expression
// alone keeps the type of its value. A template's own mistake is a TemplateError that names
// the file and line, never "a bug in kplat".
import {KplatError} from '../errors.js'
import {createIsolate, type Isolate, RENDER_MEMORY_MIB, RENDER_SECONDS} from './sandbox.js'

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
 * cookiecutter's `{{ }}` with cookiecutterCompat), no autoescaping, its filters. It runs in an
 * isolate (sandbox.ts): a template's code cannot reach kplat's process.
 */
export async function createTemplater(
  opts: {cookiecutterCompat?: boolean; trimBlocks?: boolean; lstripBlocks?: boolean} = {},
): Promise<Templater> {
  const tags = opts.cookiecutterCompat ? {} : {tags: {variableStart: '${{', variableEnd: '}}'}}
  const options = {
    env: {autoescape: false, trimBlocks: Boolean(opts.trimBlocks), lstripBlocks: Boolean(opts.lstripBlocks), ...tags},
    parse: tags,
    jsonify: Boolean(opts.cookiecutterCompat),
  }
  const isolate = await (shared ??= createIsolate(PRELUDE, {
    parseRepoUrl: (url: string) => parseRepoUrl(url),
    parseEntityRef: (ref: unknown, context?: {defaultKind?: string; defaultNamespace?: string}) =>
      parseEntityRef(ref, context ?? undefined),
    pick,
    projectSlug,
  }))
  const id = isolate.call('environment', JSON.stringify(options))
  // Text with no tag renders as itself: no need to cross into the isolate for it.
  const tagged = opts.cookiecutterCompat ? /\{\{|\{%|\{#/ : /\$\{\{|\{%|\{#/
  return {
    render(text, context, where) {
      if (!tagged.test(text)) return text
      let answer: {ok?: string; error?: string}
      try {
        answer = JSON.parse(isolate.call('render', id, text, JSON.stringify(context))) as typeof answer
      } catch (error) {
        throw templateError(error, where, text)
      }

      if (answer.error !== undefined) throw templateError(new Error(answer.error), where, text)
      return answer.ok ?? ''
    },
    single(text) {
      if (!tagged.test(text)) return false
      try {
        return isolate.call('single', id, text) === 'true'
      } catch {
        return false
      }
    },
  }
}

/** One isolate per process: loading Nunjucks into it is most of its cost (about 0.1 s). */
let shared: Promise<Isolate> | undefined

/**
 * What runs in the isolate after Nunjucks: `environment` makes one environment per templater
 * with kplat's filters calling back through `__host` (taken off the global object, so the
 * template cannot call it by name); `render` and `single` answer in strings.
 */
const PRELUDE = `(function () {
  var host = globalThis.__host
  delete globalThis.__host
  var environments = []
  function hosted(name) {
    return function () {
      var out = JSON.parse(host(name, JSON.stringify(Array.prototype.slice.call(arguments))))
      if ('error' in out) throw new Error(out.error)
      return out.value
    }
  }
  globalThis.environment = function (json) {
    var options = JSON.parse(json)
    var env = new nunjucks.Environment(null, options.env)
    ;['parseRepoUrl', 'parseEntityRef', 'pick', 'projectSlug'].forEach(function (name) { env.addFilter(name, hosted(name)) })
    if (options.jsonify) env.addFilter('jsonify', function (value) { return JSON.stringify(value) })
    environments.push({env: env, parse: options.parse})
    return String(environments.length - 1)
  }
  globalThis.render = function (id, text, context) {
    try {
      return JSON.stringify({ok: environments[id].env.renderString(text, JSON.parse(context))})
    } catch (e) {
      return JSON.stringify({error: String((e && e.message) || e)})
    }
  }
  globalThis.single = function (id, text) {
    var children = nunjucks.parser.parse(text, [], environments[id].parse).children
    var first = children[0]
    var data = first && first.typename === 'Output' && first.children && first.children[0] && first.children[0].typename === 'TemplateData'
    return String(children.length === 1 && !data)
  }
})()`

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
      ?.replace(/^Error: /, '')
      .replace(/^(InternalError: )?out of memory$/, `it used more than ${RENDER_MEMORY_MIB} MiB`)
      .replace(/^(InternalError: )?interrupted$/, `it ran longer than ${RENDER_SECONDS}s`) ?? message
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
