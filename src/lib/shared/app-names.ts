// App names: the rule every name must pass (Heroku's), and the name kplat makes up when given none.
import {randomInt} from 'node:crypto'
import {UsageError} from '../errors.js'

// Heroku's rule: a lowercase letter first, then lowercase letters, digits and dashes.
const APP_NAME = /^[a-z][a-z0-9-]{0,29}$/

export function validateAppName(name: string): string {
  if (APP_NAME.test(name) && !name.endsWith('-')) return name
  const why =
    name.length > 30
      ? `is ${name.length} characters long; the limit is 30`
      : 'must start with a lowercase letter and hold only lowercase letters, digits and dashes'
  // Cut to length before trimming dashes, or the cut can leave one at the end.
  const suggestion = name
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^[^a-z]+/, '')
    .slice(0, 30)
    .replace(/-+$/, '')
  throw new UsageError(
    `invalid app name "${name}": it ${why}`,
    suggestion ? `Try "${suggestion}"` : 'Try a name such as "myapp"',
  )
}

const ADJECTIVES = [
  'calm',
  'bold',
  'quiet',
  'rapid',
  'bright',
  'gentle',
  'lucky',
  'brave',
  'sunny',
  'steady',
  'tidy',
  'clever',
]
const NOUNS = [
  'river',
  'falcon',
  'meadow',
  'harbor',
  'comet',
  'forest',
  'canyon',
  'beacon',
  'orchard',
  'summit',
  'island',
  'lagoon',
]

/** A name in Heroku's style (adjective-noun-digits) for `kplat create` without one. */
export function generateAppName(): string {
  return `${ADJECTIVES[randomInt(ADJECTIVES.length)]}-${NOUNS[randomInt(NOUNS.length)]}-${randomInt(10_000, 100_000)}`
}
