import {type Hook, toConfiguredId} from '@oclif/core'
import {createIO} from '../lib/ui/io.js'
import {EXIT} from '../lib/errors.js'

/**
 * `kplat nosuch` and `kplat --nope`: one plain line and an exit code a script can test, with
 * the closest command when there is one. (oclif's not-found plugin coloured the line whatever
 * CI or NO_COLOR said, called a flag a command, and prompted on a terminal.)
 */
const hook: Hook.CommandNotFound = async function ({id, config}) {
  const io = createIO({env: process.env})
  const label = io.stderr.isTTY && io.color ? '\u001B[31mError:\u001B[39m' : 'Error:'
  const typed = toConfiguredId(id, config)
  if (id.startsWith('-')) {
    io.stderr.write(
      `${label} ${typed} is not a flag of ${config.bin} itself; flags follow a command. \`${config.bin} help\` lists the commands, \`${config.bin} COMMAND --help\` their flags\n`,
    )
    process.exitCode = EXIT.usage
    return
  }

  const visible = config.commands.filter((c) => !c.hidden).flatMap((c) => [c.id, ...c.aliases])
  const closest = nearest(id, visible)
  const suggestion = closest ? ` Did you mean \`${config.bin} ${toConfiguredId(closest, config)}\`?` : ''
  io.stderr.write(
    `${label} ${typed} is not a ${config.bin} command.${suggestion} \`${config.bin} help\` lists the commands\n`,
  )
  // 127: what a shell answers for a command it cannot find.
  process.exitCode = 127
}

/** The command closest to what was typed, if it is close enough to be what was meant. */
function nearest(typed: string, ids: string[]): string | undefined {
  let best: {id: string; distance: number} | undefined
  for (const id of ids) {
    const distance = editDistance(typed, id)
    if (!best || distance < best.distance) best = {id, distance}
  }

  return best && best.distance <= Math.max(2, Math.floor(typed.length / 3)) ? best.id : undefined
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({length: b.length + 1}, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const row = [i]
    for (let j = 1; j <= b.length; j++)
      row[j] = Math.min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1))
    previous = row
  }

  return previous[b.length]
}

export default hook
