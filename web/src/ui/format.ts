// Money and dates as people read them. Money arrives as integers (cents or micro-dollars).

export function formatCents(cents: number): string {
  const sign = cents < 0 ? '−' : ''
  return `${sign}$${(Math.abs(cents) / 100).toFixed(2)}`
}

/** Exact cost of a turn: micro-dollars shown to as many decimals as they need (at least two). */
export function formatMicros(micros: number): string {
  const dollars = (micros / 1_000_000).toFixed(6).replace(/0+$/, '')
  const [whole = '0', fraction = ''] = dollars.split('.')
  return `$${whole}.${fraction.padEnd(2, '0')}`
}

export function formatDateTime(iso: string): string {
  const date = new Date(iso)
  if (Number.isNaN(date.getTime())) return iso
  return date.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' })
}

export function formatCount(value: number): string {
  return value.toLocaleString('en-US')
}

/** "5", "5.5", "$5.25" → cents (525); null for anything else. Parsed as text, so never off by a float. */
export function parseDollarsToCents(text: string): number | null {
  const match = /^\$?\s*(\d{1,9})(?:\.(\d{1,2}))?$/.exec(text.trim().replace(/,/g, ''))
  if (!match) return null
  const [, whole = '0', fraction = ''] = match
  return Number(whole) * 100 + Number(fraction.padEnd(2, '0'))
}
