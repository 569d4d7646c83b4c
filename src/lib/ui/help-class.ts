import {Command, HelpBase, Interfaces} from '@oclif/core'
import {loadHelpSource, renderHelp} from './help.js'

/** oclif's hook for help it shows itself (a bare topic, `kplat help`): same renderer. */
export default class KplatHelp extends HelpBase {
  async showHelp(argv: string[]): Promise<void> {
    const source = loadHelpSource(this.config.root)
    const target = argv.filter((a) => !a.startsWith('-')).flatMap((a) => a.split(':'))
    process.stdout.write(renderHelp(source, target) ?? renderHelp(source, [])!)
  }

  async showCommandHelp(command: Command.Loadable, _topics: Interfaces.Topic[]): Promise<void> {
    await this.showHelp([command.id])
  }
}
