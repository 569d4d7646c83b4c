/**
 * Removes secrets from any text kplat is about to show. Known secret values (the tokens
 * this process holds) are replaced wherever they appear; token-shaped strings and
 * credentials in URLs or headers are replaced even when kplat never held them.
 */
export class Redactor {
  private readonly secrets = new Set<string>()

  add(secret: string | undefined): void {
    // Very short values would blank out ordinary words.
    if (secret && secret.length >= 6) this.secrets.add(secret)
  }

  /**
   * The text with every known secret masked and, unless the caller prints data the user asked
   * to see (`config --reveal`), anything shaped like a credential too.
   */
  redact(text: string, opts: {patterns?: boolean} = {}): string {
    let out = text
    for (const s of this.secrets) out = out.split(s).join(MASK)
    if (opts.patterns === false) return out
    for (const [pattern, replacement] of PATTERNS) out = out.replace(pattern, replacement as string)
    return out
  }
}

export const MASK = '***'

const PATTERNS: Array<[RegExp, string | ((...m: string[]) => string)]> = [
  // GitHub token formats: classic, OAuth, app, refresh and fine-grained.
  [/\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})\b/g, MASK],
  // user:password@ in URLs (git remotes carry tokens this way).
  [/(\b[a-z][a-z0-9+.-]*:\/\/)[^/@\s:]+:[^/@\s]+@/gi, `$1${MASK}@`],
  // Authorization headers and bearer tokens, however they are printed.
  [
    /(\bauthorization["']?\s*[:=]\s*["']?)(?:(bearer|basic|token)\s+)?[^\s"',}]+/gi,
    (_m, head: string, scheme?: string) => `${head}${scheme ? scheme + ' ' : ''}${MASK}`,
  ],
  [/\b(bearer)\s+[A-Za-z0-9._~+/=-]{8,}/gi, `$1 ${MASK}`],
  // Tokens passed in query strings.
  [/([?&](?:access_token|token|client_secret)=)[^&\s]+/gi, `$1${MASK}`],
]
