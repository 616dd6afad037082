// Typed client of the chat sessions (/api/chats) and their query hooks. A chat's message is answered
// as /api/search answers a question: the same SSE stream (sources, token…, reset, done or error),
// read by the one reader in ./answer; the server stores the question and its answer when done.
import { useInfiniteQuery, useMutation, useQuery, useQueryClient, type QueryClient } from '@tanstack/react-query'
import { openEventStream, type Answer, type AnswerEvent, type Citation, type OpenAnswerOptions, type Review } from './answer'
import { api, query, withRetryAfter, type ApiError } from './http'
import type { SearchFilters } from './search'

export interface Chat {
  id: string
  /** Null until the first question names the chat. */
  title: string | null
  created_at: string
  /** The last message or rename. */
  updated_at: string
  message_count: number
}

export interface ChatPage {
  chats: Chat[]
  next_cursor: string | null
}

/** How a follow-up was searched: rewritten by a model as one standalone query, or by the keyword rule. */
export type FollowUpMode = 'condensed' | 'rule'

export interface ChatMessage {
  id: number
  role: 'user' | 'assistant'
  content: string
  citations: Citation[]
  answerer: Answer['answerer'] | null
  review: Review | null
  tier: 1 | 2 | 3 | null
  versions: Answer['versions'] | null
  /** What retrieval searched for this answer. */
  search_query: string | null
  followup: FollowUpMode | null
  /** False when the stream ended before the answer did (stopped, cut off). */
  complete: boolean
  created_at: string
}

export interface ChatDetail extends Chat {
  /** Oldest first. */
  messages: ChatMessage[]
}

/** The answer of a chat's message: /api/search's, with how it was searched and the stored ids. */
export interface ChatAnswer extends Answer {
  search_query: string
  followup: FollowUpMode | null
  chat_id: string | null
  user_message_id: number | null
  assistant_message_id: number | null
}

export interface MessageRequest {
  content: string
  filters?: SearchFilters
}

export interface ChatListParams {
  q?: string
  limit?: number
  cursor?: string
}

const chatPath = (id: string) => `/api/chats/${encodeURIComponent(id)}`

export const chatsApi = {
  create: (body: { title?: string } = {}, signal?: AbortSignal) =>
    api<Chat>('/api/chats', { method: 'POST', body, signal }),
  list: (params: ChatListParams = {}, signal?: AbortSignal) =>
    api<ChatPage>(`/api/chats${query({ q: params.q, limit: params.limit, cursor: params.cursor })}`, { signal }),
  get: (id: string, signal?: AbortSignal) => api<ChatDetail>(chatPath(id), { signal }),
  rename: (id: string, title: string) => api<Chat>(chatPath(id), { method: 'PATCH', body: { title } }),
  remove: (id: string) => api<void>(chatPath(id), { method: 'DELETE' }),
  /** Sends a message and returns its JSON answer once finished (no stream). */
  send: (id: string, body: MessageRequest, signal?: AbortSignal) =>
    api<ChatAnswer>(`${chatPath(id)}/messages`, { method: 'POST', body, signal }),
  /**
   * Sends a message and returns its answer events as they come; a busy server is asked again after
   * its Retry-After, and aborting `options.signal` stops the answer (what was said is stored, marked
   * incomplete).
   */
  openMessageStream: (id: string, body: MessageRequest, options: OpenAnswerOptions = {}): Promise<AsyncGenerator<AnswerEvent>> =>
    openEventStream(`${chatPath(id)}/messages`, body, options),
}

export const chatKeys = {
  all: ['chats'] as const,
  lists: ['chats', 'list'] as const,
  list: (q: string) => ['chats', 'list', { q }] as const,
  chat: (id: string) => ['chats', id] as const,
}

export const CHAT_PAGE_SIZE = 30

/** The user's chats, most recently active first, a page at a time; `q` searches titles and messages. */
export function useChats(q: string) {
  return useInfiniteQuery({
    queryKey: chatKeys.list(q),
    queryFn: ({ pageParam, signal }) =>
      chatsApi.list({ q: q || undefined, limit: CHAT_PAGE_SIZE, cursor: pageParam ?? undefined }, signal),
    initialPageParam: null as string | null,
    getNextPageParam: (last) => last.next_cursor,
  })
}

/** One chat with its messages (disabled without an id). */
export function useChat(id: string | undefined) {
  return useQuery({
    queryKey: chatKeys.chat(id ?? ''),
    queryFn: ({ signal }) => chatsApi.get(id as string, signal),
    enabled: Boolean(id),
  })
}

/** Creates a chat, waiting out a busy server (429/503) as the stream does. */
export function createChat(
  options: { title?: string; signal?: AbortSignal; onWait?: (seconds: number, error: ApiError) => void } = {},
): Promise<Chat> {
  return withRetryAfter(() => chatsApi.create(options.title ? { title: options.title } : {}, options.signal), {
    signal: options.signal,
    onWait: options.onWait,
    attempts: 5,
  })
}

/** Refreshes the lists and the chat after it changed (a message stored, a rename). */
export function chatChanged(client: QueryClient, id: string): Promise<void> {
  return Promise.all([
    client.invalidateQueries({ queryKey: chatKeys.lists }),
    client.invalidateQueries({ queryKey: chatKeys.chat(id) }),
  ]).then(() => undefined)
}

export function useRenameChat() {
  const client = useQueryClient()
  return useMutation({
    mutationFn: ({ id, title }: { id: string; title: string }) => chatsApi.rename(id, title),
    onSuccess: (chat) => {
      // The new name shows at once in the open chat; the lists are fetched again (their order may change).
      client.setQueryData<ChatDetail>(chatKeys.chat(chat.id), (old) => (old ? { ...old, ...chat } : old))
      void client.invalidateQueries({ queryKey: chatKeys.lists })
    },
  })
}

export function useDeleteChat() {
  const client = useQueryClient()
  return useMutation({
    mutationFn: (id: string) => chatsApi.remove(id),
    onSuccess: (_, id) => {
      client.removeQueries({ queryKey: chatKeys.chat(id), exact: true })
      void client.invalidateQueries({ queryKey: chatKeys.lists })
    },
  })
}
