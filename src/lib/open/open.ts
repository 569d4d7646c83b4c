// `kplat open`: the app's URL, and when it has none that answers, a local port forwarded to
// it through the API server.
import * as dns from 'node:dns/promises'
import * as net from 'node:net'
import * as k8s from '../kube/k8s.js'
import type {Kube} from '../kube/client.js'
import {kubeError} from '../kube/errors.js'
import {forwardTo, type Forward} from '../kube/port-forward.js'
import {KplatError} from '../errors.js'
import {notDeployed, PROCESS_LABEL, processTypes} from '../processes/processes.js'
import type {AppTarget} from '../shared/target.js'
import {isAppObject} from '../shared/app-selector.js'

export interface AppUrl {
  url: string
  /** Where it came from. */
  via: 'ingress' | 'argocd' | 'load-balancer' | 'port-forward'
  /** Set when kplat forwards a local port: the URL answers while it runs. */
  forward?: Forward & {service: string; servicePort: number}
  /** Why the app's own URL was not used. */
  fallback?: string
}

/**
 * The URL to open: the app's Ingress (https when it has TLS), then Argo CD's external URLs,
 * then a LoadBalancer Service. A host without a DNS record (a sandbox, a domain not set up
 * yet) does not answer, so then, as when there is no URL at all, kplat forwards a local port
 * to the app's web Service.
 */
export async function appUrl(
  target: AppTarget,
  path: string,
  opts: {onForwardError?: (error: Error) => void} = {},
): Promise<AppUrl> {
  const suffix = path ? (path.startsWith('/') ? path : `/${path}`) : '/'
  const found = await publishedUrl(target)
  if (found) {
    const host = new URL(found.url).hostname
    if (net.isIP(host) || (await resolves(host))) return {url: new URL(suffix, found.url).toString(), via: found.via}
  }

  const fallback = found ? `${found.url} has no DNS record` : undefined
  const forward = await forwardToService(target, opts.onForwardError)
  return {url: `http://127.0.0.1:${forward.port}${suffix}`, via: 'port-forward', forward, fallback}
}

async function publishedUrl(target: AppTarget): Promise<{url: string; via: AppUrl['via']} | undefined> {
  const {kube, namespace} = target
  const ingresses = (await list(
    () => kube.objects.list('networking.k8s.io/v1', 'Ingress', namespace),
    'ingresses',
    namespace,
  )) as Array<{
    metadata?: {name?: string; labels?: Record<string, string>}
    spec?: {tls?: Array<{hosts?: string[]}>; rules?: Array<{host?: string}>}
  }>
  for (const ingress of ingresses.filter((i) => isAppObject(target, i))) {
    const host = ingress.spec?.rules?.find((r) => r.host)?.host
    if (!host || host.includes('*')) continue
    const tls = (ingress.spec?.tls ?? []).some((t) => (t.hosts ?? []).includes(host))
    return {url: `${tls ? 'https' : 'http'}://${host}/`, via: 'ingress'}
  }

  // A chart's annotation sets these: only a web address is opened, never file: or smb:.
  const external = target.application.status?.summary?.externalURLs?.find(isWebUrl)
  if (external) return {url: external, via: 'argocd'}
  const services = (await list(() => kube.objects.list('v1', 'Service', namespace), 'services', namespace)) as Service[]
  for (const s of services.filter((s) => isAppObject(target, s))) {
    const lb = s.spec?.type === 'LoadBalancer' ? s.status?.loadBalancer?.ingress?.[0] : undefined
    const address = lb?.hostname ?? lb?.ip
    const port = s.spec?.ports?.[0]?.port
    if (address && port)
      return {
        url: `${port === 443 ? 'https' : 'http'}://${address}${port === 80 || port === 443 ? '' : `:${port}`}/`,
        via: 'load-balancer',
      }
  }

  return undefined
}

async function resolves(host: string): Promise<boolean> {
  try {
    await dns.lookup(host)
    return true
  } catch {
    return false
  }
}

interface Service {
  metadata?: {name?: string}
  spec?: {
    type?: string
    selector?: Record<string, string>
    ports?: Array<{name?: string; port: number; targetPort?: number | string}>
  }
  status?: {loadBalancer?: {ingress?: Array<{ip?: string; hostname?: string}>}}
}

interface Pod {
  metadata?: {name?: string; labels?: Record<string, string>; deletionTimestamp?: string}
  spec?: {containers?: Array<{ports?: Array<{name?: string; containerPort: number}>}>}
  status?: {conditions?: Array<{type: string; status: string}>}
}

/** Forwards a local port to the app's web Service, as `kubectl port-forward svc/NAME` does, re-picking a ready pod per connection. */
async function forwardToService(
  target: AppTarget,
  onError?: (error: Error) => void,
): Promise<NonNullable<AppUrl['forward']>> {
  const {kube, namespace} = target
  const [services, allowed] = await Promise.all([
    list(() => kube.objects.list('v1', 'Service', namespace), 'services', namespace) as Promise<Service[]>,
    mayForward(kube, namespace),
  ])
  if (!allowed) {
    throw new KplatError(
      `forbidden: you may not create pods/portforward in namespace ${namespace}, which kplat needs to reach ${target.name} (it has no URL that answers)`,
      {
        hint: `Ask your platform team for the "create" right on pods/portforward in ${namespace}, or for DNS for the apps domain`,
      },
    )
  }

  const own = services.filter((s) => isAppObject(target, s))
  const service =
    own.find((s) => s.spec?.selector?.[PROCESS_LABEL] === 'web') ??
    own.find((s) => s.spec?.selector && s.spec.ports?.length)
  if (!service?.spec?.selector)
    throw new KplatError(`${target.name} has no Service to forward a port to`, {
      hint: "Its chart needs a Service in front of its web processes (see kplat's docs/chart-contract.md)",
    })
  const port = service.spec.ports!.find((p) => p.name === 'http') ?? service.spec.ports![0]
  const selector = Object.entries(service.spec.selector)
    .map(([k, v]) => `${k}=${v}`)
    .join(',')
  const readyPods = async () =>
    (
      (await list(
        () => kube.objects.list('v1', 'Pod', namespace, undefined, undefined, undefined, undefined, selector),
        'pods',
        namespace,
      )) as Pod[]
    ).filter(
      (p) =>
        !p.metadata?.deletionTimestamp && p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
    )
  const readyPod = async (): Promise<{pod: string; port: number}> => {
    const pods = await readyPods()
    const pod = pods[Math.floor(Math.random() * pods.length)]
    if (!pod)
      throw new KplatError(`no ${target.name} web process is up to forward to`, {
        hint: `\`kplat ps --app ${target.name}\` shows its processes`,
      })
    return {pod: pod.metadata!.name!, port: containerPort(pod, port.targetPort ?? port.port)}
  }

  // Fails now, with the reason, rather than on the browser's first request.
  try {
    await readyPod()
  } catch (error) {
    if (error instanceof KplatError && (await processTypes(target)).length === 0) throw notDeployed(target)
    throw error
  }

  const alive = async () => new Set((await readyPods()).map((p) => p.metadata!.name!))
  const forward = await forwardTo(kube, namespace, readyPod, {onError, sweep: {everyMs: 2000, alive}})
  return {...forward, service: service.metadata!.name!, servicePort: port.port}
}

function containerPort(pod: Pod, target: number | string): number {
  if (typeof target === 'number') return target
  if (/^\d+$/.test(target)) return Number(target)
  for (const c of pod.spec?.containers ?? []) {
    const named = c.ports?.find((p) => p.name === target)
    if (named) return named.containerPort
  }

  throw new KplatError(`pod ${pod.metadata?.name} has no port named "${target}"`, {
    hint: "The Service's targetPort must name a port of the web container",
  })
}

async function mayForward(kube: Kube, namespace: string): Promise<boolean> {
  try {
    const review = await kube.api(k8s.AuthorizationV1Api).createSelfSubjectAccessReview({
      body: {spec: {resourceAttributes: {namespace, verb: 'create', resource: 'pods', subresource: 'portforward'}}},
    })
    return review.status?.allowed ?? false
  } catch {
    // A cluster that will not say: try, and let the API server answer.
    return true
  }
}

async function list(
  fn: () => Promise<{items: k8s.KubernetesObject[]}>,
  resource: string,
  namespace: string,
): Promise<k8s.KubernetesObject[]> {
  try {
    return (await fn()).items
  } catch (error) {
    throw kubeError(error, {verb: 'list', resource, namespace})
  }
}

/** An http(s) URL with a host: the only kind kplat hands to a browser. */
export function isWebUrl(text: string): boolean {
  try {
    const url = new URL(text)
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== ''
  } catch {
    return false
  }
}
