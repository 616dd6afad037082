import { chatsApi, createChat } from './chats'
import type { AnswerEvent } from './answer'
import { setCsrfToken } from './http'

/** A byte stream delivering `chunks` one read at a time. */
function streamOf(chunks: Uint8Array[]): ReadableStream<Uint8Array> {
  let i = 0
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      const chunk = chunks[i++]
      if (chunk === undefined) controller.close()
      else controller.enqueue(chunk)
    },
  })
}

/** `text` as bytes cut every `size` bytes (events, lines and multi-byte letters all fall apart). */
function chunked(text: string, size: number): Uint8Array[] {
  const bytes = new TextEncoder().encode(text)
  const out: Uint8Array[] = []
  for (let i = 0; i < bytes.length; i += size) out.push(bytes.slice(i, i + size))
  return out
}

const sse = (event: string, data: unknown) => `event: ${event}\r\ndata: ${JSON.stringify(data)}\r\n\r\n`

const CHAT = '3f2b8c1e-0000-4000-8000-000000000001'
const hit = { chunk_id: 7, item_id: 'i1', title: 'Yunus Emre Notları', author: null, text: 'Gelin tanış olalım.' }
const done = {
  question: 'Peki o ne demiş?',
  answer: 'Tanış olalım demiş [7].',
  citations: [{ chunk_id: 7, item_id: 'i1', title: 'Yunus Emre Notları', author: null, page: 2, chapter: null }],
  answerer: 'llm',
  review: 'passed',
  scores: {},
  fallback_reason: null,
  tier: 1,
  tier_name: 'hybrid',
  versions: { embedding_model: 'm', chat_model: 'c', prompt_hash: 'h' },
  cached: false,
  search_query: 'Yunus Emre tanış olmak',
  followup: 'condensed',
  chat_id: CHAT,
  user_message_id: 11,
  assistant_message_id: 12,
}

async function collect(events: AsyncIterable<AnswerEvent>): Promise<AnswerEvent[]> {
  const out: AnswerEvent[] = []
  for await (const event of events) out.push(event)
  return out
}

function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json', ...headers } })
}

describe('chatsApi.openMessageStream', () => {
  afterEach(() => {
    vi.unstubAllGlobals()
    vi.useRealTimers()
    setCsrfToken(null)
  })

  it('posts the message to the chat as SSE and reads a stream chunked anywhere', async () => {
    setCsrfToken('csrf-1')
    const body = [
      ': ping\r\n\r\n',
      sse('sources', { tier: 1, tier_name: 'hybrid', hits: [hit] }),
      sse('token', { text: 'Tanış ' }),
      sse('reset', { reason: 'regenerate' }),
      sse('token', { text: 'Tanış olalım ' }),
      sse('token', { text: 'demiş [7].' }),
      sse('done', done),
    ].join('')
    const fetch = vi.fn().mockResolvedValue(new Response(streamOf(chunked(body, 5)), { status: 200 }))
    vi.stubGlobal('fetch', fetch)

    const events = await collect(await chatsApi.openMessageStream(CHAT, { content: 'Peki o ne demiş?' }))

    const [path, init] = fetch.mock.calls[0] as [string, RequestInit]
    expect(path).toBe(`/api/chats/${CHAT}/messages`)
    expect(init.method).toBe('POST')
    const headers = init.headers as Record<string, string>
    expect(headers.Accept).toBe('text/event-stream')
    expect(headers['X-CSRF-Token']).toBe('csrf-1')
    expect(JSON.parse(init.body as string)).toEqual({ content: 'Peki o ne demiş?' })

    expect(events.map((e) => e.type)).toEqual(['sources', 'token', 'reset', 'token', 'token', 'done'])
    expect(events[0]).toMatchObject({ type: 'sources', hits: [hit] })
    expect(events[3]).toEqual({ type: 'token', text: 'Tanış olalım ' })
    const last = events[5] as Extract<AnswerEvent, { type: 'done' }>
    // The chat's answer carries how it was searched and the stored messages' ids.
    expect(last.answer).toMatchObject({ chat_id: CHAT, assistant_message_id: 12, followup: 'condensed' })
  })

  it('waits out a busy server before the stream opens, and reports a cut stream', async () => {
    vi.useFakeTimers()
    const fetch = vi
      .fn()
      .mockResolvedValueOnce(json({ error: { code: 'busy', message: 'Busy' } }, 503, { 'Retry-After': '3' }))
      .mockResolvedValueOnce(new Response(streamOf(chunked(sse('sources', { tier: 2, tier_name: 'keyword', hits: [] }) + sse('token', { text: 'half' }), 4))))
    vi.stubGlobal('fetch', fetch)
    const waits: number[] = []
    const opening = chatsApi.openMessageStream(CHAT, { content: 'q' }, { onWait: (s) => waits.push(s) })
    await vi.advanceTimersByTimeAsync(3000)
    const events = await collect(await opening)
    expect(waits).toEqual([3])
    expect(fetch).toHaveBeenCalledTimes(2)
    expect(events.map((e) => e.type)).toEqual(['sources', 'token', 'error'])
    expect(events[2]).toMatchObject({ type: 'error', code: 'stream_incomplete' })
  })

  it('stops reading when aborted (the server then stores what was said)', async () => {
    const controller = new AbortController()
    const fetch = vi.fn(async (_path: string, init: RequestInit) => {
      // A stream that never ends by itself: only the abort closes it.
      const stream = new ReadableStream<Uint8Array>({
        start(c) {
          c.enqueue(new TextEncoder().encode(sse('sources', { tier: 1, tier_name: 'hybrid', hits: [] })))
          init.signal?.addEventListener('abort', () => c.error(new DOMException('Aborted', 'AbortError')))
        },
      })
      return new Response(stream)
    })
    vi.stubGlobal('fetch', fetch)
    const events = await chatsApi.openMessageStream(CHAT, { content: 'q' }, { signal: controller.signal })
    const first = await events.next()
    expect(first.value).toMatchObject({ type: 'sources' })
    controller.abort()
    await expect(events.next()).rejects.toMatchObject({ name: 'AbortError' })
  })
})

describe('chatsApi', () => {
  afterEach(() => vi.unstubAllGlobals())

  it('lists with q and cursor in the query string, and creates a chat after a 429', async () => {
    vi.useFakeTimers()
    const fetch = vi
      .fn()
      .mockResolvedValueOnce(json({ chats: [], next_cursor: null }))
      .mockResolvedValueOnce(json({ error: { code: 'rate_limited', message: 'Slow' } }, 429, { 'Retry-After': '1' }))
      .mockResolvedValueOnce(json({ id: CHAT, title: null, created_at: 'x', updated_at: 'x', message_count: 0 }, 201))
    vi.stubGlobal('fetch', fetch)
    await chatsApi.list({ q: 'ölüm', cursor: 'abc', limit: 30 })
    expect(fetch.mock.calls[0]![0]).toBe('/api/chats?q=%C3%B6l%C3%BCm&limit=30&cursor=abc')
    const creating = createChat()
    await vi.advanceTimersByTimeAsync(1000)
    await expect(creating).resolves.toMatchObject({ id: CHAT, title: null })
    const [path, init] = fetch.mock.calls[2] as [string, RequestInit]
    expect(path).toBe('/api/chats')
    expect(JSON.parse(init.body as string)).toEqual({})
    vi.useRealTimers()
  })
})
