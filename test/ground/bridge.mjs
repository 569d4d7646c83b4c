// One side of the bridge between the host's loopback and the ground's network namespace.
// Plain JavaScript, so that it starts in tens of milliseconds without a TypeScript loader.
//
//   node bridge.mjs DIR SIDE out=PORT,... in=PORT,...
//
// The two sides share only the folder DIR, where unix sockets (files, so visible from both
// namespaces) carry each connection across:
// - an "out" port is a server of the host that the namespace's processes dial: the host side
//   listens on DIR/out-PORT.sock and connects to 127.0.0.1:PORT; the namespace side listens on
//   its own 127.0.0.1:PORT and connects to that socket.
// - an "in" port is a server inside the namespace that the host dials: the reverse.
// Each side listens on loopback only, and writes DIR/SIDE.ready once every listener is up.
import {rmSync, writeFileSync} from 'node:fs'
import * as net from 'node:net'
import * as path from 'node:path'

const [dir, side, ...specs] = process.argv.slice(2)
const ports = (key) =>
  (specs.find((s) => s.startsWith(`${key}=`))?.slice(key.length + 1) ?? '').split(',').filter(Boolean).map(Number)
const socket = (kind, port) => path.join(dir, `${kind}-${port}.sock`)

function pipe(client, connectTo) {
  const upstream = net.connect(connectTo)
  client.pipe(upstream).pipe(client)
  const end = () => {
    client.destroy()
    upstream.destroy()
  }
  client.on('error', end)
  upstream.on('error', end)
  client.on('close', end)
  upstream.on('close', end)
}

function listen(at, connectTo) {
  if (typeof at === 'string') rmSync(at, {force: true})
  return new Promise((resolve, reject) => {
    const server = net.createServer({noDelay: true}, (client) => pipe(client, connectTo))
    server.once('error', reject)
    server.listen(at, resolve)
  })
}

const tcp = (port) => ({host: '127.0.0.1', port})
const listeners = []
for (const port of ports('out')) {
  listeners.push(
    side === 'host' ? listen(socket('out', port), tcp(port)) : listen(tcp(port), {path: socket('out', port)}),
  )
}
for (const port of ports('in')) {
  listeners.push(
    side === 'host' ? listen(tcp(port), {path: socket('in', port)}) : listen(socket('in', port), tcp(port)),
  )
}
await Promise.all(listeners)
writeFileSync(path.join(dir, `${side}.ready`), `${process.pid}\n`)
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => process.exit(0))
// With nothing to bridge, the namespace side still holds the namespace open for the others.
setInterval(() => {}, 1 << 30)
