#!/usr/bin/env node
// Startup is a feature: --version and help are answered from package.json and the
// manifest without loading oclif; everything else goes through oclif.
import {readFileSync} from 'node:fs'
import {fileURLToPath} from 'node:url'

const argv = process.argv.slice(2)
const root = fileURLToPath(new URL('..', import.meta.url))

// KPLAT_DEBUG: the CPU time kplat itself spent, the part of a command's time that is ours
// whatever the servers it talks to are doing (bench/create.ts reports it). Nothing more is
// loaded at start-up unless the variable is there at all.
if (process.env.KPLAT_DEBUG && (await import('../dist/lib/debug.js')).debugEnabled(process.env)) {
  process.once('exit', () => {
    const {user, system} = process.cpuUsage()
    process.stderr.write(
      `[debug] cpu ${((user + system) / 1e6).toFixed(2)}s (user ${(user / 1e6).toFixed(2)}s, system ${(system / 1e6).toFixed(2)}s)\n`,
    )
  })
}

if (argv.length === 1 && (argv[0] === '--version' || argv[0] === '-v' || argv[0] === 'version')) {
  const {version} = JSON.parse(readFileSync(`${root}/package.json`, 'utf8'))
  process.stdout.write(`kplat/${version} ${process.platform}-${process.arch} node-${process.version}\n`)
} else if (!(await fastHelp())) {
  const {execute} = await import('@oclif/core')
  await execute({dir: import.meta.url})
}

async function fastHelp() {
  const {helpTarget, loadHelpSource, renderHelp} = await import('../dist/lib/ui/help.js')
  const target = helpTarget(argv)
  if (!target) return false
  const text = renderHelp(
    loadHelpSource(root),
    target.flatMap((a) => a.split(':')),
  )
  if (text === undefined) return false
  process.stdout.write(text)
  return true
}
