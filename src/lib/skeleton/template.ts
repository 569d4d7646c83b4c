import {readFile} from 'node:fs/promises'
import * as path from 'node:path'
import {UsageError} from '../ui/errors.js'

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
}

export interface Template {
  dir: string
  name: string
  title: string
  /** The merged parameter schema of every page of spec.parameters. */
  parameters: {properties: Record<string, ParameterSchema>; required: string[]}
  /** The fetch:template step's folder and the values it passes to the skeleton. */
  skeletonDir: string
  values: Record<string, unknown>
}

interface TemplateDoc {
  apiVersion?: string
  kind?: string
  metadata?: {name?: string; title?: string}
  spec?: {
    parameters?: Array<{properties?: Record<string, ParameterSchema>; required?: string[]}> | {properties?: Record<string, ParameterSchema>; required?: string[]}
    steps?: Array<{action?: string; input?: {url?: string; values?: Record<string, unknown>}}>
  }
}

/** Reads a Backstage Software Template (scaffolder.backstage.io/v1beta3) from a folder. */
export async function loadTemplate(dir: string): Promise<Template> {
  let text: string
  try {
    text = await readFile(path.join(dir, 'template.yaml'), 'utf8')
  } catch {
    throw new UsageError(`no template.yaml in ${dir}`, 'Pass --template with a skeleton name (such as node) or a folder that holds a Backstage template.yaml')
  }

  const {parse} = await import('yaml')
  const doc = parse(text) as TemplateDoc
  if (doc?.apiVersion !== 'scaffolder.backstage.io/v1beta3' || doc.kind !== 'Template') {
    throw new UsageError(`${dir}/template.yaml is not a Backstage Software Template (want apiVersion scaffolder.backstage.io/v1beta3, kind Template)`)
  }

  const pages = Array.isArray(doc.spec?.parameters) ? doc.spec!.parameters : doc.spec?.parameters ? [doc.spec.parameters] : []
  const properties: Record<string, ParameterSchema> = {}
  const required: string[] = []
  for (const page of pages) {
    Object.assign(properties, page.properties)
    required.push(...(page.required ?? []))
  }

  const fetch = doc.spec?.steps?.find((s) => s.action === 'fetch:template')
  const skeletonDir = path.resolve(dir, fetch?.input?.url ?? './skeleton')
  if (!skeletonDir.startsWith(path.resolve(dir) + path.sep)) throw new UsageError(`the template's fetch:template url leaves its folder (${fetch?.input?.url})`)
  return {
    dir,
    name: doc.metadata?.name ?? path.basename(dir),
    title: doc.metadata?.title ?? doc.metadata?.name ?? path.basename(dir),
    parameters: {properties, required},
    skeletonDir,
    values: fetch?.input?.values ?? {},
  }
}
