export interface ApplicationSource {
  repoURL: string
  path?: string
  targetRevision?: string
  helm?: {releaseName?: string; valuesObject?: Record<string, unknown>}
}

/**
 * What kplat keeps in an app's Helm values (`.Values.kplat`, docs/chart-contract.md):
 * the bound add-ons, the formation, the config vars' revision; each part under a field
 * manager of its own.
 */
export interface KplatValues {
  addons?: Array<{name: string; secret: string; prefix?: string}>
  formation?: Record<string, number>
  configRevision?: string
}

/**
 * kplat's values in an Application, each part dropped when it is not of its shape (someone
 * edited the Application by hand): a broken list must not make every command fail.
 */
export function kplatValues(source: ApplicationSource | undefined): KplatValues {
  const raw = (source?.helm?.valuesObject as {kplat?: Record<string, unknown>} | undefined)?.kplat
  if (!raw || typeof raw !== 'object') return {}
  const values: KplatValues = {}
  if (Array.isArray(raw.addons))
    values.addons = raw.addons.filter(
      (b): b is {name: string; secret: string; prefix?: string} =>
        typeof b?.name === 'string' &&
        typeof b?.secret === 'string' &&
        (b.prefix === undefined || typeof b.prefix === 'string'),
    )
  if (raw.formation && typeof raw.formation === 'object' && !Array.isArray(raw.formation))
    values.formation = Object.fromEntries(
      Object.entries(raw.formation as Record<string, unknown>).filter(
        (e): e is [string, number] => Number.isInteger(e[1]) && (e[1] as number) >= 0,
      ),
    )
  if (typeof raw.configRevision === 'string') values.configRevision = raw.configRevision
  return values
}

/** The parts of an Argo CD Application (argoproj.io/v1alpha1) that kplat reads. */
export interface Application {
  apiVersion: 'argoproj.io/v1alpha1'
  kind: 'Application'
  metadata: {
    name: string
    namespace?: string
    labels?: Record<string, string>
    annotations?: Record<string, string>
    creationTimestamp?: string
  }
  spec: {
    project: string
    source?: ApplicationSource
    destination: {server?: string; namespace?: string}
  }
  status?: {
    /** comparedTo: the source Argo CD last compared the cluster with, Helm values included. */
    sync?: {status?: string; revision?: string; comparedTo?: {source?: ApplicationSource}}
    health?: {status?: string; message?: string}
    summary?: {externalURLs?: string[]; images?: string[]}
    history?: Array<{
      id: number
      revision?: string
      deployedAt?: string
      initiatedBy?: {username?: string; automated?: boolean}
    }>
    operationState?: {phase?: string; message?: string; syncResult?: {revision?: string}}
    conditions?: Array<{type: string; message?: string}>
    resources?: Array<{
      group?: string
      kind: string
      namespace?: string
      name: string
      health?: {status?: string; message?: string}
    }>
  }
}

export const ARGOCD = {group: 'argoproj.io', version: 'v1alpha1', plural: 'applications'} as const

export const LABELS = {
  managedBy: 'app.kubernetes.io/managed-by',
  app: 'kplat.dev/app',
} as const

export const MANAGED_BY_KPLAT = `${LABELS.managedBy}=kplat`

/** The label selector of what kplat made for one app. */
export const madeByKplatFor = (app: string) => `${MANAGED_BY_KPLAT},${LABELS.app}=${app}`

/** Whether an object carries kplat's labels for this app: kplat made it, for this app. */
export function isOurs(object: {metadata?: {labels?: Record<string, string>}} | undefined, app: string): boolean {
  return object?.metadata?.labels?.[LABELS.managedBy] === 'kplat' && object.metadata.labels[LABELS.app] === app
}

/** Where an app's Argo CD Application is, for the calls that read or change it. */
export function applicationRef(target: {application: Application}): {name: string; namespace: string} {
  return {name: target.application.metadata.name, namespace: target.application.metadata.namespace!}
}
