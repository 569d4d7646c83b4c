import {execFile} from 'node:child_process'
import {createHash} from 'node:crypto'
import {copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync} from 'node:fs'
import * as path from 'node:path'
import {cacheRoot} from '../../src/lib/cache.js'

/**
 * A folder of npm packages the ground needs (not kplat's own dependencies), installed from a
 * pinned lockfile into kplat's cache, once per lockfile: what a later run finds is reused.
 */
export async function provideNpmFolder(name: string, source: string, files: string[]): Promise<string> {
  const hash = createHash('sha256')
  for (const file of files) hash.update(readFileSync(path.join(source, file)))
  const cache = path.join(cacheRoot(process.env), `${name}-${hash.digest('hex').slice(0, 12)}`)
  if (existsSync(path.join(cache, '.ready'))) return cache
  const partial = `${cache}.${process.pid}`
  rmSync(partial, {recursive: true, force: true})
  mkdirSync(partial, {recursive: true})
  for (const file of files) copyFileSync(path.join(source, file), path.join(partial, file))
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    npm_config_audit: 'false',
    npm_config_fund: 'false',
    npm_config_update_notifier: 'false',
  }
  // node-gyp would download the headers; the machine's own are used instead.
  for (const dir of ['/usr', '/usr/local'])
    if (existsSync(path.join(dir, 'include', 'node', 'node.h'))) env.npm_config_nodedir ??= dir
  // A first run only, but minutes long: said as it starts and as it ends.
  const began = performance.now()
  process.stderr.write(
    `ground: installing the npm packages of ${name} into kplat's cache (first run only: about 4 minutes)\n`,
  )
  await new Promise<void>((resolve, reject) => {
    execFile(
      'npm',
      ['ci', '--no-audit', '--no-fund', '--loglevel=error'],
      {cwd: partial, env, maxBuffer: 64 << 20},
      (error, _stdout, stderr) => {
        if (error) reject(new Error(`installing the ground's ${name} failed: ${String(stderr).slice(-4000)}`))
        else resolve()
      },
    )
  })
  process.stderr.write(`ground: installed ${name} in ${Math.round((performance.now() - began) / 1000)} s\n`)
  writeFileSync(path.join(partial, '.ready'), new Date().toISOString())
  if (existsSync(path.join(cache, '.ready'))) rmSync(partial, {recursive: true, force: true})
  else {
    rmSync(cache, {recursive: true, force: true})
    renameSync(partial, cache)
  }

  return cache
}
