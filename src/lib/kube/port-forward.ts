import * as net from 'node:net'
import * as k8s from './k8s.js'
import type {Kube} from './client.js'

export interface Forward {
  /** The local port on 127.0.0.1. */
  port: number
  close(): Promise<void>
}

/**
 * Forwards a port on 127.0.0.1 to a pod's port through the API server, one stream per
 * connection, as `kubectl port-forward` does.
 */
export async function forwardPort(kube: Kube, namespace: string, pod: string, remotePort: number, localPort = 0): Promise<Forward> {
  const forward = new k8s.PortForward(kube.config)
  const sockets = new Set<net.Socket>()
  const server = net.createServer((socket) => {
    sockets.add(socket)
    forward.portForward(namespace, pod, [remotePort], socket, null, socket).then((ws) => {
      // The stream to the API server outlives the local connection unless closed with it.
      const close = () => (typeof ws === 'function' ? ws() : ws)?.close()
      if (socket.destroyed) close()
      else socket.once('close', close)
    }, () => socket.destroy())
    socket.once('close', () => sockets.delete(socket))
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(localPort, '127.0.0.1', () => resolve())
  })
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () => new Promise((resolve) => {
      for (const s of sockets) s.destroy()
      server.close(() => resolve())
    }),
  }
}
