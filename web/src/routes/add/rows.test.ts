import { ApiError } from '../../api/http'
import { makeRun } from './testRuns'
import { newRow, rowsReducer, runView, type UploadRow } from './rows'


describe('runView', () => {
  it('says waiting while the run is queued', () => {
    expect(runView(makeRun()).state).toBe('waiting')
  })

  it('says parsing while running with nothing waiting for a vector', () => {
    expect(runView(makeRun({ status: 'running' })).state).toBe('parsing')
  })

  it('shows why embedding waits and when it is tried again', () => {
    const view = runView(
      makeRun({
        status: 'running',
        passages_pending_embedding: 4,
        embedding_error: 'breaker open: the embedding provider is failing',
        embedding_retry_at: '2025-01-01T00:01:00Z',
      }),
    )
    expect(view).toMatchObject({
      state: 'embedding',
      embeddingRetry: { reason: 'breaker open: the embedding provider is failing', at: '2025-01-01T00:01:00Z' },
    })
    expect(runView(makeRun({ status: 'running', passages_pending_embedding: 4 })).embeddingRetry).toBeUndefined()
  })

  it('counts embedded and reused passages while embedding', () => {
    const view = runView(
      makeRun({ status: 'running', passages_embedded: 30, passages_reused: 10, passages_pending_embedding: 60 }),
    )
    expect(view.state).toBe('embedding')
    expect(view.embedded).toEqual({ n: 40, m: 100 })
  })

  it('is done when the run succeeded, failed with its errors otherwise', () => {
    expect(runView(makeRun({ status: 'succeeded', files_done: 1 })).state).toBe('done')
    const errors = [{ file: 'a.pdf', code: 'encrypted_document', message: 'The PDF is encrypted.' }]
    expect(runView(makeRun({ status: 'failed', files_failed: 1, errors }))).toMatchObject({ state: 'failed', errors })
    const partial = runView(makeRun({ status: 'completed_with_errors', files_total: 3, files_done: 2, files_failed: 1, errors }))
    expect(partial).toMatchObject({ state: 'failed', files: { done: 2, failed: 1, total: 3 }, errors })
  })

  it('keeps files cancelled with their deleted item apart from the errors', () => {
    const skipped = [{ file: 'b.md', code: 'item_deleted', message: 'Its item was deleted while it was being processed.' }]
    const view = runView(
      makeRun({ status: 'succeeded', files_total: 3, files_done: 2, files_skipped: 1, skipped }),
    )
    expect(view).toMatchObject({ state: 'done', files: { done: 2, failed: 0, skipped: 1, total: 3 }, errors: [], skipped })
  })
})

describe('rowsReducer', () => {
  const file = (name: string) => new File(['x'], name)
  const start = (): UploadRow[] => rowsReducer([], { type: 'add', rows: [newRow('a', file('a.pdf')), newRow('z', file('books.zip'))] })

  it('follows a file from upload to done', () => {
    let rows = start()
    expect(rows.map((r) => [r.kind, r.state])).toEqual([
      ['file', 'queued'],
      ['zip', 'queued'],
    ])
    rows = rowsReducer(rows, { type: 'upload', event: { type: 'uploading', id: 'a', attempt: 1 } })
    expect(rows[0]!.state).toBe('uploading')
    rows = rowsReducer(rows, { type: 'upload', event: { type: 'retrying', id: 'a', seconds: 3, until: 5000, error: null } })
    expect(rows[0]).toMatchObject({ state: 'retrying', retryUntil: 5000 })
    rows = rowsReducer(rows, {
      type: 'upload',
      event: {
        type: 'accepted',
        id: 'a',
        result: { run_id: 'run-1', item_id: 'item-1', status: 'queued', duplicate: false, status_url: '' },
      },
    })
    expect(rows[0]).toMatchObject({ state: 'waiting', runId: 'run-1', itemIds: ['item-1'] })
    rows = rowsReducer(rows, { type: 'run', rowId: 'a', run: makeRun({ status: 'running', passages_pending_embedding: 5 }) })
    expect(rows[0]).toMatchObject({ state: 'embedding', embedded: { n: 0, m: 5 } })
    rows = rowsReducer(rows, { type: 'run', rowId: 'a', run: makeRun({ status: 'succeeded', item_ids: ['item-1'] }) })
    expect(rows[0]!.state).toBe('done')
  })

  it('marks a duplicate as already in the library and keeps it so', () => {
    let rows = rowsReducer(start(), {
      type: 'upload',
      event: {
        type: 'accepted',
        id: 'a',
        result: { run_id: 'run-1', item_id: 'item-1', status: 'queued', duplicate: true, status_url: '' },
      },
    })
    expect(rows[0]!.state).toBe('duplicate')
    rows = rowsReducer(rows, { type: 'run', rowId: 'a', run: makeRun({ status: 'running' }) })
    expect(rows[0]!.state).toBe('duplicate')
    rows = rowsReducer(rows, { type: 'run', rowId: 'a', run: makeRun({ status: 'succeeded' }) })
    expect(rows[0]!.state).toBe('duplicate')
  })

  it('reports a duplicate whose copy in the library cannot be read', () => {
    let rows = rowsReducer(start(), {
      type: 'upload',
      event: {
        type: 'accepted',
        id: 'a',
        result: { run_id: 'run-1', item_id: 'item-1', status: 'queued', duplicate: true, status_url: '' },
      },
    })
    const errors = [{ file: 'a.pdf', code: 'empty_document', message: 'a.pdf is empty.' }]
    rows = rowsReducer(rows, { type: 'run', rowId: 'a', run: makeRun({ status: 'failed', files_failed: 1, errors }) })
    expect(rows[0]).toMatchObject({ state: 'failed', errors })
  })

  it('records an upload refusal in plain terms and counts a zip’s files', () => {
    let rows = rowsReducer(start(), {
      type: 'upload',
      event: { type: 'failed', id: 'a', error: new ApiError(415, 'unsupported_type', 'Unsupported', null) },
    })
    expect(rows[0]).toMatchObject({ state: 'failed', errors: [{ code: 'unsupported_type' }] })
    rows = rowsReducer(rows, {
      type: 'upload',
      event: { type: 'accepted', id: 'z', result: { run_id: 'run-2', files: 4, status_url: '' } },
    })
    expect(rows[1]).toMatchObject({ state: 'waiting', files: { done: 0, failed: 0, total: 4 } })
    rows = rowsReducer(rows, { type: 'clearFinished' })
    expect(rows.map((r) => r.id)).toEqual(['z'])
  })

  it('drops a cancelled row', () => {
    const rows = rowsReducer(start(), { type: 'upload', event: { type: 'cancelled', id: 'a' } })
    expect(rows.map((r) => r.id)).toEqual(['z'])
  })
})
