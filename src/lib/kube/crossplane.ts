import * as k8s from './k8s.js'
import type {Kube} from './client.js'
import {kubeError} from './errors.js'
import {KplatError} from '../errors.js'

const GROUP = 'apiextensions.crossplane.io'

/** The parts of a CompositeResourceDefinition (v1 or v2) that kplat reads. */
export interface Xrd {
  metadata: {name: string; labels?: Record<string, string>; annotations?: Record<string, string>}
  spec: {
    group: string
    names: {kind: string; plural: string}
    claimNames?: {kind: string; plural: string}
    /** v2: Namespaced (the default), Cluster or LegacyCluster; v1 XRDs have none. */
    scope?: string
    connectionSecretKeys?: string[]
    defaultCompositionRef?: {name: string}
    versions: Array<{name: string; served?: boolean; referenceable?: boolean; schema?: {openAPIV3Schema?: Schema}}>
  }
  status?: {conditions?: Array<{type: string; status: string; reason?: string; message?: string}>}
}

export interface Schema {
  type?: string
  description?: string
  enum?: unknown[]
  default?: unknown
  required?: string[]
  properties?: Record<string, Schema>
  minimum?: number
  maximum?: number
  pattern?: string
}

export interface Composition {
  metadata: {name: string; labels?: Record<string, string>; annotations?: Record<string, string>}
  spec: {compositeTypeRef: {apiVersion: string; kind: string}; mode?: string}
}

/**
 * Every XRD of the cluster. Crossplane v2 serves them as v2 (v1 XRDs included); a v1
 * cluster serves only v1, so that is asked when v2 is not served.
 */
export async function listXrds(kube: Kube): Promise<Xrd[]> {
  const custom = kube.api(k8s.CustomObjectsApi)
  for (const version of ['v2', 'v1']) {
    try {
      return (
        (await custom.listClusterCustomObject({group: GROUP, version, plural: 'compositeresourcedefinitions'})) as {
          items: Xrd[]
        }
      ).items
    } catch (error) {
      if ((error as {code?: number}).code === 404 && version === 'v2') continue
      throw crossplaneError(error, kube, 'compositeresourcedefinitions')
    }
  }

  throw notInstalled()
}

/** The Compositions that can compose a kind (group and kind; any version). */
export async function listCompositions(kube: Kube, group: string, kind: string): Promise<Composition[]> {
  try {
    const list = (await kube
      .api(k8s.CustomObjectsApi)
      .listClusterCustomObject({group: GROUP, version: 'v1', plural: 'compositions'})) as {items: Composition[]}
    return list.items.filter(
      (c) => c.spec.compositeTypeRef.kind === kind && c.spec.compositeTypeRef.apiVersion.split('/')[0] === group,
    )
  } catch (error) {
    throw crossplaneError(error, kube, 'compositions')
  }
}

function crossplaneError(error: unknown, kube: Kube, plural: string): Error {
  const body = String((error as {body?: unknown}).body ?? '')
  if ((error as {code?: number}).code === 404 && /could not find the requested resource|404 page not found/i.test(body))
    return notInstalled()
  return kubeError(error, {
    verb: 'list',
    resource: `${plural}.${GROUP}`,
    server: kube.config.getCurrentCluster()?.server,
  })
}

function notInstalled(): KplatError {
  return new KplatError(
    `Crossplane is not installed in this cluster (it serves no compositeresourcedefinitions.${GROUP})`,
    {hint: 'Add-ons are Crossplane resources: ask your platform team to install Crossplane, or pick another --context'},
  )
}
