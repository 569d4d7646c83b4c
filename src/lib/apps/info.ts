import type {Context} from '../context.js'
import {toApp, type App} from '../shared/applications.js'
import type {AppTarget} from '../shared/target.js'
import {catalogLink} from '../templates/catalog.js'

/** apps:info: the app as Heroku shows it, with its page in the platform's Backstage catalog. */
export async function describeApp(ctx: Context, target: AppTarget): Promise<App & {catalog?: string}> {
  const catalog = await catalogLink(ctx, target)
  return {...toApp(target.application), ...(catalog ? {catalog} : {})}
}
