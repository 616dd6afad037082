// The Add page's uploads: rows in a reducer, an upload queue sending the files, and a poller
// following each accepted file's ingestion run until it ends. Both stop when the page goes away.
import { useCallback, useEffect, useReducer, useRef } from 'react'
import { useQueryClient } from '@tanstack/react-query'
import { ingestApi, isTerminalRun } from '../../api/ingest'
import type { PickedFile } from './dropFiles'
import { newRow, rowsReducer, type Accepted } from './rows'
import { RunPoller } from './runPoller'
import { UploadQueue } from './uploadQueue'

interface Job {
  id: string
  file: File
  zip: boolean
}

export function useUploads() {
  const client = useQueryClient()
  const [rows, dispatch] = useReducer(rowsReducer, [])
  const queueRef = useRef<UploadQueue<Job, Accepted> | null>(null)
  const nextId = useRef(0)

  useEffect(() => {
    const rowOfRun = new Map<string, string>()
    const poller = new RunPoller({
      fetchRun: (runId, signal) => ingestApi.run(runId, signal),
      fetchRuns: async (limit, signal) => (await ingestApi.runs(limit, signal)).runs,
      onRun: (run) => {
        const rowId = rowOfRun.get(run.id)
        if (rowId) dispatch({ type: 'run', rowId, run })
        // New items are in the library now: its lists are stale.
        if (isTerminalRun(run)) void client.invalidateQueries({ queryKey: ['library'] })
      },
      onLost: (runId, error) => {
        const rowId = rowOfRun.get(runId)
        if (rowId) dispatch({ type: 'runLost', rowId, error })
      },
    })
    const queue = new UploadQueue<Job, Accepted>({
      send: (job, signal) => (job.zip ? ingestApi.uploadBatch(job.file, signal) : ingestApi.upload(job.file, signal)),
      onEvent: (event) => {
        dispatch({ type: 'upload', event })
        if (event.type !== 'accepted') return
        // Duplicates too: their re-check tells whether the copy in the library is a readable one.
        const result = event.result
        rowOfRun.set(result.run_id, event.id)
        poller.watch(result.run_id)
      },
    })
    queueRef.current = queue
    return () => {
      queue.close()
      poller.close()
      queueRef.current = null
    }
  }, [client])

  const addFiles = useCallback((files: PickedFile[]) => {
    if (files.length === 0) return
    const added = files.map(({ file, path }) => ({ row: newRow(`u${++nextId.current}`, file, path), file }))
    dispatch({ type: 'add', rows: added.map((a) => a.row) })
    queueRef.current?.add(added.map(({ row, file }) => ({ id: row.id, file, zip: row.kind === 'zip' })))
  }, [])

  const cancel = useCallback((id: string) => queueRef.current?.cancel(id), [])
  const clearFinished = useCallback(() => dispatch({ type: 'clearFinished' }), [])

  return { rows, addFiles, cancel, clearFinished }
}
