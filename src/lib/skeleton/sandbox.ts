// Where a template's Nunjucks runs. Nunjucks is no sandbox: `range.constructor` is
// JavaScript's Function, so a template rendered in kplat's process could run any code with
// the GitHub token, the kubeconfig and the Backstage token within reach, even under
// `create --dry-run`. Backstage renders in an isolate for that reason; kplat does too: the
// browser build of Nunjucks runs inside QuickJS compiled to WebAssembly, a separate
// JavaScript engine whose global object holds Nunjucks and one function back to kplat, and
// nothing else: no process, no require, no file system, no network, no timers. Text goes in
// and out as strings; the one host function takes and gives JSON strings only, so no object
// of kplat's engine ever reaches the template. A render is bounded in time and memory, so a
// template that loops forever or builds a huge string fails with a reason instead of hanging.
import {readFile} from 'node:fs/promises'
import {createRequire} from 'node:module'
import type {QuickJSContext, QuickJSHandle, QuickJSWASMModule} from 'quickjs-emscripten-core'

export const RENDER_SECONDS = 5
export const RENDER_MEMORY_MIB = 128

/** Functions the template may call back into kplat with: JSON arguments in, a JSON value out. */
export type HostFunctions = Record<string, (...args: never[]) => unknown>

export interface Isolate {
  /** Calls the function the prelude defined as `globalThis[name]` with string arguments; its string result. */
  call(name: string, ...args: string[]): string
}

let engine: Promise<{module: QuickJSWASMModule; nunjucks: string}> | undefined

/** QuickJS and the Nunjucks source, loaded once per process (about 0.1 s). */
function loadEngine(): Promise<{module: QuickJSWASMModule; nunjucks: string}> {
  engine ??= (async () => {
    const {newQuickJSWASMModuleFromVariant} = await import('quickjs-emscripten-core')
    const require = createRequire(import.meta.url)
    const [module, nunjucks] = await Promise.all([
      newQuickJSWASMModuleFromVariant(import('@jitl/quickjs-wasmfile-release-sync')),
      readFile(require.resolve('nunjucks/browser/nunjucks.min.js'), 'utf8'),
    ])
    return {module, nunjucks}
  })()
  return engine
}

/**
 * A fresh isolate with Nunjucks loaded as `nunjucks`, the host functions reachable as
 * `__host(name, argsJson)` until the prelude takes them, and then the prelude run.
 */
export async function createIsolate(prelude: string, host: HostFunctions): Promise<Isolate> {
  const {module, nunjucks} = await loadEngine()
  const runtime = module.newRuntime()
  runtime.setMemoryLimit(RENDER_MEMORY_MIB * 1024 * 1024)
  runtime.setMaxStackSize(1024 * 1024)
  let deadline = Infinity
  runtime.setInterruptHandler(() => Date.now() > deadline)
  const vm = runtime.newContext()
  const bridge = vm.newFunction('__host', (nameHandle, argsHandle) =>
    vm.newString(hostCall(vm, host, nameHandle, argsHandle)),
  )
  vm.setProp(vm.global, '__host', bridge)
  bridge.dispose()
  // The browser build looks for `window` or `self` to attach itself to.
  settle(vm, vm.evalCode(`var window = globalThis, self = globalThis;\n${nunjucks}\n;${prelude}`, 'prelude.js'))

  return {
    call(name, ...args) {
      const fn = vm.getProp(vm.global, name)
      const handles = args.map((a) => vm.newString(a))
      deadline = Date.now() + RENDER_SECONDS * 1000
      try {
        const result = vm.callFunction(fn, vm.undefined, ...handles)
        return settle(vm, result)
      } finally {
        deadline = Infinity
        fn.dispose()
        for (const h of handles) h.dispose()
      }
    },
  }
}

function hostCall(
  vm: QuickJSContext,
  host: HostFunctions,
  nameHandle: QuickJSHandle,
  argsHandle: QuickJSHandle,
): string {
  const name = vm.getString(nameHandle)
  const fn = Object.hasOwn(host, name) ? host[name] : undefined
  try {
    if (!fn) throw new Error(`no host function ${name}`)
    const args = JSON.parse(vm.getString(argsHandle)) as unknown
    if (!Array.isArray(args)) throw new Error('host arguments must be a list')
    return JSON.stringify({value: (fn as (...a: unknown[]) => unknown)(...args)})
  } catch (error) {
    return JSON.stringify({error: error instanceof Error ? error.message : String(error)})
  }
}

/** The string a call returned, or an Error with the isolate's words ("interrupted" past the time bound, "out of memory"). */
function settle(vm: QuickJSContext, result: ReturnType<QuickJSContext['evalCode']>): string {
  if (result.error) {
    const dumped = vm.dump(result.error) as {message?: string} | string | undefined
    result.error.dispose()
    throw new Error(typeof dumped === 'object' && dumped?.message ? dumped.message : String(dumped))
  }

  const value = vm.typeof(result.value) === 'string' ? vm.getString(result.value) : ''
  result.value.dispose()
  return value
}
