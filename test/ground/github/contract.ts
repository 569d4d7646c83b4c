import {readFileSync} from 'node:fs'
import {createRequire} from 'node:module'
import * as path from 'node:path'
import {Ajv, type ValidateFunction} from 'ajv'
import * as ajvFormats from 'ajv-formats'

// ajv-formats is CommonJS; under ESM its function arrives as the module's default.
type AddFormats = (ajv: Ajv) => Ajv
const addFormats =
  ((ajvFormats as unknown as {default: AddFormats | {default: AddFormats}}).default as {default?: AddFormats})
    .default ?? (ajvFormats as unknown as {default: AddFormats}).default

interface Operation {
  operationId: string
  requestBody?: {content?: Record<string, {schema?: unknown}>}
  responses: Record<string, {content?: Record<string, {schema?: unknown}>}>
}

export interface Match {
  operationId: string
  template: string
  params: Record<string, string>
}

/**
 * GitHub's published OpenAPI description (@octokit/openapi), used to hold the local server
 * to the real API: every request it takes and every response it sends is validated.
 */
export class Contract {
  private readonly spec: {paths: Record<string, Record<string, Operation>>; components: unknown}
  private readonly ajv: Ajv
  private readonly routes: Array<{method: string; template: string; regex: RegExp; names: string[]; op: Operation}> = []
  private readonly compiled = new Map<string, ValidateFunction | null>()

  constructor() {
    const require = createRequire(import.meta.url)
    const file = path.join(
      path.dirname(require.resolve('@octokit/openapi/package.json')),
      'generated',
      'api.github.com.json',
    )
    this.spec = JSON.parse(readFileSync(file, 'utf8'))
    untypedNullable(this.spec)
    this.ajv = new Ajv({strict: false, allErrors: true, validateFormats: true})
    addFormats(this.ajv)
    this.ajv.addSchema({$id: 'gh', components: this.spec.components, paths: this.spec.paths})
    for (const [template, item] of Object.entries(this.spec.paths)) {
      const names: string[] = []
      const regex = new RegExp(
        '^' +
          template.replace(/\{([^}]+)\}/g, (_m, name: string) => {
            names.push(name)
            // {ref} in the Git Data API holds slashes (heads/main).
            return name === 'ref' || name === 'path' ? '(.+)' : '([^/]+)'
          }) +
          '$',
      )
      for (const [method, op] of Object.entries(item)) {
        if (typeof op === 'object' && op && 'responses' in op)
          this.routes.push({method: method.toUpperCase(), template, regex, names, op})
      }
    }

    // Literal segments beat parameters: /repos/{o}/{r}/git/refs before /repos/{o}/{r}/{x}.
    this.routes.sort(
      (a, b) => b.template.replace(/\{[^}]+\}/g, '').length - a.template.replace(/\{[^}]+\}/g, '').length,
    )
  }

  match(method: string, pathname: string): Match | undefined {
    for (const r of this.routes) {
      if (r.method !== method) continue
      const m = r.regex.exec(pathname)
      if (m)
        return {
          operationId: r.op.operationId,
          template: r.template,
          params: Object.fromEntries(r.names.map((n, i) => [n, decodeURIComponent(m[i + 1])])),
        }
    }

    return undefined
  }

  /** Problems with a request body, or [] when it is what the operation accepts. */
  checkRequest(match: Match, method: string, body: unknown): string[] {
    const op = this.spec.paths[match.template][method.toLowerCase()]
    if (!op.requestBody?.content?.['application/json']) return []
    return this.check(
      `${match.template} ${method} request`,
      ['paths', match.template, method.toLowerCase(), 'requestBody', 'content', 'application/json', 'schema'],
      body,
    )
  }

  /** Problems with a response, or [] when the operation documents it so. */
  checkResponse(match: Match, method: string, status: number, body: unknown): string[] {
    const op = this.spec.paths[match.template][method.toLowerCase()]
    const response = op.responses[String(status)]
    if (!response)
      return [
        `${method} ${match.template}: status ${status} is not a documented response (${Object.keys(op.responses).join(', ')})`,
      ]
    if (!response.content?.['application/json']?.schema) return []
    return this.check(
      `${match.template} ${method} ${status}`,
      [
        'paths',
        match.template,
        method.toLowerCase(),
        'responses',
        String(status),
        'content',
        'application/json',
        'schema',
      ],
      body,
    )
  }

  private check(key: string, pointer: string[], value: unknown): string[] {
    let validate = this.compiled.get(key)
    if (validate === undefined) {
      const ref = 'gh#/' + pointer.map((p) => p.replaceAll('~', '~0').replaceAll('/', '~1')).join('/')
      validate = this.ajv.compile({$ref: ref})
      this.compiled.set(key, validate)
    }

    if (!validate || validate(value)) return []
    // A failed check names what broke the contract; `(root)` stands for the whole body.
    return (validate.errors ?? []).slice(0, 8).map((e) => `${key}: ${e.instancePath || '(root)'} ${e.message}`)
  }
}

/**
 * OpenAPI 3.0 lets `nullable` stand beside allOf/anyOf without a type; Ajv only takes it
 * next to `type`. Rewrite those spots to the equivalent anyOf with null, once, at load.
 */
function untypedNullable(node: unknown): void {
  if (Array.isArray(node)) {
    for (const item of node) untypedNullable(item)
    return
  }

  if (!node || typeof node !== 'object') return
  const o = node as Record<string, unknown>
  for (const value of Object.values(o)) untypedNullable(value)
  if (o.nullable === true && o.type === undefined) {
    const rest = {...o}
    delete rest.nullable
    for (const key of Object.keys(o)) delete o[key]
    o.anyOf = [rest, {type: 'null'}]
  }
}
