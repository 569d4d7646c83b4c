import {Flags} from '@oclif/core'
import {KplatCommand} from '../../lib/command.js'
import {appFlag, jsonFlag, kubeContextFlag} from '../../lib/flags.js'
import type {Release} from '../../lib/releases/ledger.js'
import {age} from '../../lib/ui/time.js'

export default class Releases extends KplatCommand {
  static description = `list the app's releases, newest first: every deploy, config change, scale, add-on change and rollback

Each has its number, what changed (config var names, never values), who made it, when, and its outcome. The history is kplat's own, in the app's namespace: it outlives Argo CD's, and numbers never change.`

  static examples = ['<%= config.bin %> releases --app myapp', '<%= config.bin %> releases --num 50 --json']
  static flags = {
    num: Flags.integer({
      char: 'n',
      description: 'how many releases to show, newest first',
      default: 15,
      min: 1,
      max: 10_000,
      helpValue: 'N',
    }),
    ...appFlag,
    ...jsonFlag,
    ...kubeContextFlag,
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(Releases)
    const {listReleases} = await import('../../lib/releases/ledger.js')
    const target = await this.target(flags)
    const releases = (await listReleases(target.ledger)).reverse().slice(0, flags.num)
    this.render(flags.json, releases, (list) => {
      const out = this.out
      if (list.length === 0) {
        out.line(`${target.name} has no releases yet: its first deploy is its first release`)
        return
      }

      out.line(out.bold(`=== ${target.name} releases`))
      out.table(list, [
        {header: 'RELEASE', get: (r) => `v${r.version}`},
        {header: 'CHANGE', get: (r) => r.description},
        {header: 'BY', get: (r) => r.by},
        {header: 'AGE', get: (r) => age(r.createdAt, this.ctx.now())},
        {header: 'STATUS', get: (r) => status(r)},
      ])
    })
  }
}

export function status(r: Release, full = false): string {
  const words = r.outcome === 'failed' ? `failed${r.reason ? `: ${full ? r.reason : short(r.reason)}` : ''}` : r.outcome
  return r.current ? `${words} (current)` : words
}

/** The tool's own words at the end of Argo CD's long chain (helm's "parse error at ..."); all of it is in releases:info and --json. */
function short(reason: string): string {
  const line = reason.split('\n')[0]
  return /(?:^|\s)Error: (.+)$/.exec(line)?.[1] ?? line
}
