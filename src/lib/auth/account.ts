// `kplat auth:whoami`: the GitHub account kplat acts as. Keeps no state; the token comes from
// GITHUB_TOKEN, GH_TOKEN or gh's store (github/auth.ts).
import type {Context} from '../context.js'
import type {Account} from '../github/account.js'

export async function whoami(ctx: Context): Promise<Account> {
  const [{whoami: authenticated}, github] = await Promise.all([import('../github/account.js'), ctx.github()])
  return authenticated(github, ctx.env)
}
