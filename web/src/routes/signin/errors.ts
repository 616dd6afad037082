// Turns a failed sign-in into words: our server's errors (ApiError) and the Firebase SDK's (`code`).
import { ApiError } from '../../api/http'

export type SignInAction = 'login' | 'setup' | 'signup' | 'firebase'

export interface SignInProblem {
  /** i18n key under auth.errors. */
  key: string
  /** The server's own words, shown when no translated message fits. */
  message?: string
  /** Seconds to wait before trying again (429). */
  retryAfterS?: number
}

// Retry-After is always sent with our 429s; this only covers a proxy that drops the header.
const FALLBACK_WAIT_S = 30

/** Returns what to tell the user, or null when there is nothing to say (they closed the popup). */
export function describeSignInError(error: unknown, action: SignInAction): SignInProblem | null {
  if (error instanceof ApiError) {
    if (error.status === 429) return { key: 'tooManyAttempts', retryAfterS: Math.ceil(error.retryAfterS ?? FALLBACK_WAIT_S) }
    if (error.status === 401) return { key: action === 'firebase' ? 'notAccepted' : 'wrongCredentials' }
    if (error.status === 409 && action === 'setup') return { key: 'setupDone' }
    if (error.status === 409) return { key: 'nameTaken' }
    if (error.status === 403 && action === 'signup') return { key: 'signupClosed' }
    if (error.status === 503) return { key: 'busy' }
    return { key: 'server', message: error.message }
  }
  const code = (error as { code?: unknown } | null)?.code
  if (typeof code === 'string' && code.startsWith('auth/')) {
    switch (code) {
      case 'auth/popup-closed-by-user':
      case 'auth/cancelled-popup-request':
        return null
      case 'auth/invalid-credential':
      case 'auth/invalid-login-credentials':
      case 'auth/wrong-password':
      case 'auth/user-not-found':
      case 'auth/invalid-email':
        return { key: 'wrongEmailOrPassword' }
      case 'auth/user-disabled':
        return { key: 'accountDisabled' }
      case 'auth/too-many-requests':
        return { key: 'tooManyProvider' }
      case 'auth/popup-blocked':
        return { key: 'popupBlocked' }
      case 'auth/network-request-failed':
        return { key: 'network' }
      default:
        return { key: 'server', message: code }
    }
  }
  if (error instanceof TypeError) return { key: 'network' }
  return { key: 'server', message: error instanceof Error ? error.message : String(error) }
}

const USERNAME = /^[a-z0-9._-]{3,64}$/
export const MIN_PASSWORD_LENGTH = 8

/** Checks a new account's fields before sending them; returns the auth.errors key of the first problem. */
export function checkNewAccount(username: string, password: string, confirm: string): string | null {
  if (!USERNAME.test(username.trim().toLowerCase())) return 'usernameRules'
  if (password.length < MIN_PASSWORD_LENGTH) return 'passwordTooShort'
  if (password !== confirm) return 'passwordMismatch'
  return null
}
