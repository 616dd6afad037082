// Typed client of POST /api/smart-search (hybrid search over the library) and its query hook.
import { keepPreviousData, useQuery } from '@tanstack/react-query'
import { api, withRetryAfter, type ApiError } from './http'
import type { ItemType } from './library'

export interface SearchFilters {
  item_ids?: string[]
  item_types?: ItemType[]
  tags?: string[]
}

export interface Hit {
  chunk_id: number
  item_id: string
  title: string
  author: string | null
  item_type: ItemType
  tags: string[]
  content_type: string
  chunk_index: number
  text: string
  page: number | null
  chapter: string | null
  /** Reciprocal Rank Fusion score. */
  score: number
  lexical_rank: number | null
  lexical_score: number | null
  dense_rank: number | null
  dense_similarity: number | null
}

export type Degraded = 'breaker_open' | 'timeout' | 'busy' | 'rate_limited' | 'provider_error'

export interface SearchResult {
  query: string
  /** 1 hybrid, 2 keyword, 3 cached. */
  tier: 1 | 2 | 3
  tier_name: string
  hits: Hit[]
  took_ms: number
  expanded_queries: string[]
  cached: boolean
  stale: boolean
  degraded: Degraded | null
}

export interface SearchRequest {
  query: string
  limit?: number
  filters?: SearchFilters
}

/** Filters without empty lists (the server treats a missing filter as "all"). */
export function compactFilters(filters: SearchFilters): SearchFilters | undefined {
  const out: SearchFilters = {}
  if (filters.item_ids?.length) out.item_ids = filters.item_ids
  if (filters.item_types?.length) out.item_types = filters.item_types
  if (filters.tags?.length) out.tags = filters.tags
  return Object.keys(out).length > 0 ? out : undefined
}

export const searchApi = {
  smartSearch: (body: SearchRequest, signal?: AbortSignal) =>
    api<SearchResult>('/api/smart-search', { method: 'POST', body, signal }),
}

export const searchKeys = {
  all: ['smart-search'] as const,
  results: (request: SearchRequest) => ['smart-search', request] as const,
}

export interface SmartSearchOptions {
  /** Told when the server is busy and the search waits its Retry-After before asking again. */
  onWait?: (seconds: number, error: ApiError) => void
  enabled?: boolean
}

/**
 * Results for a query. A newer query aborts the stale request (the query's AbortSignal), the last
 * results stay on screen meanwhile, and 429/503 are retried after their Retry-After.
 */
export function useSmartSearch(request: SearchRequest, options: SmartSearchOptions = {}) {
  return useQuery({
    queryKey: searchKeys.results(request),
    queryFn: ({ signal }) =>
      withRetryAfter(() => searchApi.smartSearch(request, signal), { signal, onWait: options.onWait, attempts: 5 }),
    enabled: (options.enabled ?? true) && request.query.trim() !== '',
    placeholderData: keepPreviousData,
    // Results change only when the library does; a revisit within the minute shows them at once.
    staleTime: 60_000,
  })
}
