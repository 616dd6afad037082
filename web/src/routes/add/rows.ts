// The Add page's upload rows: one per dropped file (or zip), moved along by upload events and by the
// ingestion run the server reports. Pure: a reducer and the run-status → row-state mapping.
import { ApiError } from '../../api/http'
import type { BatchAccepted, FileError, IngestAccepted, Run } from '../../api/ingest'
import type { UploadEvent } from './uploadQueue'

export type RowState =
  | 'queued'
  | 'uploading'
  | 'retrying'
  | 'waiting'
  | 'parsing'
  | 'embedding'
  | 'done'
  | 'duplicate'
  | 'failed'

export const FINISHED_STATES: readonly RowState[] = ['done', 'duplicate', 'failed']

export type Accepted = IngestAccepted | BatchAccepted

export interface RowFailure {
  file?: string
  code: string
  message: string
}

export interface UploadRow {
  id: string
  name: string
  size: number
  kind: 'file' | 'zip'
  state: RowState
  /** When a busy server's Retry-After runs out (clock milliseconds). */
  retryUntil?: number
  runId?: string
  itemIds: string[]
  /** Passages with a vector (embedded or reused) out of all of them, while embedding. */
  embedded?: { n: number; m: number }
  /** A zip's files: indexed, failed, cancelled (their item was deleted) and in all. */
  files?: RunFiles
  errors: RowFailure[]
  /** A zip's files cancelled because their item was deleted meanwhile (not errors). */
  skipped?: RowFailure[]
  /** Why embedding waits and when it is tried again, while the server retries it. */
  embeddingRetry?: { reason: string; at: string | null }
}

export interface RunFiles {
  done: number
  failed: number
  skipped: number
  total: number
}

export interface RunView {
  state: 'waiting' | 'parsing' | 'embedding' | 'done' | 'failed'
  embedded?: { n: number; m: number }
  files: RunFiles
  errors: FileError[]
  skipped: FileError[]
  embeddingRetry?: { reason: string; at: string | null }
}

/** Where a run stands, in the words of an upload row. */
export function runView(run: Run): RunView {
  const files = { done: run.files_done, failed: run.files_failed, skipped: run.files_skipped, total: run.files_total }
  const skipped = run.skipped
  switch (run.status) {
    case 'queued':
      return { state: 'waiting', files, errors: run.errors, skipped }
    case 'running': {
      if (run.passages_pending_embedding > 0) {
        const n = run.passages_embedded + run.passages_reused
        const embeddingRetry = run.embedding_error
          ? { reason: run.embedding_error, at: run.embedding_retry_at ?? null }
          : undefined
        return {
          state: 'embedding',
          embedded: { n, m: n + run.passages_pending_embedding },
          embeddingRetry,
          files,
          errors: run.errors,
          skipped,
        }
      }
      return { state: 'parsing', files, errors: run.errors, skipped }
    }
    case 'succeeded':
      return { state: 'done', files, errors: run.errors, skipped }
    default:
      return { state: 'failed', files, errors: run.errors, skipped }
  }
}

/** An upload's failure as a stable code and the server's message. */
export function failureFrom(error: unknown): RowFailure {
  if (error instanceof ApiError) return { code: error.code, message: error.message }
  if (error instanceof Error) return { code: 'network', message: error.message }
  return { code: 'document_error', message: String(error) }
}

export function isZip(file: { name: string; type?: string }): boolean {
  return file.name.toLowerCase().endsWith('.zip') || file.type === 'application/zip'
}

export type RowAction =
  | { type: 'add'; rows: UploadRow[] }
  | { type: 'upload'; event: UploadEvent<Accepted> }
  | { type: 'run'; rowId: string; run: Run }
  | { type: 'runLost'; rowId: string; error: unknown }
  | { type: 'clearFinished' }

function patch(rows: UploadRow[], id: string, change: (row: UploadRow) => UploadRow): UploadRow[] {
  const index = rows.findIndex((row) => row.id === id)
  if (index < 0) return rows
  const next = rows.slice()
  next[index] = change(rows[index] as UploadRow)
  return next
}

function fromUpload(row: UploadRow, event: UploadEvent<Accepted>): UploadRow | null {
  switch (event.type) {
    case 'uploading':
      return { ...row, state: 'uploading', retryUntil: undefined }
    case 'retrying':
      return { ...row, state: 'retrying', retryUntil: event.until }
    case 'failed':
      return { ...row, state: 'failed', retryUntil: undefined, errors: [failureFrom(event.error)] }
    case 'cancelled':
      return null
    case 'accepted': {
      const result = event.result
      if ('duplicate' in result) {
        return {
          ...row,
          state: result.duplicate ? 'duplicate' : 'waiting',
          retryUntil: undefined,
          runId: result.run_id,
          itemIds: [result.item_id],
        }
      }
      return {
        ...row,
        state: 'waiting',
        retryUntil: undefined,
        runId: result.run_id,
        files: { done: 0, failed: 0, skipped: 0, total: result.files },
      }
    }
  }
}

export function rowsReducer(rows: UploadRow[], action: RowAction): UploadRow[] {
  switch (action.type) {
    case 'add':
      return [...rows, ...action.rows]
    case 'upload': {
      const { event } = action
      const row = rows.find((r) => r.id === event.id)
      if (!row) return rows
      const next = fromUpload(row, event)
      return next ? patch(rows, row.id, () => next) : rows.filter((r) => r.id !== row.id)
    }
    case 'run':
      return patch(rows, action.rowId, (row) => {
        const view = runView(action.run)
        // A duplicate stays "already in library" while the server re-checks it, unless the copy in
        // the library is one that could not be read (the re-check fails again): that is news.
        if (row.state === 'duplicate' && view.state !== 'failed') return row
        return {
          ...row,
          state: view.state,
          embedded: view.embedded,
          embeddingRetry: view.embeddingRetry,
          files: view.files,
          errors: view.errors,
          skipped: view.skipped,
          itemIds: action.run.item_ids.length > 0 ? action.run.item_ids : row.itemIds,
        }
      })
    case 'runLost':
      return patch(rows, action.rowId, (row) => ({ ...row, state: 'failed', errors: [failureFrom(action.error)] }))
    case 'clearFinished':
      return rows.filter((row) => !FINISHED_STATES.includes(row.state))
  }
}

/** A fresh row for a file; `path` is its place inside a dropped or chosen folder. */
export function newRow(id: string, file: File, path?: string): UploadRow {
  return {
    id,
    name: path || file.webkitRelativePath || file.name,
    size: file.size,
    kind: isZip(file) ? 'zip' : 'file',
    state: 'queued',
    itemIds: [],
    errors: [],
  }
}
