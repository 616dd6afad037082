// A run as the server reports it, for tests.
import type { Run } from '../../api/ingest'

export function makeRun(patch: Partial<Run> = {}): Run {
  return {
    id: 'run-1',
    label: 'a.pdf',
    status: 'queued',
    files_total: 1,
    files_done: 0,
    files_failed: 0,
    files_skipped: 0,
    chunks_written: 0,
    passages_reused: 0,
    passages_embedded: 0,
    passages_pending_embedding: 0,
    progress: 0,
    errors: [],
    skipped: [],
    item_ids: [],
    created_at: '2025-01-01T00:00:00Z',
    started_at: null,
    finished_at: null,
    ...patch,
  }
}
