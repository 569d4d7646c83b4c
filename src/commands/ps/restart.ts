import {Args, Flags} from '@oclif/core'
import {KplatCommand} from '../../lib/command.js'
import {appFlag, jsonFlag, kubeContextFlag, timeoutFlag} from '../../lib/flags.js'

export default class PsRestart extends KplatCommand {
  static description = "restart the app's processes, rolling: new ones start before the old ones stop"
  static examples = ['<%= config.bin %> ps:restart --app myapp', '<%= config.bin %> ps:restart worker']
  static args = {
    type: Args.string({description: 'only this process type (default: every type)'}),
  }

  static flags = {
    'no-wait': Flags.boolean({
      description: 'return once the restart is asked for, without waiting for the new processes',
    }),
    ...timeoutFlag('the new processes to be up'),
    ...appFlag,
    ...jsonFlag,
    ...kubeContextFlag,
  }

  async run(): Promise<void> {
    const {args, flags} = await this.parse(PsRestart)
    const {restart, typesToRestart} = await import('../../lib/processes/processes.js')
    const target = await this.target(flags)
    const types = await typesToRestart(target, args.type)
    const what = args.type ? `${target.name}'s ${args.type} processes` : `${target.name}'s processes`
    const result = await this.out.step(`Restarting ${what}`, (update) =>
      restart(target, types, {wait: !flags['no-wait'], timeoutMs: flags.timeout * 1000, onStatus: update}),
    )
    this.render(flags.json, result, (r) => this.out.line(`Restarted ${r.restarted.join(', ')}`))
  }
}
