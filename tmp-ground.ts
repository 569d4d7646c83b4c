import {startGround} from './test/ground/index.js'
const g = await startGround()
console.log('up in', g.startedInMs, g.dir)
console.log(JSON.stringify(g.env))
await new Promise((r) => setTimeout(r, Number(process.env.HOLD ?? 5000)))
await g.stop(true)
console.log('stopped')
