import {appendFileSync, mkdirSync} from 'node:fs'
import * as http from 'node:http'
import * as https from 'node:https'
import type {AddressInfo} from 'node:net'
import * as path from 'node:path'
import {createInterface} from 'node:readline'
import type * as k8s from '@kubernetes/client-node'
import {appendCriLine, kubeConnection, kubeRequest, type KubeConnection} from './cluster.js'

export interface Runtime {
  stop(): Promise<void>
}

/** Where a container's log file is, below the ground's folder. */
export function podLogPath(dir: string, namespace: string, pod: string, container: string): string {
  return path.join(dir, 'logs', 'pods', namespace, pod, `${container}.log`)
}

interface Served {
  server: http.Server
  ports: number[]
}

/**
 * The ground's container runtime: kwok runs no containers, so this gives each scheduled pod
 * what a running app has: a log file per container and, for a container that declares ports,
 * an HTTP server on 127.0.0.1. kwok serves them to the API server through a Logs and a
 * PortForward object per pod, which the garbage collector removes with the pod.
 */
export async function startRuntime(kc: k8s.KubeConfig, dir: string): Promise<Runtime> {
  const api = await kubeConnection(kc)
  // By pod uid: a pod is started once, however often a relist shows it again.
  const pods = new Map<string, Promise<Served[]>>()
  let stopped = false
  let watching: http.ClientRequest | undefined
  const problem = (what: string, error: unknown) => {
    if (!stopped)
      appendFileSync(
        path.join(dir, 'logs', 'runtime.log'),
        `${new Date().toISOString()} ${what}: ${(error as Error).message ?? error}\n`,
      )
  }

  function seen(type: string, pod: k8s.V1Pod): void {
    const uid = pod.metadata!.uid!
    if (type === 'DELETED' || pod.metadata!.deletionTimestamp) {
      end(uid)
      return
    }

    if (!pod.spec?.nodeName || pods.has(uid)) return
    const starting = startPod(api, dir, pod)
    pods.set(uid, starting)
    // Forgotten on failure, so that the pod's next event (kwok's status follows its binding)
    // tries again.
    starting.catch((error) => {
      if (pods.get(uid) === starting) pods.delete(uid)
      problem(`pod ${pod.metadata!.namespace}/${pod.metadata!.name}`, error)
    })
  }

  function end(uid: string): void {
    const served = pods.get(uid)
    pods.delete(uid)
    served?.then(
      (s) => s.forEach(({server}) => close(server)),
      () => {},
    )
  }

  async function relist(): Promise<string> {
    const answer = await kubeRequest(api, 'GET', '/api/v1/pods')
    if (answer.code !== 200) throw new Error(`listing pods: ${answer.code} ${answer.body.slice(0, 300)}`)
    const list = JSON.parse(answer.body) as k8s.V1PodList
    const uids = new Set(list.items.map((p) => p.metadata!.uid!))
    for (const uid of pods.keys()) if (!uids.has(uid)) end(uid)
    for (const pod of list.items) seen('ADDED', pod)
    return list.metadata!.resourceVersion!
  }

  /** Follows the watch until it ends; the resourceVersion to resume from, '' when it expired. */
  function watch(version: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const url = new URL('/api/v1/pods', api.server)
      url.searchParams.set('watch', 'true')
      url.searchParams.set('allowWatchBookmarks', 'true')
      url.searchParams.set('resourceVersion', version)
      // Its own connection, which must not keep the process alive (the ground may live in a
      // test file's process, which exits when its tests end).
      watching = https.request(url, {...api.options, agent: false}, (res) => {
        if (res.statusCode !== 200) {
          res.resume()
          if (res.statusCode === 410) resolve('')
          else reject(new Error(`watching pods: ${res.statusCode}`))
          return
        }

        const lines = createInterface({input: res})
        // A broken connection ends in 'close' as well, and the watch resumes.
        lines.on('error', () => {})
        lines.on('line', (line) => {
          const event = JSON.parse(line) as {type: string; object: k8s.V1Pod & {code?: number}}
          if (event.type === 'ERROR') {
            if (event.object.code === 410) version = ''
            return
          }

          if (event.type !== 'BOOKMARK') seen(event.type, event.object)
          version = event.object.metadata!.resourceVersion!
        })
        res.on('close', () => resolve(version))
      })
      watching.on('socket', (socket) => socket.unref())
      watching.on('error', reject)
      watching.end()
    })
  }

  void (async () => {
    let version = ''
    while (!stopped) {
      try {
        version = await watch(version || (await relist()))
      } catch (error) {
        problem('watching pods', error)
        await new Promise((r) => setTimeout(r, 500).unref())
      }
    }
  })()

  return {
    async stop() {
      stopped = true
      watching?.destroy()
      const starting = [...pods.values()]
      for (const uid of [...pods.keys()]) end(uid)
      await Promise.allSettled(starting)
    },
  }
}

async function startPod(api: KubeConnection, dir: string, pod: k8s.V1Pod): Promise<Served[]> {
  const {name, namespace, uid} = pod.metadata! as {name: string; namespace: string; uid: string}
  const containers = pod.spec!.containers
  const files = new Map(containers.map((c) => [c.name, podLogPath(dir, namespace, name, c.name)]))
  for (const file of files.values()) {
    mkdirSync(path.dirname(file), {recursive: true})
    appendFileSync(file, '')
  }

  const served = await Promise.all(
    containers.filter((c) => c.ports?.length).map((c) => serve(pod, c, files.get(c.name)!)),
  )
  const metadata = {
    name,
    namespace,
    ownerReferences: [{apiVersion: 'v1', kind: 'Pod', name, uid, controller: false, blockOwnerDeletion: false}],
  }
  const apply = async (kind: string, plural: string, spec: object) => {
    const url = new URL(`/apis/kwok.x-k8s.io/v1alpha1/namespaces/${namespace}/${plural}/${name}`, api.server)
    url.searchParams.set('fieldManager', 'kplat-ground-runtime')
    url.searchParams.set('force', 'true')
    const answer = await kubeRequest(
      api,
      'PATCH',
      url,
      JSON.stringify({apiVersion: 'kwok.x-k8s.io/v1alpha1', kind, metadata, spec}),
      'application/apply-patch+yaml',
    )
    if (answer.code >= 300) throw new Error(`applying ${kind}: ${answer.code} ${answer.body.slice(0, 300)}`)
  }

  try {
    await Promise.all([
      apply('Logs', 'logs', {
        logs: containers.map((c) => ({containers: [c.name], logsFile: files.get(c.name), follow: true})),
      }),
      served.length > 0 &&
        apply('PortForward', 'portforwards', {
          forwards: served.map((s) => ({
            ports: s.ports,
            target: {address: '127.0.0.1', port: (s.server.address() as AddressInfo).port},
          })),
        }),
    ])
  } catch (error) {
    served.forEach((s) => close(s.server))
    throw error
  }

  return served
}

/** A container's web app: it answers every path, and logs each request as a web app does. */
async function serve(pod: k8s.V1Pod, container: k8s.V1Container, file: string): Promise<Served> {
  const server = http.createServer((req, res) => {
    if (new URL(req.url!, 'http://pod').pathname === '/healthz') {
      res.end('ok\n')
      return
    }

    // Logged before the answer, so that whoever has the answer finds the line.
    appendCriLine(file, `${req.method} ${req.url} 200`)
    res.setHeader('content-type', 'application/json')
    res.end(
      JSON.stringify({
        pod: pod.metadata!.name,
        namespace: pod.metadata!.namespace,
        container: container.name,
        image: container.image,
        path: req.url,
      }) + '\n',
    )
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', resolve)
  })
  server.unref()
  const ports = container.ports!.map((p) => p.containerPort)
  for (const port of ports) appendCriLine(file, `listening on ${port}`)
  return {server, ports}
}

function close(server: http.Server): void {
  server.close()
  server.closeAllConnections()
}
