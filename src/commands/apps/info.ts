import {KplatCommand} from '../../lib/command.js'
import {appFlag, jsonFlag, kubeContextFlag} from '../../lib/flags.js'

export default class AppsInfo extends KplatCommand {
  static description =
    "show an app: its repository, deploy state, URL, and its page in the platform's Backstage catalog"
  static examples = ['<%= config.bin %> apps:info --app myapp', '<%= config.bin %> apps:info --json']
  static flags = {...appFlag, ...jsonFlag, ...kubeContextFlag}

  async run(): Promise<void> {
    const {flags} = await this.parse(AppsInfo)
    const {describeApp} = await import('../../lib/apps/info.js')
    const app = await describeApp(this.ctx, await this.target(flags))
    this.render(flags.json, app, () => {
      this.out.line(this.out.bold(`=== ${app.name}`))
      this.out.pairs([
        ['Repository', app.repository ?? ''],
        ...(app.team ? [['Team', app.team] as [string, string]] : []),
        ['Namespace', app.namespace ?? ''],
        ['Sync', app.sync],
        ['Health', app.health],
        ['Revision', app.revision ?? ''],
        ['Web URL', app.url ?? ''],
        ...(app.catalog ? [['Catalog', app.catalog] as [string, string]] : []),
      ])
      // Argo CD will not deploy it until this is fixed: said where the eye lands, on stderr too.
      for (const problem of app.problems ?? []) this.out.warn(`Argo CD: ${problem}`)
    })
  }
}
