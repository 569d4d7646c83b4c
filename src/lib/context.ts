import {AsyncLocalStorage} from 'node:async_hooks'
import type {Readable, Writable} from 'node:stream'
import type {Ask} from './ask.js'
import {Debug, debugEnabled} from './debug.js'
import type {GitHub} from './github/client.js'
import type {Kube} from './kube/client.js'
import type {Progress} from './progress.js'
import type {Redactor} from './redact.js'

/** What a test (or an embedding program) may replace; the rest comes from the process. */
export interface ContextOverrides {
  env?: NodeJS.ProcessEnv
  cwd?: string
  stdin?: Readable & {isTTY?: boolean}
  stdout?: Writable & {isTTY?: boolean}
  stderr?: Writable & {isTTY?: boolean}
  now?: () => number
}

/** Lets a test run the very same command in-process with its own streams and environment. */
export const contextOverrides = new AsyncLocalStorage<ContextOverrides>()

export interface ContextOptions {
  version: string
  env: NodeJS.ProcessEnv
  cwd: string
  now: () => number
  /** Where KPLAT_DEBUG's trace goes. */
  stderr: NodeJS.WritableStream
  /** Where the model's progress events go; the command renders them. */
  progress: Progress
  /** Answers the model's questions; only asked when `interactive`. */
  ask: Ask
  /** A person is there to answer: the model may ask rather than fail. */
  interactive: boolean
  /** The secrets to mask; shared with the screen that shows what the model says. */
  redactor: Redactor
}

/**
 * What the model gets from the command that runs it: environment, clock, the secrets to
 * redact, where progress and questions go, and the GitHub and Kubernetes clients, each built
 * on first use so that a command that does not need one never loads it. It holds no screen:
 * the command layer (command.ts) fills `progress` and `ask` with its renderers.
 */
export class Context {
  readonly env: NodeJS.ProcessEnv
  readonly cwd: string
  readonly now: () => number
  readonly version: string
  readonly redactor: Redactor
  readonly debug: Debug
  readonly progress: Progress
  readonly ask: Ask
  readonly interactive: boolean
  private githubClient?: Promise<GitHub>
  private token?: Promise<string>
  private readonly kubeClients = new Map<string, Promise<Kube>>()

  constructor(opts: ContextOptions) {
    this.env = opts.env
    this.cwd = opts.cwd
    this.now = opts.now
    this.version = opts.version
    this.progress = opts.progress
    this.ask = opts.ask
    this.interactive = opts.interactive
    this.redactor = opts.redactor
    this.redactor.add(this.env.GITHUB_TOKEN)
    this.redactor.add(this.env.GH_TOKEN)
    // Every secret the environment hands kplat is known from the start, whichever command runs.
    this.redactor.add(this.env.KPLAT_BACKSTAGE_TOKEN)
    this.debug = new Debug(debugEnabled(this.env), opts.stderr, this.redactor)
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
      return createGitHub({
        env: this.env,
        token,
        debug: this.debug,
        warn: (text) => this.progress({type: 'warning', text}),
        version: this.version,
      })
    })()
    return this.githubClient
  }

  /** The cluster of the given kube context, or of the current one. */
  kube(context?: string): Promise<Kube> {
    const key = context ?? ''
    let kube = this.kubeClients.get(key)
    if (!kube) {
      kube = import('./kube/client.js').then(({createKube}) =>
        createKube({env: this.env, context, debug: this.debug, redactor: this.redactor}),
      )
      this.kubeClients.set(key, kube)
    }

    return kube
  }
}
