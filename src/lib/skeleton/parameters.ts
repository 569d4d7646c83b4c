import {Validator, type OutputUnit} from '@cfworker/json-schema'
import type {Prompter} from '../ui/prompter.js'
import {UsageError} from '../ui/errors.js'
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
 * The template's parameters, from what kplat knows, then --param, then prompts for the
 * rest when a person is there; validated against the template's own schema either way.
 */
export async function resolveParameters(template: Template, known: Record<string, unknown>, given: Record<string, string>, prompter: Prompter, interactive: boolean): Promise<Record<string, unknown>> {
  const {properties, required} = template.parameters
  for (const key of Object.keys(given)) {
    if (!(key in properties)) throw new UsageError(`the ${template.name} template has no parameter "${key}"`, `Its parameters: ${Object.keys(properties).join(', ') || 'none'}`)
  }

  const values: Record<string, unknown> = {}
  for (const [key, schema] of Object.entries(properties)) {
    if (key in given) values[key] = coerce(given[key], schema.type)
    else if (key in known) values[key] = known[key]
    else if (interactive && required.includes(key)) values[key] = await ask(key, schema, prompter)
    else if (schema.default !== undefined) values[key] = schema.default
  }

  for (const key of required) {
    if (values[key] === undefined) throw new UsageError(`template parameter "${key}" is required`, `Pass --param ${key}=VALUE`)
  }

  // Each value against its own property schema, so the message names the parameter.
  for (const [key, value] of Object.entries(values)) {
    const schema = properties[key]
    const {valid, errors} = new Validator(schema as Record<string, unknown>, '2020-12', false).validate(value)
    if (!valid) throw new UsageError(`template parameter "${key}" ${schemaProblem(schema, errors)}`, `Pass --param ${key}=VALUE`)
  }

  return values
}

async function ask(key: string, schema: {title?: string; description?: string; enum?: unknown[]; type?: string}, prompter: Prompter): Promise<unknown> {
  const message = schema.title ?? key
  if (schema.enum) return prompter.select(message, schema.enum.map((v) => ({name: String(v), value: v})), `Pass --param ${key}=VALUE`)
  return coerce(await prompter.input(message, `Pass --param ${key}=VALUE`), schema.type)
}

/** What is wrong with a value, in the schema's own words ("must be integer"). */
export function schemaProblem(schema: ParameterSchema, errors: OutputUnit[]): string {
  const {keyword, error} = errors.at(-1) ?? {keyword: '', error: ''}
  switch (keyword) {
    case 'type': return `must be ${String(schema.type)}`
    case 'pattern': return `must match pattern "${String(schema.pattern)}"`
    case 'enum': return `must be one of: ${(schema.enum ?? []).map(String).join(', ')}`
    case 'minimum': return `must be >= ${String(schema.minimum)}`
    case 'maximum': return `must be <= ${String(schema.maximum)}`
    case 'minLength': return `must NOT have fewer than ${String(schema.minLength)} characters`
    case 'maxLength': return `must NOT have more than ${String(schema.maxLength)} characters`
    default: return `is invalid: ${error}`
  }
}

/** A --param string as the type its schema wants, when it reads as one (else as typed, for the schema to refuse). */
export function coerce(value: string, type?: string): unknown {
  if (type === 'number' || type === 'integer') return value.trim() !== '' && !Number.isNaN(Number(value)) ? Number(value) : value
  if (type === 'boolean') return value === 'true' ? true : value === 'false' ? false : value
  return value
}
