import {Validator, type OutputUnit} from '@cfworker/json-schema'
import {UsageError} from '../errors.js'
import type {ParameterSchema, Template} from './template.js'

/** Parses repeated `--param key=value` flags. */
export function parseParams(flags: string[] = []): Record<string, string> {
  const out: Record<string, string> = {}
  for (const flag of flags) {
    const eq = flag.indexOf('=')
    if (eq <= 0) throw new UsageError(`--param "${flag}" is not key=value`, 'Write it as --param key=value')
    out[flag.slice(0, eq)] = flag.slice(eq + 1)
  }

  return out
}

/**
 * A required parameter nobody gave: what to ask, and how. The skeleton says what it needs;
 * whoever calls it asks (or not), and the answer comes back as text.
 */
export interface Question {
  key: string
  message: string
  kind: 'input' | 'password' | 'select'
  choices?: unknown[]
  /** The flag that answers it without a question. */
  flagHint: string
}

/**
 * The template's parameters, from what kplat knows, then --param, then `answer` for the
 * required rest when the caller can ask; validated against the template's own schema either way.
 */
export async function resolveParameters(
  template: Template,
  known: Record<string, unknown>,
  given: Record<string, string>,
  answer: ((question: Question) => Promise<unknown>) | undefined,
  app?: {name: string; owner: string; host: string; secrets?: (value: string) => void},
): Promise<Record<string, unknown>> {
  const {properties, required} = template.parameters
  for (const key of Object.keys(given)) {
    if (!(key in properties))
      throw new UsageError(
        `the ${template.name} template has no parameter "${key}"`,
        `Its parameters: ${Object.keys(properties).join(', ') || 'none'}`,
      )
  }

  const values: Record<string, unknown> = {}
  for (const [key, schema] of Object.entries(properties)) {
    const picked = app ? fromPicker(key, schema, app, given[key]) : undefined
    if (picked !== undefined) values[key] = picked
    else if (key in given) values[key] = coerce(given[key], schema.type)
    else if (key in known) values[key] = known[key]
    else if (answer && required.includes(key)) values[key] = await ask(key, schema, answer)
    else if (schema.default !== undefined) values[key] = schema.default
    if (schema['ui:widget'] === 'password' && typeof values[key] === 'string') app?.secrets?.(values[key] as string)
  }

  for (const key of required) {
    if (values[key] === undefined)
      throw new UsageError(
        `template parameter "${key}" is required (the schema: must have required property '${key}')`,
        `Pass --param ${key}=VALUE`,
      )
  }

  // Each value against its own property schema, so the message names the parameter.
  for (const [key, value] of Object.entries(values)) {
    const schema = properties[key]
    const {valid, errors} = new Validator(schema as Record<string, unknown>, '2020-12', false).validate(value)
    if (!valid)
      throw new UsageError(`template parameter "${key}" ${schemaProblem(schema, errors)}`, `Pass --param ${key}=VALUE`)
  }

  return values
}

/**
 * What Backstage's UI fields would fill in, from what kplat knows: the app's name for an
 * EntityNamePicker, its repository for a RepoUrlPicker (a --param naming another repository
 * is refused: kplat creates the one named by the app and --owner).
 */
function fromPicker(
  key: string,
  schema: ParameterSchema,
  app: {name: string; owner: string; host: string},
  given: string | undefined,
): unknown {
  const field = schema['ui:field']
  if (field === 'EntityNamePicker' && given === undefined) return app.name
  if (field !== 'RepoUrlPicker') return undefined
  const want = `${app.host}?owner=${app.owner}&repo=${app.name}`
  if (given === undefined) return want
  let named: {owner?: string; repo?: string}
  try {
    const url = new URL(`https://${given}`)
    named = {
      owner: url.searchParams.get('owner') ?? url.searchParams.get('organization') ?? undefined,
      repo: url.searchParams.get('repo') ?? undefined,
    }
  } catch {
    named = {}
  }

  if (named.owner !== app.owner || named.repo !== app.name) {
    throw new UsageError(
      `--param ${key}=${given} names the repository ${named.owner ?? '?'}/${named.repo ?? '?'}, but kplat creates ${app.owner}/${app.name} (the app's name and owner)`,
      `Leave ${key} out, or pass the app's name and --owner to match: \`kplat create ${named.repo ?? 'NAME'} --owner ${named.owner ?? 'OWNER'}\``,
    )
  }

  return want
}

async function ask(
  key: string,
  schema: ParameterSchema,
  answer: (question: Question) => Promise<unknown>,
): Promise<unknown> {
  const base = {key, message: schema.title ?? key, flagHint: `Pass --param ${key}=VALUE`}
  if (schema['ui:widget'] === 'password') return answer({...base, kind: 'password'})
  if (schema.enum) return answer({...base, kind: 'select', choices: schema.enum})
  return coerce(String(await answer({...base, kind: 'input'})), schema.type)
}

/** What is wrong with a value, in the schema's own words ("must be integer"). */
export function schemaProblem(schema: ParameterSchema, errors: OutputUnit[]): string {
  const {keyword, error} = errors.at(-1) ?? {keyword: '', error: ''}
  switch (keyword) {
    case 'type':
      return `must be ${String(schema.type)}`
    case 'pattern':
      return `must match pattern "${String(schema.pattern)}"`
    case 'enum':
      return `must be one of: ${(schema.enum ?? []).map(String).join(', ')}`
    case 'minimum':
      return `must be >= ${String(schema.minimum)}`
    case 'maximum':
      return `must be <= ${String(schema.maximum)}`
    case 'minLength':
      return `must NOT have fewer than ${String(schema.minLength)} characters`
    case 'maxLength':
      return `must NOT have more than ${String(schema.maxLength)} characters`
    default:
      return `is invalid: ${error}`
  }
}

/** A --param string as the type its schema wants, when it reads as one (else as typed, for the schema to refuse). */
export function coerce(value: string, type?: string): unknown {
  if (type === 'number' || type === 'integer')
    return value.trim() !== '' && !Number.isNaN(Number(value)) ? Number(value) : value
  if (type === 'boolean') return value === 'true' ? true : value === 'false' ? false : value
  return value
}
