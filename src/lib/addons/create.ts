import {Validator} from '@cfworker/json-schema'
import * as k8s from '../kube/k8s.js'
import {isOurs, LABELS} from '../kube/argocd.js'
import {apply, findObject} from '../kube/argocd-apps.js'
import type {Kube} from '../kube/client.js'
import type {Schema, Xrd} from '../kube/crossplane.js'
import {kubeError} from '../kube/errors.js'
import {watchNewPods} from '../kube/new-pods.js'
import {waitFor} from '../kube/wait.js'
import {coerce, parseParams, schemaProblem} from '../skeleton/parameters.js'
import type {ParameterSchema} from '../skeleton/template.js'
import {KplatError, UsageError} from '../errors.js'
import {stuckHint, track, withReleases} from '../releases/ledger.js'
import type {AppTarget} from '../shared/target.js'
import {bind, bindingsOf, chartReads, waitForBindings} from './bindings.js'
import {firstFailing, type ComposedBy} from './instances.js'
import {findService, plansOf, schemasOf, type AddonPlan, type AddonService} from './services.js'
import {step, warn} from '../progress.js'
import {appSelector} from '../shared/app-selector.js'

/** What the command line asks for, checked before any cluster is touched (parseAddonRequest). */
export interface AddonRequest {
  service: string
  plan?: string
  name?: string
  /** Env var prefix: with DB, the key PGHOST reaches the app as DB_PGHOST. */
  as?: string
  params: Record<string, string>
}

export interface CreateAddonOptions {
  wait: boolean
  timeoutMs: number
}

export interface AddonResult {
  name: string
  app: string
  service: string
  plan?: string
  kind: string
  namespace: string
  /** The connection Secret, in the app's namespace: its keys, never its values, are shown. */
  secret: string
  /** The env vars the app's processes get. */
  envVars: string[]
  state: 'ready' | 'provisioning'
}

export const ADDON_LABEL = 'kplat.dev/addon-service'
const NAME = /^[a-z]([a-z0-9-]{0,51}[a-z0-9])?$/
const PREFIX = /^[A-Z][A-Z0-9_]*$/

/** The command line's half of addons:create: SERVICE[:PLAN], --name, --as and --param's form, before anything is looked up. */
export function parseAddonRequest(given: {
  service: string
  name?: string
  as?: string
  params: string[]
}): AddonRequest {
  const [service, plan] = given.service.split(':', 2)
  if (given.as !== undefined && !PREFIX.test(given.as))
    throw new UsageError(
      `--as "${given.as}" is not an env var prefix`,
      'Use capital letters, digits and underscores, starting with a letter: --as DB',
    )
  if (given.name !== undefined) checkAddonName(given.name)
  return {service, plan, name: given.name, as: given.as, params: parseParams(given.params)}
}

function checkAddonName(name: string): void {
  if (!NAME.test(name))
    throw new UsageError(
      `invalid add-on name "${name}"`,
      'Use lowercase letters, digits and dashes, starting with a letter, at most 53: --name NAME',
    )
}

/**
 * Creates an add-on for an app, Heroku's addons:create: checks everything it can before
 * anything exists, creates the XR (or claim) in the app's namespace, waits until Crossplane
 * says it is Ready, and binds its connection Secret to the app. Running it again finishes
 * the job.
 */
export async function createAddon(
  target: AppTarget,
  request: AddonRequest,
  opts: CreateAddonOptions,
): Promise<AddonResult> {
  const {kube, name: app} = target
  const {service, xrd} = await findService(kube, request.service)
  if (service.shape === 'cluster') {
    throw new UsageError(
      `${service.name} makes cluster-scoped resources (${xrd.metadata.name}), which an app cannot own`,
      'Ask your platform team for a namespaced XRD (Crossplane v2) or a claim',
    )
  }

  const schemas = schemasOf(xrd)
  const parameters = validateParameters(service, schemas.parameters, request.params)
  // Crossplane would accept the claim and then say it cannot select a Composition: refused here instead.
  // Someone who may not read Compositions (they are cluster-scoped) finds out from Crossplane's own condition, below.
  const plans = await plansOf(kube, xrd).catch((error: unknown) => {
    if (request.plan === undefined && (error as {cause?: {code?: number}}).cause?.code === 403) return undefined
    throw error
  })
  if (plans?.length === 0)
    throw new UsageError(
      `${service.name} has no plans: no Composition composes ${service.kind} yet, so nothing could provision it`,
      'Ask your platform team to install one; `kplat addons:plans ' + service.name + '` shows when there is',
    )
  const plan = request.plan === undefined || !plans ? undefined : findPlan(service, plans, request.plan)
  const name = request.name ?? `${app}-${service.name}`
  checkAddonName(name)
  const namespace = target.namespace
  const secret = `${name}-connection`
  const ref = {apiVersion: service.apiVersion, kind: service.kind, metadata: {name, namespace}}

  const [existing] = await Promise.all([
    findObject(kube, {apiVersion: service.apiVersion, kind: service.kind, name, namespace}),
    checkNamespace(kube, namespace, app),
  ])
  if (existing && !(isOurs(existing, app) && existing.metadata?.labels?.[ADDON_LABEL] === service.name)) {
    throw new KplatError(
      `the name "${name}" is taken: a ${service.kind} ${namespace}/${name} exists that kplat did not create for ${app}`,
      {hint: 'Pick another name with --name NAME'},
    )
  }

  if (!existing) {
    const labels = {[LABELS.managedBy]: 'kplat', [LABELS.app]: app, [ADDON_LABEL]: service.name}
    const instanceSpec: Record<string, unknown> =
      service.parametersAt === 'spec.parameters' ? {parameters} : {...parameters}
    // A v1 claim always names its Secret; a v2 XR does when its XRD lets it (function-patch-
    // and-transform names it <name>-connection otherwise, the same name).
    if (service.shape === 'claim' || schemas.spec?.properties?.writeConnectionSecretToRef)
      instanceSpec.writeConnectionSecretToRef = {name: secret}
    if (plan)
      Object.assign(
        instanceSpec,
        service.shape === 'claim'
          ? {compositionRef: {name: plan.composition}}
          : {crossplane: {compositionRef: {name: plan.composition}}},
      )
    await step(target.progress, `Creating ${service.name}${plan ? `:${plan.name}` : ''} ${name} for ${app}`, () =>
      apply(kube, {...ref, metadata: {...ref.metadata, labels}, spec: instanceSpec} as never),
    )
  }

  const result: AddonResult = {
    name,
    app: app,
    service: service.name,
    plan: plan?.name,
    kind: service.kind,
    namespace,
    secret,
    envVars: service.envVars.map((k) => `${request.as ? `${request.as}_` : ''}${k}`),
    state: 'provisioning',
  }
  if (!opts.wait) return result

  await step(target.progress, `Waiting for ${name} to be ready`, (update) =>
    waitForReady(kube, service, xrd, namespace, name, {timeoutMs: opts.timeoutMs, onStatus: update}),
  )
  result.state = 'ready'
  const binding = {name, secret, ...(request.as ? {prefix: `${request.as}_`} : {})}
  // A rerun that finds the add-on bound as asked makes no release.
  const bound = bindingsOf(target.application).some(
    (b) => b.name === name && b.secret === secret && b.prefix === binding.prefix,
  )
  const pods = await watchNewPods(kube, target.namespace, appSelector(target))
  const release = await step(target.progress, `Binding ${name} to ${app}`, () =>
    withReleases(target.ledger, async ({append}) => {
      const bindings = await bind(target, binding)
      return bound
        ? undefined
        : append({
            kind: 'addons',
            description: `Attach ${name} (${service.name}${plan ? `:${plan.name}` : ''})`,
            addons: bindings.map((b) => b.name),
          })
    }),
  )
  await step(target.progress, `Restarting ${app} with ${name}'s env vars`, (update) => {
    const restarted = pods.guard(
      (signal) => waitForBindings(target, {bound: binding}, {timeoutMs: opts.timeoutMs, onStatus: update, signal}),
      {hint: stuckHint(app)},
    )
    return release ? track(target.ledger, release, restarted) : restarted
  })
  if (!(await chartReads(target, secret))) {
    warn(
      target.progress,
      `${app}'s chart does not read kplat.addons, so ${name}'s env vars do not reach its processes. Its Deployments need envFrom from .Values.kplat.addons: see kplat's docs/chart-contract.md`,
    )
  }

  return result
}

/** The app's namespace exists once Argo CD first deployed the app; an add-on needs it. */
async function checkNamespace(kube: Kube, namespace: string, app: string): Promise<void> {
  try {
    await kube.api(k8s.CoreV1Api).readNamespace({name: namespace})
  } catch (error) {
    const code = (error as {code?: number}).code
    // A developer may not be allowed to read namespaces; then creating the add-on will tell.
    if (code === 403) return
    if (code === 404)
      throw new KplatError(
        `the app's namespace ${namespace} does not exist yet: Argo CD creates it when it first deploys ${app}`,
        {hint: `Wait for the first deploy (\`kplat apps:info --app ${app}\`), then run this again`},
      )
    throw kubeError(error, {verb: 'get', resource: 'namespaces', server: kube.config.getCurrentCluster()?.server})
  }
}

/** --param values against the XRD's own schema, before anything exists. */
function validateParameters(
  service: AddonService,
  holder: Schema | undefined,
  given: Record<string, string>,
): Record<string, unknown> {
  const known = new Map(service.parameters.map((p) => [p.name, p]))
  const values: Record<string, unknown> = {}
  for (const [key, raw] of Object.entries(given)) {
    const parameter = known.get(key)
    if (!parameter)
      throw new UsageError(
        `${service.name} has no parameter "${key}"`,
        `Its parameters: ${[...known.keys()].join(', ') || 'none'} (\`kplat addons:services\`)`,
      )
    const schema = holder!.properties![key]
    const value = coerce(raw, parameter.type)
    const {valid, errors} = new Validator(schema as Record<string, unknown>, '2020-12', false).validate(value)
    if (!valid)
      throw new UsageError(
        `${service.name} parameter "${key}" ${schemaProblem(schema as ParameterSchema, errors)}`,
        `Pass --param ${key}=VALUE`,
      )
    values[key] = value
  }

  for (const p of service.parameters) {
    if (p.required && p.default === undefined && !(p.name in values))
      throw new UsageError(`${service.name} parameter "${p.name}" is required`, `Pass --param ${p.name}=VALUE`)
  }

  return values
}

function findPlan(service: AddonService, plans: AddonPlan[], name: string): AddonPlan {
  const plan = plans.find((p) => p.name === name)
  if (!plan)
    throw new UsageError(
      `${service.name} has no plan "${name}"`,
      `Its plans: ${plans.map((p) => `${service.name}:${p.name}`).join(', ') || 'none'}`,
    )
  return plan
}

function instanceTarget(service: AddonService, namespace: string, name: string) {
  return {apiVersion: service.apiVersion, kind: service.kind, plural: service.plural, namespace, name}
}

/**
 * Waits, with a watch, for Synced and Ready; a Synced=False is a failure with Crossplane's
 * own message, on the add-on or, for a claim, on the composite it made (a claim whose XR
 * cannot select a Composition stays Synced itself).
 */
async function waitForReady(
  kube: Kube,
  service: AddonService,
  xrd: Xrd,
  namespace: string,
  name: string,
  opts: {timeoutMs: number; onStatus: (s: string) => void},
): Promise<void> {
  let last = ''
  let notReady = 'no Ready condition yet'
  let seen: ComposedBy | undefined
  let failed: string | undefined
  const stop = new AbortController()
  let composite: Promise<void> | undefined
  const watchComposite = (ref: {apiVersion: string; kind: string; name: string}) =>
    waitFor(
      kube,
      {...ref, plural: xrd.spec.names.plural},
      (object) => {
        const synced = (object as ComposedBy | undefined)?.status?.conditions?.find((c) => c.type === 'Synced')
        return synced?.status === 'False'
          ? `its composite ${ref.kind} ${ref.name}: ${synced.message ?? synced.reason ?? 'Synced is False'}`
          : undefined
      },
      {timeoutMs: opts.timeoutMs, signal: stop.signal},
    ).then(
      (why) => {
        failed = why
        stop.abort()
      },
      () => {},
    )
  try {
    await waitFor(
      kube,
      instanceTarget(service, namespace, name),
      (object) => {
        seen = object as ComposedBy | undefined
        if (seen?.spec?.resourceRef && !composite) composite = watchComposite(seen.spec.resourceRef)
        const conditions = seen?.status?.conditions ?? []
        const synced = conditions.find((c) => c.type === 'Synced')
        const ready = conditions.find((c) => c.type === 'Ready')
        if (synced?.status === 'False') {
          failed = synced.message ?? synced.reason ?? 'Synced is False'
          return true
        }

        notReady = ready
          ? `${ready.reason ?? ready.status}${ready.message ? `: ${ready.message}` : ''}`
          : 'no Ready condition yet'
        const status = `Synced ${synced?.status ?? 'Unknown'}, Ready ${notReady}`
        if (status !== last) opts.onStatus(status)
        last = status
        return ready?.status === 'True' ? true : undefined
      },
      {timeoutMs: opts.timeoutMs, signal: stop.signal},
    )
  } catch (error) {
    if (error instanceof KplatError && /timed out/.test(error.message)) {
      throw new KplatError(
        `timed out after ${Math.round(opts.timeoutMs / 1000)}s waiting for ${name} to be ready (${notReady})${await firstFailing(kube, seen, namespace)}`,
        {hint: 'Run the same command again to keep waiting, with a longer --timeout if provisioning is slow'},
      )
    }

    if (failed === undefined) throw error
  } finally {
    stop.abort()
    await composite
  }

  if (failed !== undefined) {
    throw new KplatError(`provisioning ${name} failed: ${failed}${await firstFailing(kube, seen, namespace)}`, {
      hint: `Fix it with your platform team, then rerun; \`kplat addons:destroy ${name}\` removes it`,
    })
  }
}
