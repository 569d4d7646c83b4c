import type {IO} from './io.js'
import type {Redactor} from './redact.js'

export interface Column<T> {
  header: string
  get: (row: T) => string
}

/**
 * Everything a command shows goes through here: data to stdout, progress and warnings
 * to stderr, secrets redacted on the way out.
 */
export class Output {
  constructor(private readonly io: IO, private readonly redactor: Redactor, private readonly now: () => number) {}

  /** A line of data (stdout). */
  line(text = ''): void {
    this.io.stdout.write(this.redactor.redact(text) + '\n')
  }

  /** Exactly one JSON document on stdout. */
  json(value: unknown): void {
    this.io.stdout.write(this.redactor.redact(JSON.stringify(value, null, 2)) + '\n')
  }

  table<T>(rows: T[], columns: Column<T>[]): void {
    const cells = rows.map((r) => columns.map((c) => c.get(r)))
    const widths = columns.map((c, i) => Math.max(c.header.length, ...cells.map((row) => row[i].length)))
    const fmt = (row: string[]) => row.map((v, i) => (i === row.length - 1 ? v : v.padEnd(widths[i]))).join('  ').trimEnd()
    this.line(this.bold(fmt(columns.map((c) => c.header))))
    for (const row of cells) this.line(fmt(row))
  }

  /** Aligned key: value pairs, Heroku's apps:info style. */
  pairs(entries: Array<[string, string]>): void {
    const width = Math.max(...entries.map(([k]) => k.length)) + 1
    for (const [k, v] of entries) this.line(`${(k + ':').padEnd(width)} ${v}`)
  }

  /** Progress or information for the person watching (stderr). */
  info(text: string): void {
    this.io.stderr.write(this.redactor.redact(text) + '\n')
  }

  warn(text: string): void {
    this.info(`${this.io.color ? '\u001B[33mWarning:\u001B[39m' : 'Warning:'} ${text}`)
  }

  bold(text: string): string {
    return this.io.color ? `\u001B[1m${text}\u001B[22m` : text
  }

  /**
   * Runs fn while showing what it waits for: a spinner on a terminal, plain lines
   * otherwise. Both end with the step's time, so CI logs show where time went.
   */
  async step<T>(label: string, fn: (update: (detail: string) => void) => Promise<T>): Promise<T> {
    const started = this.now()
    const took = () => `${((this.now() - started) / 1000).toFixed(1)}s`
    if (!this.io.interactive) {
      this.info(`${label}...`)
      try {
        const result = await fn((detail) => this.info(`  ${detail}`))
        this.info(`${label}... done (${took()})`)
        return result
      } catch (error) {
        this.info(`${label}... failed (${took()})`)
        throw error
      }
    }

    const {default: ora} = await import('ora')
    const spinner = ora({text: label, stream: this.io.stderr}).start()
    try {
      const result = await fn((detail) => {
        spinner.text = this.redactor.redact(`${label}: ${detail}`)
      })
      spinner.succeed(`${label} (${took()})`)
      return result
    } catch (error) {
      spinner.fail(`${label} (${took()})`)
      throw error
    }
  }
}
