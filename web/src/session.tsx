// The signed-in session: who the user is and the CSRF token cookie sessions send on writes. The only
// client state beyond the query cache.
import { createContext, useCallback, useContext, useEffect, useMemo, useRef, type ReactNode } from 'react'
import { useQuery, useQueryClient, type QueryClient } from '@tanstack/react-query'
import { authApi, authKeys, type Credentials, type Session } from './api/auth'
import { ApiError, setBearerTokenProvider, setCsrfToken, setUnauthorizedHandler } from './api/http'

/** A sign-in held by an identity provider (Firebase): its ID token is our bearer token. */
export interface BearerSignIn {
  idToken: () => Promise<string | null>
  signOut: () => Promise<void>
}

interface SessionContextValue {
  session: Session | null
  loading: boolean
  signIn: (credentials: Credentials, mode?: 'login' | 'setup' | 'signup') => Promise<Session>
  /** Adopts a provider's sign-in: its ID token goes on every request, then the server says who we are. */
  signInWithBearer: (bearer: BearerSignIn) => Promise<Session>
  signOut: () => Promise<void>
}

const SessionContext = createContext<SessionContextValue | null>(null)

/**
 * Forgets everything cached for the previous user and records the new session. Not client.clear():
 * that would also drop the session query from under its observer, which then never hears of the change.
 */
function startSession(client: QueryClient, next: Session | null): void {
  client.removeQueries({ predicate: (q) => !(q.queryKey[0] === authKeys.session[0] && q.queryKey[1] === authKeys.session[1]) })
  client.setQueryData(authKeys.session, next)
}

async function me(signal?: AbortSignal): Promise<Session | null> {
  try {
    return await authApi.me(signal)
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return null
    throw error
  }
}

/**
 * Firebase keeps a signed-in user in the browser across visits, not in our cookie: without a cookie
 * session, ask the SDK (loaded only in Firebase mode) whether it remembers someone.
 */
async function restoreBearer(client: QueryClient): Promise<BearerSignIn | null> {
  const config = await client.fetchQuery({
    queryKey: authKeys.config,
    queryFn: ({ signal }) => authApi.config(signal),
    staleTime: 60_000,
  })
  if (config.mode !== 'firebase' || !config.firebase) return null
  const { firebaseSignIn } = await import('./lib/firebase')
  const firebase = firebaseSignIn(config.firebase)
  return (await firebase.restore()) ? firebase : null
}

async function loadSession(
  client: QueryClient,
  bearerRef: { current: BearerSignIn | null },
  signal: AbortSignal,
): Promise<Session | null> {
  const session = await me(signal)
  if (session || bearerRef.current) return session
  const restored = await restoreBearer(client).catch(() => null)
  if (!restored) return null
  setBearerTokenProvider(restored.idToken)
  bearerRef.current = restored
  const restoredSession = await me(signal)
  if (!restoredSession) {
    setBearerTokenProvider(null)
    bearerRef.current = null
  }
  return restoredSession
}

export function SessionProvider({ children }: { children: ReactNode }) {
  const client = useQueryClient()
  const bearerRef = useRef<BearerSignIn | null>(null)
  const query = useQuery({
    queryKey: authKeys.session,
    queryFn: ({ signal }) => loadSession(client, bearerRef, signal),
    staleTime: Infinity,
    retry: false,
  })
  const session = query.data ?? null
  setCsrfToken(session?.csrf_token ?? null)

  useEffect(() => {
    // A 401 from any API call means the session ended (logged out elsewhere, expired, revoked).
    setUnauthorizedHandler(() => {
      setCsrfToken(null)
      client.setQueryData(authKeys.session, null)
    })
    return () => setUnauthorizedHandler(null)
  }, [client])

  const signIn = useCallback(
    async (credentials: Credentials, mode: 'login' | 'setup' | 'signup' = 'login') => {
      const next = await authApi[mode](credentials)
      setCsrfToken(next.csrf_token)
      startSession(client, next)
      return next
    },
    [client],
  )

  const signInWithBearer = useCallback(
    async (bearer: BearerSignIn) => {
      setBearerTokenProvider(bearer.idToken)
      bearerRef.current = bearer
      try {
        const next = await authApi.me()
        setCsrfToken(next.csrf_token)
        startSession(client, next)
        return next
      } catch (error) {
        // The server refused the provider's token: drop it, or the next visit would try it again.
        setBearerTokenProvider(null)
        bearerRef.current = null
        await bearer.signOut().catch(() => undefined)
        throw error
      }
    },
    [client],
  )

  const signOut = useCallback(async () => {
    try {
      await authApi.logout()
    } finally {
      const bearer = bearerRef.current
      bearerRef.current = null
      setBearerTokenProvider(null)
      await bearer?.signOut().catch(() => undefined)
      setCsrfToken(null)
      startSession(client, null)
    }
  }, [client])

  const value = useMemo(
    () => ({ session, loading: query.isPending, signIn, signInWithBearer, signOut }),
    [session, query.isPending, signIn, signInWithBearer, signOut],
  )
  return <SessionContext.Provider value={value}>{children}</SessionContext.Provider>
}

export function useSession(): SessionContextValue {
  const value = useContext(SessionContext)
  if (!value) throw new Error('useSession outside SessionProvider')
  return value
}
