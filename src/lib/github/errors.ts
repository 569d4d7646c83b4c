import {KplatError} from '../errors.js'

/** Turns an Octokit RequestError into a failure that says what to do. */
export function githubError(error: unknown, doing: string): Error {
  const status = (error as {status?: number}).status
  const message =
    (error as {response?: {data?: {message?: string}}}).response?.data?.message ?? (error as Error).message
  if (status === 401) {
    return new KplatError(`GitHub rejected the token while trying to ${doing} (401 ${message})`, {
      hint: 'Set GITHUB_TOKEN (or GH_TOKEN) to a valid token, or run `gh auth login`',
      cause: error,
    })
  }

  if (status === 403 || status === 404) {
    return new KplatError(`GitHub refused to ${doing} (${status} ${message})`, {
      hint: 'Check that the token can see that repository or organisation and has the repo scope',
      cause: error,
    })
  }

  if (status) return new KplatError(`GitHub could not ${doing} (${status} ${message})`, {cause: error})
  const code = (error as {code?: string; cause?: {code?: string}}).cause?.code ?? (error as {code?: string}).code
  if (code)
    return new KplatError(`cannot reach GitHub to ${doing} (${code})`, {
      hint: 'Check GITHUB_API_URL and your network',
      cause: error,
    })
  return error instanceof Error ? error : new Error(String(error))
}
