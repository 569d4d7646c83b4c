// The ground's Argo CD as its own process, so that the harness stops it by process id:
//   node --import tsx test/ground/argocd/main.ts --kubeconfig PATH --helm PATH --work-dir DIR
//     [--namespace argocd] [--poll-ms 3000] [--tracking annotation|label|annotation+label]
//     [--persist-resource-health] [--ingress-address 127.0.0.1|none] [--webhook-port PORT]
// Logs to stderr (never a secret); runs until SIGTERM or SIGINT, then stops and exits 0.
import {parseArgs} from 'node:util'
import type {ArgoCd, TrackingMethod} from './controller.js'

// Signal handlers come before the heavy imports, so that a signal during start-up still ends
// in a clean stop and exit 0.
let starting: Promise<ArgoCd | undefined> = Promise.resolve(undefined)
let stopping = false
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, async () => {
    if (stopping) return
    stopping = true
    await (await starting.catch(() => undefined))?.stop()
    process.exit(0)
  })
}

const {values} = parseArgs({options: {
  kubeconfig: {type: 'string'},
  helm: {type: 'string'},
  'work-dir': {type: 'string'},
  namespace: {type: 'string', default: 'argocd'},
  'poll-ms': {type: 'string', default: '3000'},
  tracking: {type: 'string', default: 'annotation+label'},
  'persist-resource-health': {type: 'boolean', default: false},
  'ingress-address': {type: 'string', default: '127.0.0.1'},
  'webhook-port': {type: 'string'},
}})

for (const flag of ['kubeconfig', 'helm', 'work-dir'] as const) {
  if (!values[flag]) {
    process.stderr.write(`--${flag} is required\n`)
    process.exit(2)
  }
}

if (!['annotation', 'label', 'annotation+label'].includes(values.tracking!)) {
  process.stderr.write('--tracking must be annotation, label or annotation+label\n')
  process.exit(2)
}

starting = (async () => {
  const [{KubeConfig}, {startArgoCd}] = await Promise.all([import('@kubernetes/client-node'), import('./controller.js')])
  if (stopping) return undefined
  const kc = new KubeConfig()
  kc.loadFromFile(values.kubeconfig!)
  return startArgoCd(kc, {
    helm: values.helm!,
    workDir: values['work-dir']!,
    namespace: values.namespace,
    pollMs: Number(values['poll-ms']),
    tracking: values.tracking as TrackingMethod,
    persistResourceHealth: values['persist-resource-health'],
    ingressAddress: values['ingress-address'] === 'none' ? false : values['ingress-address'],
    webhookPort: values['webhook-port'] === undefined ? undefined : Number(values['webhook-port']),
  })
})()

try {
  await starting
} catch (error) {
  process.stderr.write(`[argocd] could not start: ${error instanceof Error ? error.message : String(error)}\n`)
  process.exit(1)
}
