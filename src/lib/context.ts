import {AsyncLocalStorage} from 'node:async_hooks'
import type {GitHub} from './github/client.js'
import type {Kube} from './kube/client.js'
import {Debug, debugEnabled} from './ui/debug.js'
import {createIO, type IO} from './ui/io.js'
import {Output} from './ui/output.js'
import {Prompter} from './ui/prompter.js'
import {Redactor} from './ui/redact.js'

/** What a test (or an embedding program) may replace; the rest comes from the process. */
export interface ContextOverrides {
  env?: NodeJS.ProcessEnv
  cwd?: string
  stdin?: IO['stdin']
  stdout?: IO['stdout']
  stderr?: IO['stderr']
  now?: () => number
}

/** Lets a test run the very same command in-process with its own streams and environment. */
export const contextOverrides = new AsyncLocalStorage<ContextOverrides>()

export interface ContextOptions {
  noInteractive?: boolean
  version: string
}

/**
 * Every dependency a command has, in one object: streams, environment, clock, and the
 * GitHub, Kubernetes and prompt clients, each built on first use so that a command that
 * does not need one never loads it.
 */
export class Context {
  readonly env: NodeJS.ProcessEnv
  readonly cwd: string
  readonly io: IO
  readonly redactor = new Redactor()
  readonly debug: Debug
  readonly out: Output
  readonly prompter: Prompter
  readonly now: () => number
  readonly version: string
  private githubClient?: Promise<GitHub>
  private token?: Promise<string>
  private readonly kubeClients = new Map<string, Promise<Kube>>()

  constructor(opts: ContextOptions) {
    const o = contextOverrides.getStore() ?? {}
    this.env = o.env ?? process.env
    this.cwd = o.cwd ?? process.cwd()
    this.now = o.now ?? Date.now
    this.version = opts.version
    this.io = createIO({env: this.env, noInteractive: opts.noInteractive, stdin: o.stdin, stdout: o.stdout, stderr: o.stderr})
    this.redactor.add(this.env.GITHUB_TOKEN)
    this.redactor.add(this.env.GH_TOKEN)
    this.debug = new Debug(debugEnabled(this.env), this.io.stderr, this.redactor)
    this.out = new Output(this.io, this.redactor, this.now)
    this.prompter = new Prompter(this.io)
  }

  /** The GitHub token (GITHUB_TOKEN, GH_TOKEN or gh's store), registered for redaction. */
  githubToken(): Promise<string> {
    this.token ??= import('./github/auth.js').then(async ({resolveGitHubToken}) => {
      const token = await resolveGitHubToken(this.env)
      this.redactor.add(token)
      return token
    })
    return this.token
  }

  github(): Promise<GitHub> {
    this.githubClient ??= (async () => {
      const [{createGitHub}, token] = await Promise.all([import('./github/client.js'), this.githubToken()])
      return createGitHub({env: this.env, token, debug: this.debug, warn: (t) => this.out.warn(t), version: this.version})
    })()
    return this.githubClient
  }

  /** The cluster of the given kube context, or of the current one. */
  kube(context?: string): Promise<Kube> {
    const key = context ?? ''
    let kube = this.kubeClients.get(key)
    if (!kube) {
      kube = import('./kube/client.js').then(({createKube}) =>
        createKube({env: this.env, context, debug: this.debug, redactor: this.redactor}))
      this.kubeClients.set(key, kube)
    }

    return kube
  }
}
