import {Flags} from '@oclif/core'
import {KplatCommand} from '../../lib/command.js'
import {appFlag, jsonFlag, kubeContextFlag} from '../../lib/flags.js'

export default class Config extends KplatCommand {
  static description = `list the app's config vars, and the env vars its add-ons give it; values masked unless --reveal

--shell prints KEY=value lines (values shown), for a .env file.`

  static examples = [
    '<%= config.bin %> config --app myapp',
    '<%= config.bin %> config --reveal',
    '<%= config.bin %> config --shell > .env',
  ]
  static flags = {
    reveal: Flags.boolean({description: 'show the values'}),
    shell: Flags.boolean({description: 'print KEY=value lines, values shown', exclusive: ['json']}),
    ...appFlag,
    ...jsonFlag,
    ...kubeContextFlag,
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(Config)
    const {readConfig} = await import('../../lib/config-vars/config-vars.js')
    const target = await this.target(flags)
    const reveal = flags.reveal || flags.shell
    const vars = await readConfig(target, reveal)
    // The values are secrets: whatever is not printed on purpose is redacted.
    if (!reveal) for (const v of vars) this.ctx.redactor.add(v.value)
    const out = this.out
    if (flags.shell) {
      for (const v of vars) this.io.stdout.write(`${v.name}=${shellQuote(v.value ?? '')}\n`)
      return
    }

    const print = () =>
      this.render(
        flags.json,
        vars.map((v) => ({name: v.name, value: v.value ?? null, source: v.source})),
        () => {
          if (vars.length === 0) {
            out.info(
              `${target.name} has no config vars. Set one with \`kplat config:set KEY=VALUE --app ${target.name}\``,
            )
            return
          }

          out.line(out.bold(`=== ${target.name} config vars`))
          out.table(vars, [
            {header: 'NAME', get: (v) => v.name},
            {header: 'VALUE', get: (v) => v.value ?? '********'},
            {header: 'FROM', get: (v) => (v.source === 'config' ? '' : `add-on ${v.source}`)},
          ])
        },
      )
    if (reveal) out.revealed(print)
    else print()
  }
}

/** A value a shell reads back unchanged: single quotes, with ' written as '\''. */
function shellQuote(value: string): string {
  return /^[\w@%+=:,./-]*$/.test(value) ? value : `'${value.replaceAll("'", "'\\''")}'`
}
