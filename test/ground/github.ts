import * as path from 'node:path'
import {fileURLToPath} from 'node:url'
import type {ProcessGroup} from './processes.js'

const MAIN = fileURLToPath(new URL('./github/main.ts', import.meta.url))

export interface GitHubGround {
  api: string
  web: string
  admin: string
}

/** Starts the ground's GitHub server as a process of the group and waits for its address. */
export async function startGitHub(processes: ProcessGroup, dir: string, cwd: string): Promise<GitHubGround> {
  const started = processes.start(
    'github',
    process.execPath,
    ['--import', 'tsx', MAIN, '--dir', path.join(dir, 'github')],
    process.env,
    cwd,
  )
  return new Promise((resolve, reject) => {
    let out = ''
    const timer = setTimeout(
      () => reject(new Error(`the ground's GitHub did not start; see ${processes.logDir}/github.log`)),
      30_000,
    )
    started.child.stdout!.on('data', (chunk) => {
      out += chunk
      const line = out.split('\n')[0]
      if (out.includes('\n')) {
        clearTimeout(timer)
        resolve(JSON.parse(line) as GitHubGround)
      }
    })
    started.child.once('exit', (code) =>
      reject(new Error(`the ground's GitHub exited (${code}); see ${processes.logDir}/github.log`)),
    )
  })
}

/** The ground's own controls (users, tokens, run decisions, injected failures, request log). */
export async function control<T = Record<string, unknown>>(
  gh: GitHubGround,
  method: string,
  route: string,
  body?: unknown,
): Promise<T> {
  const res = await fetch(`${gh.web}/_ground/${route}`, {
    method,
    headers: {'x-ground-admin': gh.admin, 'content-type': 'application/json'},
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  if (!res.ok) throw new Error(`ground control ${method} ${route}: ${res.status} ${await res.text()}`)
  return res.json() as Promise<T>
}
