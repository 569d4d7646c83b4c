import {KplatError} from '../errors.js'

export interface Attempt {
  verb: string
  resource: string
  namespace?: string
  server?: string
}

/** Turns what the Kubernetes client threw into a failure that says what to do. */
export function kubeError(error: unknown, attempt: Attempt): Error {
  const where = attempt.namespace ? ` in namespace ${attempt.namespace}` : ''
  const code = (error as {code?: unknown}).code
  if (typeof code === 'number') {
    const reason = statusMessage((error as {body?: unknown}).body)
    if (code === 401)
      return new KplatError(`the cluster rejected your credentials (401)${reason ? `: ${reason}` : ''}`, {
        hint: 'Refresh your kubeconfig credentials, or pick another --context',
        cause: error,
      })
    if (code === 403)
      return new KplatError(`forbidden: you may not ${attempt.verb} ${attempt.resource}${where}`, {
        hint: `Ask your platform team for the "${attempt.verb}" right on ${attempt.resource}${where}, or pick another --context`,
        cause: error,
      })
    if (code === 404 && attempt.resource.includes('.'))
      return new KplatError(`the cluster does not serve ${attempt.resource}${where}: ${reason || 'not found'}`, {
        cause: error,
      })
    return new KplatError(`could not ${attempt.verb} ${attempt.resource}${where}: ${reason || `HTTP ${code}`}`, {
      cause: error,
    })
  }

  const sys = error as {cause?: {code?: string}; code?: string}
  const errno = sys.cause?.code ?? (typeof sys.code === 'string' ? sys.code : undefined)
  if (errno && ['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ETIMEDOUT', 'ECONNRESET'].includes(errno)) {
    return new KplatError(`cannot reach the cluster${attempt.server ? ` at ${attempt.server}` : ''} (${errno})`, {
      hint: "Check that it is running and that --context (or your kubeconfig's current context) points at it",
      cause: error,
    })
  }

  return error instanceof Error ? error : new Error(String(error))
}

function statusMessage(body: unknown): string | undefined {
  if (typeof body === 'string') {
    try {
      return (JSON.parse(body) as {message?: string}).message
    } catch {
      return body.slice(0, 200) || undefined
    }
  }

  return (body as {message?: string} | undefined)?.message
}
