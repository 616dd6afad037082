// An answer's citation markers: "[123]" (or "[123, 456]") cites chunk 123. The chips are numbered
// [1], [2], … in order of first appearance, so the reader sees small numbers, not database ids.

const MARKER = /\[(\d{1,18}(?:\s*,\s*\d{1,18})*)\]/g

export type AnswerPart = { kind: 'text'; text: string } | { kind: 'cite'; chunkId: number; n: number }

export interface ParsedAnswer {
  parts: AnswerPart[]
  /** Cited chunk ids by their number: order[0] is [1]. */
  order: number[]
}

export function parseAnswer(text: string): ParsedAnswer {
  const parts: AnswerPart[] = []
  const numbers = new Map<number, number>()
  let last = 0
  for (const match of text.matchAll(MARKER)) {
    if (match.index > last) parts.push({ kind: 'text', text: text.slice(last, match.index) })
    for (const id of (match[1] as string).split(',')) {
      const chunkId = Number(id.trim())
      if (!numbers.has(chunkId)) numbers.set(chunkId, numbers.size + 1)
      parts.push({ kind: 'cite', chunkId, n: numbers.get(chunkId) as number })
    }
    last = match.index + match[0].length
  }
  if (last < text.length) parts.push({ kind: 'text', text: text.slice(last) })
  return { parts, order: [...numbers.keys()] }
}
