import {Flags} from '@oclif/core'
import {KplatCommand} from '../../lib/command.js'
import {appFlag, jsonFlag, kubeContextFlag} from '../../lib/flags.js'

export default class Addons extends KplatCommand {
  static description = "list an app's add-ons (or every app's): state, env vars, and who made them"
  static examples = [
    '<%= config.bin %> addons --app myapp',
    '<%= config.bin %> addons --all',
    '<%= config.bin %> addons --app myapp --json',
  ]
  static flags = {
    all: Flags.boolean({description: 'the add-ons of every app you can see', exclusive: ['app']}),
    ...appFlag,
    ...jsonFlag,
    ...kubeContextFlag,
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(Addons)
    const {listAddons} = await import('../../lib/addons/instances.js')
    const target = flags.all ? undefined : await this.target(flags)
    const app = target?.name
    const addons = target
      ? await listAddons(target, {app: target.name, namespace: target.namespace, application: target.application})
      : await listAddons(await this.platform(flags))
    this.render(flags.json, addons, () => {
      if (addons.length === 0) {
        this.out.info(
          `No add-ons${app ? ` for ${app}` : ''} yet. \`kplat addons:services\` lists what you can add, \`kplat addons:create SERVICE --app APP\` adds one.`,
        )
        return
      }

      this.out.table(addons, [
        ...(app ? [] : [{header: 'APP', get: (a: (typeof addons)[number]) => a.app}]),
        {header: 'NAME', get: (a) => a.name},
        {header: 'SERVICE', get: (a) => `${a.service}${a.plan ? `:${a.plan}` : ''}`},
        {header: 'STATE', get: (a) => (a.message ? `${a.state}: ${a.message}` : a.state)},
        {header: 'ENV VARS', get: (a) => a.envVars.join(',') || '(not bound)'},
        {header: 'BY', get: (a) => a.origin},
      ])
    })
  }
}
