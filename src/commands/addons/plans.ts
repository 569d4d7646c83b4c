import {Args} from '@oclif/core'
import {KplatCommand} from '../../lib/command.js'
import {jsonFlag, kubeContextFlag} from '../../lib/flags.js'

export default class AddonsPlans extends KplatCommand {
  static description = 'list the plans of an add-on service: the Compositions that can back it, the default marked'
  static examples = ['<%= config.bin %> addons:plans gcs-bucket', '<%= config.bin %> addons:plans postgres --json']
  static args = {
    service: Args.string({description: 'the service, as `kplat addons:services` names it', required: true}),
  }

  static flags = {...jsonFlag, ...kubeContextFlag}

  async run(): Promise<void> {
    const {args, flags} = await this.parse(AddonsPlans)
    const {listPlans} = await import('../../lib/addons/services.js')
    const {service, plans} = await listPlans(await this.ctx.kube(flags.context), args.service)
    this.render(flags.json, plans, () => {
      if (plans.length === 0) {
        this.out.info(
          `${service.name} has no plans: no Composition composes ${service.kind} yet. Ask your platform team.`,
        )
        return
      }

      this.out.table(plans, [
        {header: 'PLAN', get: (p) => `${service.name}:${p.name}`},
        {header: 'DEFAULT', get: (p) => (p.default ? 'yes' : '')},
        {header: 'PROVIDER', get: (p) => p.provider ?? ''},
        {header: 'COMPOSITION', get: (p) => p.composition},
      ])
    })
  }
}
