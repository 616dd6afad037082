// Kept originals: an item's uploaded file, read a byte range at a time (GET /api/library/items/{id}/file).
import { apiResponse } from './http'

export function itemFilePath(itemId: string): string {
  return `/api/library/items/${encodeURIComponent(itemId)}/file`
}

export interface FileRange {
  /** Bytes from `start` on. */
  bytes: Uint8Array
  start: number
  /** The whole file's size. */
  size: number
}

/** Reads bytes [start, end) of an item's original (the server may answer the whole file instead). */
export async function readItemFileRange(
  itemId: string,
  start: number,
  end: number,
  signal?: AbortSignal,
): Promise<FileRange> {
  const response = await apiResponse(itemFilePath(itemId), {
    headers: { Accept: '*/*', Range: `bytes=${start}-${end - 1}` },
    signal,
  })
  const bytes = new Uint8Array(await response.arrayBuffer())
  const range = /bytes (\d+)-\d+\/(\d+)/.exec(response.headers.get('Content-Range') ?? '')
  if (response.status === 206 && range) return { bytes, start: Number(range[1]), size: Number(range[2]) }
  return { bytes, start: 0, size: bytes.length }
}
