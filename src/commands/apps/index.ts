import {KplatCommand} from '../../lib/command.js'
import {Flags} from '@oclif/core'
import {jsonFlag, kubeContextFlag} from '../../lib/flags.js'

export default class Apps extends KplatCommand {
  static description = 'list the apps kplat created in the cluster'
  static examples = [
    '<%= config.bin %> apps',
    '<%= config.bin %> apps --json',
    '<%= config.bin %> apps --team payments',
    '<%= config.bin %> apps --context staging',
  ]
  static flags = {
    team: Flags.string({description: "only this team's apps", helpValue: 'TEAM'}),
    ...jsonFlag,
    ...kubeContextFlag,
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(Apps)
    const {listApps} = await import('../../lib/shared/applications.js')
    const apps = await listApps(await this.platform(flags), {team: flags.team})
    this.render(flags.json, apps, () => {
      if (apps.length === 0) {
        this.out.info('No apps yet. Create one with `kplat create myapp`.')
        return
      }

      this.out.table(apps, [
        {header: 'NAME', get: (a) => a.name},
        {header: 'TEAM', get: (a) => a.team ?? '-'},
        {header: 'SYNC', get: (a) => a.sync},
        {header: 'HEALTH', get: (a) => a.health},
        {header: 'URL', get: (a) => a.url ?? ''},
      ])
    })
  }
}
