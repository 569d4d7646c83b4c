import {Args, Flags} from '@oclif/core'
import {KplatCommand} from '../../lib/command.js'
import {appFlag, jsonFlag, kubeContextFlag, timeoutFlag} from '../../lib/flags.js'

export default class ConfigUnset extends KplatCommand {
  static description = 'remove config vars; every process restarts once without them'
  static examples = [
    '<%= config.bin %> config:unset GREETING --app myapp',
    '<%= config.bin %> config:unset A B --no-restart',
  ]
  static strict = false
  static args = {
    keys: Args.string({description: 'the config vars to remove', required: true}),
  }

  static flags = {
    'no-restart': Flags.boolean({description: 'do not restart: processes lose the values when they next start'}),
    ...timeoutFlag('the restart'),
    ...appFlag,
    ...jsonFlag,
    ...kubeContextFlag,
  }

  async run(): Promise<void> {
    const {argv, flags} = await this.parse(ConfigUnset)
    const {changeConfig, checkName} = await import('../../lib/config-vars/config-vars.js')
    const keys = argv as string[]
    for (const key of keys) checkName(key)
    const result = await changeConfig(
      await this.target(flags),
      {set: {}, unset: keys},
      {restart: !flags['no-restart'], timeoutMs: flags.timeout * 1000},
    )
    this.render(flags.json, result, (r) => this.out.line(`Unset ${r.unset.join(', ')} on ${r.app}`))
  }
}
