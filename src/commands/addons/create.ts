import {Args, Flags} from '@oclif/core'
import {KplatCommand} from '../../lib/command.js'
import {appFlag, jsonFlag, kubeContextFlag} from '../../lib/flags.js'

export default class AddonsCreate extends KplatCommand {
  static description = 'create an add-on for an app and give the app its credentials as env vars'
  static examples = [
    '<%= config.bin %> addons:create gcs-bucket --app myapp',
    '<%= config.bin %> addons:create postgres:aws --app myapp --as DB --param size=medium',
    '<%= config.bin %> addons:create s3-bucket --app myapp --name myapp-uploads --no-wait --json',
  ]

  static args = {
    service: Args.string({
      description: 'SERVICE or SERVICE:PLAN, as `kplat addons:services` and `kplat addons:plans` name them',
      required: true,
    }),
  }

  static flags = {
    as: Flags.string({
      description: 'prefix of the env vars it gives the app: --as DB gives DB_PGHOST (default: none)',
      helpValue: 'PREFIX',
    }),
    name: Flags.string({description: 'name of the add-on (default: APP-SERVICE)', helpValue: 'NAME'}),
    'no-wait': Flags.boolean({
      description: 'return once the add-on is requested; it is bound when `kplat addons:create` runs again',
    }),
    param: Flags.string({description: 'a parameter of the service, key=value', helpValue: 'KEY=VALUE', multiple: true}),
    timeout: Flags.integer({
      description: 'seconds to wait for the add-on to be ready',
      default: 900,
      min: 1,
      max: 86_400,
      helpValue: 'SECONDS',
    }),
    ...appFlag,
    ...jsonFlag,
    ...kubeContextFlag,
  }

  async run(): Promise<void> {
    const {args, flags} = await this.parse(AddonsCreate)
    const {createAddon, parseAddonRequest} = await import('../../lib/addons/create.js')
    const request = parseAddonRequest({
      service: args.service,
      name: flags.name,
      as: flags.as,
      params: flags.param ?? [],
    })
    const addon = await createAddon(await this.target(flags), request, {
      wait: !flags['no-wait'],
      timeoutMs: flags.timeout * 1000,
    })
    this.render(flags.json, addon, (a) => {
      this.out.line(
        `${this.out.bold(a.name)} (${a.service}${a.plan ? `:${a.plan}` : ''}) is ${a.state === 'ready' ? `ready and bound to ${a.app}` : 'provisioning'}`,
      )
      this.out.pairs([
        ['Env vars', a.envVars.join(', ') || '(the service declares none)'],
        ['Secret', `${a.namespace}/${a.secret}`],
      ])
      if (a.state !== 'ready')
        this.out.info(
          `\nNext: \`kplat addons:create ${args.service} --app ${a.app}${a.name === `${a.app}-${a.service}` ? '' : ` --name ${a.name}`}\` again waits for it and binds it`,
        )
    })
  }
}
