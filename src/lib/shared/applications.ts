import * as k8s from '../kube/k8s.js'
import {ARGOCD, LABELS, MANAGED_BY_KPLAT, type Application} from '../kube/argocd.js'
import {kubeError} from '../kube/errors.js'
import {KplatError} from '../errors.js'
import type {Platform} from './target.js'
import {TEAM_LABEL} from '../teams/teams.js'

/** An app as a developer sees it: what Heroku's apps:info shows. */
export interface App {
  name: string
  repository?: string
  namespace?: string
  /** The team that owns it; none for a platform app (one in Argo CD's own namespace). */
  team?: string
  sync: string
  health: string
  revision?: string
  url?: string
  createdAt?: string
  /**
   * What Argo CD says is wrong with the Application, in its words: a chart that does not
   * render, or a project that refuses its repository or destination (a team's AppProject).
   */
  problems?: string[]
}

export function toApp(application: Application): App {
  const s = application.status
  const problems = (s?.conditions ?? [])
    .filter((c) => /(Error|Warning)$/.test(c.type))
    .map((c) => `${c.type}: ${c.message ?? ''}`.trim())
  return {
    name: application.metadata.labels?.[LABELS.app] ?? application.metadata.name,
    repository: application.spec.source?.repoURL,
    namespace: application.spec.destination.namespace,
    team: application.metadata.labels?.[TEAM_LABEL],
    sync: s?.sync?.status ?? 'Unknown',
    health: s?.health?.status ?? 'Unknown',
    revision: s?.sync?.revision,
    url: s?.summary?.externalURLs?.[0],
    createdAt: application.metadata.creationTimestamp,
    ...(problems.length ? {problems} : {}),
  }
}

/** The apps kplat created: Argo CD Applications that carry its label. */
export async function listApps(platform: Platform, opts: {team?: string} = {}): Promise<App[]> {
  return (await listApplications(platform, opts)).map(toApp).sort((a, b) => a.name.localeCompare(b.name))
}

/**
 * The Argo CD Applications kplat created, as they are: in Argo CD's own namespace (platform
 * apps, and apps made before teams) and in the namespaces of the user's teams (or of one).
 * A namespace the user may not read is not theirs; when they may read none, that is said.
 */
export async function listApplications(platform: Platform, opts: {team?: string} = {}): Promise<Application[]> {
  const {kube, settings} = platform
  const {listTeams, teamNamed} = await import('../teams/teams.js')
  const list = async (namespace: string): Promise<Application[] | Error> => {
    try {
      const found = (await kube.api(k8s.CustomObjectsApi).listNamespacedCustomObject({
        ...ARGOCD,
        namespace,
        labelSelector: MANAGED_BY_KPLAT,
      })) as {items: Application[]}
      return found.items
    } catch (error) {
      const failure = kubeError(error, {
        verb: 'list',
        resource: 'applications.argoproj.io',
        namespace,
        server: kube.config.getCurrentCluster()?.server,
      })
      if ((error as {code?: number}).code === 403) return failure
      throw failure
    }
  }

  if (opts.team) {
    const found = await list((await teamNamed(platform, opts.team)).namespace)
    if (found instanceof Error) throw found
    return found
  }

  const [own, teams] = await Promise.all([list(settings.argocdNamespace), listTeams(platform)])
  const namespaces = teams === 'forbidden' ? [] : teams.map((t) => t.namespace)
  const lists = [own, ...(await Promise.all(namespaces.filter((n) => n !== settings.argocdNamespace).map(list)))]
  const readable = lists.filter((l): l is Application[] => !(l instanceof Error))
  if (readable.length === 0) throw own as Error
  return readable.flat()
}

export async function getApp(platform: Platform, name: string, team?: string): Promise<App> {
  return toApp(await getApplication(platform, name, team))
}

/** The Argo CD Application of a kplat app, or a failure that says what to type instead. */
export async function getApplication(platform: Platform, name: string, team?: string): Promise<Application> {
  const {locateApplication} = await import('../teams/teams.js')
  const {application, searched, refused} = await locateApplication(platform, name, team)
  if (!application) {
    if (refused)
      throw kubeError(refused.error, {
        verb: 'get',
        resource: 'applications.argoproj.io',
        namespace: refused.namespace,
        server: platform.kube.config.getCurrentCluster()?.server,
      })
    throw new KplatError(
      `app "${name}" not found${searched.includes(platform.settings.argocdNamespace) ? '' : ` among the apps you may see (in namespace ${searched.join(', ')})`}`,
      {
        hint: 'Run `kplat apps` to list your apps, or `kplat create ' + name + '` to create it',
      },
    )
  }

  refuseForeign(application, name)
  return application
}

/** kplat acts only on the Applications it created. */
export function refuseForeign(application: Application, name: string): void {
  if (application.metadata.labels?.[LABELS.managedBy] !== 'kplat') {
    throw new KplatError(`"${name}" is an Argo CD Application that kplat did not create`, {
      hint: 'kplat only manages apps it created; use argocd for this one',
    })
  }
}
