// The signed-in session: who the user is and the CSRF token cookie sessions send on writes. The only
// client state beyond the query cache.
import { createContext, useCallback, useContext, useEffect, useMemo, type ReactNode } from 'react'
import { useQuery, useQueryClient } from '@tanstack/react-query'
import { authApi, authKeys, type Credentials, type Session } from './api/auth'
import { ApiError, setCsrfToken, setUnauthorizedHandler } from './api/http'

interface SessionContextValue {
  session: Session | null
  loading: boolean
  signIn: (credentials: Credentials, mode?: 'login' | 'setup' | 'signup') => Promise<Session>
  signOut: () => Promise<void>
}

const SessionContext = createContext<SessionContextValue | null>(null)

async function loadSession(signal: AbortSignal): Promise<Session | null> {
  try {
    return await authApi.me(signal)
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return null
    throw error
  }
}

export function SessionProvider({ children }: { children: ReactNode }) {
  const client = useQueryClient()
  const query = useQuery({
    queryKey: authKeys.session,
    queryFn: ({ signal }) => loadSession(signal),
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
      client.clear()
      client.setQueryData(authKeys.session, next)
      return next
    },
    [client],
  )

  const signOut = useCallback(async () => {
    try {
      await authApi.logout()
    } finally {
      setCsrfToken(null)
      client.clear()
      client.setQueryData(authKeys.session, null)
    }
  }, [client])

  const value = useMemo(
    () => ({ session, loading: query.isPending, signIn, signOut }),
    [session, query.isPending, signIn, signOut],
  )
  return <SessionContext.Provider value={value}>{children}</SessionContext.Provider>
}

export function useSession(): SessionContextValue {
  const value = useContext(SessionContext)
  if (!value) throw new Error('useSession outside SessionProvider')
  return value
}
