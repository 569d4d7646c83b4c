// Config vars: values live only in a Secret of kplat's in the app's namespace, `APP-config`,
// which the chart reads with envFrom (the chart contract). The Argo CD Application carries a
// revision number only (`kplat.configRevision`, a pod annotation): changing it restarts the
// app once, and nothing secret ever reaches git, the Application, or any output.
import {readFile} from 'node:fs/promises'
import * as path from 'node:path'
import type {Readable} from 'node:stream'
import * as k8s from '../kube/k8s.js'
import {applicationRef, isOurs, LABELS} from '../kube/argocd.js'
import {applyKplatValues, waitForKplatValues} from '../kube/argocd-apps.js'
import {kubeError} from '../kube/errors.js'
import {watchNewPods} from '../kube/new-pods.js'
import {KplatError, UsageError} from '../errors.js'
import {bindingsOf} from '../addons/bindings.js'
import {stuckHint, track, withReleases} from '../releases/ledger.js'
import type {AppTarget} from '../shared/target.js'
import {step} from '../progress.js'
import {appSelector} from '../shared/app-selector.js'

const CONFIG_MANAGER = 'kplat-config'
const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/
/** Set by the chart for every process; a config var of that name would be overridden or override it. */
const CHART_VARS = new Set(['PORT', 'APP_VERSION'])

export const configSecretName = (app: string) => `${app}-config`

export interface ConfigVar {
  name: string
  /** Present only when revealed. */
  value?: string
  /** `config` for the app's own, else the add-on that gives it. */
  source: string
}

interface SecretLike {
  metadata?: {name?: string; resourceVersion?: string; labels?: Record<string, string>}
  data?: Record<string, string>
}

/** The app's config vars and its add-ons' env vars, values only when revealed. */
export async function readConfig(target: AppTarget, reveal: boolean): Promise<ConfigVar[]> {
  const [own, addons] = await Promise.all([readOwn(target), addonVars(target, reveal)])
  const vars: ConfigVar[] = Object.entries(own.values).map(([name, value]) => ({
    name,
    value: reveal ? value : undefined,
    source: 'config',
  }))
  return [...vars.sort((a, b) => a.name.localeCompare(b.name)), ...addons]
}

async function readOwn(target: AppTarget): Promise<{secret?: SecretLike; values: Record<string, string>}> {
  const name = configSecretName(target.name)
  let secret: SecretLike
  try {
    secret = (await target.kube
      .api(k8s.CoreV1Api)
      .readNamespacedSecret({name, namespace: target.namespace})) as SecretLike
  } catch (error) {
    if ((error as {code?: number}).code === 404) return {values: {}}
    throw kubeError(error, {verb: 'get', resource: 'secrets', namespace: target.namespace})
  }

  if (!isOurs(secret, target.name)) {
    throw new KplatError(
      `a Secret named ${name} exists in namespace ${target.namespace} that kplat did not create, so kplat will not read or write config vars in it`,
      {
        hint: `Rename or remove that Secret (it is not kplat's), then run the command again`,
      },
    )
  }

  return {
    secret,
    values: Object.fromEntries(
      Object.entries(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]),
    ),
  }
}

/** What each bound add-on's Secret gives the app, under its prefix. */
async function addonVars(target: AppTarget, reveal: boolean): Promise<ConfigVar[]> {
  const core = target.kube.api(k8s.CoreV1Api)
  const lists = await Promise.all(
    bindingsOf(target.application).map(async (b) => {
      try {
        const secret = await core.readNamespacedSecret({name: b.secret, namespace: target.namespace})
        return Object.entries(secret.data ?? {}).map(([k, v]) => ({
          name: `${b.prefix ?? ''}${k}`,
          value: reveal ? Buffer.from(v, 'base64').toString('utf8') : undefined,
          source: b.name,
        }))
      } catch (error) {
        if ((error as {code?: number}).code === 404) return []
        throw kubeError(error, {verb: 'get', resource: 'secrets', namespace: target.namespace})
      }
    }),
  )
  return lists.flat().sort((a, b) => a.name.localeCompare(b.name))
}

/**
 * KEY=VALUE, KEY=- (stdin, once) or KEY=@FILE, so a value never has to be typed on a command
 * line; KEY=@@x is the literal @x, and a value of exactly - comes from stdin or a file.
 */
export async function parseAssignments(
  args: string[],
  io: {stdin: Readable; cwd: string},
): Promise<Record<string, string>> {
  const out: Record<string, string> = {}
  // Told before stdin is read, which may never end.
  if (args.filter((a) => a.slice(a.indexOf('=') + 1) === '-' && a.indexOf('=') > 0).length > 1)
    throw new UsageError('only one value can come from stdin (KEY=-)', 'Give the others as KEY=@file')
  for (const [i, arg] of args.entries()) {
    const eq = arg.indexOf('=')
    // Not echoed: a stray space (`API_TOKEN= s3cr3t`) makes the value an argument of its own.
    if (eq <= 0)
      throw new UsageError(
        `argument ${i + 1} of ${args.length} is not KEY=VALUE (not shown: it may be a value)`,
        'For example `kplat config:set GREETING=hi`, `KEY=-` to read the value from stdin, or `KEY=@file`',
      )
    const key = arg.slice(0, eq)
    // Nothing of an argument is echoed but a valid name: `API_TOKEN= ab-c=x` would show ab-c.
    if (!NAME.test(key))
      throw new UsageError(
        `argument ${i + 1} of ${args.length} does not start with a valid config var name (not shown: it may be part of a value); a name is letters, digits and _, not starting with a digit`,
        'For example GREETING=hi or DATABASE_URL=@url.txt',
      )
    checkName(key)
    const raw = arg.slice(eq + 1)
    // `API_TOKEN= s3cr3t`: the shell split the value off; setting an empty API_TOKEN (and
    // perhaps a var named after the secret) would be worse than refusing.
    if (raw === '' && i < args.length - 1)
      throw new UsageError(
        `${key}= has no value, and ${args.length - 1 - i} more argument${args.length - 1 - i === 1 ? ' follows' : 's follow'}: a space after = splits the value off (nothing was changed)`,
        `Quote the value (${key}="...") or give it as ${key}=- from stdin or ${key}=@file`,
      )
    if (raw.startsWith('@@')) {
      // The literal form of a value that starts with @.
      out[key] = raw.slice(1)
    } else if (raw === '-') {
      // Typed at a terminal, the value would be echoed as it is typed, and kplat would seem to hang.
      if ((io.stdin as {isTTY?: boolean}).isTTY)
        throw new UsageError(
          `${key}=- reads the value from stdin, which is a terminal`,
          `Pipe it in, for example \`printf %s "$VALUE" | kplat config:set ${key}=-\`, or give it as ${key}=@file`,
        )
      let text = ''
      for await (const chunk of io.stdin) text += chunk.toString()
      // What `echo value |` adds; a value's own last newline is kept when there are two.
      const value = text.replace(/\r?\n$/, '')
      if (value === '')
        throw new UsageError(
          `${key}=- read an empty value from stdin`,
          `Pipe the value in, for example \`printf %s "$VALUE" | kplat config:set ${key}=-\`, or unset it with \`kplat config:unset ${key}\``,
        )
      out[key] = value
    } else if (raw.startsWith('@')) {
      const file = path.resolve(io.cwd, raw.slice(1))
      try {
        out[key] = await readFile(file, 'utf8')
      } catch (error) {
        // Not the path: `KEY=@value` may be a value that starts with @.
        throw new UsageError(
          `${key}=@...: cannot read the file named after @ (${(error as {code?: string}).code ?? 'unreadable'})`,
          `Name a readable file after @; a value that starts with @ is written with two (${key}=@@value sets @value)`,
        )
      }
    } else {
      out[key] = raw
    }
  }

  return out
}

/** A name as an env var may have it: what `config:get` and `config:unset` check before looking anything up. */
export function checkNameForm(key: string): void {
  if (!NAME.test(key))
    throw new UsageError(
      `"${key}" is not a valid config var name: an env var name is letters, digits and _, not starting with a digit`,
      'For example GREETING or DATABASE_URL',
    )
}

/** A name kplat lets a developer set. */
export function checkName(key: string): void {
  checkNameForm(key)
  if (key.startsWith('KPLAT_'))
    throw new UsageError(`${key}: names starting with KPLAT_ are kplat's own`, 'Pick a name without the KPLAT_ prefix')
  if (CHART_VARS.has(key))
    throw new UsageError(
      `${key} is set by the platform for every process (the chart sets PORT and APP_VERSION)`,
      'Pick another name',
    )
}

export interface ConfigChange {
  app: string
  set: string[]
  unset: string[]
  restarted: boolean
  /** The release the change made. */
  release: number
}

export interface ConfigOptions {
  restart: boolean
  timeoutMs: number
}

/**
 * config:set and config:unset in one pass: the Secret and the add-ons' Secrets are read once
 * and everything that would refuse the change is told before anything is written (or any
 * progress shown). Then, under the app's release lock (so two people's changes neither
 * overwrite each other nor get each other's snapshot), the Secret is written from that read
 * and the release recorded; unless --no-restart, the Application's config revision is bumped:
 * Argo CD rolls every process once, and they start with the new values.
 */
export async function changeConfig(
  target: AppTarget,
  change: {set: Record<string, string>; unset: string[]},
  opts: ConfigOptions,
): Promise<ConfigChange> {
  const {set, unset} = change
  const keys = Object.keys(set)
  for (const key of [...keys, ...unset]) checkName(key)
  const [own, addons] = await Promise.all([readOwn(target), addonVars(target, false)])
  for (const key of keys) {
    const taken = addons.find((a) => a.name === key)
    if (taken)
      throw new UsageError(
        `${key} is given by the add-on ${taken.source}`,
        'Pick another name, or bind the add-on under a prefix (`kplat addons:create ... --as PREFIX`)',
      )
  }

  const missing = unset.filter((k) => !(k in own.values))
  if (missing.length > 0)
    throw new UsageError(`${target.name} has no config var ${missing.join(', ')}`, '`kplat config` lists them')

  const words = [
    ...(keys.length > 0 ? [`Set ${[...keys].sort().join(', ')}`] : []),
    ...(unset.length > 0 ? [`Unset ${[...unset].sort().join(', ')}`] : []),
  ]
  const doing = [
    ...(keys.length > 0 ? [`Setting ${keys.join(', ')}`] : []),
    ...(unset.length > 0 ? [`Unsetting ${unset.join(', ')}`] : []),
  ].join(' and ')
  const label = opts.restart ? `${doing} and restarting ${target.name}` : `${doing} on ${target.name}`
  const version = await step(target.progress, label, async (update) => {
    const pods = opts.restart ? await watchNewPods(target.kube, target.namespace, appSelector(target)) : undefined
    const {release, revision} = await withReleases(target.ledger, async ({append}) => {
      const written = await writeConfig(
        target,
        (values) => {
          const next = {...values, ...set}
          for (const key of unset) delete next[key]
          return next
        },
        own,
      )
      const release = await append({
        kind: 'config',
        description: `${words.join('; ')} config vars`,
        snapshot: written.values,
        outcome: opts.restart ? 'deploying' : 'succeeded',
      })
      if (opts.restart) await deployConfigRevision(target, written.revision)
      return {release, revision: written.revision}
    })
    // The one restart: Argo CD deploys the new revision, and the app is Healthy again.
    if (pods)
      await track(
        target.ledger,
        release,
        pods.guard(
          (signal) =>
            waitForKplatValues(target.kube, applicationRef(target), (values) => values.configRevision === revision, {
              ...opts,
              onStatus: update,
              signal,
            }),
          {hint: stuckHint(target.name)},
        ),
      )
    return release.version
  })
  return {app: target.name, set: [...keys].sort(), unset: [...unset].sort(), restarted: opts.restart, release: version}
}

/** Replaces the app's config vars with what `next` makes of them (optimistic concurrency); returns the Secret's new revision. */
export async function writeConfig(
  target: AppTarget,
  next: (values: Record<string, string>) => Record<string, string>,
  read?: Awaited<ReturnType<typeof readOwn>>,
): Promise<{revision: string; values: Record<string, string>}> {
  const {namespace} = target
  const name = configSecretName(target.name)
  const core = target.kube.api(k8s.CoreV1Api)
  for (let attempt = 0; ; attempt++) {
    // The caller's read serves the first attempt; a conflict means it is stale, so read again.
    const {secret, values} = attempt === 0 && read ? read : await readOwn(target)
    const after = next(values)
    const body = {
      metadata: {
        name,
        namespace,
        labels: {[LABELS.managedBy]: 'kplat', [LABELS.app]: target.name},
        resourceVersion: secret?.metadata?.resourceVersion,
      },
      type: 'Opaque',
      data: Object.fromEntries(Object.entries(after).map(([k, v]) => [k, Buffer.from(v, 'utf8').toString('base64')])),
    }
    try {
      const written = secret
        ? await core.replaceNamespacedSecret({name, namespace, body})
        : await core.createNamespacedSecret({namespace, body})
      return {revision: written.metadata?.resourceVersion ?? '', values: after}
    } catch (error) {
      // Someone changed the Secret meanwhile without kplat (kplat's writers hold the release lock): read theirs and apply ours on top.
      const code = (error as {code?: number}).code
      if (code === 409 && attempt < 5) continue
      throw kubeError(error, {verb: secret ? 'update' : 'create', resource: 'secrets', namespace})
    }
  }
}

/** Restarts the app with the config Secret at `revision`: the Application carries the revision, never the values. */
export async function deployConfigRevision(target: AppTarget, revision: string): Promise<void> {
  await applyKplatValues(target.kube, applicationRef(target), {configRevision: revision}, CONFIG_MANAGER)
}
