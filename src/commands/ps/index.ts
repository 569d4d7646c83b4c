import {Args} from '@oclif/core'
import {KplatCommand} from '../../lib/command.js'
import {appFlag, jsonFlag, kubeContextFlag} from '../../lib/flags.js'
import type {Process} from '../../lib/processes/processes.js'
import {age} from '../../lib/ui/time.js'

export default class Ps extends KplatCommand {
  static description = "list the app's processes: their type, state, age, restarts and release, and the formation"
  static examples = ['<%= config.bin %> ps --app myapp', '<%= config.bin %> ps web', '<%= config.bin %> ps --json']
  static args = {
    type: Args.string({description: 'only this process type (web, worker, ...)'}),
  }

  static flags = {...appFlag, ...jsonFlag, ...kubeContextFlag}

  async run(): Promise<void> {
    const {args, flags} = await this.parse(Ps)
    const {listProcesses} = await import('../../lib/processes/processes.js')
    const report = await listProcesses(await this.target(flags), args.type)
    this.render(flags.json, report, (r) => {
      const out = this.out
      for (const f of r.formation) {
        out.line(out.bold(`=== ${f.type} (${f.ready}/${f.desired} up)`))
        const processes = r.processes.filter((p) => p.type === f.type)
        if (processes.length === 0) {
          out.line(`no ${f.type} processes; \`kplat ps:scale ${f.type}=1\` starts one`)
        } else {
          out.table(processes, [
            {header: 'PROCESS', get: (p) => p.name},
            {header: 'STATE', get: (p) => state(p)},
            {header: 'AGE', get: (p) => age(p.startedAt, this.ctx.now())},
            {header: 'RESTARTS', get: (p) => String(p.restarts)},
            {header: 'RELEASE', get: (p) => p.commit ?? p.release ?? ''},
          ])
        }

        out.line()
      }
    })
  }
}

function state(p: Process): string {
  return p.reason ? `${p.state} (${p.reason})` : p.state
}
