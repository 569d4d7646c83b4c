import {Args, Flags} from '@oclif/core'
import {KplatCommand} from '../lib/command.js'
import {appFlag, kubeContextFlag} from '../lib/flags.js'

export default class Open extends KplatCommand {
  static description = `open the app in a browser

The URL comes from the app's Ingress, Argo CD, or a LoadBalancer Service. When the app has none that answers (no DNS record yet, as in the sandbox), kplat forwards a local port to the app through the API server and stays up until Ctrl-C. With --url, without a terminal, or without a browser, the URL is the first line of stdout.`

  static examples = [
    '<%= config.bin %> open --app myapp',
    '<%= config.bin %> open /admin',
    '<%= config.bin %> open --url      # prints the URL as the first line of stdout',
  ]
  static args = {
    path: Args.string({description: 'a path on the app, such as /admin'}),
  }

  static flags = {
    url: Flags.boolean({description: 'print the URL instead of opening a browser'}),
    ...appFlag,
    ...kubeContextFlag,
  }

  async run(): Promise<void> {
    const {args, flags} = await this.parse(Open)
    const {appUrl} = await import('../lib/open/open.js')
    const target = await this.target(flags)
    const out = this.out
    const found = await appUrl(target, args.path ?? '', {
      onForwardError: (error) => out.warn(`a forwarded connection failed: ${error.message}`),
    })
    if (found.fallback) out.info(`${found.fallback}; forwarding a local port to it instead`)
    const opened = !flags.url && this.io.interactive && (await this.browse(found.url))
    if (!opened) out.line(found.url)
    if (!found.forward) return

    out.info(
      `Forwarding 127.0.0.1:${found.forward.port} to service ${found.forward.service} port ${found.forward.servicePort} of ${target.name}; Ctrl-C to stop`,
    )
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve)
      process.once('SIGTERM', resolve)
    })
    await found.forward.close()
  }

  /** Opens the URL in $BROWSER, else the system's browser; false when there is none. */
  private async browse(url: string): Promise<boolean> {
    const browser = this.ctx.env.BROWSER
    try {
      if (browser) {
        const {spawn} = await import('node:child_process')
        const [command, ...rest] = browser.split(' ').filter(Boolean)
        const child = spawn(command, [...rest, url], {stdio: 'ignore', detached: true, env: this.ctx.env})
        await new Promise<void>((resolve, reject) => {
          child.once('spawn', resolve)
          child.once('error', reject)
        })
        child.unref()
      } else {
        // A Linux session without a display has no browser to open (an SSH shell, a container).
        if (process.platform === 'linux' && !this.ctx.env.DISPLAY && !this.ctx.env.WAYLAND_DISPLAY) return false
        const {default: open} = await import('open')
        await open(url)
      }

      this.out.info(`Opening ${url} in your browser`)
      return true
    } catch (error) {
      this.out.warn(`could not open a browser (${(error as Error).message})`)
      return false
    }
  }
}
