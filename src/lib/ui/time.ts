/** kubectl's compact age: 45s, 12m, 3h, 2d. */
export function age(since: string | undefined, now: number): string {
  if (!since) return ''
  const s = Math.max(0, Math.floor((now - Date.parse(since)) / 1000))
  if (s < 120) return `${s}s`
  if (s < 7200) return `${Math.floor(s / 60)}m`
  if (s < 172_800) return `${Math.floor(s / 3600)}h`
  return `${Math.floor(s / 86_400)}d`
}
