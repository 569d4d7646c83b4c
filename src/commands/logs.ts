import {Flags} from '@oclif/core'
import {KplatCommand} from '../lib/command.js'
import {appFlag, kubeContextFlag} from '../lib/flags.js'
import type {LogLine} from '../lib/logs/logs.js'
import {NANO_UTC} from '../lib/logs/time.js'
import {UsageError} from '../lib/errors.js'

export default class Logs extends KplatCommand {
  static description = `show the app's logs: every process's output and what the platform did to the app, in time order

With --tail, follows them: processes that start later (a deploy, a scale-up, a restart) join the stream, and a dropped connection resumes from the last line shown. Ctrl-C ends it.
--json prints one JSON object per line (NDJSON): {"time", "source", "process", "container", "message"}.`

  static examples = [
    '<%= config.bin %> logs --app myapp',
    '<%= config.bin %> logs --tail --ps web',
    '<%= config.bin %> logs -n 500 --since 1h --source app',
    '<%= config.bin %> logs --tail --json | jq .message',
  ]

  static flags = {
    tail: Flags.boolean({char: 't', description: 'keep following the logs until Ctrl-C'}),
    num: Flags.integer({
      char: 'n',
      description: 'how many past lines to show, across every process (default: 100; all with --since)',
      min: 0,
      max: 100_000,
      helpValue: 'N',
    }),
    ps: Flags.string({char: 'p', description: 'only the processes of this type (web, worker, ...)', helpValue: 'TYPE'}),
    dyno: Flags.string({char: 'd', description: 'only this process, as `kplat ps` names it', helpValue: 'PROCESS'}),
    source: Flags.string({
      char: 's',
      description: "only the app's own output, or only what the platform did (default: both)",
      options: ['app', 'platform'],
    }),
    since: Flags.string({description: 'only lines newer than this: 30s, 10m, 2h, 1d, 1h30m', helpValue: 'DURATION'}),
    json: Flags.boolean({description: 'one JSON object per line (NDJSON) instead of text'}),
    ...appFlag,
    ...kubeContextFlag,
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(Logs)
    const sinceSeconds = flags.since === undefined ? undefined : parseDuration(flags.since)
    const {streamLogs} = await import('../lib/logs/logs.js')
    const target = await this.target(flags)
    const io = this.io
    const write = lineWriter(io.color, flags.json ?? false, (text) => this.ctx.redactor.redact(text))
    const abort = new AbortController()
    // Ctrl-C is how a tail ends: a clean exit, not an error.
    const stop = () => abort.abort()
    process.once('SIGINT', stop)
    process.once('SIGTERM', stop)
    try {
      await streamLogs(target, {
        tail: flags.tail,
        num: flags.num ?? (sinceSeconds === undefined ? 100 : undefined),
        type: flags.ps,
        pod: flags.dyno,
        source: flags.source as LogLine['source'] | undefined,
        sinceSeconds,
        giveUpMs: positiveSeconds(this.ctx.env.KPLAT_RECONNECT_SECONDS, 60) * 1000,
        idleMs: positiveSeconds(this.ctx.env.KPLAT_LOG_IDLE_SECONDS, 60) * 1000,
        signal: abort.signal,
        emit: (lines) => lines.length === 0 || io.stdout.write(write(lines)),
        onDrain: (resume) => io.stdout.once('drain', resume),
        notice: (text) => this.out.info(text),
      })
    } finally {
      // Ended by an error as well: one failing watch ends the others, so nothing keeps the process up.
      abort.abort()
      process.off('SIGINT', stop)
      process.off('SIGTERM', stop)
    }
  }
}

/** 30s, 10m, 2h, 1d, or a sum of them (1h30m). */
export function parseDuration(text: string): number {
  const parts = [...text.matchAll(/(\d+)([smhd])/g)]
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== text) {
    throw new UsageError(
      `invalid --since: "${text}" is not a duration`,
      'Use a number with s, m, h or d, for example --since 10m or --since 1h30m',
    )
  }

  const unit = {s: 1, m: 60, h: 3600, d: 86_400} as const
  const seconds = parts.reduce((sum, p) => sum + Number(p[1]) * unit[p[2] as keyof typeof unit], 0)
  if (seconds === 0)
    throw new UsageError('invalid --since: the duration is zero', 'Use a positive duration, for example --since 10m')
  return seconds
}

function positiveSeconds(value: string | undefined, fallback: number): number {
  const n = Number(value)
  return Number.isFinite(n) && n > 0 ? n : fallback
}

// One colour per process on a terminal, as Heroku and stern do; the same process keeps its colour.
const COLOURS = [36, 33, 32, 35, 34, 91, 96, 93, 92, 95]

/** One width for every time, microseconds as Heroku prints them: sources give seconds to nanoseconds. */
export function micros(time: string): string {
  if (NANO_UTC.test(time)) return `${time.slice(0, 26)}Z`
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/.exec(time)
  return m ? `${m[1]}.${(m[2] ?? '').padEnd(6, '0').slice(0, 6)}${m[3]}` : time
}

function lineWriter(color: boolean, json: boolean, redact: (text: string) => string): (lines: LogLine[]) => string {
  const assigned = new Map<string, number>()
  const paint = (process: string, text: string) => {
    if (!color) return text
    let c = assigned.get(process)
    if (c === undefined) assigned.set(process, (c = COLOURS[assigned.size % COLOURS.length]))
    return `\u001B[${c}m${text}\u001B[39m`
  }

  return (lines) => {
    let out = ''
    for (const l of lines) {
      if (json) {
        out +=
          JSON.stringify({
            time: l.time,
            source: l.source,
            process: l.process,
            container: l.container ?? null,
            message: l.message,
          }) + '\n'
        continue
      }

      const who = `${l.source}[${l.sharedPod ? `${l.process}/${l.container}` : l.process}]:`
      out += `${micros(l.time)} ${paint(l.process, who)} ${l.message}\n`
    }

    return redact(out)
  }
}
