// Typed client of /api/ingest: uploads, batches and the runs that report their progress.
import { useMutation, useQueryClient } from '@tanstack/react-query'
import { api, query, withRetryAfter, type ApiError } from './http'

export type RunStatus = 'queued' | 'running' | 'succeeded' | 'completed_with_errors' | 'failed'

/** Why one file of a run could not be read (encrypted_document, corrupt_document, ...). */
export interface FileError {
  file: string
  code: string
  message: string
}

export interface Run {
  id: string
  label: string
  status: RunStatus
  files_total: number
  files_done: number
  files_failed: number
  /** Files not indexed because their item was deleted meanwhile: cancelled, not failed. */
  files_skipped: number
  chunks_written: number
  passages_reused: number
  passages_embedded: number
  passages_pending_embedding: number
  /** Share of files finished, 0..1. */
  progress: number
  errors: FileError[]
  /** The cancelled files, each with its reason (code item_deleted); not errors. */
  skipped: FileError[]
  /** Why the run's passages wait for their vectors (the last embedding failure); null while they succeed. */
  embedding_error?: string | null
  /** When failed embeddings are tried again. */
  embedding_retry_at?: string | null
  item_ids: string[]
  created_at: string
  started_at: string | null
  finished_at: string | null
}

export interface RunList {
  runs: Run[]
}

// ---- Uploads, batches, typed items and run polling (the Add page) ----

/** A run is over in these states; nothing more will change. */
export const TERMINAL_RUN_STATUSES: readonly RunStatus[] = ['succeeded', 'completed_with_errors', 'failed']

export function isTerminalRun(run: Pick<Run, 'status'>): boolean {
  return TERMINAL_RUN_STATUSES.includes(run.status)
}

/** 202 of POST /api/ingest. */
export interface IngestAccepted {
  run_id: string
  item_id: string
  status: string
  /** The file was already in the library: it is re-checked, not copied. */
  duplicate: boolean
  status_url: string
}

/** 202 of POST /api/ingest/batch (a zip). */
export interface BatchAccepted {
  run_id: string
  files: number
  status_url: string
}

export type TypedItemType = 'PERSONAL_NOTE' | 'HIGHLIGHT' | 'INSIGHT'

/** Body of POST /api/add-item. */
export interface AddItemBody {
  item_type: TypedItemType
  text: string
  title?: string
  author?: string
  page?: number
  chapter?: string
  tags?: string[]
}

/** The item POST /api/add-item created (the fields the Add page shows). */
export interface AddedItem {
  id: string
  item_type: string
  title: string
  author: string | null
  tags: string[]
  status: string
}

function fileForm(file: File): FormData {
  const form = new FormData()
  form.append('file', file, file.name)
  return form
}

export const ingestApi = {
  upload: (file: File, signal?: AbortSignal) =>
    api<IngestAccepted>('/api/ingest', { method: 'POST', body: fileForm(file), signal }),
  uploadBatch: (zip: File, signal?: AbortSignal) =>
    api<BatchAccepted>('/api/ingest/batch', { method: 'POST', body: fileForm(zip), signal }),
  run: (runId: string, signal?: AbortSignal) =>
    api<Run>(`/api/ingest/runs/${encodeURIComponent(runId)}`, { signal }),
  runs: (limit: number, signal?: AbortSignal) => api<RunList>(`/api/ingest/runs${query({ limit })}`, { signal }),
  addItem: (body: AddItemBody) => api<AddedItem>('/api/add-item', { method: 'POST', body }),
}

/**
 * Adds a note, highlight or insight (a busy server is asked again after its Retry-After, `onWait`
 * told first); the library's lists and tags are stale afterwards.
 */
export function useAddItem(options: { onWait?: (seconds: number, error: ApiError) => void } = {}) {
  const client = useQueryClient()
  return useMutation({
    mutationFn: (body: AddItemBody) => withRetryAfter(() => ingestApi.addItem(body), { attempts: 4, onWait: options.onWait }),
    onSuccess: () => client.invalidateQueries({ queryKey: ['library'] }),
  })
}
