import { api, setBearerTokenProvider, setCsrfToken } from './http'

function stubFetch() {
  const fetchMock = vi.fn(async (_url: string, _init?: RequestInit) => new Response(JSON.stringify({ ok: true }), { status: 200, headers: { 'Content-Type': 'application/json' } }))
  vi.stubGlobal('fetch', fetchMock)
  return fetchMock
}

function sentHeaders(fetchMock: ReturnType<typeof stubFetch>, call = 0): Record<string, string> {
  const init = fetchMock.mock.calls[call]?.[1] as RequestInit | undefined
  return (init?.headers ?? {}) as Record<string, string>
}

describe('bearer token provider', () => {
  afterEach(() => {
    setBearerTokenProvider(null)
    setCsrfToken(null)
    vi.unstubAllGlobals()
  })

  it('sends no Authorization header without a provider', async () => {
    const fetchMock = stubFetch()
    await api('/api/auth/me')
    expect(sentHeaders(fetchMock).Authorization).toBeUndefined()
  })

  it('asks the provider on every request, so a refreshed token is used', async () => {
    const fetchMock = stubFetch()
    const tokens = ['token-1', 'token-2']
    const provider = vi.fn(async () => tokens.shift() ?? null)
    setBearerTokenProvider(provider)

    await api('/api/auth/me')
    await api('/api/library/items', { method: 'POST', body: { title: 'x' } })

    expect(provider).toHaveBeenCalledTimes(2)
    expect(sentHeaders(fetchMock, 0).Authorization).toBe('Bearer token-1')
    expect(sentHeaders(fetchMock, 1).Authorization).toBe('Bearer token-2')
  })

  it('sends nothing when the provider has no token (signed out)', async () => {
    const fetchMock = stubFetch()
    setBearerTokenProvider(async () => null)
    await api('/api/auth/me')
    expect(sentHeaders(fetchMock).Authorization).toBeUndefined()
  })

  it('leaves an explicit Authorization header alone', async () => {
    const fetchMock = stubFetch()
    const provider = vi.fn(async () => 'from-provider')
    setBearerTokenProvider(provider)
    await api('/api/auth/me', { headers: { Authorization: 'Bearer th_explicit' } })
    expect(sentHeaders(fetchMock).Authorization).toBe('Bearer th_explicit')
    expect(provider).not.toHaveBeenCalled()
  })

  it('keeps the CSRF header on writes beside the bearer token', async () => {
    const fetchMock = stubFetch()
    setCsrfToken('csrf-1')
    setBearerTokenProvider(async () => 'id-token')
    await api('/api/auth/keys', { method: 'POST', body: { name: 'k' } })
    expect(sentHeaders(fetchMock)).toMatchObject({ Authorization: 'Bearer id-token', 'X-CSRF-Token': 'csrf-1' })
  })

  it('stops sending the token once the provider is removed', async () => {
    const fetchMock = stubFetch()
    setBearerTokenProvider(async () => 'id-token')
    await api('/api/auth/me')
    setBearerTokenProvider(null)
    await api('/api/auth/me')
    expect(sentHeaders(fetchMock, 0).Authorization).toBe('Bearer id-token')
    expect(sentHeaders(fetchMock, 1).Authorization).toBeUndefined()
  })
})

describe('okStatuses', () => {
  afterEach(() => vi.unstubAllGlobals())

  it('returns the body of a listed non-2xx answer instead of throwing', async () => {
    vi.stubGlobal('fetch', vi.fn(async () => new Response(JSON.stringify({ status: 'not_ready' }), { status: 503 })))
    await expect(api('/api/health/ready', { okStatuses: [503] })).resolves.toEqual({ status: 'not_ready' })
    await expect(api('/api/health/ready')).rejects.toMatchObject({ status: 503 })
  })
})
