import type {KplatError} from '../errors.js'

/** One line: the failure, then the next step. */
export function formatError(err: KplatError): string {
  const msg = err.message.replace(/\s*\n\s*/g, ' ').replace(/[.\s]+$/, '')
  return err.hint ? `${msg}. ${err.hint}` : msg
}
