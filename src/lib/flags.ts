import {Flags} from '@oclif/core'

/** Flags shared by commands, so each means the same thing everywhere. */
export const jsonFlag = {
  json: Flags.boolean({description: 'Print one JSON document on stdout instead of text'}),
}

export const appFlag = {
  app: Flags.string({
    char: 'a',
    description: 'App to act on (default: $KPLAT_APP, then the app of the current git repository)',
    helpValue: 'APP',
  }),
  team: Flags.string({
    description: "the app's team: look for it in that team's namespace only (default: $KPLAT_TEAM, else your teams')",
    helpValue: 'TEAM',
  }),
}

export const teamFlag = {
  team: Flags.string({
    description: 'the team that owns the app: its namespace holds the app (default: $KPLAT_TEAM, else your team)',
    helpValue: 'TEAM',
  }),
}

export const kubeContextFlag = {
  context: Flags.string({
    description: "Kubernetes context to use (default: the kubeconfig's current context)",
    helpValue: 'NAME',
  }),
}

/** --timeout, the same bounds everywhere: a number of seconds from 1 to a day. */
export function timeoutFlag(what: string, seconds = 300) {
  return {
    timeout: Flags.integer({
      description: `seconds to wait for ${what}`,
      default: seconds,
      min: 1,
      max: 86_400,
      helpValue: 'SECONDS',
    }),
  }
}
