// The ground's GitHub as its own process, so the harness stops it by process id:
//   node --import tsx test/ground/github/main.ts --dir DIR [--port N]
// Prints one JSON line with its URLs and admin secret, then serves until SIGTERM/SIGINT.
import {randomBytes} from 'node:crypto'
import {parseArgs} from 'node:util'
import {GitHubServer} from './server.js'

const {values} = parseArgs({options: {dir: {type: 'string'}, port: {type: 'string', default: '0'}}})
if (!values.dir) throw new Error('--dir is required')
const server = new GitHubServer(values.dir, randomBytes(16).toString('hex'))
const port = await server.listen(Number(values.port))
process.stdout.write(
  JSON.stringify({port, api: server.urls.api, web: server.urls.web, admin: server.adminSecret}) + '\n',
)

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, async () => {
    await server.close()
    process.exit(0)
  })
}
