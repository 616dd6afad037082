import { DEFAULT_AFTER_SIGN_IN, safeRedirect } from './redirect'

describe('safeRedirect', () => {
  it('follows a path inside the app, search and hash included', () => {
    expect(safeRedirect('/library')).toBe('/library')
    expect(safeRedirect('/reader/abc?chunk=3#p2')).toBe('/reader/abc?chunk=3#p2')
    expect(safeRedirect('/search?q=%2F%2Fnot-a-host')).toBe('/search?q=%2F%2Fnot-a-host')
  })

  it('falls back to the library without a target', () => {
    expect(safeRedirect(undefined)).toBe(DEFAULT_AFTER_SIGN_IN)
    expect(safeRedirect(null)).toBe(DEFAULT_AFTER_SIGN_IN)
    expect(safeRedirect('')).toBe(DEFAULT_AFTER_SIGN_IN)
  })

  it.each([
    'https://evil.example/library',
    '//evil.example/library',
    '/\\evil.example',
    'javascript:alert(1)',
    'library',
    '/\t/evil.example',
    '/\n/evil.example',
  ])('refuses %j, which could leave the app', (target) => {
    expect(safeRedirect(target)).toBe(DEFAULT_AFTER_SIGN_IN)
  })

  it('never sends a signed-in user back to the sign-in page', () => {
    expect(safeRedirect('/signin')).toBe(DEFAULT_AFTER_SIGN_IN)
    expect(safeRedirect('/signin?redirect=%2Flibrary')).toBe(DEFAULT_AFTER_SIGN_IN)
    expect(safeRedirect('/signinfo')).toBe('/signinfo')
  })
})
