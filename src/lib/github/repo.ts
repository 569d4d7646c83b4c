import {KplatError} from '../errors.js'
import type {GitHub} from './client.js'
import {githubError} from './errors.js'

/** Marks a repository as created by kplat, so a rerun can tell its own from a taken name. */
export const CREATED_BY = '(created by kplat)'

export interface Repository {
  owner: string
  name: string
  cloneUrl: string
  htmlUrl: string
  defaultBranch: string
  private: boolean
  createdByKplat: boolean
}

export async function findRepository(github: GitHub, owner: string, name: string): Promise<Repository | undefined> {
  try {
    const {data} = await github.rest.repos.get({owner, repo: name})
    return toRepository(data)
  } catch (error) {
    if ((error as {status?: number}).status === 404) return undefined
    throw githubError(error, `look up ${owner}/${name}`)
  }
}

/** Whether owner is an organisation (repositories are created under /orgs) or a user. */
export async function isOrganization(github: GitHub, owner: string): Promise<boolean> {
  try {
    const {data} = await github.rest.users.getByUsername({username: owner})
    return data.type === 'Organization'
  } catch (error) {
    if ((error as {status?: number}).status === 404)
      throw new KplatError(`no GitHub user or organisation "${owner}"`, {
        hint: 'Pass --owner with an existing user or organisation',
      })
    throw githubError(error, `look up ${owner}`)
  }
}

export async function createRepository(
  github: GitHub,
  opts: {owner: string; name: string; description: string; private: boolean; organization: boolean},
): Promise<Repository> {
  // auto_init: the Git Data API answers 409 on an empty repository.
  const body = {
    name: opts.name,
    description: `${opts.description} ${CREATED_BY}`,
    private: opts.private,
    auto_init: true,
  }
  try {
    const {data} = opts.organization
      ? await github.rest.repos.createInOrg({org: opts.owner, ...body})
      : await github.rest.repos.createForAuthenticatedUser(body)
    return toRepository(data)
  } catch (error) {
    const errors = (error as {response?: {data?: {errors?: Array<{message?: string}>}}}).response?.data?.errors
    if (errors?.some((e) => /already exists/.test(e.message ?? ''))) {
      throw new KplatError(`the repository ${opts.owner}/${opts.name} already exists`, {hint: 'Pick another app name'})
    }

    throw githubError(error, `create the repository ${opts.owner}/${opts.name}`)
  }
}

/**
 * Puts the whole tree into the branch as ONE commit with the Git Data API: text inline in
 * one tree request, binaries as blobs, so a 10-file and a 500-file skeleton cost the same
 * three requests and one push event starts one CI run.
 */
/** One file of a commit's tree, as the Git Data API takes it (mode 120000: a symbolic link to `content`). */
export interface TreeFile {
  path: string
  content: Buffer
  mode: '100644' | '100755' | '120000'
  /** Known binary: always sent as a blob. */
  binary?: boolean
}

export async function commitTree(
  github: GitHub,
  repo: Repository,
  files: TreeFile[],
  message: string,
): Promise<string> {
  const {owner, name} = repo
  try {
    const tree = []
    for (const f of files) {
      // Text goes inline; anything a UTF-8 reading would change (binary, or a copied file in another encoding) as a blob.
      if (f.binary || !Buffer.from(f.content.toString('utf8'), 'utf8').equals(f.content)) {
        const {data} = await github.rest.git.createBlob({
          owner,
          repo: name,
          content: f.content.toString('base64'),
          encoding: 'base64',
        })
        tree.push({path: f.path, mode: f.mode, type: 'blob' as const, sha: data.sha})
      } else {
        tree.push({path: f.path, mode: f.mode, type: 'blob' as const, content: f.content.toString('utf8')})
      }
    }

    const {data: created} = await github.rest.git.createTree({owner, repo: name, tree})
    const {data: commit} = await github.rest.git.createCommit({
      owner,
      repo: name,
      message,
      tree: created.sha,
      parents: [],
    })
    // The auto_init commit is replaced, so the history starts with the app itself.
    await github.rest.git.updateRef({
      owner,
      repo: name,
      ref: `heads/${repo.defaultBranch}`,
      sha: commit.sha,
      force: true,
    })
    return commit.sha
  } catch (error) {
    throw githubError(error, `write the first commit of ${owner}/${name}`)
  }
}

/** publish:github's topics, on the repository kplat created. */
export async function setTopics(github: GitHub, repo: Repository, names: string[]): Promise<void> {
  try {
    await github.rest.repos.replaceAllTopics({owner: repo.owner, repo: repo.name, names})
  } catch (error) {
    throw githubError(
      error,
      `set the topics of ${repo.owner}/${repo.name} (the template's publish:github topics must be lowercase letters, digits and dashes)`,
    )
  }
}

export async function headSha(github: GitHub, repo: Repository): Promise<string> {
  try {
    const {data} = await github.rest.git.getRef({
      owner: repo.owner,
      repo: repo.name,
      ref: `heads/${repo.defaultBranch}`,
    })
    return data.object.sha
  } catch (error) {
    throw githubError(error, `read ${repo.owner}/${repo.name}`)
  }
}

/** The branch head and whether its tree already holds kplat's skeleton for this app. */
export async function branchHead(
  github: GitHub,
  repo: Repository,
): Promise<{sha: string; hasApp: boolean; message: string}> {
  const {owner, name} = repo
  try {
    const sha = await headSha(github, repo)
    const {data: commit} = await github.rest.git.getCommit({owner, repo: name, commit_sha: sha})
    const {data: tree} = await github.rest.git.getTree({owner, repo: name, tree_sha: commit.tree.sha})
    return {sha, hasApp: tree.tree.some((e) => e.path === 'catalog-info.yaml'), message: commit.message}
  } catch (error) {
    throw githubError(error, `read ${owner}/${name}`)
  }
}

function toRepository(data: {
  owner: {login: string}
  name: string
  clone_url: string
  html_url: string
  default_branch: string
  private: boolean
  description: string | null
}): Repository {
  return {
    owner: data.owner.login,
    name: data.name,
    cloneUrl: data.clone_url,
    htmlUrl: data.html_url,
    defaultBranch: data.default_branch,
    private: data.private,
    createdByKplat: Boolean(data.description?.endsWith(CREATED_BY)),
  }
}
