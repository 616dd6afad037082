import { QueryClient, QueryClientProvider } from '@tanstack/react-query'
import { act, render, screen, waitFor } from '@testing-library/react'
import { setBearerTokenProvider } from './api/http'
import { SessionProvider, useSession, type BearerSignIn } from './session'

const json = (body: unknown, status = 200) =>
  new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } })
const unauthorized = () => json({ error: { code: 'unauthorized', message: 'Sign in.' } }, 401)
const alice = { user: { uid: 'alice', username: 'alice', is_admin: false }, csrf_token: null }

let api: ReturnType<typeof useSession> | null = null
function Probe() {
  api = useSession()
  return <p data-testid="who">{api.loading ? 'loading' : (api.session?.user.uid ?? 'nobody')}</p>
}

function renderSession(fetchMock: (url: string, init?: RequestInit) => Promise<Response>) {
  vi.stubGlobal('fetch', vi.fn(fetchMock))
  const client = new QueryClient({ defaultOptions: { queries: { retry: false } } })
  render(
    <QueryClientProvider client={client}>
      <SessionProvider>
        <Probe />
      </SessionProvider>
    </QueryClientProvider>,
  )
}

const who = () => screen.getByTestId('who').textContent

describe('SessionProvider', () => {
  afterEach(() => {
    setBearerTokenProvider(null)
    vi.unstubAllGlobals()
    api = null
  })

  it('shows the signed-in user straight after a password sign-in', async () => {
    renderSession(async (url) => (url === '/api/auth/login' ? json(alice) : url === '/api/auth/config' ? json({ mode: 'local', signup_open: false, needs_setup: false, firebase: null }) : unauthorized()))
    await waitFor(() => expect(who()).toBe('nobody'))
    await act(async () => {
      await api!.signIn({ username: 'alice', password: 'pw-pw-pw-pw' })
    })
    await waitFor(() => expect(who()).toBe('alice'))
  })

  it('adopts a provider sign-in: /api/auth/me goes with its ID token, sign-out drops it', async () => {
    const seen: (string | undefined)[] = []
    renderSession(async (url, init) => {
      const auth = (init?.headers as Record<string, string> | undefined)?.Authorization
      if (url === '/api/auth/me') {
        seen.push(auth)
        return auth === 'Bearer id-token' ? json(alice) : unauthorized()
      }
      if (url === '/api/auth/config') return json({ mode: 'local', signup_open: false, needs_setup: false, firebase: null })
      if (url === '/api/auth/logout') return new Response(null, { status: 204 })
      return unauthorized()
    })
    await waitFor(() => expect(who()).toBe('nobody'))

    const bearer: BearerSignIn = { idToken: vi.fn(async () => 'id-token'), signOut: vi.fn(async () => undefined) }
    await act(async () => {
      await api!.signInWithBearer(bearer)
    })
    await waitFor(() => expect(who()).toBe('alice'))
    expect(seen.at(-1)).toBe('Bearer id-token')

    await act(async () => {
      await api!.signOut()
    })
    await waitFor(() => expect(who()).toBe('nobody'))
    expect(bearer.signOut).toHaveBeenCalled()
    // The token is no longer sent once signed out.
    await import('./api/http').then((m) => m.api('/api/auth/me').catch(() => undefined))
    expect(seen.at(-1)).toBeUndefined()
  })

  it('drops a provider token the server refuses, and signs out of the provider', async () => {
    renderSession(async (url) => (url === '/api/auth/config' ? json({ mode: 'local', signup_open: false, needs_setup: false, firebase: null }) : unauthorized()))
    await waitFor(() => expect(who()).toBe('nobody'))
    const bearer: BearerSignIn = { idToken: vi.fn(async () => 'bad-token'), signOut: vi.fn(async () => undefined) }
    await act(async () => {
      await expect(api!.signInWithBearer(bearer)).rejects.toMatchObject({ status: 401 })
    })
    expect(bearer.signOut).toHaveBeenCalled()
    expect(who()).toBe('nobody')
  })
})
