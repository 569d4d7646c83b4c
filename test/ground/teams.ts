import {mkdirSync} from 'node:fs'
import * as path from 'node:path'
import {ARGOCD_NAMESPACE} from './argocd.js'
import {TEAM_B_NAMESPACE, TEAM_NAMESPACE} from './cluster.js'
import {trace, type ProcessGroup} from './processes.js'

/** The ground's teams: team-a (user developer) and team-b (user developer-b). */
export const TEAMS = [TEAM_NAMESPACE, TEAM_B_NAMESPACE]

export interface OnboardingOptions {
  dir: string
  binDir: string
  processes: ProcessGroup
  /** The project's folder: the chart is its platform-kit/team. */
  repo: string
  /** The admin kubeconfig (its current context is the admin's), as a platform team runs helm with. */
  kubeconfig: string
  /** The team's repositories: Argo CD sourceRepos globs. */
  repos: string[]
}

/**
 * Onboards each team by exactly the step platform-kit/README.md documents (Teams): the real
 * helm, `helm upgrade --install <team> platform-kit/team --namespace argocd --set name=<team>
 * --set repos={...}`. Needs Argo CD's namespace and its AppProject CRD (helm maps every kind
 * before it creates anything). The teams go in parallel: each release is its own.
 */
export async function onboardTeams(opts: OnboardingOptions): Promise<void> {
  // helm's cache, config and data in the ground's folder, never the user's home.
  const home = path.join(opts.dir, 'helm')
  mkdirSync(home, {recursive: true})
  const env = {
    ...process.env,
    KUBECONFIG: opts.kubeconfig,
    HELM_CACHE_HOME: path.join(home, 'cache'),
    HELM_CONFIG_HOME: path.join(home, 'config'),
    HELM_DATA_HOME: path.join(home, 'data'),
  }
  const chart = path.join(opts.repo, 'platform-kit', 'team')
  await Promise.all(
    TEAMS.map((team) =>
      opts.processes.run(
        `helm-${team}`,
        path.join(opts.binDir, 'helm'),
        [
          'upgrade',
          '--install',
          team,
          chart,
          '--namespace',
          ARGOCD_NAMESPACE,
          '--set',
          `name=${team}`,
          '--set',
          `repos={${opts.repos.join(',')}}`,
        ],
        env,
      ),
    ),
  )
  trace(`teams: ${TEAMS.join(', ')} onboarded (helm)`)
}
