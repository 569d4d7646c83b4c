import * as net from 'node:net'
import * as k8s from './k8s.js'
import type {Kube} from './client.js'

export interface Forward {
  /** The local port on 127.0.0.1. */
  port: number
  close(): Promise<void>
}

/** Where one forwarded connection goes: a pod and its port. */
export interface ForwardTarget {
  pod: string
  port: number
}

/**
 * Forwards a port on 127.0.0.1 to a pod's port through the API server, one stream per
 * connection, as `kubectl port-forward` does.
 */
export function forwardPort(
  kube: Kube,
  namespace: string,
  pod: string,
  remotePort: number,
  localPort = 0,
): Promise<Forward> {
  return forwardTo(kube, namespace, () => Promise.resolve({pod, port: remotePort}), {localPort})
}

export interface ForwardOptions {
  localPort?: number
  onError?: (error: Error) => void
  /** Every so often, while connections are open, the pods that may still serve them. */
  sweep?: {everyMs: number; alive: () => Promise<Set<string>>}
}

/**
 * Like forwardPort, but each new connection asks `pick` where to go: a forward to a Service
 * keeps working through a rollout, where kubectl's stays tied to the pod it started with.
 */
export async function forwardTo(
  kube: Kube,
  namespace: string,
  pick: () => Promise<ForwardTarget>,
  opts: ForwardOptions = {},
): Promise<Forward> {
  const forward = new k8s.PortForward(kube.config)
  const sockets = new Map<net.Socket, string>()
  const server = net.createServer((socket) => {
    sockets.set(socket, '')
    socket.once('close', () => sockets.delete(socket))
    // A browser resets connections (a cancelled request, a closed tab): that ends this one, never the process.
    socket.on('error', () => socket.destroy())
    pick()
      .then((target) => {
        sockets.set(socket, target.pod)
        return forward.portForward(namespace, target.pod, [target.port], socket, null, socket)
      })
      .then(
        (ws) => {
          // Each end closes the other: the stream to the API server would outlive the local
          // connection, and a local connection whose stream ended (the app closed an idle
          // keep-alive, the API server dropped it) would take the browser's next request and hang.
          const stream = typeof ws === 'function' ? ws() : ws
          const close = () => stream?.close()
          if (socket.destroyed) close()
          else socket.once('close', close)
          stream?.on('close', () => socket.end())
          stream?.on('error', () => socket.destroy())
        },
        (error: Error) => {
          opts.onError?.(error)
          socket.destroy()
        },
      )
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(opts.localPort ?? 0, '127.0.0.1', () => resolve())
  })
  // A kept-alive connection to a pod that has gone (a rollout) would hang: close it, and the
  // client's next connection is forwarded to a pod that is up.
  const sweep = opts.sweep
  const sweeping = sweep
    ? setInterval(() => {
        const pods = new Set([...sockets.values()].filter(Boolean))
        if (pods.size === 0) return
        sweep.alive().then(
          (alive) => {
            for (const [socket, pod] of sockets) if (pod && !alive.has(pod)) socket.destroy()
          },
          () => {},
        )
      }, sweep.everyMs)
    : undefined
  sweeping?.unref()
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () =>
      new Promise((resolve) => {
        clearInterval(sweeping)
        for (const s of sockets.keys()) s.destroy()
        server.close(() => resolve())
      }),
  }
}
