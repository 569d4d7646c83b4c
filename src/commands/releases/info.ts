import {Args} from '@oclif/core'
import {KplatCommand} from '../../lib/command.js'
import {appFlag, jsonFlag, kubeContextFlag} from '../../lib/flags.js'
import {status} from './index.js'

export default class ReleasesInfo extends KplatCommand {
  static description =
    'show one release: what it changed, who made it and when, the code, config var names, formation and add-ons it left, and its outcome'
  static examples = ['<%= config.bin %> releases:info v3 --app myapp', '<%= config.bin %> releases:info --json']
  static args = {
    release: Args.string({description: 'the release, vN or N (default: the current one)'}),
  }

  static flags = {...appFlag, ...jsonFlag, ...kubeContextFlag}

  async run(): Promise<void> {
    const {args, flags} = await this.parse(ReleasesInfo)
    const [{findRelease, listReleases, parseVersion}] = await Promise.all([import('../../lib/releases/ledger.js')])
    const version = args.release === undefined ? undefined : parseVersion(args.release)
    const target = await this.target(flags)
    const release = findRelease(target.name, await listReleases(target.ledger), version)
    this.render(flags.json, release, (r) => {
      const out = this.out
      out.line(out.bold(`=== ${target.name} v${r.version}: ${r.description}`))
      out.pairs([
        ['By', r.by],
        ['When', r.createdAt],
        ['Status', status(r, true)],
        ['Commit', r.commit ? `${r.commit}${r.message ? ` ${r.message.split('\n')[0]}` : ''}` : '(unknown)'],
        ...(r.author ? [['Author', r.author] as [string, string]] : []),
        ['Config vars', r.config.keys.join(', ') || '(none)'],
        [
          'Formation',
          Object.entries(r.formation)
            .map(([t, n]) => `${t}=${n}`)
            .join(' ') || "(the chart's)",
        ],
        ['Add-ons', r.addons.join(', ') || '(none)'],
        ...(r.rollbackOf ? [['Rolled back to', `v${r.rollbackOf}`] as [string, string]] : []),
      ])
    })
  }
}
