import {readFile} from 'node:fs/promises'
import * as path from 'node:path'
import {UsageError} from '../errors.js'

/** A JSON Schema property of a template parameter, as Backstage templates write them. */
export interface ParameterSchema {
  type?: string
  title?: string
  description?: string
  default?: unknown
  enum?: unknown[]
  pattern?: string
  minLength?: number
  maxLength?: number
  minimum?: number
  maximum?: number
  'ui:widget'?: string
  /** Backstage's UI fields: RepoUrlPicker, EntityNamePicker, OwnerPicker, EntityPicker, ... */
  'ui:field'?: string
  'ui:options'?: Record<string, unknown>
}

/** A page of spec.parameters: its properties, and those that `dependencies` may add. */
interface ParameterPage {
  properties?: Record<string, ParameterSchema>
  required?: string[]
  dependencies?: Record<
    string,
    {
      properties?: Record<string, ParameterSchema>
      oneOf?: Array<{properties?: Record<string, ParameterSchema>; required?: string[]}>
    }
  >
}

/** One step of spec.steps, as written (its input is rendered when the template runs). */
export interface TemplateStep {
  id: string
  name?: string
  action: string
  input?: Record<string, unknown>
  /** Backstage's condition: a boolean or a `${{ }}` expression; a falsy result skips the step. */
  if?: unknown
  /** Runs the step once per item of this list or object, as `each.key` and `each.value`. */
  each?: unknown
}

export interface Template {
  dir: string
  name: string
  title: string
  description?: string
  steps: TemplateStep[]
  /** The merged parameter schema of every page of spec.parameters. */
  parameters: {properties: Record<string, ParameterSchema>; required: string[]}
}

export interface TemplateDoc {
  apiVersion?: string
  kind?: string
  metadata?: {name?: string; title?: string; description?: string}
  spec?: {
    parameters?: ParameterPage[] | ParameterPage
    steps?: Array<{
      id?: string
      name?: string
      action?: string
      input?: Record<string, unknown>
      if?: unknown
      each?: unknown
    }>
  }
}

/** Reads a Backstage Software Template (scaffolder.backstage.io/v1beta3) from a folder. */
export async function loadTemplate(dir: string): Promise<Template> {
  let text: string
  try {
    text = await readFile(path.join(dir, 'template.yaml'), 'utf8')
  } catch {
    throw new UsageError(
      `no template.yaml in ${dir}`,
      'Pass --template with a skeleton name (such as node) or a folder that holds a Backstage template.yaml',
    )
  }

  const {parse} = await import('yaml')
  let doc: TemplateDoc
  try {
    doc = parse(text) as TemplateDoc
  } catch (error) {
    const {TemplateError} = await import('./expressions.js')
    const line = (error as {linePos?: Array<{line: number}>}).linePos?.[0]?.line
    throw new TemplateError(
      `${path.join(dir, 'template.yaml')}${line ? ` line ${line}` : ''} is not valid YAML: ${(error as Error).message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '')}`,
      {
        hint: 'Fix the template (a `${{ }}` value that starts a YAML value needs quotes, or block style)',
        cause: error,
      },
    )
  }

  return parseTemplate(doc, dir)
}

/** A template from its document (template.yaml, or a catalog's Template entity); `dir` is where its fetch steps' folders are. */
export function parseTemplate(doc: TemplateDoc, dir: string): Template {
  if (doc?.apiVersion !== 'scaffolder.backstage.io/v1beta3' || doc.kind !== 'Template') {
    throw new UsageError(
      `${dir}/template.yaml is not a Backstage Software Template (want apiVersion scaffolder.backstage.io/v1beta3, kind Template)`,
    )
  }

  const pages = Array.isArray(doc.spec?.parameters)
    ? doc.spec!.parameters
    : doc.spec?.parameters
      ? [doc.spec.parameters]
      : []
  const properties: Record<string, ParameterSchema> = {}
  const required: string[] = []
  for (const page of pages) {
    Object.assign(properties, page.properties)
    required.push(...(page.required ?? []))
    // A property that only a `dependencies` branch shows is optional here: the form would ask
    // for it when the branch applies; kplat takes it from --param.
    for (const dependency of Object.values(page.dependencies ?? {})) {
      for (const branch of [dependency, ...(dependency.oneOf ?? [])]) {
        for (const [key, schema] of Object.entries(branch.properties ?? {})) {
          if (!(key in properties) && Object.keys(schema).some((k) => k !== 'const' && k !== 'enum'))
            properties[key] = schema
        }
      }
    }
  }

  const steps: TemplateStep[] = (doc.spec?.steps ?? []).map((s, i) => {
    if (typeof s?.action !== 'string')
      throw new UsageError(
        `${dir}/template.yaml: step ${s?.id ?? i + 1} has no action`,
        'Give every step an action, such as fetch:template',
      )
    return {id: s.id ?? `step-${i + 1}`, name: s.name, action: s.action, input: s.input, if: s.if, each: s.each}
  })
  return {
    dir,
    name: doc.metadata?.name ?? path.basename(dir),
    title: doc.metadata?.title ?? doc.metadata?.name ?? path.basename(dir),
    description: doc.metadata?.description,
    steps,
    parameters: {properties, required},
  }
}
