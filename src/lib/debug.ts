import type {Redactor} from './redact.js'

/** KPLAT_DEBUG=1: stack traces and one line per HTTP request, on stderr, redacted. */
export class Debug {
  constructor(
    readonly enabled: boolean,
    private readonly stderr: NodeJS.WritableStream,
    private readonly redactor: Redactor,
  ) {}

  log(text: string): void {
    if (this.enabled) this.stderr.write(this.redactor.redact(`[debug] ${text}`) + '\n')
  }

  http(method: string, url: string, status: number | string, ms: number): void {
    this.log(`${method.toUpperCase()} ${url} ${status} ${Math.round(ms)}ms`)
  }
}

export function debugEnabled(env: NodeJS.ProcessEnv): boolean {
  const v = env.KPLAT_DEBUG
  return v !== undefined && v !== '' && v !== '0' && v.toLowerCase() !== 'false'
}
