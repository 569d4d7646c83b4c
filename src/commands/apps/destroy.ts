import {Flags} from '@oclif/core'
import {KplatCommand} from '../../lib/command.js'
import {appFlag, jsonFlag, kubeContextFlag, timeoutFlag} from '../../lib/flags.js'

export default class AppsDestroy extends KplatCommand {
  static description = `destroy an app: its Argo CD Application and all it deployed, its namespace, its add-ons and their data, and kplat's credentials for it

The GitHub repository is kept unless --delete-repository. Only what kplat made is deleted; anything else in its place is left and reported. Run it again after an interruption to finish.`

  static examples = [
    '<%= config.bin %> apps:destroy --app myapp',
    '<%= config.bin %> apps:destroy --app myapp --confirm myapp',
    '<%= config.bin %> apps:destroy --app myapp --confirm myapp --delete-repository',
  ]

  static flags = {
    confirm: Flags.string({
      description: "the app's name, to destroy it without being asked (required without a terminal)",
      helpValue: 'APP',
    }),
    'delete-repository': Flags.boolean({
      description: "also delete the app's GitHub repository (needs the delete_repo scope)",
    }),
    ...timeoutFlag('each part to be gone', 600),
    ...appFlag,
    ...jsonFlag,
    ...kubeContextFlag,
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(AppsDestroy)
    const [{checkRepositoryScope, describeLoss, destroyApp, planDestroy}, {checkConfirm, confirmDestruction}] =
      await Promise.all([import('../../lib/apps/destroy.js'), import('../../lib/shared/confirm.js')])
    // Not target(): a rerun after an interruption may find the Application gone already.
    const remains = await this.remains(flags, {check: (app) => checkConfirm(app, flags.confirm)})
    if (flags['delete-repository']) await checkRepositoryScope(this.ctx)
    const plan = await planDestroy(this.ctx, remains, {deleteRepository: flags['delete-repository']})
    await confirmDestruction(this.ctx, {app: remains.name, confirm: flags.confirm, what: describeLoss(plan)})
    const result = await destroyApp(this.ctx, plan, {timeoutMs: flags.timeout * 1000})
    this.render(flags.json, result, (r) => {
      this.out.line(`${this.out.bold(r.app)} is destroyed`)
      if (!plan.repository)
        this.out.info('Its GitHub repository is kept; `kplat apps:destroy --delete-repository` deletes it too')
    })
  }
}
