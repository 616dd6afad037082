import { chooseStartPage, findPassageItems, stepZoom, words } from './pdfPages'

describe('chooseStartPage', () => {
  it('opens the page the link names, else the cited chunk page, else the first', () => {
    expect(chooseStartPage({ requestedPage: 4, chunkPage: 2, pageCount: 10 })).toBe(4)
    expect(chooseStartPage({ chunkPage: 7, pageCount: 10 })).toBe(7)
    expect(chooseStartPage({ chunkPage: null, pageCount: 10 })).toBe(1)
    expect(chooseStartPage({ pageCount: 3 })).toBe(1)
  })

  it('stays inside the document', () => {
    expect(chooseStartPage({ chunkPage: 42, pageCount: 5 })).toBe(5)
    expect(chooseStartPage({ requestedPage: 0, pageCount: 5 })).toBe(1)
    expect(chooseStartPage({ requestedPage: 3, pageCount: 0 })).toBe(1)
  })
})

describe('stepZoom', () => {
  it('moves along the scale and stops at its ends', () => {
    expect(stepZoom(1, 1)).toBe(1.25)
    expect(stepZoom(1, -1)).toBe(0.75)
    expect(stepZoom(3, 1)).toBe(3)
    expect(stepZoom(0.5, -1)).toBe(0.5)
    expect(stepZoom(1.1, 1)).toBe(1.25)
  })
})

describe('findPassageItems', () => {
  const page = ['Chapter 2', 'The mind is not a vessel to be', 'filled, but a fire to be kind-', 'led.', 'Footnote 1']

  it('finds the items holding the passage by its first words, ignoring case and punctuation', () => {
    expect(findPassageItems(page, 'The mind is NOT a vessel to be filled, but a fire')).toEqual([1, 2])
  })

  it('covers as many words as the passage has', () => {
    expect(findPassageItems(page, 'the mind is not a vessel')).toEqual([1])
  })

  it('finds nothing when the opening is not on the page', () => {
    expect(findPassageItems(page, 'A different passage entirely')).toEqual([])
    expect(findPassageItems(page, '')).toEqual([])
  })

  it('reduces text to words', () => {
    expect(words('  Çağ—İLK, 2nd! ')).toEqual(['çağ', 'i̇lk', '2nd'])
  })
})
