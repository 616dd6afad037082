import { languageName } from './format'

describe('languageName', () => {
  it("names the server's text-search configurations in the UI language", () => {
    expect(languageName('english', 'en')).toBe('English')
    expect(languageName('turkish', 'tr')).toBe('Türkçe')
    expect(languageName('en', 'en')).toBe('English')
  })

  it('says nothing for an unknown language', () => {
    expect(languageName('simple', 'en')).toBeNull()
    expect(languageName(null, 'en')).toBeNull()
  })
})
