import { render, screen, waitFor, within } from '@testing-library/react'
import userEvent from '@testing-library/user-event'
import { QueryClient, QueryClientProvider } from '@tanstack/react-query'
import { createMemoryHistory, createRootRoute, createRoute, createRouter, RouterProvider } from '@tanstack/react-router'
import type { Chat } from '../../api/chats'
import i18n from '../../i18n'
import { ChatList } from './ChatList'

function chat(id: string, title: string | null, updated_at: string, message_count = 2): Chat {
  return { id, title, created_at: updated_at, updated_at, message_count }
}

function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } })
}

/** A small chats API in memory: list (with q), rename and delete change it. */
function stubChats(initial: Chat[]) {
  let chats = [...initial]
  const fetchMock = vi.fn(async (input: RequestInfo | URL, init: RequestInit = {}) => {
    const url = new URL(String(input), 'http://localhost')
    const method = init.method ?? 'GET'
    if (url.pathname === '/api/chats' && method === 'GET') {
      const q = url.searchParams.get('q')?.toLowerCase()
      return json({ chats: q ? chats.filter((c) => (c.title ?? '').toLowerCase().includes(q)) : chats, next_cursor: null })
    }
    const match = url.pathname.match(/^\/api\/chats\/([^/]+)$/)
    if (match && method === 'PATCH') {
      const { title } = JSON.parse(String(init.body)) as { title: string }
      chats = chats.map((c) => (c.id === match[1] ? { ...c, title, updated_at: '2030-01-01T00:00:00Z' } : c))
      return json(chats.find((c) => c.id === match[1]))
    }
    if (match && method === 'DELETE') {
      chats = chats.filter((c) => c.id !== match[1])
      return new Response(null, { status: 204 })
    }
    return json({ error: { code: 'not_found', message: 'no' } }, 404)
  })
  vi.stubGlobal('fetch', fetchMock)
  return fetchMock
}

function renderList(props: Partial<Parameters<typeof ChatList>[0]> = {}) {
  const root = createRootRoute()
  const ask = createRoute({
    getParentRoute: () => root,
    path: '/ask',
    validateSearch: (s: Record<string, unknown>) => ({ chat: typeof s.chat === 'string' ? s.chat : undefined }),
    component: () => <ChatList selectedId="b" onNew={() => {}} {...props} />,
  })
  const router = createRouter({
    routeTree: root.addChildren([ask]),
    history: createMemoryHistory({ initialEntries: ['/ask?chat=b'] }),
  })
  const client = new QueryClient({ defaultOptions: { queries: { retry: false } } })
  render(
    <QueryClientProvider client={client}>
      <RouterProvider router={router as never} />
    </QueryClientProvider>,
  )
  return router
}

describe('ChatList', () => {
  beforeAll(async () => {
    await i18n.changeLanguage('en')
  })
  beforeEach(() => {
    vi.spyOn(window, 'scrollTo').mockImplementation(() => {})
    // jsdom has no <dialog> methods.
    HTMLDialogElement.prototype.showModal ??= function (this: HTMLDialogElement) {
      this.setAttribute('open', '')
    }
    HTMLDialogElement.prototype.close ??= function (this: HTMLDialogElement) {
      this.removeAttribute('open')
    }
  })
  afterEach(() => {
    vi.restoreAllMocks()
    vi.unstubAllGlobals()
  })

  it('lists the chats in the order the API gives (newest first), each linking to itself', async () => {
    stubChats([
      chat('a', 'Yunus Emre ve sevgi', '2030-01-03T10:00:00Z'),
      chat('b', 'What did Heidegger mean by care?', '2030-01-02T10:00:00Z'),
      chat('c', null, '2030-01-01T10:00:00Z', 0),
    ])
    renderList({ pendingTitle: { chatId: 'c', title: 'A question being asked' } })
    const items = await screen.findAllByTestId('chat-item')
    expect(items.map((li) => li.dataset.chatId)).toEqual(['a', 'b', 'c'])
    expect(items.map((li) => within(li).getByTestId('chat-title').textContent)).toEqual([
      'Yunus Emre ve sevgi',
      'What did Heidegger mean by care?',
      // Untitled until the server names it: the question being asked stands in.
      'A question being asked',
    ])
    const link = within(items[1]!).getByRole('link')
    expect(link.getAttribute('href')).toBe('/ask?chat=b')
    expect(link.getAttribute('aria-current')).toBe('page')
    expect(within(items[0]!).getByRole('link').getAttribute('aria-current')).toBeNull()
    expect(within(items[0]!).getByRole('button', { name: 'Rename “Yunus Emre ve sevgi”' })).toBeTruthy()
    expect(within(items[0]!).getByRole('button', { name: 'Delete “Yunus Emre ve sevgi”' })).toBeTruthy()
    expect(screen.getByTestId('chat-list').getAttribute('aria-label')).toBe('Conversations')
  })

  it('renames inline: Escape cancels, Enter saves, and focus returns to the rename button', async () => {
    const fetchMock = stubChats([chat('a', 'Old name', '2030-01-03T10:00:00Z'), chat('b', 'Other', '2030-01-02T10:00:00Z')])
    const user = userEvent.setup()
    renderList()
    const [first] = await screen.findAllByTestId('chat-item')

    await user.click(within(first!).getByTestId('chat-rename'))
    let input = screen.getByLabelText<HTMLInputElement>('New title for “Old name”')
    expect(document.activeElement).toBe(input)
    await user.type(input, 'ignored')
    await user.keyboard('{Escape}')
    expect(screen.queryByTestId('chat-rename-input')).toBeNull()
    expect(fetchMock.mock.calls.some(([, init]) => (init as RequestInit | undefined)?.method === 'PATCH')).toBe(false)

    await user.click(within(screen.getAllByTestId('chat-item')[0]!).getByTestId('chat-rename'))
    input = screen.getByLabelText<HTMLInputElement>('New title for “Old name”')
    await user.clear(input)
    await user.type(input, '  Sevgi üzerine  {Enter}')

    await waitFor(() => expect(screen.getAllByTestId('chat-title')[0]!.textContent).toBe('Sevgi üzerine'))
    const patch = fetchMock.mock.calls.find(([, init]) => (init as RequestInit | undefined)?.method === 'PATCH')!
    expect(String(patch[0])).toBe('/api/chats/a')
    expect(JSON.parse(String((patch[1] as RequestInit).body))).toEqual({ title: 'Sevgi üzerine' })
    await waitFor(() =>
      expect(document.activeElement).toBe(within(screen.getAllByTestId('chat-item')[0]!).getByTestId('chat-rename')),
    )
  })

  it('deletes after the confirmation, and says when nothing matches a search', async () => {
    stubChats([chat('a', 'Keep me', '2030-01-03T10:00:00Z'), chat('b', 'Delete me', '2030-01-02T10:00:00Z', 4)])
    const onDeleted = vi.fn()
    const user = userEvent.setup()
    renderList({ onDeleted })
    await screen.findAllByTestId('chat-item')

    await user.click(screen.getByRole('button', { name: 'Delete “Delete me”' }))
    const dialog = screen.getByRole('dialog')
    expect(dialog.textContent).toContain('“Delete me” and its 4 messages will be deleted.')
    await user.click(within(dialog).getByRole('button', { name: 'Delete chat' }))
    await waitFor(() => expect(screen.getAllByTestId('chat-item').map((li) => li.dataset.chatId)).toEqual(['a']))
    expect(onDeleted).toHaveBeenCalledWith('b')

    await user.type(screen.getByTestId('chat-search'), 'zebra')
    expect(await screen.findByTestId('chat-list-empty')).toHaveProperty('textContent', 'No chat matches “zebra”.')
  })
})
