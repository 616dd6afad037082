// Where to go after signing in. The target comes from the address bar, so only a path inside this
// app is followed: never another origin ("//evil.example", "https://…") nor back to the sign-in page.
export const DEFAULT_AFTER_SIGN_IN = '/library'

export function safeRedirect(target: string | null | undefined): string {
  if (!target || !target.startsWith('/')) return DEFAULT_AFTER_SIGN_IN
  // "//host" and "/\host" are protocol-relative URLs to browsers; control characters can smuggle either.
  if (target.startsWith('//') || target.startsWith('/\\')) return DEFAULT_AFTER_SIGN_IN
  if (/[\u0000-\u001f\u007f]/.test(target)) return DEFAULT_AFTER_SIGN_IN
  const path = target.split(/[?#]/, 1)[0] ?? ''
  if (path === '/signin' || path.startsWith('/signin/')) return DEFAULT_AFTER_SIGN_IN
  return target
}
