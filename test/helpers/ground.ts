import * as k8s from '@kubernetes/client-node'
import {ADMIN_CONTEXT, RESTRICTED_CONTEXT} from '../ground/cluster.js'
import {startGround, type Ground} from '../ground/index.js'

export interface TestGround {
  kubeconfig: string
  logsFile: string
  admin(): k8s.KubeConfig
  restricted(): k8s.KubeConfig
}

let own: Promise<Ground> | undefined

/**
 * The ground of this test run: the one scripts/test.ts started (described by the
 * environment), or, when a file is run on its own, one started for this process.
 */
export async function ground(): Promise<TestGround> {
  let kubeconfig = process.env.KUBECONFIG
  let logsFile = process.env.KPLAT_GROUND_LOGS_FILE
  if (!kubeconfig || !logsFile) {
    own ??= startGround().then((g) => {
      process.once('beforeExit', () => void g.stop())
      return g
    })
    const g = await own
    kubeconfig = g.cluster.kubeconfig
    logsFile = g.cluster.logsFile
  }

  const load = (context: string) => {
    const kc = new k8s.KubeConfig()
    kc.loadFromFile(kubeconfig!)
    kc.setCurrentContext(context)
    return kc
  }

  return {kubeconfig, logsFile, admin: () => load(ADMIN_CONTEXT), restricted: () => load(RESTRICTED_CONTEXT)}
}

/** A namespace name no other test uses. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${Math.floor(Math.random() * 1e4)}`
}
