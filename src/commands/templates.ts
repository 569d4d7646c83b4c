import {KplatCommand} from '../lib/command.js'
import {jsonFlag, kubeContextFlag} from '../lib/flags.js'

export default class Templates extends KplatCommand {
  static description = `list the golden paths on offer: the templates kplat ships and those your platform team publishes

Each is a Backstage Software Template; \`kplat create --template NAME\` starts an app from it. The platform's come from the templates setting (a folder or a git repository of templates). Without a cluster, the shipped ones and KPLAT_TEMPLATES are listed.`

  static examples = ['<%= config.bin %> templates', '<%= config.bin %> templates --json']
  static flags = {...jsonFlag, ...kubeContextFlag}

  async run(): Promise<void> {
    const {flags} = await this.parse(Templates)
    const [{loadSettings}, {listTemplates}] = await Promise.all([
      import('../lib/shared/settings.js'),
      import('../lib/templates/templates.js'),
    ])
    // Shipped templates need no cluster: without one (unless --context names it), the environment's settings do.
    const settings = flags.context
      ? await loadSettings(await this.ctx.kube(flags.context), this.ctx.env)
      : await this.ctx
          .kube()
          .then((kube) => loadSettings(kube, this.ctx.env))
          .catch(() => loadSettings(undefined, this.ctx.env))
    const templates = await listTemplates(this.ctx, settings)
    this.render(flags.json, templates, (list) => {
      const out = this.out
      out.table(list, [
        {header: 'NAME', get: (t) => t.name},
        {header: 'TITLE', get: (t) => t.title},
        {header: 'SOURCE', get: (t) => t.source},
        {header: 'PARAMETERS', get: (t) => t.parameters.map((p) => `${p.name}${p.required ? '' : '?'}`).join(' ')},
      ])
      out.info(
        '\nStart an app from one: `kplat create NAME --template TEMPLATE` (a parameter with ? is optional; pass any with --param KEY=VALUE)',
      )
    })
  }
}
