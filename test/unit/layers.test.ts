// The layers, as imports: commands render and call the model; the model knows no screen; each
// port stands alone. A new import that breaks a rule fails here, naming the file and the import.
import assert from 'node:assert/strict'
import {readdirSync, readFileSync} from 'node:fs'
import * as path from 'node:path'
import {describe, it} from 'node:test'

const SRC = path.resolve(import.meta.dirname, '../../src')
const PORTS = ['github', 'kube', 'git', 'skeleton']
/** Model primitives that any layer may use: they hold no screen and no capability. */
const PRIMITIVES = ['errors', 'progress', 'ask', 'redact', 'debug', 'cache', 'timeouts'].map((p) => `lib/${p}.ts`)

function files(dir: string): string[] {
  return readdirSync(dir, {withFileTypes: true}).flatMap((e) =>
    e.isDirectory() ? files(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : [],
  )
}

/** Every import of a file, static or dynamic, as a path relative to src/ (or the package name). */
function imports(file: string): string[] {
  const text = readFileSync(file, 'utf8')
  return [...text.matchAll(/(?:from|import\()\s*'([^']+)'/g)].map(([, spec]) =>
    spec.startsWith('.') ? path.relative(SRC, path.resolve(path.dirname(file), spec)).replace(/\.js$/, '.ts') : spec,
  )
}

const all = files(SRC).map((f) => ({file: path.relative(SRC, f), imports: imports(f)}))
const layer = (file: string) => {
  const [top, second] = file.split(path.sep)
  if (top !== 'lib') return top
  if (file === 'lib/command.ts' || file === 'lib/flags.ts') return 'command'
  if (second === 'ui') return 'ui'
  if (PORTS.includes(second)) return `port:${second}`
  return 'model'
}

function broken(rule: (from: string, to: string) => boolean): string[] {
  return all.flatMap(({file, imports}) =>
    imports
      .filter((to) => (!to.startsWith('lib/') && !to.startsWith('commands/') ? false : rule(file, to)))
      .map((to) => `${file} -> ${to}`),
  )
}

describe('the layers, read from the imports', () => {
  it('the model and the ports import nothing of ui/ (0 model -> ui arrows)', () => {
    assert.deepEqual(
      broken(
        (from, to) =>
          ['model', 'port:github', 'port:kube', 'port:git', 'port:skeleton'].includes(layer(from)) &&
          layer(to) === 'ui',
      ),
      [],
    )
  })

  it("ui/ is a leaf: it uses only itself and the model's primitives", () => {
    assert.deepEqual(
      broken((from, to) => layer(from) === 'ui' && layer(to) !== 'ui' && !PRIMITIVES.includes(to)),
      [],
    )
  })

  it('each port stands alone: no port imports another port or the model', () => {
    assert.deepEqual(
      broken((from, to) => layer(from).startsWith('port:') && layer(to) !== layer(from) && !PRIMITIVES.includes(to)),
      [],
    )
  })

  it('commands reach the ports only through the model', () => {
    assert.deepEqual(
      broken((from, to) => layer(from) === 'commands' && layer(to).startsWith('port:')),
      [],
    )
  })

  it('nothing imports up: the model never imports a command or the command layer', () => {
    assert.deepEqual(
      broken((from, to) => layer(from) === 'model' && (layer(to) === 'commands' || layer(to) === 'command')),
      [],
    )
  })

  it('@kubernetes/client-node is imported only through kube/k8s.ts (bundled at build time)', () => {
    const users = all
      .filter(({imports}) => imports.some((i) => i.startsWith('@kubernetes/client-node')))
      .map(({file}) => file)
    assert.deepEqual(users, ['lib/kube/k8s.ts'])
  })

  it('the rules see the tree: every layer has files, and the model imports its primitives', () => {
    const layers = new Set(all.map(({file}) => layer(file)))
    for (const l of ['commands', 'command', 'ui', 'model', ...PORTS.map((p) => `port:${p}`)])
      assert.ok(layers.has(l), l)
    assert.ok(all.some(({file, imports}) => layer(file) === 'model' && imports.includes('lib/errors.ts')))
  })
})
