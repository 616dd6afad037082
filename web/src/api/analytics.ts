// Typed client of the analytics (/api/analytics): a word's concordance (keyword-in-context lines) and
// its distribution over the library, both matched by stem in each item's language.
import { keepPreviousData, useInfiniteQuery, useQuery } from '@tanstack/react-query'
import { api, query } from './http'
import type { ItemType } from './library'

export interface ConcordanceLine {
  item_id: string
  title: string
  author: string | null
  chunk_id: number
  chunk_index: number
  page: number | null
  chapter: string | null
  /** Text before the match (whitespace collapsed, cut to whole words). */
  left: string
  /** The word as written, e.g. "kitaplarımızdan" for the term "kitap". */
  match: string
  right: string
  /** Character offset of the match in the chunk's text. */
  offset: number
}

export interface Concordance {
  term: string
  /** The stems looked up, per text-search configuration (language). */
  lexemes: Record<string, string[]>
  /** By item title, then reading order. */
  lines: ConcordanceLine[]
  next_cursor: string | null
}

export interface SectionCount {
  page: number | null
  chapter: string | null
  count: number
  chunks: number
}

export interface ItemDistribution {
  item_id: string
  title: string
  author: string | null
  item_type: ItemType
  count: number
  chunks: number
  /** Per page and chapter, in page order. */
  sections: SectionCount[]
}

export interface Distribution {
  term: string
  lexemes: Record<string, string[]>
  total_count: number
  total_chunks: number
  total_items: number
  /** Most occurrences first. */
  items: ItemDistribution[]
  /** More items hold the term than are listed (the totals count them all). */
  truncated: boolean
}

export interface TermParams {
  term: string
  item_id?: string
}

export const CONCORDANCE_PAGE_SIZE = 50

export const analyticsApi = {
  concordance: (params: TermParams & { limit?: number; cursor?: string }, signal?: AbortSignal) =>
    api<Concordance>(
      `/api/analytics/concordance${query({ term: params.term, item_id: params.item_id, limit: params.limit, cursor: params.cursor })}`,
      { signal },
    ),
  distribution: (params: TermParams, signal?: AbortSignal) =>
    api<Distribution>(`/api/analytics/distribution${query({ term: params.term, item_id: params.item_id })}`, { signal }),
}

export const analyticsKeys = {
  all: ['analytics'] as const,
  concordance: (params: TermParams) => ['analytics', 'concordance', params] as const,
  distribution: (params: TermParams) => ['analytics', 'distribution', params] as const,
}

// Counts change only when the library does; a revisit within the minute shows them at once.
const STALE_MS = 60_000

/** The keyword-in-context lines of a term, a page at a time over `next_cursor`. */
export function useConcordance(params: TermParams) {
  return useInfiniteQuery({
    queryKey: analyticsKeys.concordance(params),
    queryFn: ({ pageParam, signal }) =>
      analyticsApi.concordance({ ...params, limit: CONCORDANCE_PAGE_SIZE, cursor: pageParam ?? undefined }, signal),
    initialPageParam: null as string | null,
    getNextPageParam: (last) => last.next_cursor,
    enabled: params.term.trim() !== '',
    staleTime: STALE_MS,
  })
}

/** How often a term occurs per item (and per page/chapter of each). */
export function useDistribution(params: TermParams) {
  return useQuery({
    queryKey: analyticsKeys.distribution(params),
    queryFn: ({ signal }) => analyticsApi.distribution(params, signal),
    enabled: params.term.trim() !== '',
    placeholderData: keepPreviousData,
    staleTime: STALE_MS,
  })
}
