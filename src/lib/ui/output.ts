import {step, type Progress} from '../progress.js'
import type {Redactor} from '../redact.js'
import type {IO} from './io.js'

export interface Column<T> {
  header: string
  get: (row: T) => string
}

/**
 * Everything a command shows goes through here: data to stdout, progress and warnings
 * to stderr, secrets redacted on the way out.
 */
export class Output {
  constructor(
    private readonly io: IO,
    private readonly redactor: Redactor,
    private readonly now: () => number,
    private readonly progressFormat?: string,
  ) {}

  private revealing = false

  /**
   * Prints data the user asked to see (`config --reveal`): known secrets are still masked,
   * but a value is not masked for looking like a credential (postgres://app:pw@db is shown).
   */
  revealed(print: () => void): void {
    this.revealing = true
    try {
      print()
    } finally {
      this.revealing = false
    }
  }

  /** A line of data (stdout). */
  line(text = ''): void {
    this.io.stdout.write(this.redactor.redact(text, {patterns: !this.revealing}) + '\n')
  }

  /** Exactly one JSON document on stdout. */
  json(value: unknown): void {
    this.io.stdout.write(this.redactor.redact(JSON.stringify(value, null, 2), {patterns: !this.revealing}) + '\n')
  }

  table<T>(rows: T[], columns: Column<T>[]): void {
    const cells = rows.map((r) => columns.map((c) => c.get(r)))
    const widths = columns.map((c, i) => Math.max(c.header.length, ...cells.map((row) => row[i].length)))
    const fmt = (row: string[]) =>
      row
        .map((v, i) => (i === row.length - 1 ? v : v.padEnd(widths[i])))
        .join('  ')
        .trimEnd()
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

  /** Runs fn as one step of the command's own, rendered as the model's steps are. */
  step<T>(label: string, fn: (update: (detail: string) => void) => Promise<T>): Promise<T> {
    return step(this.progress, label, fn)
  }

  /**
   * Renders the model's progress events: a spinner per step on a terminal, plain lines
   * otherwise, NDJSON with KPLAT_PROGRESS=json. Every step ends with its time, so CI logs
   * show where time went.
   */
  readonly progress: Progress = (event) => {
    if (this.mode === 'json') {
      this.io.stderr.write(
        this.redactor.redact(JSON.stringify({...event, time: new Date(this.now()).toISOString()})) + '\n',
      )
      return
    }

    if (event.type === 'warning') {
      this.warn(event.text)
      return
    }

    if (event.phase === 'start') this.started.set(event.id, this.now())
    const took = () => `${((this.now() - (this.started.get(event.id) ?? this.now())) / 1000).toFixed(1)}s`
    if (this.mode === 'lines') {
      if (event.phase === 'start') this.info(`${event.label}...`)
      else if (event.phase === 'detail') this.info(`  ${event.detail}`)
      else this.info(`${event.label}... ${event.phase} (${took()})`)
      if (event.phase === 'done' || event.phase === 'failed') this.started.delete(event.id)
      return
    }

    // ora loads on first use; each step's events chain on its spinner, so they keep their order.
    if (event.phase === 'start') {
      this.spinners.set(
        event.id,
        import('ora').then(({default: ora}) => ora({text: event.label, stream: this.io.stderr}).start()),
      )
      return
    }

    const text =
      event.phase === 'detail' ? this.redactor.redact(`${event.label}: ${event.detail}`) : `${event.label} (${took()})`
    const spinner = this.spinners.get(event.id)
    if (event.phase !== 'detail') {
      this.spinners.delete(event.id)
      this.started.delete(event.id)
    }

    void spinner?.then((s) => {
      if (event.phase === 'detail') s.text = text
      else if (event.phase === 'done') s.succeed(text)
      else s.fail(text)
    })
  }

  private readonly started = new Map<number, number>()
  private readonly spinners = new Map<number, Promise<import('ora').Ora>>()
  private get mode(): 'json' | 'lines' | 'spinner' {
    if (this.progressFormat === 'json') return 'json'
    return this.io.interactive ? 'spinner' : 'lines'
  }
}
