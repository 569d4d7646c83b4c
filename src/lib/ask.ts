// What the model may ask the person at the terminal. The command layer answers (ui/prompter.ts);
// each question carries the flag that answers it, which is the error when nobody is there to ask.

export interface Choice<T> {
  name: string
  value: T
}

export interface Ask {
  select<T>(message: string, choices: Choice<T>[], flagHint: string): Promise<T>
  input(message: string, flagHint: string): Promise<string>
  /** Hidden input: nothing typed is echoed. */
  password(message: string, flagHint: string): Promise<string>
}
