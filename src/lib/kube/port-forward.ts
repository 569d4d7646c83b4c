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
export function forwardPort(kube: Kube, namespace: string, pod: string, remotePort: number, localPort = 0): Promise<Forward> {
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
export async function forwardTo(kube: Kube, namespace: string, pick: () => Promise<ForwardTarget>, opts: ForwardOptions = {}): Promise<Forward> {
  const forward = new k8s.PortForward(kube.config)
  const sockets = new Map<net.Socket, string>()
  const server = net.createServer((socket) => {
    sockets.set(socket, '')
    socket.once('close', () => sockets.delete(socket))
    pick().then((target) => {
      sockets.set(socket, target.pod)
      return forward.portForward(namespace, target.pod, [target.port], socket, null, socket)
    }).then((ws) => {
      // The stream to the API server outlives the local connection unless closed with it.
      const close = () => (typeof ws === 'function' ? ws() : ws)?.close()
      if (socket.destroyed) close()
      else socket.once('close', close)
    }, (error: Error) => {
      opts.onError?.(error)
      socket.destroy()
    })
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(opts.localPort ?? 0, '127.0.0.1', () => resolve())
  })
  // A kept-alive connection to a pod that has gone (a rollout) would hang: close it, and the
  // client's next connection is forwarded to a pod that is up.
  const sweep = opts.sweep
  const sweeping = sweep ? setInterval(() => {
    const pods = new Set([...sockets.values()].filter(Boolean))
    if (pods.size === 0) return
    sweep.alive().then((alive) => {
      for (const [socket, pod] of sockets) if (pod && !alive.has(pod)) socket.destroy()
    }, () => {})
  }, sweep.everyMs) : undefined
  sweeping?.unref()
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () => new Promise((resolve) => {
      clearInterval(sweeping)
      for (const s of sockets.keys()) s.destroy()
      server.close(() => resolve())
    }),
  }
}
