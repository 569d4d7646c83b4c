import {Args, Flags} from '@oclif/core'
import {KplatCommand} from '../../lib/command.js'
import {appFlag, jsonFlag, kubeContextFlag, timeoutFlag} from '../../lib/flags.js'

export default class PsScale extends KplatCommand {
  static description =
    "change how many processes of each type run; the count survives Argo CD's self-heal and the next git push"
  static examples = [
    '<%= config.bin %> ps:scale web=3 --app myapp',
    '<%= config.bin %> ps:scale web+1 worker=1',
    '<%= config.bin %> ps:scale      # prints the formation, in a form to paste back',
  ]

  static strict = false
  static args = {
    formation: Args.string({
      description: 'TYPE=COUNT, TYPE+N or TYPE-N, for as many types as you like; none prints the formation',
    }),
  }
  static flags = {
    'no-wait': Flags.boolean({
      description: 'return once the new count is asked for, without waiting for the processes',
    }),
    ...timeoutFlag('the processes to be up'),
    ...appFlag,
    ...jsonFlag,
    ...kubeContextFlag,
  }

  async run(): Promise<void> {
    const {argv, flags} = await this.parse(PsScale)
    const {listProcesses, parseScale, planScale, scale} = await import('../../lib/processes/processes.js')
    const requests = parseScale(argv as string[])
    const target = await this.target(flags)
    const out = this.out
    if (requests.length === 0) {
      const {formation} = await listProcesses(target)
      this.render(flags.json, {app: target.name, formation}, () =>
        out.line(formation.map((f) => `${f.type}=${f.desired}`).join(' ')),
      )
      return
    }

    const plan = await planScale(target, requests)
    const label = `Scaling ${target.name} to ${plan.changed.map((c) => `${c.type.type}=${c.count}`).join(' ')}`
    const result = await out.step(label, (update) =>
      scale(plan, {wait: !flags['no-wait'], timeoutMs: flags.timeout * 1000, onStatus: update}),
    )
    this.render(flags.json, result, (r) => out.line(r.formation.map((f) => `${f.type}=${f.desired}`).join(' ')))
  }
}
