// Pure logic of the PDF view: which page opens, zoom steps, and where a cited passage sits on a page.

export const ZOOM_STEPS = [0.5, 0.75, 1, 1.25, 1.5, 2, 3] as const
export const DEFAULT_ZOOM = 1
export const MIN_ZOOM = 0.5
export const MAX_ZOOM = 3

/**
 * Returns the 1-based page to open: the page the link asked for, else the cited chunk's page, else the
 * first; always inside the document (a page past the end opens the last one).
 */
export function chooseStartPage(options: {
  requestedPage?: number
  chunkPage?: number | null
  pageCount: number
}): number {
  const { requestedPage, chunkPage, pageCount } = options
  const wanted = requestedPage ?? chunkPage ?? 1
  if (pageCount < 1) return 1
  return Math.min(Math.max(1, Math.floor(wanted)), pageCount)
}

/** Returns the next zoom step in a direction (+1 larger, -1 smaller), staying on the scale. */
export function stepZoom(zoom: number, direction: 1 | -1): number {
  if (direction > 0) return ZOOM_STEPS.find((step) => step > zoom + 1e-9) ?? MAX_ZOOM
  return [...ZOOM_STEPS].reverse().find((step) => step < zoom - 1e-9) ?? MIN_ZOOM
}

/** Lower-cases and reduces text to its words (letters and digits), so PDF spacing and hyphens do not matter. */
export function words(text: string): string[] {
  return text
    .normalize('NFKC')
    .toLocaleLowerCase()
    .split(/[^\p{L}\p{M}\p{N}]+/u)
    .filter(Boolean)
}

/**
 * Returns the indexes of the text items (a PDF page's runs of text, in order) that hold a passage: found
 * by its first words, then as many items as the passage has words (capped at `maxWords`). Empty when the
 * passage's opening is not on the page.
 */
export function findPassageItems(items: readonly string[], passage: string, options: { probeWords?: number; maxWords?: number } = {}): number[] {
  const probeWords = options.probeWords ?? 6
  const maxWords = options.maxWords ?? 120
  const wanted = words(passage)
  if (wanted.length === 0) return []
  const probe = wanted.slice(0, Math.min(probeWords, wanted.length))
  // One list of every word on the page, each remembering the item it came from.
  const flat: { word: string; item: number }[] = []
  items.forEach((text, item) => {
    for (const word of words(text)) flat.push({ word, item })
  })
  for (let i = 0; i + probe.length <= flat.length; i++) {
    if (probe.every((word, k) => flat[i + k]?.word === word)) {
      const last = Math.min(flat.length, i + Math.min(wanted.length, maxWords)) - 1
      const hit = new Set<number>()
      for (const entry of flat.slice(i, last + 1)) hit.add(entry.item)
      return [...hit].sort((a, b) => a - b)
    }
  }
  return []
}
