// The proving ground's Backstage: the real catalog backend (its npm packages, pinned in
// backstage/package-lock.json), installed once into kplat's cache like the Go binaries, and
// started on 127.0.0.1 with an in-memory SQLite database. It reads catalog-info.yaml files
// from the ground's GitHub with Backstage's own GitHub URL reader (the contents API), as it
// reads github.com; kplat authenticates with a static token, as a CI script or a developer
// would with a token the platform team issued.
import {randomBytes} from 'node:crypto'
import {writeFileSync} from 'node:fs'
import * as path from 'node:path'
import {fileURLToPath} from 'node:url'
import {provideNpmFolder} from './npm.js'
import {freePort, type ProcessGroup} from './processes.js'

const SOURCE = fileURLToPath(new URL('./backstage', import.meta.url))
const FILES = ['package.json', 'package-lock.json', 'index.mjs']

export interface BackstageGround {
  url: string
  /** The static token kplat sends (Authorization: Bearer). */
  token: string
}

/**
 * The installed catalog backend's folder: a cache check after the first time. The first
 * install compiles better-sqlite3 from source (no prebuilt binaries can be fetched here), about
 * 3 minutes, against the node headers the machine has.
 */
export function provideBackstage(): Promise<string> {
  return provideNpmFolder('backstage', SOURCE, FILES)
}

/** Starts the catalog backend as a process of the group and waits until it is ready. */
export async function startBackstage(
  processes: ProcessGroup,
  dir: string,
  installed: string,
  github: {web: string; api: string; token: string},
): Promise<BackstageGround> {
  const port = await freePort()
  const token = randomBytes(24).toString('base64url')
  const url = `http://127.0.0.1:${port}`
  const config = path.join(dir, 'backstage.yaml')
  writeFileSync(
    config,
    JSON.stringify(
      {
        backend: {
          baseUrl: url,
          listen: `127.0.0.1:${port}`,
          database: {client: 'better-sqlite3', connection: ':memory:'},
          auth: {externalAccess: [{type: 'static', options: {token, subject: 'kplat'}}]},
        },
        integrations: {github: [{host: new URL(github.web).host, apiBaseUrl: github.api, token: github.token}]},
        catalog: {
          // New locations are processed at once; this is for refreshes.
          processingInterval: {seconds: 5},
          stitchingStrategy: {pollingInterval: {milliseconds: 250}},
          rules: [
            {allow: ['Component', 'System', 'API', 'Resource', 'Location', 'Template', 'Group', 'User', 'Domain']},
          ],
        },
      },
      null,
      2,
    ),
  )
  processes.start(
    'backstage',
    process.execPath,
    [path.join(installed, 'index.mjs'), '--config', config],
    {...process.env, NODE_ENV: 'production'},
    installed,
  )
  const deadline = Date.now() + 60_000
  for (;;) {
    const ready = await fetch(`${url}/.backstage/health/v1/readiness`).then(
      (r) => r.ok,
      () => false,
    )
    if (ready) return {url, token}
    if (Date.now() > deadline)
      throw new Error(`the ground's Backstage did not become ready; see ${processes.logDir}/backstage.log`)
    await new Promise((r) => setTimeout(r, 100))
  }
}
