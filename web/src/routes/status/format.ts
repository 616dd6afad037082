// Numbers and times on the status page, in the reader's language.

const MIB = 1024 * 1024

/** Bytes as whole megabytes (the server's limits are set in MB of 1024 × 1024 bytes). */
export function formatMegabytes(bytes: number, language: string): string {
  return new Intl.NumberFormat(language, { style: 'unit', unit: 'megabyte', maximumFractionDigits: 0 }).format(bytes / MIB)
}

export function formatPercent(share: number, language: string): string {
  return new Intl.NumberFormat(language, { style: 'percent', maximumFractionDigits: 1 }).format(share)
}

export function formatDateTime(iso: string, style: 'time' | 'short' | 'full', language?: string): string {
  const date = new Date(iso)
  if (Number.isNaN(date.getTime())) return iso
  const options: Intl.DateTimeFormatOptions =
    style === 'time'
      ? { timeStyle: 'medium' }
      : style === 'short'
        ? { dateStyle: 'medium', timeStyle: 'short' }
        : { dateStyle: 'full', timeStyle: 'medium' }
  return new Intl.DateTimeFormat(language, options).format(date)
}

/** "in 12 seconds", "2 minutes ago": a moment relative to now, in the largest whole unit that fits. */
export function formatRelative(iso: string, nowMs: number, language: string): string {
  const diffS = Math.round((Date.parse(iso) - nowMs) / 1000)
  if (Number.isNaN(diffS)) return iso
  const format = new Intl.RelativeTimeFormat(language, { numeric: 'auto' })
  const abs = Math.abs(diffS)
  if (abs < 60) return format.format(diffS, 'second')
  if (abs < 3600) return format.format(Math.round(diffS / 60), 'minute')
  if (abs < 86400) return format.format(Math.round(diffS / 3600), 'hour')
  return format.format(Math.round(diffS / 86400), 'day')
}
