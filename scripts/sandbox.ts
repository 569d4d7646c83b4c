// `npm run sandbox`: the proving ground for a person. Prints the lines that point kplat at
// it, then `sandbox ready`, and stays up until Ctrl-C or SIGTERM stops everything it started.
import {startGround} from '../test/ground/index.js'

process.stderr.write('starting the proving ground (the first run builds its binaries)...\n')
const ground = await startGround()
for (const [key, value] of Object.entries(ground.env)) process.stdout.write(`export ${key}='${value}'\n`)
process.stdout.write(`# started in ${(ground.startedInMs / 1000).toFixed(1)}s; process ids: ${ground.processes.pids().join(' ')}\n`)
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
