// GitHub's resource shapes, as the REST API returns them: every field the OpenAPI
// description requires, with GitHub's URL conventions.

export interface User {
  login: string
  id: number
  type: 'User' | 'Organization'
  members: string[]
  createdAt: string
}

export interface Repo {
  id: number
  owner: string
  name: string
  private: boolean
  description: string | null
  defaultBranch: string
  createdAt: string
  updatedAt: string
  pushedAt: string | null
  dir: string
  topics?: string[]
}

export interface Step {
  name: string
  number: number
  status: 'queued' | 'in_progress' | 'completed'
  conclusion: 'success' | 'failure' | 'skipped' | null
  started_at: string | null
  completed_at: string | null
}

export interface Job {
  id: number
  runId: number
  name: string
  status: 'queued' | 'in_progress' | 'completed'
  conclusion: 'success' | 'failure' | 'skipped' | null
  createdAt: string
  startedAt: string
  completedAt: string | null
  steps: Step[]
  log: string
}

export interface Run {
  id: number
  repo: string
  workflowId: number
  workflowName: string
  workflowPath: string
  runNumber: number
  event: 'push'
  status: 'queued' | 'in_progress' | 'completed'
  conclusion: 'success' | 'failure' | null
  headSha: string
  headBranch: string
  headMessage: string
  actor: string
  createdAt: string
  updatedAt: string
  runStartedAt: string
  jobs: Job[]
}

export interface Urls {
  api: string
  web: string
}

const node = (kind: string, id: number) => Buffer.from(`${kind}:${id}`).toString('base64')

export function simpleUser(u: User, urls: Urls) {
  const api = `${urls.api}/users/${u.login}`
  return {
    login: u.login,
    id: u.id,
    node_id: node(u.type, u.id),
    avatar_url: `${urls.web}/avatars/${u.login}`,
    gravatar_id: '',
    url: api,
    html_url: `${urls.web}/${u.login}`,
    followers_url: `${api}/followers`,
    following_url: `${api}/following{/other_user}`,
    gists_url: `${api}/gists{/gist_id}`,
    starred_url: `${api}/starred{/owner}{/repo}`,
    subscriptions_url: `${api}/subscriptions`,
    organizations_url: `${api}/orgs`,
    repos_url: `${api}/repos`,
    events_url: `${api}/events{/privacy}`,
    received_events_url: `${api}/received_events`,
    type: u.type,
    site_admin: false,
  }
}

export function privateUser(u: User, urls: Urls, repos: Repo[]) {
  const owned = repos.filter((r) => r.owner === u.login)
  return {
    ...simpleUser(u, urls),
    name: u.login,
    company: null,
    blog: '',
    location: null,
    email: null,
    hireable: null,
    bio: null,
    public_repos: owned.filter((r) => !r.private).length,
    public_gists: 0,
    followers: 0,
    following: 0,
    created_at: u.createdAt,
    updated_at: u.createdAt,
    private_gists: 0,
    total_private_repos: owned.filter((r) => r.private).length,
    owned_private_repos: owned.filter((r) => r.private).length,
    disk_usage: 0,
    collaborators: 0,
    two_factor_authentication: false,
    user_view_type: 'private',
  }
}

export function publicUser(u: User, urls: Urls, repos: Repo[]) {
  const owned = repos.filter((r) => r.owner === u.login)
  return {
    ...simpleUser(u, urls),
    name: u.login,
    company: null,
    blog: '',
    location: null,
    email: null,
    hireable: null,
    bio: null,
    public_repos: owned.filter((r) => !r.private).length,
    public_gists: 0,
    followers: 0,
    following: 0,
    created_at: u.createdAt,
    updated_at: u.createdAt,
    user_view_type: 'public',
  }
}

export function organization(u: User, urls: Urls, repos: Repo[]) {
  const api = `${urls.api}/orgs/${u.login}`
  return {
    login: u.login,
    id: u.id,
    node_id: node('Organization', u.id),
    url: api,
    repos_url: `${api}/repos`,
    events_url: `${api}/events`,
    hooks_url: `${api}/hooks`,
    issues_url: `${api}/issues`,
    members_url: `${api}/members{/member}`,
    public_members_url: `${api}/public_members{/member}`,
    avatar_url: `${urls.web}/avatars/${u.login}`,
    description: null,
    html_url: `${urls.web}/${u.login}`,
    has_organization_projects: false,
    has_repository_projects: false,
    public_repos: repos.filter((r) => r.owner === u.login && !r.private).length,
    public_gists: 0,
    followers: 0,
    following: 0,
    type: 'Organization',
    created_at: u.createdAt,
    updated_at: u.createdAt,
    archived_at: null,
  }
}

export function repository(r: Repo, owner: User, urls: Urls, sizeKb = 0) {
  const api = `${urls.api}/repos/${r.owner}/${r.name}`
  const web = `${urls.web}/${r.owner}/${r.name}`
  const u = (p: string) => `${api}/${p}`
  return {
    id: r.id,
    node_id: node('Repository', r.id),
    name: r.name,
    full_name: `${r.owner}/${r.name}`,
    owner: simpleUser(owner, urls),
    private: r.private,
    html_url: web,
    description: r.description,
    fork: false,
    url: api,
    archive_url: u('{archive_format}{/ref}'),
    assignees_url: u('assignees{/user}'),
    blobs_url: u('git/blobs{/sha}'),
    branches_url: u('branches{/branch}'),
    collaborators_url: u('collaborators{/collaborator}'),
    comments_url: u('comments{/number}'),
    commits_url: u('commits{/sha}'),
    compare_url: u('compare/{base}...{head}'),
    contents_url: u('contents/{+path}'),
    contributors_url: u('contributors'),
    deployments_url: u('deployments'),
    downloads_url: u('downloads'),
    events_url: u('events'),
    forks_url: u('forks'),
    git_commits_url: u('git/commits{/sha}'),
    git_refs_url: u('git/refs{/sha}'),
    git_tags_url: u('git/tags{/sha}'),
    git_url: `git://${new URL(urls.web).host}/${r.owner}/${r.name}.git`,
    hooks_url: u('hooks'),
    issue_comment_url: u('issues/comments{/number}'),
    issue_events_url: u('issues/events{/number}'),
    issues_url: u('issues{/number}'),
    keys_url: u('keys{/key_id}'),
    labels_url: u('labels{/name}'),
    languages_url: u('languages'),
    merges_url: u('merges'),
    milestones_url: u('milestones{/number}'),
    notifications_url: u('notifications{?since,all,participating}'),
    pulls_url: u('pulls{/number}'),
    releases_url: u('releases{/id}'),
    ssh_url: `git@${new URL(urls.web).hostname}:${r.owner}/${r.name}.git`,
    stargazers_url: u('stargazers'),
    statuses_url: u('statuses/{sha}'),
    subscribers_url: u('subscribers'),
    subscription_url: u('subscription'),
    tags_url: u('tags'),
    teams_url: u('teams'),
    trees_url: u('git/trees{/sha}'),
    clone_url: `${web}.git`,
    mirror_url: null,
    svn_url: web,
    homepage: null,
    language: null,
    forks_count: 0,
    forks: 0,
    stargazers_count: 0,
    watchers_count: 0,
    watchers: 0,
    size: sizeKb,
    default_branch: r.defaultBranch,
    open_issues_count: 0,
    open_issues: 0,
    is_template: false,
    topics: r.topics ?? [],
    has_issues: true,
    has_projects: true,
    has_wiki: true,
    has_pages: false,
    has_downloads: true,
    has_discussions: false,
    archived: false,
    disabled: false,
    visibility: r.private ? 'private' : 'public',
    pushed_at: r.pushedAt,
    created_at: r.createdAt,
    updated_at: r.updatedAt,
    permissions: {admin: true, maintain: true, push: true, triage: true, pull: true},
    license: null,
    allow_rebase_merge: true,
    allow_squash_merge: true,
    allow_merge_commit: true,
    allow_auto_merge: false,
    delete_branch_on_merge: false,
    network_count: 0,
    subscribers_count: 0,
  }
}

export function workflowRun(run: Run, repo: ReturnType<typeof repository>, urls: Urls) {
  const api = `${urls.api}/repos/${run.repo}/actions/runs/${run.id}`
  return {
    id: run.id,
    name: run.workflowName,
    node_id: node('WorkflowRun', run.id),
    head_branch: run.headBranch,
    head_sha: run.headSha,
    path: run.workflowPath,
    display_title: run.headMessage.split('\n')[0],
    run_number: run.runNumber,
    run_attempt: 1,
    event: run.event,
    status: run.status,
    conclusion: run.conclusion,
    workflow_id: run.workflowId,
    check_suite_id: run.id,
    check_suite_node_id: node('CheckSuite', run.id),
    url: api,
    html_url: `${urls.web}/${run.repo}/actions/runs/${run.id}`,
    pull_requests: [],
    created_at: run.createdAt,
    updated_at: run.updatedAt,
    run_started_at: run.runStartedAt,
    jobs_url: `${api}/jobs`,
    logs_url: `${api}/logs`,
    check_suite_url: `${urls.api}/repos/${run.repo}/check-suites/${run.id}`,
    artifacts_url: `${api}/artifacts`,
    cancel_url: `${api}/cancel`,
    rerun_url: `${api}/rerun`,
    previous_attempt_url: null,
    workflow_url: `${urls.api}/repos/${run.repo}/actions/workflows/${run.workflowId}`,
    head_commit: {
      id: run.headSha,
      tree_id: run.headSha,
      message: run.headMessage,
      timestamp: run.createdAt,
      author: {name: run.actor, email: `${run.actor}@users.noreply.local`},
      committer: {name: run.actor, email: `${run.actor}@users.noreply.local`},
    },
    repository: repo,
    head_repository: repo,
  }
}

export function job(j: Job, run: Run, urls: Urls) {
  return {
    id: j.id,
    run_id: run.id,
    run_url: `${urls.api}/repos/${run.repo}/actions/runs/${run.id}`,
    run_attempt: 1,
    node_id: node('CheckRun', j.id),
    head_sha: run.headSha,
    head_branch: run.headBranch,
    workflow_name: run.workflowName,
    url: `${urls.api}/repos/${run.repo}/actions/jobs/${j.id}`,
    html_url: `${urls.web}/${run.repo}/actions/runs/${run.id}/job/${j.id}`,
    status: j.status,
    conclusion: j.conclusion,
    created_at: j.createdAt,
    started_at: j.startedAt,
    completed_at: j.completedAt,
    name: j.name,
    steps: j.steps,
    check_run_url: `${urls.api}/repos/${run.repo}/check-runs/${j.id}`,
    labels: ['ubuntu-latest'],
    runner_id: 1,
    runner_name: 'ground-runner',
    runner_group_id: 1,
    runner_group_name: 'ground',
  }
}
