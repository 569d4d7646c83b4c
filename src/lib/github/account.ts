import {githubApiUrl} from './auth.js'
import type {GitHub} from './client.js'
import {githubError} from './errors.js'

export interface Account {
  login: string
  apiUrl: string
  scopes: string[]
}

export async function whoami(github: GitHub, env: NodeJS.ProcessEnv): Promise<Account> {
  try {
    const response = await github.rest.users.getAuthenticated()
    const scopes = (response.headers['x-oauth-scopes'] ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean)
    return {login: response.data.login, apiUrl: githubApiUrl(env), scopes}
  } catch (error) {
    throw githubError(error, 'read the authenticated user')
  }
}
