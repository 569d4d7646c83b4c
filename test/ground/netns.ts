import {execFile} from 'node:child_process'
import {existsSync, mkdirSync} from 'node:fs'
import * as path from 'node:path'
import {fileURLToPath} from 'node:url'
import type {ProcessGroup, Started} from './processes.js'
import {waitFor} from './processes.js'

const BRIDGE = fileURLToPath(new URL('bridge.mjs', import.meta.url))

/**
 * A network namespace of the ground's own, holding only a loopback interface.
 *
 * The real controllers open listeners that no flag moves off the wildcard address (Crossplane
 * core's metrics and health ports, provider-nop's metrics, Argo CD's controller metrics) on
 * fixed ports. Inside this namespace those listeners reach nothing beyond it, and a second
 * ground (the sandbox beside a test run) has a namespace of its own, so nothing clashes.
 * The host's servers the controllers dial (the API server, GitHub) are bridged in on the
 * same port numbers, so a URL means the same thing on both sides; servers inside that the
 * host dials (Argo CD's webhook) are bridged out the same way.
 */
export interface Netns {
  /** The bridge process whose namespace the others join. */
  pid: number
  /** Starts a process inside the namespace; it keeps its pid (nsenter execs it). */
  start(name: string, command: string, args: string[], env?: NodeJS.ProcessEnv, cwd?: string): Started
  /** Whether something listens on this port of the namespace's loopback. */
  listening(port: number): Promise<true | undefined>
}

export async function startNetns(
  processes: ProcessGroup,
  dir: string,
  ports: {out: number[]; in: number[]},
): Promise<Netns> {
  const bridgeDir = path.join(dir, 'bridge')
  mkdirSync(bridgeDir, {recursive: true})
  const spec = [`out=${ports.out.join(',')}`, `in=${ports.in.join(',')}`]
  // unshare and sh exec in turn, so the pid the group holds is the bridge's own.
  const inside = processes.start('netns-bridge', 'unshare', [
    '--net',
    '--',
    'sh',
    '-c',
    'ip link set lo up && exec "$0" "$@"',
    process.execPath,
    BRIDGE,
    bridgeDir,
    'netns',
    ...spec,
  ])
  processes.start('host-bridge', process.execPath, [BRIDGE, bridgeDir, 'host', ...spec])
  const died = () => {
    const gone = processes.started.find((p) => p.child.exitCode !== null)
    return gone && `${gone.name} exited (${gone.child.exitCode}); see ${processes.logDir}/${gone.name}.log`
  }
  await waitFor(
    "the ground's network namespace",
    async () =>
      existsSync(path.join(bridgeDir, 'netns.ready')) && existsSync(path.join(bridgeDir, 'host.ready'))
        ? true
        : undefined,
    15_000,
    died,
  )
  return {
    pid: inside.pid,
    start: (name, command, args, env, cwd) =>
      processes.start(name, 'nsenter', [`--net=/proc/${inside.pid}/ns/net`, '--', command, ...args], env, cwd),
    listening: (port) =>
      new Promise((resolve) => {
        execFile(
          'nsenter',
          [`--net=/proc/${inside.pid}/ns/net`, '--', 'bash', '-c', `exec 3<>/dev/tcp/127.0.0.1/${port}`],
          (error) => resolve(error ? undefined : true),
        )
      }),
  }
}
