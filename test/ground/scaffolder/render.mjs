// Renders a Backstage Software Template with Backstage's own scaffolder code and no backend:
// its workflow runner (the step loop: `${{ }}` in inputs, `if`, `each`, steps.X.output) with
// its real fetch:template, fetch:template:file and fetch:plain actions, the template read from disk (a file://
// base URL, so no URL reader is needed). Any other action is a no-op. A last step copies the
// workspace out before the runner deletes it. For tests that compare kplat's rendering with
// Backstage's, byte for byte (test/scaffolder.test.ts).
import {cp, mkdir, mkdtemp, readFile, rm} from 'node:fs/promises'
import {createRequire} from 'node:module'
import * as os from 'node:os'
import * as path from 'node:path'
import {pathToFileURL} from 'node:url'

const require = createRequire(import.meta.url)
const {
  createFetchTemplateAction,
  createFetchTemplateFileAction,
  createFetchPlainAction,
} = require('@backstage/plugin-scaffolder-backend')
const {createTemplateAction} = require('@backstage/plugin-scaffolder-node')
const {ScmIntegrations} = require('@backstage/integration')
const {ConfigReader} = require('@backstage/config')
const YAML = require('yaml')
// The runner is not exported (the package's exports map has "." and "./alpha" only); it is
// reached by its file, which may move between releases: the lockfile pins the release.
const backend = path.dirname(require.resolve('@backstage/plugin-scaffolder-backend/package.json'))
const {NunjucksWorkflowRunner} = require(path.join(backend, 'dist/scaffolder/tasks/NunjucksWorkflowRunner.cjs.js'))

/** Runs the template's steps as Backstage does and writes the resulting tree to outDir. */
export async function renderWithBackstage(templateDir, parameters, outDir) {
  const templateYaml = path.resolve(templateDir, 'template.yaml')
  const doc = YAML.parse(await readFile(templateYaml, 'utf8'))
  const integrations = ScmIntegrations.fromConfig(new ConfigReader({}))
  const refuse = async (url) => {
    throw new Error(`no URL reader here: ${url}`)
  }
  const reader = {readUrl: refuse, readTree: refuse, search: refuse}
  const quiet = {
    error() {},
    warn() {},
    info() {},
    debug() {},
    child() {
      return this
    },
  }
  const actions = new Map(
    [
      createFetchTemplateAction({reader, integrations}),
      createFetchTemplateFileAction({reader, integrations}),
      createFetchPlainAction({reader, integrations}),
    ].map((a) => [a.id, a]),
  )
  actions.set(
    'kplat:capture',
    createTemplateAction({
      id: 'kplat:capture',
      async handler(ctx) {
        await rm(outDir, {recursive: true, force: true})
        await mkdir(path.dirname(path.resolve(outDir)), {recursive: true})
        await cp(ctx.workspacePath, outDir, {recursive: true, verbatimSymlinks: true})
      },
    }),
  )
  const noop = (id) => createTemplateAction({id, supportsDryRun: true, async handler() {}})
  const instrument = {add() {}, record() {}}
  const metrics = {
    createCounter: () => instrument,
    createHistogram: () => instrument,
    createUpDownCounter: () => instrument,
    createGauge: () => instrument,
  }
  const work = await mkdtemp(path.join(os.tmpdir(), 'kplat-backstage-render-'))
  const runner = new NunjucksWorkflowRunner({
    actionRegistry: {get: async (id) => actions.get(id) ?? noop(id), list: async () => [...actions.values()]},
    integrations,
    workingDirectory: work,
    logger: quiet,
    metrics,
  })
  try {
    await runner.execute({
      taskId: 'render',
      spec: {
        apiVersion: doc.apiVersion,
        parameters,
        steps: [
          ...(doc.spec.steps ?? []).map((s, i) => ({id: s.id ?? `step-${i}`, name: s.name ?? s.id ?? s.action, ...s})),
          {id: 'kplat-capture', name: 'capture', action: 'kplat:capture', if: '${{ always() }}'},
        ],
        output: doc.spec.output ?? {},
        templateInfo: {baseUrl: pathToFileURL(templateYaml).href, entityRef: `template:default/${doc.metadata?.name}`},
        user: {
          ref: 'user:default/guest',
          entity: {apiVersion: 'backstage.io/v1alpha1', kind: 'User', metadata: {name: 'guest'}},
        },
      },
      secrets: {},
      isDryRun: false,
      cancelSignal: new AbortController().signal,
      getWorkspaceName: async () => 'render',
      getInitiatorCredentials: async () => ({
        $$type: '@backstage/BackstageCredentials',
        principal: {type: 'user', userEntityRef: 'user:default/guest'},
      }),
      emitLog: async () => {},
      complete: async () => {},
      getTaskState: async () => undefined,
    })
  } finally {
    await rm(work, {recursive: true, force: true})
  }
}
