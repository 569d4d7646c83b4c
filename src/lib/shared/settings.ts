import * as k8s from '../kube/k8s.js'
import type {Kube} from '../kube/client.js'
import {kubeError} from '../kube/errors.js'
import {silent, warn, type Progress} from '../progress.js'
import {KplatError} from '../errors.js'

/**
 * Platform defaults that the platform team sets once, in the cluster (ConfigMap
 * kplat-system/kplat), overridable per person by environment variables and per command
 * by flags.
 */
export interface PlatformSettings {
  githubOwner?: string
  registry: string
  appsDomain?: string
  argocdNamespace: string
  argocdProject: string
  /** The most processes of one type `kplat ps:scale` asks for. */
  maxProcesses: number
  /** URL prefixes that Argo CD credential templates cover, for private repositories. */
  repoCredentials?: string
  /** Where the platform team publishes its templates: a folder, or a git repository (URL#ref). */
  templates?: string
  /** The platform's Backstage, whose catalog kplat registers apps in. */
  backstageUrl?: string
}

export const SETTINGS_NAMESPACE = 'kplat-system'
export const SETTINGS_CONFIGMAP = 'kplat'

const DEFAULTS: PlatformSettings = {
  registry: 'ghcr.io',
  argocdNamespace: 'argocd',
  argocdProject: 'default',
  maxProcesses: 100,
}

const ENV: Record<keyof PlatformSettings, string> = {
  githubOwner: 'KPLAT_GITHUB_OWNER',
  registry: 'KPLAT_REGISTRY',
  appsDomain: 'KPLAT_APPS_DOMAIN',
  argocdNamespace: 'KPLAT_ARGOCD_NAMESPACE',
  argocdProject: 'KPLAT_ARGOCD_PROJECT',
  maxProcesses: 'KPLAT_MAX_PROCESSES',
  repoCredentials: 'KPLAT_REPO_CREDENTIALS',
  templates: 'KPLAT_TEMPLATES',
  backstageUrl: 'KPLAT_BACKSTAGE_URL',
}

/** The settings; without a cluster (kube undefined), the defaults and the environment alone. */
export async function loadSettings(
  kube: Kube | undefined,
  env: NodeJS.ProcessEnv,
  progress: Progress = silent,
): Promise<PlatformSettings> {
  const fromCluster = kube ? await readConfigMap(kube, progress) : {}
  const settings: PlatformSettings = {...DEFAULTS}
  for (const key of Object.keys(ENV) as Array<keyof PlatformSettings>) {
    const value = env[ENV[key]] || fromCluster[key]
    if (!value) continue
    if (typeof DEFAULTS[key] === 'number') {
      const n = Number(value)
      if (!Number.isInteger(n) || n < 0)
        throw new KplatError(`${key} must be a whole number, not "${value}"`, {
          hint: `Fix ${ENV[key]} or the ${key} key of ConfigMap ${SETTINGS_NAMESPACE}/${SETTINGS_CONFIGMAP}`,
        })
      ;(settings as unknown as Record<string, number>)[key] = n
    } else {
      ;(settings as unknown as Record<string, string>)[key] = value
    }
  }

  return settings
}

async function readConfigMap(kube: Kube, progress: Progress): Promise<Record<string, string>> {
  try {
    const cm = await kube
      .api(k8s.CoreV1Api)
      .readNamespacedConfigMap({name: SETTINGS_CONFIGMAP, namespace: SETTINGS_NAMESPACE})
    return cm.data ?? {}
  } catch (error) {
    // Not set up: the defaults and environment are the settings.
    const code = (error as {code?: number}).code
    if (code === 404) return {}
    // Set up but hidden from this user: the defaults may be wrong here (another registry,
    // project or catalog), so that is said.
    if (code === 403) {
      warn(
        progress,
        `you may not read the platform's settings (ConfigMap ${SETTINGS_NAMESPACE}/${SETTINGS_CONFIGMAP}), so kplat uses its defaults and your KPLAT_* variables; ask your platform team for the "get" right on configmaps in namespace ${SETTINGS_NAMESPACE}`,
      )
      return {}
    }
    throw kubeError(error, {
      verb: 'get',
      resource: 'configmaps',
      namespace: SETTINGS_NAMESPACE,
      server: kube.config.getCurrentCluster()?.server,
    })
  }
}
