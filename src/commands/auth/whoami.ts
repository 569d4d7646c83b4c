import {KplatCommand} from '../../lib/command.js'
import {jsonFlag} from '../../lib/flags.js'

export default class AuthWhoami extends KplatCommand {
  static description = 'show the GitHub account and token scopes kplat uses'
  static examples = ['<%= config.bin %> auth:whoami', '<%= config.bin %> auth:whoami --json']
  static flags = {...jsonFlag}

  async run(): Promise<void> {
    const {flags} = await this.parse(AuthWhoami)
    const {whoami} = await import('../../lib/auth/account.js')
    const account = await whoami(this.ctx)
    this.render(flags.json, account, () => {
      this.out.pairs([
        ['Login', account.login],
        ['API', account.apiUrl],
        ['Scopes', account.scopes.join(', ') || '(fine-grained token: no classic scopes)'],
      ])
    })
  }
}
