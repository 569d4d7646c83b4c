// How the model tells what a long operation is doing: events, never text on a screen. The
// command layer renders them (a spinner on a terminal, one line per event otherwise, or NDJSON
// with KPLAT_PROGRESS=json); the model never knows which.

export type ProgressEvent =
  /** A step began; `id` ties its later events to it. */
  | {type: 'step'; id: number; phase: 'start'; label: string}
  /** What the step is waiting on now (an Argo CD status, a CI run's state). */
  | {type: 'step'; id: number; phase: 'detail'; label: string; detail: string}
  | {type: 'step'; id: number; phase: 'done' | 'failed'; label: string}
  /** Something the user should know that does not stop the operation. */
  | {type: 'warning'; text: string}

export type Progress = (event: ProgressEvent) => void

/** Drops every event: for callers that show nothing. */
export const silent: Progress = () => {}

let nextId = 0

/** Runs fn as one step: a start event, its details as they come, and done or failed. */
export async function step<T>(
  progress: Progress,
  label: string,
  fn: (detail: (text: string) => void) => Promise<T>,
): Promise<T> {
  const id = ++nextId
  progress({type: 'step', id, phase: 'start', label})
  try {
    const result = await fn((detail) => progress({type: 'step', id, phase: 'detail', label, detail}))
    progress({type: 'step', id, phase: 'done', label})
    return result
  } catch (error) {
    progress({type: 'step', id, phase: 'failed', label})
    throw error
  }
}

export function warn(progress: Progress, text: string): void {
  progress({type: 'warning', text})
}
