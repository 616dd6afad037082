import { itemChanges, parseTags } from './ItemPage'

describe('parseTags', () => {
  it('splits on commas, trims, lower-cases and drops blanks and repeats', () => {
    expect(parseTags(' Novel, russia,, NOVEL , war and peace ')).toEqual(['novel', 'russia', 'war and peace'])
    expect(parseTags('')).toEqual([])
  })
})

describe('itemChanges', () => {
  const item = { title: 'War and Peace', author: 'Tolstoy', tags: ['novel'], item_type: 'BOOK' as const }
  const same = { title: 'War and Peace', author: 'Tolstoy', tags: 'novel', itemType: 'BOOK' as const }

  it('is empty when nothing changed (whitespace aside)', () => {
    expect(itemChanges(item, same)).toEqual({})
    expect(itemChanges(item, { ...same, title: ' War and Peace ', tags: 'Novel, ' })).toEqual({})
  })

  it('sends only the changed fields; a cleared author becomes null', () => {
    expect(itemChanges(item, { ...same, author: '  ', tags: 'novel, classic', itemType: 'ARTICLE' })).toEqual({
      author: null,
      tags: ['novel', 'classic'],
      item_type: 'ARTICLE',
    })
  })
})
