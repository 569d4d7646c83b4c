import {Args} from '@oclif/core'
import {KplatCommand} from '../../lib/command.js'
import {appFlag, jsonFlag, kubeContextFlag} from '../../lib/flags.js'

export default class AddonsInfo extends KplatCommand {
  static description =
    'show an add-on: its state and conditions, what Crossplane made for it, the env vars it gives (never their values)'
  static examples = [
    '<%= config.bin %> addons:info myapp-gcs-bucket --app myapp',
    '<%= config.bin %> addons:info myapp-postgres --app myapp --json',
  ]
  static args = {
    name: Args.string({description: 'the add-on, as `kplat addons` names it', required: true}),
  }

  static flags = {...appFlag, ...jsonFlag, ...kubeContextFlag}

  async run(): Promise<void> {
    const {args, flags} = await this.parse(AddonsInfo)
    const {addonDetails} = await import('../../lib/addons/instances.js')
    const addon = await addonDetails(await this.target(flags), args.name)
    this.render(flags.json, addon, (a) => {
      const out = this.out
      out.line(out.bold(`=== ${a.name}`))
      out.pairs([
        ['Service', `${a.service}${a.plan ? `:${a.plan}` : ''} (${a.kind})`],
        ['App', a.app],
        ['State', a.message ? `${a.state}: ${a.message}` : a.state],
        ['Env vars', a.envVars.join(', ') || '(not bound)'],
        ['Secret', `${a.namespace}/${a.secret} (keys: ${a.secretKeys.join(', ') || 'none yet'})`],
        ['Created by', a.origin === 'chart' ? "the app's chart" : a.origin],
        ['Created', a.createdAt ?? ''],
      ])
      out.line(`\n${out.bold('Conditions')}`)
      for (const c of a.conditions)
        out.line(`  ${c.type} ${c.status}${c.reason ? ` (${c.reason})` : ''}${c.message ? `: ${c.message}` : ''}`)
      out.line(`\n${out.bold('Composed resources')}`)
      if (a.resources.length === 0) out.line('  none yet')
      for (const r of a.resources) {
        const state =
          r.ready === undefined && r.synced === undefined
            ? 'exists'
            : `Ready ${r.ready ?? 'Unknown'}, Synced ${r.synced ?? 'Unknown'}`
        out.line(`  ${r.kind}/${r.name}: ${state}${r.message ? `: ${r.message}` : ''}`)
      }
    })
  }
}
