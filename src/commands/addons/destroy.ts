import {Args, Flags} from '@oclif/core'
import {KplatCommand} from '../../lib/command.js'
import {appFlag, jsonFlag, kubeContextFlag} from '../../lib/flags.js'

export default class AddonsDestroy extends KplatCommand {
  static description =
    'destroy an add-on and its data: unbind it from the app, then delete it and what Crossplane made for it'
  static examples = [
    '<%= config.bin %> addons:destroy myapp-gcs-bucket --app myapp',
    '<%= config.bin %> addons:destroy myapp-gcs-bucket --app myapp --confirm myapp',
  ]
  static args = {
    name: Args.string({description: 'the add-on, as `kplat addons` names it', required: true}),
  }

  static flags = {
    confirm: Flags.string({
      description: "the app's name, to destroy without being asked (required without a terminal)",
      helpValue: 'APP',
    }),
    timeout: Flags.integer({
      description: "seconds to wait for the app's restart and for the add-on to be gone, each",
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
    const {args, flags} = await this.parse(AddonsDestroy)
    const [{findAddon}, {checkDestroyable, destroyAddon}, {checkConfirm, confirmDestruction}] = await Promise.all([
      import('../../lib/addons/instances.js'),
      import('../../lib/addons/destroy.js'),
      import('../../lib/shared/confirm.js'),
    ])
    const target = await this.target(flags, {check: (app) => checkConfirm(app, flags.confirm)})
    const app = target.name
    const addon = await findAddon(target, args.name)
    checkDestroyable(addon)
    await confirmDestruction(this.ctx, {
      app,
      confirm: flags.confirm,
      what: `Destroying ${addon.name} (${addon.service}) deletes its data`,
    })
    await destroyAddon(target, addon, {timeoutMs: flags.timeout * 1000})
    this.render(flags.json, {name: addon.name, app, destroyed: true}, () =>
      this.out.line(`${this.out.bold(addon.name)} is destroyed`),
    )
  }
}
