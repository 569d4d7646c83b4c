import * as path from 'node:path'
import {Args, Flags} from '@oclif/core'
import {KplatCommand} from '../lib/command.js'
import {jsonFlag, kubeContextFlag, teamFlag} from '../lib/flags.js'

export default class Create extends KplatCommand {
  static aliases = ['apps:create']
  static description =
    'create an app: a GitHub repository from a skeleton, its first CI run, its first deploy by Argo CD'
  static examples = [
    '<%= config.bin %> create myapp',
    '<%= config.bin %> create myapp --team payments',
    '<%= config.bin %> create myapp --owner acme --private --param description="Orders API"',
    '<%= config.bin %> create myapp --dry-run --json',
    '<%= config.bin %> create --template ./skeletons/node --no-clone',
  ]

  static args = {
    name: Args.string({
      description:
        'app name: a lowercase letter, then lowercase letters, digits and dashes, at most 30 (default: a generated one)',
    }),
  }

  static flags = {
    'dry-run': Flags.boolean({
      description: 'print the plan (files, Kubernetes objects, GitHub calls) and change nothing',
    }),
    'no-clone': Flags.boolean({description: 'do not clone the repository (or add a remote) when done'}),
    'no-wait': Flags.boolean({description: 'return once the repository and the Argo CD Application exist'}),
    owner: Flags.string({
      description: "GitHub user or organisation that owns the repository (default: the platform's, else you)",
      helpValue: 'OWNER',
    }),
    param: Flags.string({description: 'a template parameter, key=value', helpValue: 'KEY=VALUE', multiple: true}),
    private: Flags.boolean({description: 'make the repository private'}),
    template: Flags.string({
      description: 'the template to start from: a name `kplat templates` lists, or a folder with a template.yaml',
      default: 'node',
      helpValue: 'NAME|PATH',
    }),
    timeout: Flags.integer({
      description: 'seconds to wait for CI and for the deploy, each',
      default: 600,
      min: 1,
      max: 86_400,
      helpValue: 'SECONDS',
    }),
    ...teamFlag,
    ...jsonFlag,
    ...kubeContextFlag,
  }

  async run(): Promise<void> {
    const {args, flags} = await this.parse(Create)
    const {createApp} = await import('../lib/apps/create.js')
    const result = await createApp(this.ctx, {
      name: args.name,
      owner: flags.owner,
      private: flags.private,
      template: flags.template,
      params: flags.param ?? [],
      wait: !flags['no-wait'],
      clone: !flags['no-clone'],
      dryRun: flags['dry-run'],
      context: flags.context,
      team: flags.team,
      timeoutMs: flags.timeout * 1000,
    })
    this.render(flags.json, result, (r) => {
      const out = this.out
      if (r.dryRun) {
        out.line(`Plan for ${r.name} (nothing was changed):`)
        out.line(`  GitHub:     ${r.dryRun.github.join(', ')}`)
        out.line(
          `  Kubernetes: ${r.dryRun.kubernetes.map((k) => `${k.kind} ${k.namespace ? `${k.namespace}/` : ''}${k.name}`).join(', ')}`,
        )
        out.line(`  Files (${r.dryRun.files.length}): ${r.dryRun.files.join(' ')}`)
        return
      }

      out.line(`${out.bold(r.name)} is ${r.revision ? 'deployed' : 'created'}`)
      out.pairs([
        ...(r.team ? [['Team', r.team] as [string, string]] : []),
        ['Repository', r.repository],
        ['Web URL', r.url ?? '(no apps domain configured)'],
        ['Local', r.dir ?? '(not cloned)'],
        ...(r.catalog ? [['Catalog', r.catalog] as [string, string]] : []),
      ])
      const where = r.dir ? `cd ${path.relative(this.ctx.cwd, r.dir) || '.'} && ` : `git clone ${r.cloneUrl}, then `
      // Inside the clone the app is known from its catalog-info.yaml and remotes: no --app.
      const app = r.dir ? '' : ` --app ${r.name}`
      out.info(
        `\nNext: ${where}git push deploys a change; \`kplat open${app}\` opens it, \`kplat logs --tail${app}\` follows its logs, \`kplat ps${app}\` shows its processes`,
      )
    })
  }
}
