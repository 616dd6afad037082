// Pure layout of the reader's text: which slice of chunks holds a given chunk, how chunks group under
// chapter and page headings, and how a chunk's text splits into paragraphs.
import { CHUNK_PAGE_SIZE, type Chunk } from '../../api/library'

/** Returns the offset of the slice of `size` chunks that contains the chunk at `chunkIndex`. */
export function chunkPageOffset(chunkIndex: number, size: number = CHUNK_PAGE_SIZE): number {
  if (!Number.isFinite(chunkIndex) || chunkIndex < 0) return 0
  return Math.floor(chunkIndex / size) * size
}

/** Returns the offsets of the slices before and after this one (null at either end). */
export function neighbourOffsets(
  offset: number,
  total: number,
  size: number = CHUNK_PAGE_SIZE,
): { previous: number | null; next: number | null } {
  return {
    previous: offset > 0 ? Math.max(0, offset - size) : null,
    next: offset + size < total ? offset + size : null,
  }
}

export interface ChunkGroup {
  /** Set when this group starts a new chapter. */
  chapter: string | null
  /** Set when this group starts a new page. */
  page: number | null
  chunks: Chunk[]
}

/**
 * Returns consecutive chunks grouped by chapter and page; a group says its chapter or page only when it
 * changes from the previous group's, so headings appear once where the text moves on.
 */
export function groupChunks(chunks: readonly Chunk[]): ChunkGroup[] {
  const groups: ChunkGroup[] = []
  let chapter: string | null = null
  let page: number | null = null
  for (const chunk of chunks) {
    const newChapter = chunk.chapter !== null && chunk.chapter !== chapter
    const newPage = chunk.page !== null && chunk.page !== page
    const last = groups[groups.length - 1]
    if (!last || newChapter || newPage) {
      groups.push({ chapter: newChapter ? chunk.chapter : null, page: newPage ? chunk.page : null, chunks: [chunk] })
    } else {
      last.chunks.push(chunk)
    }
    if (chunk.chapter !== null) chapter = chunk.chapter
    if (chunk.page !== null) page = chunk.page
  }
  return groups
}

// A line this long without an ending mark is a line wrapped by the page (PDF), not a heading or a paragraph.
const WRAPPED_LINE_CHARS = 60
const ENDS_SENTENCE = /[.!?"”’»)]$/
const STARTS_LOWER = /^[\p{Ll}(“"‘'«,;]/u

/**
 * Returns a chunk's paragraphs. Extractors differ: EPUB and HTML text puts one paragraph on a line, PDF text
 * wraps lines at the page's width. A line break joins the lines when the next one continues the sentence
 * (starts in lower case) or the line is long and unfinished; otherwise it starts a paragraph.
 */
export function paragraphs(text: string): string[] {
  const out: string[] = []
  for (const block of text.split(/\n\s*\n/)) {
    let current = ''
    let previous = ''
    for (const raw of block.split('\n')) {
      const line = raw.trim()
      if (line === '') continue
      if (current === '') {
        current = line
      } else if (STARTS_LOWER.test(line) || (!ENDS_SENTENCE.test(previous) && previous.length >= WRAPPED_LINE_CHARS)) {
        // A word hyphenated across the line end ("well-" / "known") joins without a space.
        current += previous.endsWith('-') ? line : ' ' + line
      } else {
        out.push(current)
        current = line
      }
      previous = line
    }
    if (current !== '') out.push(current)
  }
  return out
}
