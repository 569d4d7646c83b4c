import {UsageError} from '../errors.js'
import type {IO} from './io.js'

export interface Choice<T> {
  name: string
  value: T
}

/**
 * Asks the person at the terminal, or fails naming the flag that answers the question
 * when there is nobody to ask (no TTY, CI, NO_COLOR or --no-interactive).
 */
export class Prompter {
  constructor(private readonly io: IO) {}

  async select<T>(message: string, choices: Choice<T>[], flagHint: string): Promise<T> {
    this.mustAsk(message, flagHint)
    const {select} = await import('@inquirer/prompts')
    return select({message, choices}, {input: this.io.stdin, output: this.io.stderr})
  }

  async input(message: string, flagHint: string, validate?: (v: string) => true | string): Promise<string> {
    this.mustAsk(message, flagHint)
    const {input} = await import('@inquirer/prompts')
    return input({message, validate}, {input: this.io.stdin, output: this.io.stderr})
  }

  /** Hidden input: nothing typed is echoed. */
  async password(message: string, flagHint: string): Promise<string> {
    this.mustAsk(message, flagHint)
    const {password} = await import('@inquirer/prompts')
    return password({message, mask: true}, {input: this.io.stdin, output: this.io.stderr})
  }

  async confirm(message: string, flagHint: string): Promise<boolean> {
    this.mustAsk(message, flagHint)
    const {confirm} = await import('@inquirer/prompts')
    return confirm({message, default: false}, {input: this.io.stdin, output: this.io.stderr})
  }

  private mustAsk(message: string, flagHint: string): void {
    if (!this.io.interactive) {
      throw new UsageError(`${message.replace(/[?:]\s*$/, '')}: cannot ask without an interactive terminal`, flagHint)
    }
  }
}
