import { QueryClient, QueryClientProvider } from '@tanstack/react-query'
import { render, screen, waitFor, within } from '@testing-library/react'
import userEvent from '@testing-library/user-event'
import type { ApiKey } from '../../api/auth'
import i18n from '../../i18n'
import { ApiKeys } from './ApiKeys'

const json = (body: unknown, status = 200) =>
  new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } })

/** A tiny in-memory /api/auth/keys server. */
function stubKeysServer(initial: ApiKey[]) {
  const keys = [...initial]
  const calls: { method: string; url: string; body?: unknown }[] = []
  const fetchMock = vi.fn(async (url: string, init?: RequestInit) => {
    const method = init?.method ?? 'GET'
    const body = typeof init?.body === 'string' ? JSON.parse(init.body) : undefined
    calls.push({ method, url, body })
    if (url === '/api/auth/keys' && method === 'GET') return json({ keys })
    if (url === '/api/auth/keys' && method === 'POST') {
      const key: ApiKey = { id: 7, name: body.name, prefix: 'abcd1234', created_at: '2025-01-02T10:00:00Z', last_used_at: null }
      keys.push(key)
      return json({ key, secret: 'th_abcd1234SECRETSECRETSECRET' }, 201)
    }
    const revoke = /^\/api\/auth\/keys\/(\d+)$/.exec(url)
    if (revoke && method === 'DELETE') {
      keys.splice(keys.findIndex((k) => k.id === Number(revoke[1])), 1)
      return new Response(null, { status: 204 })
    }
    return json({ error: { code: 'not_found', message: 'Not found' } }, 404)
  })
  vi.stubGlobal('fetch', fetchMock)
  return calls
}

function renderKeys() {
  const client = new QueryClient({ defaultOptions: { queries: { retry: false } } })
  return render(
    <QueryClientProvider client={client}>
      <ApiKeys />
    </QueryClientProvider>,
  )
}

const existing: ApiKey = { id: 1, name: 'backup job', prefix: 'zzzz9999', created_at: '2024-12-01T08:00:00Z', last_used_at: null }

describe('ApiKeys', () => {
  beforeAll(() => i18n.changeLanguage('en'))
  afterEach(() => vi.unstubAllGlobals())

  it('lists the keys with their prefix and "never used"', async () => {
    stubKeysServer([existing])
    renderKeys()
    const list = await screen.findByTestId('key-list')
    expect(within(list).getByText('backup job')).toBeTruthy()
    expect(within(list).getByText(/th_zzzz9999…/)).toBeTruthy()
    expect(within(list).getByText(/never used/)).toBeTruthy()
  })

  it('shows a new key once, then never again after dismissal', async () => {
    const user = userEvent.setup()
    const calls = stubKeysServer([existing])
    renderKeys()
    await screen.findByTestId('key-list')

    await user.type(screen.getByLabelText('Key name'), 'laptop')
    await user.click(screen.getByRole('button', { name: 'Create key' }))

    const panel = await screen.findByTestId('key-secret')
    expect((within(panel).getByLabelText('Secret key') as HTMLInputElement).value).toBe('th_abcd1234SECRETSECRETSECRET')
    expect(within(panel).getByText(/will not be shown again/)).toBeTruthy()
    expect(calls.find((c) => c.method === 'POST')?.body).toEqual({ name: 'laptop' })
    // The list refreshed and shows the new key by its prefix only.
    await waitFor(() => expect(within(screen.getByTestId('key-list')).getByText('laptop')).toBeTruthy())
    expect(within(screen.getByTestId('key-list')).queryByText(/SECRET/)).toBeNull()

    await user.click(within(panel).getByRole('button', { name: 'I have saved it' }))
    expect(screen.queryByTestId('key-secret')).toBeNull()
    expect(screen.queryByDisplayValue(/SECRET/)).toBeNull()
    expect(document.body.textContent).not.toContain('SECRETSECRET')
    // Focus goes back to the name field for the next key.
    expect(document.activeElement).toBe(screen.getByLabelText('Key name'))
  })

  it('copies the secret, and says how to copy by hand when the clipboard refuses', async () => {
    const user = userEvent.setup()
    stubKeysServer([])
    renderKeys()
    await screen.findByText('No keys yet.')
    await user.type(screen.getByLabelText('Key name'), 'ci')
    await user.click(screen.getByRole('button', { name: 'Create key' }))
    const panel = await screen.findByTestId('key-secret')

    const writeText = vi.fn(async () => undefined)
    Object.defineProperty(navigator, 'clipboard', { value: { writeText }, configurable: true })
    await user.click(within(panel).getByRole('button', { name: 'Copy' }))
    expect(writeText).toHaveBeenCalledWith('th_abcd1234SECRETSECRETSECRET')
    expect(within(panel).getByRole('status').textContent).toContain('Copied')

    Object.defineProperty(navigator, 'clipboard', { value: { writeText: vi.fn(async () => Promise.reject(new Error('denied'))) }, configurable: true })
    await user.click(within(panel).getByRole('button', { name: 'Copy' }))
    expect(within(panel).getByRole('status').textContent).toMatch(/Could not copy automatically/)
  })

  it('revokes a key only after the confirm step', async () => {
    const user = userEvent.setup()
    const calls = stubKeysServer([existing])
    renderKeys()
    const list = await screen.findByTestId('key-list')

    await user.click(within(list).getByRole('button', { name: /Revoke “backup job”/ }))
    expect(calls.some((c) => c.method === 'DELETE')).toBe(false)
    await user.click(within(list).getByRole('button', { name: 'Revoke key' }))

    await waitFor(() => expect(calls.some((c) => c.method === 'DELETE' && c.url === '/api/auth/keys/1')).toBe(true))
    expect(await screen.findByText('No keys yet.')).toBeTruthy()
  })
})
