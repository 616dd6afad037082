import { QueryClient, QueryClientProvider } from '@tanstack/react-query'
import { act, fireEvent, render, screen, waitFor } from '@testing-library/react'
import type { AuthConfig } from '../../api/auth'
import i18n from '../../i18n'
import { SessionProvider } from '../../session'
import { SignInForms } from './SignInPage'

const json = (body: unknown, status = 200, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json', ...headers } })

const local: AuthConfig = { mode: 'local', signup_open: true, needs_setup: false, firebase: null }

function renderForms(config: AuthConfig, login: () => Response) {
  const fetchMock = vi.fn(async (url: string) => {
    if (url === '/api/auth/me') return json({ error: { code: 'unauthorized', message: 'Sign in.' } }, 401)
    if (url === '/api/auth/login' || url === '/api/auth/setup' || url === '/api/auth/signup') return login()
    return json({ error: { code: 'not_found', message: 'Not found' } }, 404)
  })
  vi.stubGlobal('fetch', fetchMock)
  const client = new QueryClient({ defaultOptions: { queries: { retry: false } } })
  render(
    <QueryClientProvider client={client}>
      <SessionProvider>
        <SignInForms config={config} />
      </SessionProvider>
    </QueryClientProvider>,
  )
  return fetchMock
}

function fill(label: string, value: string) {
  fireEvent.change(screen.getByLabelText(label), { target: { value } })
}

describe('SignInForms', () => {
  beforeAll(() => i18n.changeLanguage('en'))
  afterEach(() => {
    vi.useRealTimers()
    vi.unstubAllGlobals()
  })

  it('shows the server refusal in plain words', async () => {
    renderForms(local, () => json({ error: { code: 'unauthorized', message: 'Wrong user name or password.' } }, 401))
    fill('User name', 'alice')
    fill('Password', 'nope-nope')
    fireEvent.submit(screen.getByTestId('signin-form'))
    expect((await screen.findByTestId('signin-error')).textContent).toBe('Wrong user name or password.')
  })

  it('after a 429 disables the button with a live countdown, then lets the user try again', async () => {
    vi.useFakeTimers({ shouldAdvanceTime: true })
    renderForms(local, () => json({ error: { code: 'rate_limited', message: 'Too many attempts.' } }, 429, { 'Retry-After': '3' }))
    fill('User name', 'alice')
    fill('Password', 'nope-nope')
    fireEvent.submit(screen.getByTestId('signin-form'))

    const error = await screen.findByTestId('signin-error')
    expect(error.textContent).toContain('Too many attempts; try again in 3 s.')
    const button = screen.getByRole('button', { name: 'Try again in 3 s' }) as HTMLButtonElement
    expect(button.disabled).toBe(true)

    await act(async () => {
      vi.advanceTimersByTime(1_000)
    })
    expect(screen.getByRole('button', { name: 'Try again in 2 s' })).toBeTruthy()

    await act(async () => {
      vi.advanceTimersByTime(2_500)
    })
    await waitFor(() => expect(screen.queryByTestId('signin-error')).toBeNull())
    expect((screen.getByRole('button', { name: 'Sign in' }) as HTMLButtonElement).disabled).toBe(false)
  })

  it('checks a new account before sending it', async () => {
    const fetchMock = renderForms({ ...local, needs_setup: true }, () => json({}, 500))
    expect(screen.getByTestId('setup-form')).toBeTruthy()
    fill('User name', 'admin')
    fill('Password', 'long-enough')
    fill('Confirm password', 'different!')
    fireEvent.submit(screen.getByTestId('setup-form'))
    expect((await screen.findByTestId('signin-error')).textContent).toBe('The two passwords do not match.')
    expect(fetchMock.mock.calls.some(([url]) => url === '/api/auth/setup')).toBe(false)
  })

  it('offers the sign-up form only when sign-ups are open', () => {
    renderForms({ ...local, signup_open: false }, () => json({}, 500))
    expect(screen.queryByRole('button', { name: 'Create an account' })).toBeNull()
  })
})
