// Typed client of /api/library and /api/content (items, their chunks, tags) and the item's ingestion runs,
// with one TanStack Query hook per resource. Query keys follow the API paths.
import {
  keepPreviousData,
  useInfiniteQuery,
  useMutation,
  useQuery,
  useQueryClient,
  type InfiniteData,
  type QueryClient,
} from '@tanstack/react-query'
import { api, query } from './http'
import type { RunList } from './ingest'

export const ITEM_TYPES = ['BOOK', 'ARTICLE', 'WEBSITE', 'PERSONAL_NOTE', 'HIGHLIGHT', 'INSIGHT'] as const
export type ItemType = (typeof ITEM_TYPES)[number]

export const ITEM_STATUSES = ['pending', 'ready', 'failed'] as const
export type ItemStatus = (typeof ITEM_STATUSES)[number]

export const ITEM_SORTS = ['newest', 'oldest', 'title', 'author'] as const
export type ItemSort = (typeof ITEM_SORTS)[number]

/** Chunks per request on the item and reader pages; the reader's offsets are multiples of it. */
export const CHUNK_PAGE_SIZE = 50

export interface Item {
  id: string
  item_type: ItemType
  title: string
  author: string | null
  isbn: string | null
  tags: string[]
  summary: string | null
  source_filename: string | null
  language: string | null
  status: ItemStatus
  status_detail: string | null
  chunk_count: number
  created_at: string
  updated_at: string
}

export interface ItemPage {
  items: Item[]
  next_cursor: string | null
}

/** Filters and order of the items list (all optional; the server defaults to newest first). */
export interface ItemListParams {
  item_type?: ItemType
  tag?: string
  status?: ItemStatus
  q?: string
  sort?: ItemSort
  limit?: number
}

export interface ItemPatch {
  item_type?: ItemType
  title?: string
  author?: string | null
  isbn?: string | null
  tags?: string[]
  summary?: string | null
}

export interface Chunk {
  id: number
  item_id: string
  item_title: string
  item_author: string | null
  item_type: ItemType
  content_type: string
  chunk_index: number
  text: string
  page: number | null
  chapter: string | null
}

export interface ChunkPage {
  chunks: Chunk[]
  total: number
}

export interface ContentBatch {
  chunks: Chunk[]
  missing: number[]
}

export interface TagCount {
  tag: string
  count: number
}

export interface BulkDeleteResult {
  deleted: string[]
  missing: string[]
}

const enc = encodeURIComponent

export const libraryApi = {
  listItems: (params: ItemListParams & { cursor?: string | null }, signal?: AbortSignal) =>
    api<ItemPage>(`/api/library/items${query({ ...params })}`, { signal }),
  getItem: (id: string, signal?: AbortSignal) => api<Item>(`/api/library/items/${enc(id)}`, { signal }),
  patchItem: (id: string, patch: ItemPatch) =>
    api<Item>(`/api/library/items/${enc(id)}`, { method: 'PATCH', body: patch }),
  deleteItem: (id: string) => api<void>(`/api/library/items/${enc(id)}`, { method: 'DELETE' }),
  deleteItems: (ids: string[]) =>
    api<BulkDeleteResult>('/api/library/items/delete', { method: 'POST', body: { ids } }),
  itemChunks: (id: string, offset: number, limit: number, signal?: AbortSignal) =>
    api<ChunkPage>(`/api/library/items/${enc(id)}/chunks${query({ offset, limit })}`, { signal }),
  tags: (signal?: AbortSignal) => api<{ tags: TagCount[] }>('/api/library/tags', { signal }),
  content: (ids: number[], signal?: AbortSignal) =>
    api<ContentBatch>(`/api/content${query({ ids: ids.join(',') })}`, { signal }),
  itemRuns: (itemId: string, signal?: AbortSignal) =>
    api<RunList>(`/api/ingest/runs${query({ item_id: itemId, limit: 20 })}`, { signal }),
}

export const libraryKeys = {
  all: ['library'] as const,
  items: ['library', 'items'] as const,
  itemList: (params: ItemListParams) => ['library', 'items', params] as const,
  item: (id: string) => ['library', 'items', id] as const,
  chunks: (id: string) => ['library', 'items', id, 'chunks'] as const,
  chunkPage: (id: string, offset: number, limit: number) =>
    ['library', 'items', id, 'chunks', { offset, limit }] as const,
  tags: ['library', 'tags'] as const,
  content: (ids: number[]) => ['content', ids] as const,
  runs: (itemId: string) => ['ingest', 'runs', { item_id: itemId }] as const,
}

/** How often lists and pages re-ask while an item is still being processed. */
export const PENDING_REFRESH_MS = 3000

export function hasPending(pages: InfiniteData<ItemPage> | undefined): boolean {
  return pages?.pages.some((page) => page.items.some((item) => item.status === 'pending')) ?? false
}

/** The items list, a page at a time over `next_cursor`; refreshes itself while any item is pending. */
export function useItems(params: ItemListParams) {
  return useInfiniteQuery({
    queryKey: libraryKeys.itemList(params),
    queryFn: ({ pageParam, signal }) => libraryApi.listItems({ ...params, cursor: pageParam }, signal),
    initialPageParam: null as string | null,
    getNextPageParam: (last) => last.next_cursor,
    placeholderData: keepPreviousData,
    refetchInterval: (q) => (hasPending(q.state.data) ? PENDING_REFRESH_MS : false),
  })
}

export function useItem(id: string) {
  return useQuery({
    queryKey: libraryKeys.item(id),
    queryFn: ({ signal }) => libraryApi.getItem(id, signal),
    refetchInterval: (q) => (q.state.data?.status === 'pending' ? PENDING_REFRESH_MS : false),
  })
}

/** An item's chunks from `offset` on, page after page ("load more"). */
export function useItemChunks(id: string, options: { enabled?: boolean; limit?: number } = {}) {
  const limit = options.limit ?? CHUNK_PAGE_SIZE
  return useInfiniteQuery({
    queryKey: [...libraryKeys.chunks(id), { limit, paged: true }] as const,
    queryFn: ({ pageParam, signal }) => libraryApi.itemChunks(id, pageParam, limit, signal),
    initialPageParam: 0,
    getNextPageParam: (last, _all, lastOffset) =>
      lastOffset + last.chunks.length < last.total && last.chunks.length > 0 ? lastOffset + last.chunks.length : undefined,
    enabled: options.enabled ?? true,
  })
}

/** One slice of an item's chunks (the reader's page of text). */
export function useChunkPage(id: string, offset: number | undefined, limit = CHUNK_PAGE_SIZE) {
  return useQuery({
    queryKey: libraryKeys.chunkPage(id, offset ?? 0, limit),
    queryFn: ({ signal }) => libraryApi.itemChunks(id, offset ?? 0, limit, signal),
    enabled: offset !== undefined,
    placeholderData: keepPreviousData,
  })
}

export function useTags() {
  return useQuery({ queryKey: libraryKeys.tags, queryFn: ({ signal }) => libraryApi.tags(signal), staleTime: 30_000 })
}

/** Chunks by id (e.g. a cited chunk, to learn its item and index). */
export function useContent(ids: number[], options: { enabled?: boolean } = {}) {
  return useQuery({
    queryKey: libraryKeys.content(ids),
    queryFn: ({ signal }) => libraryApi.content(ids, signal),
    enabled: (options.enabled ?? true) && ids.length > 0,
    staleTime: 60_000,
  })
}

/** The ingestion runs that wrote this item, newest first. */
export function useItemRuns(itemId: string) {
  return useQuery({
    queryKey: libraryKeys.runs(itemId),
    queryFn: ({ signal }) => libraryApi.itemRuns(itemId, signal),
    refetchInterval: (q) =>
      q.state.data?.runs.some((run) => run.status === 'queued' || run.status === 'running') ? PENDING_REFRESH_MS : false,
  })
}

export function usePatchItem(id: string) {
  const client = useQueryClient()
  return useMutation({
    mutationFn: (patch: ItemPatch) => libraryApi.patchItem(id, patch),
    onSuccess: (item) => {
      client.setQueryData(libraryKeys.item(id), item)
      // Lists and tag counts may have changed, and the item's chunks carry its title; the item itself is fresh.
      void client.invalidateQueries({
        queryKey: libraryKeys.all,
        predicate: (q) => !(q.queryKey.length === 3 && q.queryKey[2] === id),
      })
    },
  })
}

export function useDeleteItem() {
  const client = useQueryClient()
  return useMutation({
    mutationFn: (id: string) => libraryApi.deleteItem(id),
    onSuccess: (_void, id) => {
      // The deleted item's own queries would only answer 404 now. They are not removed here: the page
      // still showing the item would fetch them again at once; it removes them once it has left
      // (forgetDeletedItem).
      void client.invalidateQueries({ queryKey: libraryKeys.all, predicate: (q) => q.queryKey[2] !== id })
    },
  })
}

/** Drops a deleted item's cached queries; call it once nothing on screen shows the item any more. */
export function forgetDeletedItem(client: QueryClient, id: string): void {
  client.removeQueries({ queryKey: libraryKeys.item(id) })
}

export function useDeleteItems() {
  const client = useQueryClient()
  return useMutation({
    mutationFn: (ids: string[]) => libraryApi.deleteItems(ids),
    onSuccess: () => client.invalidateQueries({ queryKey: libraryKeys.all }),
  })
}
