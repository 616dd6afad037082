// Marks a query's words in a passage, the way a reader would match them: case, Turkish dotted and
// dotless i, and diacritics folded away; words of 4+ letters match as prefixes, so the stemmed forms
// the search found ("kitaplarımızdan" for "kitap", "books" for "book") light up too; shorter words
// match whole, and the little words of English and Turkish are left alone.

const WORD = /[\p{L}\p{N}\p{M}]+/gu
const MARKS = /\p{M}/gu

// Stop words, folded (see `fold`): highlighting every "the" or "ve" helps nobody.
const STOP_WORDS = new Set(
  (
    'a an and are as at be but by did do does for from had has have how i if in into is it its of on or ' +
    'so than that the their them then there these they this to was we were what when where which who why ' +
    'will with you your ' +
    'acaba ama ancak bana bazi belki ben beni bir biri birkac biz bu buna bunu bunun da daha de diye en ' +
    'gibi hem hep hic icin ile ise ki mi mu nasil ne neden nerede o olan olarak ona onu onun sen siz su ' +
    've veya ya yani'
  ).split(' '),
)

/** A word folded for matching: lower case, i/ı/İ/I all one letter, diacritics dropped. */
export function fold(word: string): string {
  return word
    .replace(/[İIı]/g, 'i')
    .toLowerCase()
    .normalize('NFD')
    .replace(MARKS, '')
}

/** The query's words worth marking, folded and without duplicates. */
export function queryTerms(query: string): string[] {
  const words = [...new Set((query.match(WORD) ?? []).map(fold))].filter((w) => w.length > 1 || /\d/.test(w))
  const meaningful = words.filter((w) => !STOP_WORDS.has(w))
  // A query of nothing but little words ("what is it") still shows them.
  return meaningful.length > 0 ? meaningful : words
}

export const PREFIX_MIN_CHARS = 4

export function wordMatches(foldedWord: string, terms: readonly string[]): boolean {
  return terms.some((term) =>
    term.length >= PREFIX_MIN_CHARS ? foldedWord.startsWith(term) : foldedWord === term,
  )
}

export interface Segment {
  text: string
  mark: boolean
}

/** The text cut into plain and marked runs (joined, they give the text back). */
export function highlight(text: string, terms: readonly string[]): Segment[] {
  if (terms.length === 0 || text === '') return text === '' ? [] : [{ text, mark: false }]
  const segments: Segment[] = []
  let last = 0
  for (const match of text.matchAll(WORD)) {
    const start = match.index
    const word = match[0]
    if (!wordMatches(fold(word), terms)) continue
    if (start > last) segments.push({ text: text.slice(last, start), mark: false })
    segments.push({ text: word, mark: true })
    last = start + word.length
  }
  if (last < text.length) segments.push({ text: text.slice(last), mark: false })
  return segments
}

/**
 * A window of at most `maxChars` of the text around its first match (the whole text when short),
 * cut at spaces, with an ellipsis where it was cut.
 */
export function excerpt(text: string, terms: readonly string[], maxChars = 520): string {
  if (text.length <= maxChars) return text
  let first = 0
  for (const match of text.matchAll(WORD)) {
    if (wordMatches(fold(match[0]), terms)) {
      first = match.index
      break
    }
  }
  let start = Math.max(0, Math.min(first - Math.floor(maxChars / 4), text.length - maxChars))
  if (start > 0) {
    const space = text.indexOf(' ', start)
    start = space >= 0 && space < first ? space + 1 : start
  }
  let end = Math.min(text.length, start + maxChars)
  if (end < text.length) {
    const space = text.lastIndexOf(' ', end)
    end = space > start + maxChars / 2 ? space : end
  }
  return (start > 0 ? '… ' : '') + text.slice(start, end).trim() + (end < text.length ? ' …' : '')
}
