// What rendering templates in an isolate costs: the shipped node template (its steps and its
// skeleton, as `create` renders them) through kplat's runTemplate, side by side with the same
// Nunjucks in kplat's own process, the way kplat rendered before the isolate. No ground:
// rendering touches no server.
//
//   npm run bench:templates
import {readdir, readFile} from 'node:fs/promises'
import * as path from 'node:path'
import nunjucks from 'nunjucks'
import {runTemplate} from '../src/lib/skeleton/render.js'
import {loadTemplate} from '../src/lib/skeleton/template.js'
import {median} from './harness.js'

const ROOT = path.resolve(import.meta.dirname, '..')
const ROUNDS = 7
const parameters = {name: 'bench-app', owner: 'group:default/payments', description: 'a bench app'}
const repo = {host: 'github.example.com', owner: 'acme', name: 'bench-app'}

async function files(dir: string): Promise<string[]> {
  const out: string[] = []
  for (const entry of await readdir(dir, {withFileTypes: true})) {
    const full = path.join(dir, entry.name)
    if (entry.isDirectory()) out.push(...(await files(full)))
    else out.push(full)
  }

  return out
}

async function inIsolate(): Promise<number> {
  const started = performance.now()
  const template = await loadTemplate(path.join(ROOT, 'skeletons', 'node'))
  await runTemplate(template, parameters, repo)
  return performance.now() - started
}

/** The skeleton's paths and text through a plain Nunjucks environment, as before. */
async function inProcess(texts: Array<[string, string]>): Promise<number> {
  const started = performance.now()
  const env = new nunjucks.Environment(null, {
    autoescape: false,
    tags: {variableStart: '${{', variableEnd: '}}'},
  })
  const context = {values: {...parameters, destination: repo}}
  for (const [name, text] of texts) {
    env.renderString(name, context)
    env.renderString(text, context)
  }

  return performance.now() - started
}

const skeleton = path.join(ROOT, 'skeletons', 'node', 'skeleton')
const texts: Array<[string, string]> = []
for (const file of await files(skeleton)) texts.push([path.relative(skeleton, file), await readFile(file, 'utf8')])

const first = await inIsolate()
const isolate: number[] = []
const plain: number[] = []
for (let i = 0; i < ROUNDS; i++) {
  isolate.push(await inIsolate())
  plain.push(await inProcess(texts))
}

const ms = (x: number) => `${x.toFixed(1)} ms`
console.log(`the node template, ${texts.length} files, median of ${ROUNDS}:`)
console.log(`  in the isolate (runTemplate, steps and skeleton): ${ms(median(isolate))}`)
console.log(`  in kplat's process (the skeleton's texts only):    ${ms(median(plain))}`)
console.log(`  first render in a process (loads QuickJS and Nunjucks): ${ms(first)}`)
