import { isFiltered, listParams, searchWith } from './filters'

describe('listParams (URL search → API list parameters)', () => {
  it('sends nothing for a bare URL (server defaults: all items, newest first)', () => {
    expect(listParams({})).toEqual({})
  })

  it('maps each URL param to its API name', () => {
    expect(listParams({ q: ' tolstoy ', type: 'BOOK', tag: 'History', status: 'failed', sort: 'title' })).toEqual({
      q: 'tolstoy',
      item_type: 'BOOK',
      tag: 'history',
      status: 'failed',
      sort: 'title',
    })
  })

  it('ignores unknown values instead of sending them (the server would answer 422)', () => {
    expect(listParams({ type: 'VIDEO', status: 'done', sort: 'random', q: '   ' })).toEqual({})
  })

  it('leaves the default sort out', () => {
    expect(listParams({ sort: 'newest' })).toEqual({})
  })

  it('keeps the view out of the API parameters', () => {
    expect(listParams({ view: 'grid' })).toEqual({})
  })
})

describe('searchWith (a filter change → the next URL search)', () => {
  it('sets a filter and keeps the others', () => {
    expect(searchWith({ q: 'war', view: 'grid' }, { type: 'ARTICLE' })).toEqual({ q: 'war', type: 'ARTICLE', view: 'grid' })
  })

  it('drops cleared, default and invalid values so the URL stays short', () => {
    expect(searchWith({ q: 'war', type: 'BOOK', sort: 'title' }, { q: '  ', type: undefined, sort: 'newest' })).toEqual({})
    expect(searchWith({}, { status: 'nope', view: 'list' as never })).toEqual({})
  })

  it('round-trips: the URL it writes reads back as the same list parameters', () => {
    const url = searchWith({}, { q: ' anna ', tag: 'novel', status: 'ready', sort: 'author' })
    expect(url).toEqual({ q: 'anna', tag: 'novel', status: 'ready', sort: 'author' })
    expect(listParams(url)).toEqual({ q: 'anna', tag: 'novel', status: 'ready', sort: 'author' })
  })
})

describe('isFiltered', () => {
  it('is true only when the list is narrowed (sort and view do not narrow it)', () => {
    expect(isFiltered({})).toBe(false)
    expect(isFiltered({ sort: 'title', view: 'grid' })).toBe(false)
    expect(isFiltered({ q: 'x' })).toBe(true)
    expect(isFiltered({ tag: 'x' })).toBe(true)
    expect(isFiltered({ type: 'NOPE' })).toBe(false)
  })
})
