// The worker process: background work, outside any HTTP request. It runs 0 processes until
// `kplat ps:scale worker=1`.
const every = Number(process.env.WORKER_INTERVAL_SECONDS ?? 60) * 1000

function tick() {
  console.log(`${{ values.name }} worker: nothing to do yet (${new Date().toISOString()})`)
}

tick()
const timer = setInterval(tick, every)
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => { clearInterval(timer); process.exit(0) })
