import {existsSync, readFileSync} from 'node:fs'
import * as path from 'node:path'

/*
 * Help is rendered from oclif.manifest.json alone, without loading @oclif/core, so that
 * `kplat --help` starts nearly as fast as bare node. oclif's own help class delegates here
 * too (help-class.ts), so there is one renderer.
 */

interface ManifestFlag {
  name: string
  char?: string
  description?: string
  type: 'boolean' | 'option'
  helpValue?: string
  helpGroup?: string
  required?: boolean
  hidden?: boolean
  options?: string[]
  multiple?: boolean
  allowNo?: boolean
}

interface ManifestArg {
  name: string
  description?: string
  required?: boolean
}

interface ManifestCommand {
  id: string
  description?: string
  summary?: string
  examples?: Array<string | {command: string; description?: string}>
  flags: Record<string, ManifestFlag>
  args: Record<string, ManifestArg>
  aliases?: string[]
  hidden?: boolean
}

interface Manifest {
  commands: Record<string, ManifestCommand>
}

interface PackageJson {
  version: string
  description?: string
  oclif: {bin: string; plugins?: string[]; topics?: Record<string, {description: string}>}
}

export interface HelpSource {
  bin: string
  version: string
  description?: string
  commands: ManifestCommand[]
  topics: Record<string, {description: string}>
}

/** Reads the package's manifest and its plugins' manifests. */
export function loadHelpSource(root: string): HelpSource {
  const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as PackageJson
  const manifests = [path.join(root, 'oclif.manifest.json')]
  for (const plugin of pkg.oclif.plugins ?? []) {
    const dir = packageDir(root, plugin)
    if (dir) manifests.push(path.join(dir, 'oclif.manifest.json'))
  }

  const commands: ManifestCommand[] = []
  for (const file of manifests) {
    const manifest = JSON.parse(readFileSync(file, 'utf8')) as Manifest
    for (const command of Object.values(manifest.commands)) if (!command.hidden) commands.push(command)
  }

  commands.sort((a, b) => a.id.localeCompare(b.id))
  return {
    bin: pkg.oclif.bin,
    version: pkg.version,
    description: pkg.description,
    commands,
    topics: pkg.oclif.topics ?? {},
  }
}

// Node's lookup through node_modules folders; require.resolve refuses packages whose
// "exports" hide package.json.
function packageDir(from: string, name: string): string | undefined {
  for (let dir = from; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'node_modules', name)
    if (existsSync(path.join(candidate, 'oclif.manifest.json'))) return candidate
    if (path.dirname(dir) === dir) return undefined
  }
}

/** Which help argv asks for: undefined when it is not a help request. */
export function helpTarget(argv: string[]): string[] | undefined {
  if (argv.length === 0) return []
  if (argv[0] === 'help') return argv.slice(1)
  const end = argv.indexOf('--')
  const before = end === -1 ? argv : argv.slice(0, end)
  if (!before.includes('--help') && !before.includes('-h')) return undefined
  return before.filter((a) => !a.startsWith('-'))
}

/** The help text for argv's target, or undefined when no command or topic has that name. */
export function renderHelp(
  source: HelpSource,
  target: string[],
  platform = `${process.platform}-${process.arch} node-${process.version}`,
): string | undefined {
  const id = target.join(':')
  if (id === '') return rootHelp(source, platform)
  const command = source.commands.find((c) => c.id === id || c.aliases?.includes(id))
  const children = directChildren(source, id)
  if (!command && children.length === 0) return undefined
  const parts: string[] = []
  if (command) parts.push(commandHelp(source, command))
  else parts.push(source.topics[id]?.description ?? '', section('USAGE', [`$ ${source.bin} ${id}:COMMAND`]))
  if (children.length > 0)
    parts.push(section('COMMANDS', table(children.map((c) => [`${source.bin} ${c.id}`, firstLine(c)]))))
  return parts.filter(Boolean).join('\n\n') + '\n'
}

function rootHelp(source: HelpSource, platform: string): string {
  const topics = new Map<string, string>()
  for (const c of source.commands) {
    if (!c.id.includes(':')) continue
    const topic = c.id.split(':')[0]
    if (!topics.has(topic)) topics.set(topic, source.topics[topic]?.description ?? '')
  }

  const commands = source.commands.filter((c) => !c.id.includes(':'))
  return (
    [
      source.description ?? '',
      section('VERSION', [`${source.bin}/${source.version} ${platform}`]),
      section('USAGE', [`$ ${source.bin} [COMMAND]`]),
      section('TOPICS', table([...topics].map(([t, d]) => [t, d || topicFallback(source, t)]))),
      section('COMMANDS', table(commands.map((c) => [c.id, firstLine(c)]))),
    ]
      .filter(Boolean)
      .join('\n\n') + '\n'
  )
}

function commandHelp(source: HelpSource, command: ManifestCommand): string {
  const flags = Object.values(command.flags).filter((f) => !f.hidden)
  const local = flags.filter((f) => f.helpGroup !== 'GLOBAL')
  const global = flags.filter((f) => f.helpGroup === 'GLOBAL')
  const args = Object.values(command.args ?? {})
  const usage = [
    `$ ${source.bin} ${command.id}`,
    ...args.map((a) => (a.required ? a.name.toUpperCase() : `[${a.name.toUpperCase()}]`)),
    ...local.map((f) => `[${flagUsage(f)}]`),
  ].join(' ')
  const examples = (command.examples ?? [])
    .map((e) => (typeof e === 'string' ? e : e.command))
    .map((e) => `$ ${e.replaceAll('<%= config.bin %>', source.bin).replaceAll('<%= command.id %>', command.id)}`)
  return [
    command.description ?? command.summary ?? '',
    section('USAGE', [usage]),
    args.length > 0 ? section('ARGUMENTS', table(args.map((a) => [a.name.toUpperCase(), a.description ?? '']))) : '',
    local.length > 0 ? section('FLAGS', table(local.map((f) => [flagLabel(f), flagDescription(f)]))) : '',
    global.length > 0 ? section('GLOBAL FLAGS', table(global.map((f) => [flagLabel(f), flagDescription(f)]))) : '',
    command.aliases?.length
      ? section(
          'ALIASES',
          command.aliases.map((a) => `$ ${source.bin} ${a}`),
        )
      : '',
    examples.length > 0 ? section('EXAMPLES', examples) : '',
  ]
    .filter(Boolean)
    .join('\n\n')
}

function directChildren(source: HelpSource, id: string): ManifestCommand[] {
  const depth = id.split(':').length + 1
  return source.commands.filter((c) => c.id.startsWith(`${id}:`) && c.id.split(':').length === depth)
}

function topicFallback(source: HelpSource, topic: string): string {
  const index = source.commands.find((c) => c.id === topic)
  return index ? firstLine(index) : `${topic} commands`
}

function firstLine(command: ManifestCommand): string {
  return (command.summary ?? command.description ?? '').split('\n')[0]
}

function flagUsage(f: ManifestFlag): string {
  const name = f.char ? `-${f.char}` : `--${f.name}`
  return f.type === 'option' ? `${name} ${f.helpValue ?? f.name.toUpperCase()}` : name
}

function flagLabel(f: ManifestFlag): string {
  const long =
    f.type === 'option' ? `--${f.name}=${f.helpValue ?? f.options?.join('|') ?? f.name.toUpperCase()}` : `--${f.name}`
  return f.char ? `-${f.char}, ${long}` : `    ${long}`
}

function flagDescription(f: ManifestFlag): string {
  return [f.description ?? '', f.required ? '(required)' : '', f.multiple ? '(can be repeated)' : '']
    .filter(Boolean)
    .join(' ')
}

function section(title: string, lines: string[]): string {
  return lines.length === 0 ? '' : [title, ...lines.map((l) => `  ${l}`)].join('\n')
}

function table(rows: string[][]): string[] {
  const width = Math.max(0, ...rows.map((r) => r[0].length))
  return rows.map(([a, b]) => (b ? `${a.padEnd(width)}  ${b}` : a))
}
