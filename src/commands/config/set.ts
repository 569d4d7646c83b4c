import {Args, Flags} from '@oclif/core'
import {KplatCommand} from '../../lib/command.js'
import {appFlag, jsonFlag, kubeContextFlag, timeoutFlag} from '../../lib/flags.js'

export default class ConfigSet extends KplatCommand {
  static description = `set config vars; every process gets them as env vars, after one rolling restart

A value can come from stdin (KEY=-) or a file (KEY=@path), so that a secret is never typed on a command line. Values are never printed.`

  static examples = [
    '<%= config.bin %> config:set GREETING=hi --app myapp',
    'printf %s "$TOKEN" | <%= config.bin %> config:set API_TOKEN=-',
    '<%= config.bin %> config:set TLS_KEY=@key.pem --no-restart',
  ]

  static strict = false
  static args = {
    assignments: Args.string({
      description: 'KEY=VALUE, KEY=- (stdin) or KEY=@FILE, as many as you like',
      required: true,
    }),
  }

  static flags = {
    'no-restart': Flags.boolean({description: 'do not restart: processes get the new values when they next start'}),
    ...timeoutFlag('the restart'),
    ...appFlag,
    ...jsonFlag,
    ...kubeContextFlag,
  }

  async run(): Promise<void> {
    const {argv, flags} = await this.parse(ConfigSet)
    const {changeConfig, parseAssignments} = await import('../../lib/config-vars/config-vars.js')
    const set = await parseAssignments(argv as string[], {stdin: this.io.stdin, cwd: this.ctx.cwd})
    for (const value of Object.values(set)) this.ctx.redactor.add(value)
    const result = await changeConfig(
      await this.target(flags),
      {set, unset: []},
      {restart: !flags['no-restart'], timeoutMs: flags.timeout * 1000},
    )
    this.render(flags.json, result, (r) =>
      this.out.line(
        `Set ${r.set.join(', ')} on ${r.app}${r.restarted ? '; its processes restarted with them' : '; its processes get them when they next start'}`,
      ),
    )
  }
}
