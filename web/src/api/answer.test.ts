import { openAnswerStream, readAnswerEvents, STREAM_INCOMPLETE, type AnswerEvent } from './answer'
import { ApiError } from './http'

/** A byte stream delivering `chunks` one read at a time. */
function streamOf(chunks: (string | Uint8Array)[]): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder()
  let i = 0
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      const chunk = chunks[i++]
      if (chunk === undefined) controller.close()
      else controller.enqueue(typeof chunk === 'string' ? encoder.encode(chunk) : chunk)
    },
  })
}

async function collect(events: AsyncIterable<AnswerEvent>): Promise<AnswerEvent[]> {
  const out: AnswerEvent[] = []
  for await (const event of events) out.push(event)
  return out
}

const hit = { chunk_id: 42, item_id: 'i1', title: 'Dune', author: 'Herbert', text: 'Fear is the mind-killer.' }
const answer = {
  question: 'q',
  answer: 'Fear kills the mind [42].',
  citations: [{ chunk_id: 42, item_id: 'i1', title: 'Dune', author: 'Herbert', page: 3, chapter: null }],
  answerer: 'llm',
  review: 'passed',
  scores: {},
  fallback_reason: null,
  tier: 1,
  tier_name: 'hybrid',
  versions: { embedding_model: 'm', chat_model: 'c', prompt_hash: 'h' },
  cached: false,
}

const sse = (event: string, data: unknown) => `event: ${event}\r\ndata: ${JSON.stringify(data)}\r\n\r\n`

describe('readAnswerEvents', () => {
  it('reads events split anywhere across chunks, UTF-8 included', async () => {
    const whole = [
      ': ping\r\n\r\n',
      sse('sources', { tier: 1, tier_name: 'hybrid', hits: [hit] }),
      sse('token', { text: 'Korku ' }),
      sse('token', { text: 'zihni öldürür' }),
      sse('done', answer),
    ].join('')
    const bytes = new TextEncoder().encode(whole)
    // Cut into 7-byte pieces: events, lines and the two bytes of "ö" all fall apart.
    const pieces: Uint8Array[] = []
    for (let i = 0; i < bytes.length; i += 7) pieces.push(bytes.slice(i, i + 7))
    const events = await collect(readAnswerEvents(streamOf(pieces)))
    expect(events.map((e) => e.type)).toEqual(['sources', 'token', 'token', 'done'])
    expect(events[0]).toMatchObject({ type: 'sources', tier: 1, hits: [hit] })
    expect(events[2]).toEqual({ type: 'token', text: 'zihni öldürür' })
    expect(events[3]).toMatchObject({ type: 'done', answer: { answer: 'Fear kills the mind [42].', review: 'passed' } })
  })

  it('passes a reset through and stops after done', async () => {
    const events = await collect(
      readAnswerEvents(
        streamOf([
          sse('sources', { tier: 2, tier_name: 'keyword', hits: [] }) + sse('token', { text: 'draft' }),
          sse('reset', { reason: 'regenerating' }),
          sse('token', { text: 'better' }) + sse('done', answer) + sse('token', { text: 'never read' }),
        ]),
      ),
    )
    expect(events.map((e) => e.type)).toEqual(['sources', 'token', 'reset', 'token', 'done'])
    expect(events[2]).toEqual({ type: 'reset', reason: 'regenerating' })
  })

  it('ends with the server’s error event', async () => {
    const events = await collect(
      readAnswerEvents(
        streamOf([sse('sources', { tier: 1, tier_name: 'hybrid', hits: [] }), sse('error', { code: 'slow_client', message: 'Too slow' })]),
      ),
    )
    expect(events.at(-1)).toEqual({ type: 'error', code: 'slow_client', message: 'Too slow' })
  })

  it('ignores unknown events and broken data, and says when the stream stopped short', async () => {
    const events = await collect(
      readAnswerEvents(streamOf(['event: weird\ndata: {}\n\n', 'event: token\ndata: {not json\n\n', sse('token', { text: 'a' })])),
    )
    expect(events).toEqual([
      { type: 'token', text: 'a' },
      { type: 'error', code: STREAM_INCOMPLETE, message: expect.any(String) },
    ])
  })
})

describe('openAnswerStream', () => {
  afterEach(() => {
    vi.unstubAllGlobals()
    vi.useRealTimers()
  })

  it('asks with Accept: text/event-stream and waits out a 429 before the stream opens', async () => {
    vi.useFakeTimers()
    const fetch = vi
      .fn()
      .mockResolvedValueOnce(
        new Response(JSON.stringify({ error: { code: 'rate_limited', message: 'Slow down' } }), {
          status: 429,
          headers: { 'Retry-After': '2' },
        }),
      )
      .mockResolvedValueOnce(new Response(streamOf([sse('token', { text: 'hi' }), sse('done', answer)]), { status: 200 }))
    vi.stubGlobal('fetch', fetch)
    const waits: number[] = []
    const opening = openAnswerStream({ question: 'why?' }, { onWait: (s) => waits.push(s) })
    await vi.advanceTimersByTimeAsync(1999)
    expect(fetch).toHaveBeenCalledTimes(1)
    await vi.advanceTimersByTimeAsync(1)
    const events = await collect(await opening)
    expect(waits).toEqual([2])
    expect(fetch).toHaveBeenCalledTimes(2)
    const [path, init] = fetch.mock.calls[1] as [string, RequestInit]
    expect(path).toBe('/api/search')
    expect((init.headers as Record<string, string>).Accept).toBe('text/event-stream')
    expect(JSON.parse(init.body as string)).toEqual({ question: 'why?' })
    expect(events.map((e) => e.type)).toEqual(['token', 'done'])
  })

  it('gives up the wait when aborted', async () => {
    vi.stubGlobal(
      'fetch',
      vi.fn().mockResolvedValue(
        new Response('{}', { status: 503, headers: { 'Retry-After': '30' } }),
      ),
    )
    const controller = new AbortController()
    const opening = openAnswerStream({ question: 'q' }, { signal: controller.signal })
    setTimeout(() => controller.abort(), 10)
    await expect(opening).rejects.toMatchObject({ name: 'AbortError' })
  })

  it('throws the ApiError of a refusal that is not busy', async () => {
    vi.stubGlobal(
      'fetch',
      vi.fn().mockResolvedValue(new Response(JSON.stringify({ error: { code: 'bad_input', message: 'Empty' } }), { status: 422 })),
    )
    await expect(openAnswerStream({ question: 'q' })).rejects.toBeInstanceOf(ApiError)
  })
})
