// Apps of a team share the team's namespace: what kplat reads of one app there is chosen by
// the chart's label (docs/chart-contract.md).
import {LABELS, type Application} from '../kube/argocd.js'

/** The chart's label naming the app its objects belong to. */
const CHART_APP_LABEL = 'app.kubernetes.io/name'

/**
 * Whether the app shares its namespace with other apps: a team's app, whose Application
 * lives in the namespace it deploys to (whatever the app and team are called), or an app
 * whose namespace is not named after it.
 */
export function sharesNamespace(target: {name: string; namespace: string; application: Application}): boolean {
  return target.application.metadata.namespace === target.namespace || target.namespace !== target.name
}

/**
 * The label selector of the app's own objects where it shares its namespace; none where the
 * namespace is its own, so that a chart from before the label still shows its processes.
 */
export function appSelector(target: {name: string; namespace: string; application: Application}): string | undefined {
  return sharesNamespace(target) ? `${CHART_APP_LABEL}=${target.name}` : undefined
}

/** The label selector of the app's add-ons (kplat labels each it makes) where it shares its namespace. */
export function addonSelector(target: {name: string; namespace: string; application: Application}): string | undefined {
  return sharesNamespace(target) ? `${LABELS.app}=${target.name}` : undefined
}

/** Whether an object listed in the app's namespace is the app's own (by the chart's label or its release's name). */
export function isAppObject(
  target: {name: string; namespace: string; application: Application},
  object: {metadata?: {name?: string; labels?: Record<string, string>}},
): boolean {
  if (!sharesNamespace(target)) return true
  return object.metadata?.labels?.[CHART_APP_LABEL] === target.name || object.metadata?.name === target.name
}
