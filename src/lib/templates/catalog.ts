// The platform's Backstage catalog, when the platform configures one (the backstageUrl
// setting, and a token in KPLAT_BACKSTAGE_TOKEN): `create` registers the app's
// catalog-info.yaml as a location, as Backstage's catalog:register step does, `apps:destroy`
// removes that location (only if it is the one kplat registers for the app), and `apps:info`
// links the entity. The catalog's REST API: /api/catalog/locations and /api/catalog/entities.
import type {Context} from '../context.js'
import {KplatError} from '../errors.js'
import type {PlatformSettings} from '../shared/settings.js'
import type {AppTarget} from '../shared/target.js'
import {warn} from '../progress.js'

export interface Catalog {
  url: string
  token?: string
}

export interface EntityRef {
  kind: string
  namespace: string
  name: string
}

export interface CatalogEntity {
  apiVersion: string
  kind: string
  metadata: {
    name: string
    namespace?: string
    title?: string
    description?: string
    annotations?: Record<string, string>
  }
  spec?: Record<string, unknown>
}

/** The platform's catalog, or undefined when it has none. */
export function catalogOf(ctx: Context, settings: PlatformSettings): Catalog | undefined {
  if (!settings.backstageUrl) return undefined
  const token = ctx.env.KPLAT_BACKSTAGE_TOKEN || undefined
  ctx.redactor.add(token)
  return {url: settings.backstageUrl.replace(/\/+$/, ''), token}
}

/** The Application's record of the location create registered, for apps:destroy to remove that one. */
export const CATALOG_LOCATION = 'kplat.dev/catalog-location'

/** The Application's record of the entity that location holds, for apps:info to link whatever its name. */
export const CATALOG_ENTITY = 'kplat.dev/catalog-entity'

/** An entity reference as Backstage writes one: kind:namespace/name. */
export function stringifyRef(ref: EntityRef): string {
  return `${ref.kind.toLowerCase()}:${ref.namespace}/${ref.name}`
}

function parseRef(text: string | undefined): EntityRef | undefined {
  const m = /^([^:/]+):([^:/]+)\/([^:/]+)$/.exec(text ?? '')
  return m ? {kind: m[1], namespace: m[2], name: m[3]} : undefined
}

/** Where an app's catalog-info.yaml is, as Backstage names a file in a GitHub repository. */
export function catalogTarget(repositoryHtmlUrl: string, branch = 'main', file = 'catalog-info.yaml'): string {
  return `${repositoryHtmlUrl.replace(/\.git$/, '')}/blob/${branch}/${file}`
}

/** The page of an entity in Backstage's UI. */
export function entityUrl(catalog: Catalog, ref: EntityRef): string {
  return `${catalog.url}/catalog/${ref.namespace}/${ref.kind.toLowerCase()}/${ref.name}`
}

async function call<T>(
  catalog: Catalog,
  method: string,
  route: string,
  body?: unknown,
): Promise<{status: number; body: T}> {
  let res: Response
  try {
    res = await fetch(`${catalog.url}${route}`, {
      method,
      headers: {
        ...(catalog.token ? {authorization: `Bearer ${catalog.token}`} : {}),
        ...(body ? {'content-type': 'application/json'} : {}),
        accept: 'application/json',
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(30_000),
    })
  } catch (error) {
    const code = (error as {cause?: {code?: string}}).cause?.code ?? (error as Error).name
    throw new KplatError(`cannot reach Backstage at ${catalog.url} (${code})`, {
      hint: 'Check the backstageUrl setting (or KPLAT_BACKSTAGE_URL) and that Backstage is up',
      cause: error,
    })
  }

  const text = await res.text()
  let parsed: unknown
  try {
    parsed = text ? JSON.parse(text) : undefined
  } catch {
    parsed = text
  }

  if (res.status === 401 || res.status === 403) {
    throw new KplatError(`Backstage at ${catalog.url} refused kplat (${res.status} ${message(parsed)})`, {
      hint: "Set KPLAT_BACKSTAGE_TOKEN to a token your platform team issued for Backstage's catalog",
    })
  }

  return {status: res.status, body: parsed as T}
}

function message(body: unknown): string {
  return (body as {error?: {message?: string}})?.error?.message ?? (typeof body === 'string' ? body.slice(0, 200) : '')
}

/**
 * Registers a catalog-info.yaml as a location: first a dry run, which reads the file at once
 * and says what is wrong with it (a plain registration accepts anything and fails later, out
 * of sight), then the registration; one already there is kept. Returns the entity it holds,
 * once the catalog shows it.
 */
export async function registerLocation(catalog: Catalog, target: string): Promise<{ref: EntityRef; url: string}> {
  const dry = await call<{entities?: CatalogEntity[]}>(catalog, 'POST', '/api/catalog/locations?dryRun=true', {
    type: 'url',
    target,
  })
  if (dry.status !== 201 && dry.status !== 200)
    throw new KplatError(`Backstage cannot register ${target} (${dry.status} ${message(dry.body)})`)
  const entities = (dry.body.entities ?? []).filter((e) => e.kind !== 'Location')
  const entity = entities.find((e) => e.kind === 'Component') ?? entities[0]
  if (!entity)
    throw new KplatError(`Backstage found no entity in ${target}`, {
      hint: "The repository's catalog-info.yaml should describe the app as a Component",
    })
  const done = await call(catalog, 'POST', '/api/catalog/locations', {type: 'url', target})
  if (done.status !== 201 && done.status !== 409)
    throw new KplatError(`Backstage did not register ${target} (${done.status} ${message(done.body)})`)
  const ref = {kind: entity.kind, namespace: entity.metadata.namespace ?? 'default', name: entity.metadata.name}
  // The catalog processes a new location in the background (about a second): the link kplat
  // prints should answer when it is printed, so kplat waits for the entity, a bounded while.
  const deadline = Date.now() + 15_000
  while (!(await getEntity(catalog, ref)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200))
  return {ref, url: entityUrl(catalog, ref)}
}

/**
 * The location registered for `target`, the file create registered: only that one is kplat's
 * to remove. Looked up by its target, not by entity, since a template's catalog-info.yaml
 * may name its entity anything.
 */
export async function findLocation(
  catalog: Catalog,
  target: string,
): Promise<{id: string; target: string} | undefined> {
  const found = await call<Array<{data?: {id?: string; target?: string}}>>(catalog, 'GET', '/api/catalog/locations')
  if (found.status !== 200)
    throw new KplatError(`Backstage could not list its locations (${found.status} ${message(found.body)})`)
  const location = (Array.isArray(found.body) ? found.body : [])
    .map((l) => l.data)
    .find((l) => l?.id && l.target === target)
  return location ? {id: location.id!, target} : undefined
}

export async function removeLocation(catalog: Catalog, id: string): Promise<void> {
  const done = await call(catalog, 'DELETE', `/api/catalog/locations/${encodeURIComponent(id)}`)
  if (done.status !== 204 && done.status !== 404)
    throw new KplatError(`Backstage did not remove the location ${id} (${done.status} ${message(done.body)})`)
}

export async function getEntity(catalog: Catalog, ref: EntityRef): Promise<CatalogEntity | undefined> {
  const found = await call<CatalogEntity>(
    catalog,
    'GET',
    `/api/catalog/entities/by-name/${ref.kind.toLowerCase()}/${ref.namespace}/${ref.name}`,
  )
  return found.status === 200 ? found.body : undefined
}

/** The catalog's Software Templates. */
export async function templateEntities(catalog: Catalog): Promise<CatalogEntity[]> {
  const found = await call<CatalogEntity[]>(catalog, 'GET', '/api/catalog/entities?filter=kind=template')
  if (found.status !== 200)
    throw new KplatError(`Backstage could not list its templates (${found.status} ${message(found.body)})`)
  return found.body
}

/**
 * The app's page in the catalog, when the platform has one and the app is in it: the entity
 * create recorded, else a Component named after the app (a catalog that does not answer is
 * only a warning).
 */
export async function catalogLink(ctx: Context, target: AppTarget): Promise<string | undefined> {
  const catalog = catalogOf(ctx, target.settings)
  if (!catalog) return undefined
  const recorded = target.application.metadata.annotations?.[CATALOG_ENTITY]
  const ref = parseRef(recorded) ?? {kind: 'Component', namespace: 'default', name: target.name}
  try {
    return (await getEntity(catalog, ref)) ? entityUrl(catalog, ref) : undefined
  } catch (error) {
    warn(ctx.progress, (error as Error).message)
    return undefined
  }
}
