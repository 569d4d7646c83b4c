// `npm run sandbox`: the proving ground for a person. Prints the lines that point kplat at
// it, then `sandbox ready`, and stays up until Ctrl-C or SIGTERM stops everything it started.
import * as path from 'node:path'
import {writeFileSync} from 'node:fs'
import * as k8s from '@kubernetes/client-node'
import {startGround} from '../test/ground/index.js'
import {
  ADMIN_CONTEXT,
  NO_TEAM_CONTEXT,
  RESTRICTED_CONTEXT,
  TEAM_B_CONTEXT,
  TWO_TEAMS_CONTEXT,
} from '../test/ground/cluster.js'

process.stderr.write('starting the proving ground (the first run builds its binaries)...\n')
const ground = await startGround({purpose: 'sandbox'})
// git sends the token to the sandbox's GitHub, as a credential helper does for github.com,
// so that a plain `git push` works in the shell that pastes these lines.
const gitAuth = {
  GIT_CONFIG_COUNT: '1',
  GIT_CONFIG_KEY_0: `http.${ground.github.web}/.extraheader`,
  GIT_CONFIG_VALUE_0: `Authorization: Basic ${Buffer.from(`x-access-token:${ground.env.GITHUB_TOKEN}`).toString('base64')}`,
}
// In the sandbox kplat registers apps in the ground's Backstage catalog, as on a platform that has one.
const backstage = {
  KPLAT_BACKSTAGE_URL: ground.env.KPLAT_GROUND_BACKSTAGE_URL,
  KPLAT_BACKSTAGE_TOKEN: ground.env.KPLAT_GROUND_BACKSTAGE_TOKEN,
}
// kplat runs as team-a's developer, with rights only in the team's namespace, as a developer
// of a company's platform does; the other users are contexts of the same kubeconfig. It is in
// the ground's folder, so that stopping the sandbox removes it.
const developer = new k8s.KubeConfig()
developer.loadFromFile(ground.env.KUBECONFIG)
developer.setCurrentContext(RESTRICTED_CONTEXT)
const kubeconfig = path.join(ground.env.KPLAT_GROUND_DIR, 'developer.kubeconfig')
writeFileSync(kubeconfig, developer.exportConfig(), {mode: 0o600})
for (const [key, value] of Object.entries({...ground.env, KUBECONFIG: kubeconfig, ...gitAuth, ...backstage}))
  process.stdout.write(`export ${key}='${value}'\n`)
process.stdout.write(
  `# started in ${(ground.startedInMs / 1000).toFixed(1)}s; process ids: ${ground.processes.pids().join(' ')}\n`,
)
process.stdout.write(
  `# you are team-a's developer (context ${RESTRICTED_CONTEXT}); switch with --context or \`kubectl config use-context\`: ${TEAM_B_CONTEXT} (team-b's developer), ${NO_TEAM_CONTEXT} (in no team), ${TWO_TEAMS_CONTEXT} (in both), ${ADMIN_CONTEXT} (the platform team)\n`,
)
process.stdout.write('sandbox ready\n')

let stopping = false
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, async () => {
    if (stopping) return
    stopping = true
    process.stderr.write(`\n${signal}: stopping the sandbox...\n`)
    await ground.stop()
    process.stderr.write('sandbox stopped\n')
    process.exit(0)
  })
}

// Stay up: a timer keeps the event loop alive until a signal ends it.
setInterval(() => {}, 1 << 30)
