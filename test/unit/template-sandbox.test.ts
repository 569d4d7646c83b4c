// A template's expressions run in an isolate: each route by which Nunjucks code has reached
// its host in the wild is tried here, and each must end inside the isolate.
import assert from 'node:assert/strict'
import {existsSync, mkdtempSync} from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {describe, it} from 'node:test'
import {createTemplater, TemplateError} from '../../src/lib/skeleton/expressions.js'
import {RENDER_MEMORY_MIB, RENDER_SECONDS} from '../../src/lib/skeleton/sandbox.js'

const SECRET = 'ghp_sandboxtestsecret0123456789'
process.env.GITHUB_TOKEN = SECRET

const marker = path.join(mkdtempSync(path.join(os.tmpdir(), 'kplat-sandbox-')), 'escaped')
/** JavaScript source run through Function, reached as the template's built-in `range`'s constructor. */
const viaRange = (js: string) => `\${{ range.constructor(${JSON.stringify(js)})() }}`

async function render(text: string, context: Record<string, unknown> = {}): Promise<string> {
  const templater = await createTemplater()
  return templater.render(text, context, 'skeleton/evil.txt')
}

describe('templates render in an isolate', () => {
  it('Function reached through a built-in finds no process, require, fetch or timers', async () => {
    for (const builtin of ['range', 'cycler', 'joiner', '"".constructor', '[].constructor']) {
      const out = await render(
        `\${{ ${builtin}.constructor("return [typeof process, typeof require, typeof fetch, typeof setTimeout, typeof Buffer, typeof __host].join()")() }}`,
      )
      assert.equal(out, 'undefined,undefined,undefined,undefined,undefined,undefined', builtin)
    }
  })

  it("the isolate's global object holds Nunjucks and kplat's two entry points, nothing of the host", async () => {
    const globals = await render(viaRange('return Object.getOwnPropertyNames(globalThis).join(" ")'))
    for (const name of ['process', 'require', 'module', 'global', '__host', 'fetch', 'WebAssembly'])
      assert.ok(!globals.split(' ').includes(name), `${name} is not there: ${globals}`)
  })

  it('no secret of the environment is readable, by any route', async () => {
    const routes = [
      viaRange('return process.env.GITHUB_TOKEN'),
      viaRange('return globalThis.process.mainModule.require("child_process").execSync("env").toString()'),
      viaRange('return this.constructor.constructor("return process")().env.GITHUB_TOKEN'),
      '${{ "".toString.constructor("return process.env")() | dump }}',
    ]
    for (const route of routes) {
      const out = await render(route).catch((error: Error) => error.message)
      assert.ok(!out.includes(SECRET), route)
      assert.match(out, /not defined|undefined|cannot read/i, route)
    }
  })

  it('a dynamic import of node:fs or node:child_process does not run', async () => {
    const writeMarker = `fs.writeFileSync(${JSON.stringify(marker)}, "x")`
    const outs = [
      await render(viaRange(`import("node:fs").then(function (fs) { ${writeMarker} }); return "asked"`)),
      await render(
        viaRange(`import("node:child_process").then(function (c) { c.execSync("touch ${marker}") }); return "asked"`),
      ).catch((error: Error) => error.message),
    ]
    assert.ok(outs.length === 2)
    await new Promise((resolve) => setTimeout(resolve, 100))
    assert.equal(existsSync(marker), false, 'nothing was written on the host')
  })

  it("kplat's filters take data only: a path through them reaches no function", async () => {
    const out = await render(
      '${{ values | pick("constructor.constructor") }}|${{ values | pick("__proto__") | dump }}',
      {
        values: {name: 'x'},
      },
    )
    assert.equal(out, '|{}')
    await render('${{ "group:default/a" | parseEntityRef({"__proto__": {"polluted": "yes"} }) | dump }}')
    assert.equal(({} as Record<string, unknown>).polluted, undefined, 'no prototype of the host changed')
  })

  it('a template that never ends is stopped, with the reason', async () => {
    const started = Date.now()
    await assert.rejects(
      render(viaRange('for (;;) {}')),
      (error: unknown) =>
        error instanceof TemplateError &&
        error.message === `the template does not render: skeleton/evil.txt: it ran longer than ${RENDER_SECONDS}s`,
    )
    assert.ok(Date.now() - started < (RENDER_SECONDS + 3) * 1000)
  })

  it('a template that builds a huge value is stopped at the memory bound', async () => {
    await assert.rejects(
      render('${{ "x".repeat(64 * 1024 * 1024) + "y".repeat(64 * 1024 * 1024) }}'),
      (error: unknown) =>
        error instanceof TemplateError && error.message.endsWith(`it used more than ${RENDER_MEMORY_MIB} MiB`),
    )
  })

  it('renders what templates mean to render, with the scaffolder filters', async () => {
    const out = await render(
      '${{ values.name | upper }} ${{ "github.com?owner=acme&repo=web" | parseRepoUrl | pick("owner") }} {% for x in [1, 2] %}${{ x }}{% endfor %}',
      {values: {name: 'web'}},
    )
    assert.equal(out, 'WEB acme 12')
  })
})
