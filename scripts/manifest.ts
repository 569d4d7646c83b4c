// Writes oclif.manifest.json from the built commands (what `oclif manifest` does, without
// pulling the whole oclif packaging tool into devDependencies).
import {writeFileSync} from 'node:fs'
import {fileURLToPath} from 'node:url'
import {Plugin} from '@oclif/core'

const root = fileURLToPath(new URL('..', import.meta.url))

export async function buildManifest(): Promise<string> {
  const plugin = new Plugin({root, type: 'core', ignoreManifest: true, errorOnManifestCreate: true, isRoot: true})
  await plugin.load()
  // oclif loads commands concurrently; sorting keeps the file stable from build to build.
  const commands = Object.fromEntries(Object.entries(plugin.manifest.commands).sort(([a], [b]) => a.localeCompare(b)))
  return JSON.stringify({...plugin.manifest, commands}, null, 2) + '\n'
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  writeFileSync(`${root}/oclif.manifest.json`, await buildManifest())
}
