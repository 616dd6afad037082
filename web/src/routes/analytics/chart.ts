// The arithmetic of the distribution charts, apart from React so it is tested plainly: bar lengths,
// a round axis maximum with its ticks, the peak, and how a page/chapter is named.
import type { ConcordanceLine, SectionCount } from '../../api/analytics'

/** The smallest 1, 2 or 5 × 10^k at or above `n` (at least 1): a round top for an axis. */
export function niceCeiling(n: number): number {
  if (!Number.isFinite(n) || n <= 1) return 1
  const power = 10 ** Math.floor(Math.log10(n))
  for (const step of [1, 2, 5, 10]) {
    if (step * power >= n) return step * power
  }
  return 10 * power
}

/**
 * Ticks from 0 to `top` (a niceCeiling) a round step apart (1, 2 or 5 × 10^k), at most `intervals`
 * steps: 0, 2, 4 … 10 rather than 0, 3, 6, 9, 10.
 */
export function axisTicks(top: number, intervals = 5): number[] {
  if (top <= 0) return [0]
  let step = 1
  search: for (let power = 1; ; power *= 10) {
    for (const m of [1, 2, 5]) {
      step = m * power
      if (top / step <= intervals) break search
    }
  }
  const ticks: number[] = []
  for (let v = 0; v < top; v += step) ticks.push(v)
  ticks.push(top)
  return ticks
}

/**
 * A bar's length in percent of the longest possible (`max`). A non-zero value is never drawn thinner
 * than `minPercent`, so one occurrence beside a thousand still shows.
 */
export function barPercent(value: number, max: number, minPercent = 1): number {
  if (max <= 0 || value <= 0) return 0
  return Math.min(100, Math.max(minPercent, (value / max) * 100))
}

/** The index of the largest count (the first of equals); -1 when there is none. */
export function peakIndex(counts: readonly number[]): number {
  let best = -1
  counts.forEach((count, i) => {
    if (best < 0 || count > (counts[best] as number)) best = i
  })
  return best
}

export interface SectionName {
  page: string | null
  chapter: string | null
}

/** A page/chapter's label: "p. 12 · Chapter 3", "p. 12", "Chapter 3", or the fallback. */
export function sectionLabel(
  section: Pick<SectionCount, 'page' | 'chapter'>,
  names: { page: (page: number) => string; none: string },
): string {
  const parts = [section.page != null ? names.page(section.page) : null, section.chapter || null].filter(Boolean)
  return parts.length > 0 ? parts.join(' · ') : names.none
}

/** Consecutive concordance lines of one item, as the table groups them (lines come by item). */
export interface LineGroup {
  itemId: string
  title: string
  author: string | null
  lines: ConcordanceLine[]
}

export function groupLines(lines: readonly ConcordanceLine[]): LineGroup[] {
  const groups: LineGroup[] = []
  for (const line of lines) {
    const last = groups[groups.length - 1]
    if (last && last.itemId === line.item_id) last.lines.push(line)
    else groups.push({ itemId: line.item_id, title: line.title, author: line.author, lines: [line] })
  }
  return groups
}
