import * as http from 'node:http'
import * as https from 'node:https'
import type {Kube} from './client.js'

/**
 * What the API server answered instead of a stream: its HTTP status and its own words, shaped
 * as the client's errors are (code, body), so kubeError reads it the same way.
 */
export class StreamError extends Error {
  readonly body: {message: string}
  constructor(
    readonly code: number,
    message: string,
    readonly reason?: string,
  ) {
    super(message)
    this.name = 'StreamError'
    this.body = {message}
  }
}

/** A GET answered whole, as text (a list, a log without follow). */
export async function readAll(
  kube: Kube,
  path: string,
  query: Record<string, string | number | boolean | undefined>,
  signal?: AbortSignal,
): Promise<string> {
  const response = await openStream(kube, path, query, signal)
  response.setEncoding('utf8')
  let text = ''
  for await (const chunk of response) text += chunk
  return text
}

// One agent for every stream of a command: `logs --tail` on 20 pods holds 20 at once, and
// keep-alive saves a TLS handshake per reconnect.
const agents = new WeakMap<Kube, https.Agent>()

/**
 * A long-lived GET to the API server (a pod's log, a watch), as a raw byte stream: the
 * client's own helpers buffer through node-fetch and drop the server's error message,
 * which is what a user needs to read ("container is waiting to start").
 */
export async function openStream(
  kube: Kube,
  path: string,
  query: Record<string, string | number | boolean | undefined>,
  signal?: AbortSignal,
): Promise<http.IncomingMessage> {
  const server = kube.config.getCurrentCluster()!.server
  const url = new URL(server.replace(/\/$/, '') + path)
  for (const [k, v] of Object.entries(query)) if (v !== undefined) url.searchParams.set(k, String(v))
  let agent = agents.get(kube)
  if (!agent) agents.set(kube, (agent = new https.Agent({keepAlive: true, maxSockets: Infinity})))
  const options: https.RequestOptions = {method: 'GET', headers: {accept: 'application/json, */*'}}
  await kube.config.applyToHTTPSOptions(options)
  const tls = url.protocol === 'https:'
  const started = performance.now()
  return new Promise((resolve, reject) => {
    const request = (tls ? https : http).request(
      url,
      {...options, agent: tls ? agent : undefined, signal},
      (response) => {
        kube.debug?.http('GET', url.toString(), response.statusCode ?? 0, performance.now() - started)
        if (response.statusCode === 200) {
          resolve(response)
          return
        }

        let body = ''
        response.setEncoding('utf8')
        response.on('data', (d: string) => (body += d))
        response.on('end', () => {
          let message = body.trim().slice(0, 500)
          let reason: string | undefined
          try {
            const status = JSON.parse(body) as {message?: string; reason?: string}
            message = status.message ?? message
            reason = status.reason
          } catch {
            // Not a Status: the body's own text is the message.
          }

          reject(new StreamError(response.statusCode ?? 0, message || `HTTP ${response.statusCode}`, reason))
        })
        response.on('error', reject)
      },
    )
    request.on('error', reject)
    request.end()
  })
}

/** The stream's lines, as they come; a stream cut short throws (readline would just end). */
export async function* lines(stream: AsyncIterable<Buffer | string>): AsyncGenerator<string> {
  const decoder = new TextDecoder()
  let rest = ''
  for await (const chunk of stream) {
    const text = rest + (typeof chunk === 'string' ? chunk : decoder.decode(chunk, {stream: true}))
    const parts = text.split('\n')
    rest = parts.pop()!
    yield* parts
  }

  if (rest) yield rest
}
