// Teams are what the platform kit's onboarding step makes (platform-kit/team): an Argo CD
// AppProject labelled kplat.dev/team in Argo CD's namespace, and a namespace of the same
// name that holds the team's Applications ("applications in any namespace") and their
// workloads. kplat invents no registry of its own: the projects say which teams exist, and
// RBAC says which of them a user belongs to (who may create Applications in its namespace).
import * as k8s from '../kube/k8s.js'
import {ARGOCD, type Application} from '../kube/argocd.js'
import {kubeError} from '../kube/errors.js'
import {KplatError, UsageError} from '../errors.js'
import type {Platform} from '../shared/target.js'

export const TEAM_LABEL = 'kplat.dev/team'

export interface Team {
  name: string
  /** Where the team's Applications and their processes live. */
  namespace: string
  /** The repositories its apps may deploy from (the AppProject's sourceRepos). */
  repos: string[]
  description?: string
}

interface AppProject {
  metadata: {name: string; labels?: Record<string, string>}
  spec?: {description?: string; sourceNamespaces?: string[]; sourceRepos?: string[]}
}

const PROJECTS = {group: 'argoproj.io', version: 'v1alpha1', plural: 'appprojects'}
const ONBOARDING_HINT =
  'Ask your platform team to add you to a team (the group its onboarding step binds: `helm upgrade --install TEAM platform-kit/team`, see platform-kit/README.md)'

/**
 * The platform's teams, or `forbidden` when this user may not list Argo CD's projects (a
 * user the kit onboarded may: every team's group reads them).
 */
export async function listTeams({kube, settings}: Platform): Promise<Team[] | 'forbidden'> {
  const namespace = settings.argocdNamespace
  try {
    const list = (await kube
      .api(k8s.CustomObjectsApi)
      .listNamespacedCustomObject({...PROJECTS, namespace, labelSelector: TEAM_LABEL})) as {items: AppProject[]}
    return list.items.map(toTeam).sort((a, b) => a.name.localeCompare(b.name))
  } catch (error) {
    const code = (error as {code?: number}).code
    if (code === 403) return 'forbidden'
    // No Argo CD (or no projects CRD): no teams; the command's own look-ups say what is missing.
    if (code === 404) return []
    throw kubeError(error, {verb: 'list', resource: 'appprojects.argoproj.io', namespace})
  }
}

function toTeam(p: AppProject): Team {
  const name = p.metadata.labels?.[TEAM_LABEL] || p.metadata.name
  return {
    name,
    namespace: p.spec?.sourceNamespaces?.[0] ?? name,
    repos: p.spec?.sourceRepos ?? [],
    description: p.spec?.description || undefined,
  }
}

/** Whether the user may create Applications in each team's namespace: the teams they are in. */
export async function memberships(platform: Platform, teams: Team[]): Promise<Team[]> {
  const answers = await Promise.all(teams.map((t) => mayCreateApplications(platform, t.namespace)))
  return teams.filter((_, i) => answers[i])
}

/** Whether RBAC lets the user create Argo CD Applications in a namespace. */
async function mayCreateApplications({kube}: Platform, namespace: string): Promise<boolean> {
  try {
    const review = await kube.api(k8s.AuthorizationV1Api).createSelfSubjectAccessReview({
      body: {spec: {resourceAttributes: {namespace, verb: 'create', group: 'argoproj.io', resource: 'applications'}}},
    })
    return Boolean(review.status?.allowed)
  } catch (error) {
    throw kubeError(error, {verb: 'create', resource: 'selfsubjectaccessreviews'})
  }
}

export interface TeamsResult {
  teams: Array<Team & {member: boolean}>
}

/** `kplat teams`: every team the platform has, and whether the user is in it. */
export async function teamsOf(platform: Platform): Promise<TeamsResult> {
  const teams = await listTeams(platform)
  if (teams === 'forbidden')
    throw new KplatError(
      `you belong to no team: you may not list the platform's teams (appprojects.argoproj.io in namespace ${platform.settings.argocdNamespace})`,
      {hint: ONBOARDING_HINT},
    )
  const mine = new Set((await memberships(platform, teams)).map((t) => t.name))
  return {teams: teams.map((t) => ({...t, member: mine.has(t.name)}))}
}

/** A team by name, which the user must be in; the usage error names the teams they are in. */
export async function teamNamed(platform: Platform, name: string): Promise<Team> {
  const teams = await listTeams(platform)
  const team = teams === 'forbidden' ? undefined : teams.find((t) => t.name === name)
  if (!team) {
    const mine = teams === 'forbidden' ? [] : await memberships(platform, teams)
    throw new UsageError(
      `there is no team "${name}"${teams === 'forbidden' ? ' that you may see' : ''}`,
      mine.length ? `Pass --team ${mine.map((t) => t.name).join(' or --team ')}` : ONBOARDING_HINT,
    )
  }
  return team
}

/**
 * The team a new app goes to. --team (or KPLAT_TEAM) names it; without one, a user who may
 * create Applications in Argo CD's own namespace (the platform team) makes a platform app,
 * as before teams; anyone else gets their only team, or a choice among theirs.
 */
export async function teamForNewApp(
  platform: Platform,
  flag: string | undefined,
  choose: (teams: Team[]) => Promise<Team>,
): Promise<Team | undefined> {
  if (flag) {
    const team = await teamNamed(platform, flag)
    if (!(await mayCreateApplications(platform, team.namespace)))
      throw new KplatError(
        `you are not in the team ${team.name}: you may not create applications.argoproj.io in namespace ${team.namespace}`,
        {
          hint: `Ask the platform team to add you to ${team.name}, or pass a team of yours (\`kplat teams\` lists them)`,
        },
      )
    return team
  }

  const platformNamespace = platform.settings.argocdNamespace
  const [teams, own] = await Promise.all([listTeams(platform), mayCreateApplications(platform, platformNamespace)])
  if (own) return undefined
  const mine = teams === 'forbidden' ? [] : await memberships(platform, teams)
  if (mine.length === 1) return mine[0]
  if (mine.length === 0)
    throw new KplatError(
      `you belong to no team: you may create Argo CD Applications neither in a team's namespace nor in ${platformNamespace}`,
      {hint: ONBOARDING_HINT},
    )
  return choose(mine)
}

/**
 * Where an app's Application is: in Argo CD's namespace (an app made before teams, or a
 * platform app), else in the namespace of one of the user's teams. One look-up of the teams
 * goes beside the first get; a namespace the user may not read is not theirs to search.
 */
export async function locateApplication(
  platform: Platform,
  name: string,
  team?: string,
): Promise<{application?: Application; searched: string[]; refused?: {error: unknown; namespace: string}}> {
  const {kube, settings} = platform
  const get = async (namespace: string) => {
    try {
      return (await kube
        .api(k8s.CustomObjectsApi)
        .getNamespacedCustomObject({...ARGOCD, namespace, name})) as Application
    } catch (error) {
      const code = (error as {code?: number}).code
      const body = String((error as {body?: unknown}).body)
      if (code === 404 && !/the server could not find the requested resource/i.test(body)) return undefined
      if (code === 403) return error as Error
      throw kubeError(error, {
        verb: 'get',
        resource: 'applications.argoproj.io',
        namespace,
        server: kube.config.getCurrentCluster()?.server,
      })
    }
  }

  if (team) {
    const t = await teamNamed(platform, team)
    const found = await get(t.namespace)
    if (found instanceof Error) return {searched: [], refused: {error: found, namespace: t.namespace}}
    return {application: found, searched: [t.namespace]}
  }

  const [own, teams] = await Promise.all([get(settings.argocdNamespace), listTeams(platform)])
  if (own && !(own instanceof Error)) return {application: own, searched: [settings.argocdNamespace]}
  const namespaces = teams === 'forbidden' ? [] : teams.map((t) => t.namespace)
  const found = await Promise.all(namespaces.map(get))
  const matches = found.filter((a): a is Application => a !== undefined && !(a instanceof Error))
  if (matches.length > 1)
    throw new UsageError(
      `there are apps named "${name}" in several teams' namespaces: ${matches.map((a) => a.metadata.namespace).join(', ')}`,
      `Pass --team ${matches[0].metadata.namespace} (or another of them)`,
    )
  const application = matches[0]
  const readable = namespaces.filter((_, i) => !(found[i] instanceof Error))
  return {
    application,
    searched: [...(own instanceof Error ? [] : [settings.argocdNamespace]), ...readable],
    // Told when the app was found nowhere and the user could read none of the places it may be.
    refused:
      own instanceof Error && readable.length === 0 ? {error: own, namespace: settings.argocdNamespace} : undefined,
  }
}

/**
 * Whether an AppProject's sourceRepos let a repository in, as Argo CD reads them: globs in
 * which `*` stays within a path segment and `**` does not, on URLs compared without case or
 * a trailing `.git`; a `!` pattern denies.
 */
export function repoAllowed(url: string, globs: string[]): boolean {
  const normal = (u: string) => u.toLowerCase().replace(/\.git$/, '')
  const matches = (glob: string) => {
    if (glob === '*') return true
    const pattern = normal(glob)
      .split(/(\*\*|\*|\?)/)
      .map((part) =>
        part === '**'
          ? '.*'
          : part === '*'
            ? '[^/]*'
            : part === '?'
              ? '[^/]'
              : part.replace(/[.+^${}()|[\]\\]/g, '\\$&'),
      )
      .join('')
    return new RegExp(`^${pattern}$`).test(normal(url))
  }
  const denied = globs.filter((g) => g.startsWith('!')).some((g) => matches(g.slice(1)))
  return !denied && globs.filter((g) => !g.startsWith('!')).some(matches)
}
