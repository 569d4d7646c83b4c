// How Argo CD reads a private app repository: with a credential the platform team set up once
// (an Argo CD credential template, a `repo-creds` Secret: a read-only bot or a GitHub App),
// never with the developer's own token. kplat only checks, before it creates anything, that
// one covers the repository.
import {githubWebHost} from '../github/auth.js'
import * as k8s from '../kube/k8s.js'
import type {Kube} from '../kube/client.js'
import {KplatError} from '../errors.js'
import type {PlatformSettings} from '../shared/settings.js'

/** The URL a repository will be cloned from: the web host of the GitHub API kplat talks to. */
export function cloneUrlFor(apiUrl: string, owner: string, name: string): string {
  return `${new URL(apiUrl).protocol}//${githubWebHost(apiUrl)}/${owner}/${name}.git`
}

/**
 * Fails, naming what the platform team must set up, unless an Argo CD credential template
 * covers the repository's URL. The templates are read when this user may list Secrets in
 * Argo CD's namespace; otherwise the platform's word is taken (the `repoCredentials`
 * setting: the URL prefixes its templates cover).
 */
export async function checkRepoCredentials(kube: Kube, settings: PlatformSettings, repoUrl: string): Promise<void> {
  const covers = (prefix: string) => repoUrl.toLowerCase().startsWith(prefix.toLowerCase().replace(/\/*$/, '/'))
  const templates = await credentialTemplates(kube, settings.argocdNamespace)
  const declared = (settings.repoCredentials ?? '').split(/[\s,]+/).filter(Boolean)
  const found = templates === undefined ? declared.some(covers) : templates.some(covers)
  if (found) return
  const seen =
    templates === undefined
      ? `the platform's repoCredentials setting names ${declared.join(', ') || 'none'}`
      : `its credential templates cover ${templates.join(', ') || 'nothing'}`
  throw new KplatError(
    `Argo CD has no credentials to read the private repository ${repoUrl} (${seen}); nothing was created`,
    {
      hint: `Ask your platform team for an Argo CD credential template (a Secret labelled argocd.argoproj.io/secret-type: repo-creds, with a read-only bot or a GitHub App) whose url covers ${repoUrl.replace(/[^/]+\.git$/, '')}, named in the repoCredentials key of the kplat ConfigMap; or create the app without --private`,
    },
  )
}

/** The URL prefixes of Argo CD's credential templates; undefined when this user may not list them. */
async function credentialTemplates(kube: Kube, namespace: string): Promise<string[] | undefined> {
  try {
    const list = await kube
      .api(k8s.CoreV1Api)
      .listNamespacedSecret({namespace, labelSelector: 'argocd.argoproj.io/secret-type=repo-creds'})
    return list.items
      .map((s) => s.data?.url && Buffer.from(s.data.url, 'base64').toString('utf8'))
      .filter((u): u is string => Boolean(u))
  } catch (error) {
    if ((error as {code?: number}).code === 403) return undefined
    throw error
  }
}
