// Regenerates docs/commands.md, the command reference, from the manifest (npm run docs);
// a test fails when the page and the commands disagree.
import {readFileSync, writeFileSync} from 'node:fs'
import * as path from 'node:path'
import {fileURLToPath} from 'node:url'
import {loadHelpSource, renderHelp} from '../src/lib/ui/help.js'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const START = '<!-- commands -->'
const END = '<!-- commandsstop -->'

export function commandReference(): string {
  const source = loadHelpSource(root)
  const own = source.commands.filter((c) => !c.id.startsWith('autocomplete'))
  const sections = own.map((c) => {
    const help = renderHelp(source, c.id.split(':'), 'PLATFORM')!
      .replace(/\n\nCOMMANDS\n[\s\S]*$/, '\n')
      .trimEnd()
    return `## \`${source.bin} ${c.id}\`\n\n\`\`\`\n${help}\n\`\`\``
  })
  return [START, ...sections, END].join('\n\n')
}

export function updatedReference(text: string): string {
  const start = text.indexOf(START)
  const end = text.indexOf(END)
  if (start === -1 || end === -1) throw new Error(`docs/commands.md lacks the ${START} ... ${END} markers`)
  return text.slice(0, start) + commandReference() + text.slice(end + END.length)
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const file = path.join(root, 'docs', 'commands.md')
  writeFileSync(file, updatedReference(readFileSync(file, 'utf8')))
}
