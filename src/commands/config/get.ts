import {Args} from '@oclif/core'
import {KplatCommand} from '../../lib/command.js'
import {appFlag, kubeContextFlag} from '../../lib/flags.js'
import {KplatError} from '../../lib/errors.js'

export default class ConfigGet extends KplatCommand {
  static description = "print one config var's value, alone on stdout"
  static examples = [
    '<%= config.bin %> config:get GREETING --app myapp',
    'export DATABASE_URL=$(<%= config.bin %> config:get DATABASE_URL)',
  ]
  static args = {
    key: Args.string({description: 'the config var (or add-on env var)', required: true}),
  }

  static flags = {...appFlag, ...kubeContextFlag}

  async run(): Promise<void> {
    const {args, flags} = await this.parse(ConfigGet)
    const {checkNameForm, readConfig} = await import('../../lib/config-vars/config-vars.js')
    checkNameForm(args.key)
    const target = await this.target(flags)
    const found = (await readConfig(target, true)).find((v) => v.name === args.key)
    if (!found)
      throw new KplatError(`${target.name} has no config var ${args.key}`, {hint: '`kplat config` lists them'})
    this.io.stdout.write(`${found.value}\n`)
  }
}
