import {KplatCommand} from '../lib/command.js'
import {jsonFlag, kubeContextFlag} from '../lib/flags.js'

export default class Teams extends KplatCommand {
  static description = "list the platform's teams and the ones you are in (you may create apps in their namespace)"
  static examples = ['<%= config.bin %> teams', '<%= config.bin %> teams --json']
  static flags = {...jsonFlag, ...kubeContextFlag}

  async run(): Promise<void> {
    const {flags} = await this.parse(Teams)
    const {teamsOf} = await import('../lib/teams/teams.js')
    const result = await teamsOf(await this.platform(flags))
    this.render(flags.json, result, (r) => {
      const mine = r.teams.filter((t) => t.member)
      if (mine.length === 0) {
        this.out.info(
          'You are in no team yet: ask your platform team to add you to one (platform-kit/README.md, Teams)',
        )
        return
      }

      this.out.table(r.teams, [
        {header: 'TEAM', get: (t) => t.name},
        {header: 'MEMBER', get: (t) => (t.member ? 'yes' : 'no')},
        {header: 'NAMESPACE', get: (t) => t.namespace},
        {header: 'REPOSITORIES', get: (t) => t.repos.join(', ')},
      ])
    })
  }
}
