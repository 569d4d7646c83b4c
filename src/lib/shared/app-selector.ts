// Apps of a team share the team's namespace: what kplat reads of one app there is chosen by
// the chart's label (docs/chart-contract.md).

/**
 * The label selector of the app's own objects where it shares its namespace with other apps
 * (a team's namespace); none where the namespace is its own, so that a chart from before the
 * label still shows its processes.
 */
export function appSelector(target: {name: string; namespace: string}): string | undefined {
  return target.namespace === target.name ? undefined : `app.kubernetes.io/name=${target.name}`
}
