import * as k8s from '../kube/k8s.js'
import {ARGOCD, LABELS, MANAGED_BY_KPLAT, type Application} from '../kube/argocd.js'
import {kubeError} from '../kube/errors.js'
import {KplatError} from '../errors.js'
import type {Platform} from './target.js'

/** An app as a developer sees it: what Heroku's apps:info shows. */
export interface App {
  name: string
  repository?: string
  namespace?: string
  sync: string
  health: string
  revision?: string
  url?: string
  createdAt?: string
}

export function toApp(application: Application): App {
  const s = application.status
  return {
    name: application.metadata.labels?.[LABELS.app] ?? application.metadata.name,
    repository: application.spec.source?.repoURL,
    namespace: application.spec.destination.namespace,
    sync: s?.sync?.status ?? 'Unknown',
    health: s?.health?.status ?? 'Unknown',
    revision: s?.sync?.revision,
    url: s?.summary?.externalURLs?.[0],
    createdAt: application.metadata.creationTimestamp,
  }
}

/** The apps kplat created: Argo CD Applications that carry its label. */
export async function listApps(platform: Platform): Promise<App[]> {
  return (await listApplications(platform)).map(toApp).sort((a, b) => a.name.localeCompare(b.name))
}

/** The Argo CD Applications kplat created, as they are. */
export async function listApplications({kube, settings}: Platform): Promise<Application[]> {
  const namespace = settings.argocdNamespace
  try {
    const list = (await kube.api(k8s.CustomObjectsApi).listNamespacedCustomObject({
      ...ARGOCD,
      namespace,
      labelSelector: MANAGED_BY_KPLAT,
    })) as {items: Application[]}
    return list.items
  } catch (error) {
    throw kubeError(error, {
      verb: 'list',
      resource: 'applications.argoproj.io',
      namespace,
      server: kube.config.getCurrentCluster()?.server,
    })
  }
}

export async function getApp(platform: Platform, name: string): Promise<App> {
  return toApp(await getApplication(platform, name))
}

/** The Argo CD Application of a kplat app, or a failure that says what to type instead. */
export async function getApplication({kube, settings}: Platform, name: string): Promise<Application> {
  const namespace = settings.argocdNamespace
  let application: Application
  try {
    application = (await kube
      .api(k8s.CustomObjectsApi)
      .getNamespacedCustomObject({...ARGOCD, namespace, name})) as Application
  } catch (error) {
    if (
      (error as {code?: number}).code === 404 &&
      !/the server could not find the requested resource/i.test(String((error as {body?: unknown}).body))
    ) {
      throw new KplatError(`app "${name}" not found`, {
        hint: 'Run `kplat apps` to list your apps, or `kplat create ' + name + '` to create it',
      })
    }

    throw kubeError(error, {
      verb: 'get',
      resource: 'applications.argoproj.io',
      namespace,
      server: kube.config.getCurrentCluster()?.server,
    })
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
