import { excerpt, fold, highlight, queryTerms } from './highlight'

const marked = (text: string, query: string) =>
  highlight(text, queryTerms(query))
    .filter((s) => s.mark)
    .map((s) => s.text)

describe('fold', () => {
  it('folds case, Turkish i and diacritics', () => {
    expect(fold('İSTANBUL')).toBe('istanbul')
    expect(fold('ISTANBUL')).toBe('istanbul')
    expect(fold('ışık')).toBe('isik')
    expect(fold('Çöğüş')).toBe('cogus')
    expect(fold('Résumé')).toBe('resume')
  })
})

describe('queryTerms', () => {
  it('drops little words unless nothing else is left', () => {
    expect(queryTerms('The history of the book')).toEqual(['history', 'book'])
    expect(queryTerms('bu ve bir kitap')).toEqual(['kitap'])
    expect(queryTerms('what is it')).toEqual(['what', 'is', 'it'])
  })
})

describe('highlight (English)', () => {
  it('marks words and their longer forms, case-insensitively', () => {
    expect(marked('Books and the bookshelf: a BOOK lover’s guide.', 'the book')).toEqual(['Books', 'bookshelf', 'BOOK'])
  })

  it('matches short words whole only', () => {
    expect(marked('Art in an article about art.', 'art')).toEqual(['Art', 'art'])
  })

  it('gives the text back intact', () => {
    const text = 'Memory, as the essay argues, is a reconstruction.'
    expect(
      highlight(text, queryTerms('memory reconstruct'))
        .map((s) => s.text)
        .join(''),
    ).toBe(text)
    expect(marked(text, 'memory reconstruct')).toEqual(['Memory', 'reconstruction'])
  })

  it('folds diacritics both ways', () => {
    expect(marked('Her résumé was brief.', 'resume')).toEqual(['résumé'])
    expect(marked('Her resume was brief.', 'résumé')).toEqual(['resume'])
  })
})

describe('highlight (Turkish)', () => {
  it('lights up suffixed forms of a stem', () => {
    expect(marked('Kitaplarımızdan birini okudum; kitap güzeldi.', 'kitap')).toEqual(['Kitaplarımızdan', 'kitap'])
  })

  it('treats dotted and dotless i alike', () => {
    expect(marked('İSTANBUL’da bir gün; Istanbul’un ışıkları.', 'istanbul ışık')).toEqual(['İSTANBUL', 'Istanbul', 'ışıkları'])
    expect(marked('Işık ve ılık rüzgâr', 'isik ilik')).toEqual(['Işık', 'ılık'])
  })

  it('ignores Turkish diacritics and little words', () => {
    expect(marked('Çocukluğun ve gençliğin anıları', 'cocuk ve genc')).toEqual(['Çocukluğun', 'gençliğin'])
    expect(marked('Çok güzel, çok.', 'cok')).toEqual(['Çok', 'çok'])
  })
})

describe('excerpt', () => {
  it('keeps short texts whole and centres long ones on the first match', () => {
    expect(excerpt('short text', ['text'])).toBe('short text')
    const long = `${'lorem ipsum '.repeat(100)}the needle is here ${'dolor sit '.repeat(100)}`
    const cut = excerpt(long, ['needle'], 200)
    expect(cut).toContain('needle')
    expect(cut.startsWith('… ')).toBe(true)
    expect(cut.endsWith(' …')).toBe(true)
    expect(cut.length).toBeLessThanOrEqual(206)
  })
})
