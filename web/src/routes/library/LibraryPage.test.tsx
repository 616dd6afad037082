import { act, render, screen, waitFor, within } from '@testing-library/react'
import userEvent from '@testing-library/user-event'
import { QueryClient, QueryClientProvider } from '@tanstack/react-query'
import {
  createMemoryHistory,
  createRootRoute,
  createRoute,
  createRouter,
  Outlet,
  RouterProvider,
} from '@tanstack/react-router'
import type { Item } from '../../api/library'
import { SessionProvider } from '../../session'
import { LibraryPage } from './LibraryPage'

function item(overrides: Partial<Item>): Item {
  return {
    id: 'id',
    item_type: 'BOOK',
    title: 'Untitled',
    author: null,
    isbn: null,
    tags: [],
    summary: null,
    source_filename: null,
    language: 'en',
    status: 'ready',
    status_detail: null,
    chunk_count: 0,
    created_at: '2024-05-01T10:00:00Z',
    updated_at: '2024-05-01T10:00:00Z',
    ...overrides,
  }
}

const ITEMS = [
  item({ id: 'a1', title: 'War and Peace', author: 'Leo Tolstoy', tags: ['novel', 'russia'], chunk_count: 812 }),
  item({ id: 'b2', item_type: 'ARTICLE', title: 'Attention Is All You Need', status: 'pending', chunk_count: 0 }),
  item({ id: 'c3', item_type: 'WEBSITE', title: 'Broken scan', status: 'failed', status_detail: 'The PDF is encrypted.' }),
]

function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } })
}

function stubApi() {
  const fetchMock = vi.fn(async (input: RequestInfo | URL) => {
    const url = new URL(String(input), 'http://localhost')
    if (url.pathname === '/api/auth/me') return json({ user: { uid: 'alice', username: 'alice', is_admin: false }, csrf_token: 'c' })
    if (url.pathname === '/api/library/tags') return json({ tags: [{ tag: 'novel', count: 1 }, { tag: 'russia', count: 1 }] })
    if (url.pathname === '/api/library/items') {
      const q = url.searchParams.get('q')
      const items = q ? ITEMS.filter((i) => i.title.toLowerCase().includes(q.toLowerCase())) : ITEMS
      return json({ items, next_cursor: null })
    }
    return json({ error: { code: 'not_found', message: 'no' } }, 404)
  })
  vi.stubGlobal('fetch', fetchMock)
  return fetchMock
}

function renderLibrary(initial = '/library') {
  const root = createRootRoute({ component: Outlet })
  const app = createRoute({ getParentRoute: () => root, id: 'app', component: Outlet })
  const library = createRoute({
    getParentRoute: () => app,
    path: '/library',
    validateSearch: (s: Record<string, unknown>) => ({
      q: typeof s.q === 'string' ? s.q : undefined,
      type: typeof s.type === 'string' ? s.type : undefined,
      tag: typeof s.tag === 'string' ? s.tag : undefined,
      status: typeof s.status === 'string' ? s.status : undefined,
      sort: typeof s.sort === 'string' ? s.sort : undefined,
      view: s.view === 'grid' ? ('grid' as const) : undefined,
    }),
    component: LibraryPage,
  })
  const router = createRouter({
    routeTree: root.addChildren([app.addChildren([library])]),
    history: createMemoryHistory({ initialEntries: [initial] }),
  })
  const client = new QueryClient({ defaultOptions: { queries: { retry: false } } })
  render(
    <QueryClientProvider client={client}>
      <SessionProvider>
        {/* The test's own route tree, shaped like the app's (ids /app/library). */}
        <RouterProvider router={router as never} />
      </SessionProvider>
    </QueryClientProvider>,
  )
  return router
}

describe('LibraryPage', () => {
  beforeEach(() => {
    // jsdom has no scrolling; the router's scroll restoration calls it.
    vi.spyOn(window, 'scrollTo').mockImplementation(() => {})
  })
  afterEach(() => {
    vi.restoreAllMocks()
    vi.unstubAllGlobals()
  })

  it('renders one row per item from the API, with type, tags and status', async () => {
    stubApi()
    renderLibrary()
    const rows = await screen.findAllByTestId('library-item')
    expect(rows.map((row) => row.getAttribute('data-item-id'))).toEqual(['a1', 'b2', 'c3'])
    const first = rows[0]!
    expect(within(first).getByRole('link', { name: 'War and Peace' })).toHaveProperty(
      'href',
      expect.stringContaining('/library/a1'),
    )
    expect(within(first).getByText('Leo Tolstoy')).toBeTruthy()
    expect(within(first).getAllByRole('link', { name: 'novel' }).length).toBeGreaterThan(0)
    expect(within(rows[1]!).getAllByText('Processing').length).toBeGreaterThan(0)
    expect(within(rows[2]!).getAllByText('The PDF is encrypted.').length).toBeGreaterThan(0)
    expect(screen.getByText(/still being processed/)).toBeTruthy()
  })

  it('selects rows, shows the indeterminate select-all, and enables bulk delete', async () => {
    stubApi()
    const user = userEvent.setup()
    renderLibrary()
    await screen.findAllByTestId('library-item')
    const all = screen.getByLabelText<HTMLInputElement>('Select all shown')
    const bulk = screen.getByTestId<HTMLButtonElement>('bulk-delete')
    expect(bulk.disabled).toBe(true)

    await user.click(screen.getByLabelText('Select “War and Peace”'))
    expect(all.indeterminate).toBe(true)
    expect(all.checked).toBe(false)
    expect(bulk.disabled).toBe(false)

    await user.click(all)
    expect(all.indeterminate).toBe(false)
    expect(all.checked).toBe(true)
    expect(screen.getByText('3 selected')).toBeTruthy()

    await user.click(all)
    expect(all.checked).toBe(false)
    expect(bulk.disabled).toBe(true)
  })

  it('puts the debounced text filter in the URL and asks the server with q', async () => {
    const fetchMock = stubApi()
    const user = userEvent.setup()
    const router = renderLibrary('/library?sort=title')
    await screen.findAllByTestId('library-item')
    await user.type(screen.getByTestId('library-filter-text'), 'war')
    await waitFor(() => expect(router.state.location.search).toMatchObject({ q: 'war', sort: 'title' }))
    await waitFor(() => expect(screen.getAllByTestId('library-item')).toHaveLength(1))
    const asked = fetchMock.mock.calls.map(([input]) => String(input)).filter((u) => u.startsWith('/api/library/items'))
    expect(asked).toContain('/api/library/items?q=war&sort=title')
    // Debounced: no request for the partial words "w" and "wa".
    expect(asked.some((u) => /q=wa?(&|$)/.test(u))).toBe(false)
  })

  it('shows the empty state with a way to add items', async () => {
    vi.stubGlobal(
      'fetch',
      vi.fn(async (input: RequestInfo | URL) => {
        const path = String(input)
        if (path.startsWith('/api/auth/me')) return json({ user: { uid: 'alice', username: 'alice', is_admin: false }, csrf_token: null })
        if (path.startsWith('/api/library/tags')) return json({ tags: [] })
        return json({ items: [], next_cursor: null })
      }),
    )
    renderLibrary()
    expect(await screen.findByText('Your library is empty')).toBeTruthy()
    expect(screen.getByRole('link', { name: 'Add your first item' })).toBeTruthy()
    expect(screen.getByText('tomehub demo --user alice')).toBeTruthy()
    await act(async () => {})
  })
})
