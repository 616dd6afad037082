// Typed client of an answer stream (POST /api/search, and POST /api/chats/{id}/messages) with
// Accept: text/event-stream: the answer's sources, its tokens as they are written, a reset when the
// text so far is replaced, then the whole answer (done) or an error. Read with fetch + the body's
// reader + eventsource-parser; aborting the fetch makes the server cancel the generation.
import { createParser, type EventSourceMessage } from 'eventsource-parser'
import { apiResponse, withRetryAfter, type ApiError } from './http'
import type { Hit, SearchFilters } from './search'

export interface Citation {
  chunk_id: number
  item_id: string
  title: string
  author: string | null
  page: number | null
  chapter: string | null
}

export type Review = 'passed' | 'regenerated' | 'declined' | 'fast-track' | 'unreviewed' | 'quoted'

export interface Answer {
  question: string
  /** The answer; `[123]` cites chunk 123. */
  answer: string
  citations: Citation[]
  answerer: 'llm' | 'extractive'
  review: Review
  scores: Record<string, number>
  fallback_reason: string | null
  tier: 1 | 2 | 3
  tier_name: string
  versions: { embedding_model: string; chat_model: string | null; prompt_hash: string }
  cached: boolean
}

export type AnswerEvent =
  | { type: 'sources'; tier: number; tier_name: string; hits: Hit[] }
  | { type: 'token'; text: string }
  | { type: 'reset'; reason: string }
  | { type: 'done'; answer: Answer }
  | { type: 'error'; code: string; message: string }

export interface AskRequest {
  question: string
  filters?: SearchFilters
}

function record(data: string): Record<string, unknown> | null {
  try {
    const value: unknown = JSON.parse(data)
    return value !== null && typeof value === 'object' ? (value as Record<string, unknown>) : null
  } catch {
    return null
  }
}

/** One SSE message as a typed answer event (null for pings, unknown events and broken data). */
export function toAnswerEvent(message: EventSourceMessage): AnswerEvent | null {
  const data = record(message.data)
  if (!data) return null
  switch (message.event) {
    case 'sources':
      return {
        type: 'sources',
        tier: Number(data.tier),
        tier_name: String(data.tier_name ?? ''),
        hits: Array.isArray(data.hits) ? (data.hits as Hit[]) : [],
      }
    case 'token':
      return typeof data.text === 'string' ? { type: 'token', text: data.text } : null
    case 'reset':
      return { type: 'reset', reason: String(data.reason ?? '') }
    case 'done':
      return typeof data.answer === 'string' ? { type: 'done', answer: data as unknown as Answer } : null
    case 'error':
      return { type: 'error', code: String(data.code ?? 'error'), message: String(data.message ?? '') }
    default:
      return null
  }
}

/** The code of the error yielded when the stream ends with neither `done` nor `error`. */
export const STREAM_INCOMPLETE = 'stream_incomplete'

/**
 * The answer events in a byte stream of SSE, however its chunks split the events. Ends after `done`
 * or `error`; a stream that stops before either ends with an `error` event (STREAM_INCOMPLETE).
 */
export async function* readAnswerEvents(body: ReadableStream<Uint8Array>): AsyncGenerator<AnswerEvent> {
  const reader = body.getReader()
  const decoder = new TextDecoder()
  const pending: AnswerEvent[] = []
  const parser = createParser({
    onEvent: (message) => {
      const event = toAnswerEvent(message)
      if (event) pending.push(event)
    },
  })
  try {
    for (;;) {
      const { done, value } = await reader.read()
      parser.feed(done ? decoder.decode() : decoder.decode(value, { stream: true }))
      while (pending.length > 0) {
        const event = pending.shift() as AnswerEvent
        yield event
        if (event.type === 'done' || event.type === 'error') return
      }
      if (done) break
    }
    yield { type: 'error', code: STREAM_INCOMPLETE, message: 'The answer stream ended before the answer was complete.' }
  } finally {
    // Over (done, an error, or the consumer left early): let the connection go.
    await reader.cancel().catch(() => undefined)
    reader.releaseLock()
  }
}

export interface OpenAnswerOptions {
  signal?: AbortSignal
  /** Told before each wait when the server is busy (429/503) before the stream opens. */
  onWait?: (seconds: number, error: ApiError) => void
  attempts?: number
}

/**
 * Posts `body` to an answer-streaming route (/api/search, /api/chats/{id}/messages) and returns its
 * answer events. A busy server (429/503 before the stream opens) is asked again after its Retry-After;
 * aborting `signal` cancels the wait, the request and the stream.
 */
export async function openEventStream(
  path: string,
  body: unknown,
  options: OpenAnswerOptions = {},
): Promise<AsyncGenerator<AnswerEvent>> {
  const response = await withRetryAfter(
    () =>
      apiResponse(path, {
        method: 'POST',
        body,
        signal: options.signal,
        headers: { Accept: 'text/event-stream' },
      }),
    { signal: options.signal, onWait: options.onWait, attempts: options.attempts ?? 5 },
  )
  if (!response.body) throw new Error('The answer came without a body.')
  return readAnswerEvents(response.body)
}

/** Asks a question of the whole library (POST /api/search) and returns its answer events. */
export function openAnswerStream(request: AskRequest, options: OpenAnswerOptions = {}): Promise<AsyncGenerator<AnswerEvent>> {
  return openEventStream('/api/search', request, options)
}
