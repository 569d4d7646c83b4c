import {randomInt} from 'node:crypto'

const ADJECTIVES = ['calm', 'bold', 'quiet', 'rapid', 'bright', 'gentle', 'lucky', 'brave', 'sunny', 'steady', 'tidy', 'clever']
const NOUNS = ['river', 'falcon', 'meadow', 'harbor', 'comet', 'forest', 'canyon', 'beacon', 'orchard', 'summit', 'island', 'lagoon']

/** A name in Heroku's style (adjective-noun-digits) for `kplat create` without one. */
export function generateAppName(): string {
  return `${ADJECTIVES[randomInt(ADJECTIVES.length)]}-${NOUNS[randomInt(NOUNS.length)]}-${randomInt(10_000, 100_000)}`
}
