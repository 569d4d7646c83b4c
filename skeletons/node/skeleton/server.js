import {createServer} from 'node:http'

const port = Number(process.env.PORT ?? ${{ values.port }})

// Add-on credentials arrive as environment variables; list their names, never their values.
const server = createServer((req, res) => {
  if (req.url === '/healthz') {
    res.writeHead(200, {'content-type': 'text/plain'})
    res.end('ok\n')
    return
  }

  res.writeHead(200, {'content-type': 'application/json'})
  res.end(JSON.stringify({app: '${{ values.name }}', version: process.env.APP_VERSION ?? 'dev'}) + '\n')
})

server.listen(port, () => console.log(`${{ values.name }} listening on ${port}`))
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => server.close(() => process.exit(0)))
