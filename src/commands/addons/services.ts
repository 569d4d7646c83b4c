import {KplatCommand} from '../../lib/command.js'
import {jsonFlag, kubeContextFlag} from '../../lib/flags.js'

export default class AddonsServices extends KplatCommand {
  static description = 'list the add-on services this cluster offers, with their parameters'
  static examples = [
    '<%= config.bin %> addons:services',
    '<%= config.bin %> addons:services --json',
    '<%= config.bin %> addons:services --context staging',
  ]
  static flags = {...jsonFlag, ...kubeContextFlag}

  async run(): Promise<void> {
    const {flags} = await this.parse(AddonsServices)
    const {listServices, describeParameter} = await import('../../lib/addons/services.js')
    const services = await listServices(await this.ctx.kube(flags.context))
    this.render(flags.json, services, () => {
      if (services.length === 0) {
        this.out.info('This cluster offers no add-ons yet: they are Crossplane XRDs that your platform team installs.')
        return
      }

      this.out.table(services, [
        {header: 'SERVICE', get: (s) => s.name},
        {header: 'KIND', get: (s) => s.kind},
        {header: 'SHAPE', get: (s) => s.shape},
        {header: 'ENV VARS', get: (s) => s.envVars.join(',')},
        {header: 'DESCRIPTION', get: (s) => s.description},
      ])
      for (const s of services.filter((x) => x.parameters.length > 0)) {
        this.out.line(`\n${this.out.bold(`${s.name} parameters`)} (--param KEY=VALUE)`)
        for (const p of s.parameters)
          this.out.line(`  ${p.name}: ${describeParameter(p)}${p.description ? `. ${p.description}` : ''}`)
      }
    })
  }
}
