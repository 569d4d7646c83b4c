import * as os from 'node:os'
import * as path from 'node:path'

/**
 * kplat's cache folder: KPLAT_CACHE, else kplat under XDG_CACHE_HOME or ~/.cache. The
 * platform's templates live there, and the proving ground's binaries and npm packages
 * (scripts/provide-binaries.sh follows the same rule).
 */
export function cacheRoot(env: NodeJS.ProcessEnv): string {
  return env.KPLAT_CACHE || path.join(env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'kplat')
}
