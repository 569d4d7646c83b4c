import {Args} from '@oclif/core'
import {KplatCommand} from '../../lib/command.js'
import {appFlag, jsonFlag, kubeContextFlag, timeoutFlag} from '../../lib/flags.js'

export default class ReleasesRollback extends KplatCommand {
  static description = `run an earlier release's code and config again, at once and without a rebuild

The app's deploy branch moves back to that release's commit and its config vars are restored; Argo CD's automated sync deploys it and self-heal keeps it. The rollback is a new release. The next git push deploys as always. Add-ons and the formation are not rolled back.`

  static examples = ['<%= config.bin %> releases:rollback --app myapp', '<%= config.bin %> releases:rollback v3']
  static args = {
    release: Args.string({
      description:
        'the release to go back to, vN or N (default: the last one before the current one that did not fail and ran other code or config)',
    }),
  }

  static flags = {
    ...timeoutFlag('the rolled-back release to be deployed'),
    ...appFlag,
    ...jsonFlag,
    ...kubeContextFlag,
  }

  async run(): Promise<void> {
    const {args, flags} = await this.parse(ReleasesRollback)
    const [{parseVersion}, {planRollback, rollback}] = await Promise.all([
      import('../../lib/releases/ledger.js'),
      import('../../lib/releases/rollback.js'),
    ])
    const version = args.release === undefined ? undefined : parseVersion(args.release)
    const target = await this.target(flags)
    const plan = await planRollback(this.ctx, target, version)
    for (const warning of plan.warnings) this.out.warn(warning)
    const result = await rollback(this.ctx, plan, {timeoutMs: flags.timeout * 1000})
    this.render(flags.json, result, (r) =>
      this.out.line(
        `${r.app} runs v${r.rolledBackTo}'s code${r.config === 'restored' ? ' and config' : ''} again, as v${r.release}`,
      ),
    )
  }
}
