// The Crossplane stand-in as a process of its own:
//   node --import tsx test/ground/crossplane/main.ts --kubeconfig PATH [--ready-delay-ms N]
// Runs until SIGTERM or SIGINT, then stops its watches and exits 0. Logs go to stderr.
import {parseArgs} from 'node:util'
import * as k8s from '@kubernetes/client-node'
import {startCrossplane} from './controller.js'

const {values} = parseArgs({options: {
  kubeconfig: {type: 'string'},
  'ready-delay-ms': {type: 'string'},
}})

const log = (line: string) => process.stderr.write(`${new Date().toISOString()} crossplane: ${line}\n`)
const kubeconfig = values.kubeconfig ?? process.env.KUBECONFIG
if (!kubeconfig) {
  log('no kubeconfig: pass --kubeconfig PATH')
  process.exit(2)
}

const readyDelayMs = values['ready-delay-ms'] === undefined ? undefined : Number(values['ready-delay-ms'])
if (readyDelayMs !== undefined && !(readyDelayMs >= 0)) {
  log(`--ready-delay-ms must be a number of milliseconds, not ${values['ready-delay-ms']}`)
  process.exit(2)
}

const kc = new k8s.KubeConfig()
kc.loadFromFile(kubeconfig)
const crossplane = await startCrossplane(kc, {readyDelayMs, log})
log('ready')

let stopping = false
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) return
    stopping = true
    log(`${signal}: stopping`)
    const force = setTimeout(() => {
      log('could not stop within 5 s; exiting anyway')
      process.exit(0)
    }, 5000)
    void crossplane.stop().then(() => {
      clearTimeout(force)
      process.exit(0)
    }, (error: unknown) => {
      log(`stop failed: ${(error as Error).message}`)
      process.exit(1)
    })
  })
}

// Watches may sit between retries with no socket open; this keeps the process up until a signal.
setInterval(() => {}, 1 << 30)
