import {UsageError} from '../ui/errors.js'

// Heroku's rule: a lowercase letter first, then lowercase letters, digits and dashes.
const APP_NAME = /^[a-z][a-z0-9-]{0,29}$/

export function validateAppName(name: string): string {
  if (APP_NAME.test(name) && !name.endsWith('-')) return name
  const why = name.length > 30
    ? `is ${name.length} characters long; the limit is 30`
    : 'must start with a lowercase letter and hold only lowercase letters, digits and dashes'
  // Cut to length before trimming dashes, or the cut can leave one at the end.
  const suggestion = name.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^[^a-z]+/, '').slice(0, 30).replace(/-+$/, '')
  throw new UsageError(`invalid app name "${name}": it ${why}`, suggestion ? `Try "${suggestion}"` : 'Try a name such as "myapp"')
}
