// Ingestion's file error codes in plain words (the catalogs' common.fileError); an unknown code keeps the
// server's own message. bad_input has no wording on purpose: its message says what in particular was
// wrong (a zip that holds no files, a field too long), which a general phrase would hide.
import type { TFunction } from 'i18next'

export const FILE_ERROR_CODES = [
  // The file itself (tomehub/errors.py: DocumentError and its kinds).
  'encrypted_document',
  'corrupt_document',
  'empty_document',
  'document_too_large',
  'unsupported_type',
  'payload_too_large',
  'document_error',
  // Its parser, run in a sandboxed child process that died, hung or ran out of memory.
  'parser_failed',
  'parser_crashed',
  'parser_timeout',
  'parser_out_of_memory',
  // A file whose worker died every time it took it: it is not tried again.
  'poison_file',
  // Failures that were not the file's content, after the last retry (tomehub/ingest/service.py).
  'processing_failed',
  'embedding_failed',
  // A zip entry refused before it was unpacked (a decompression bomb; tomehub/ingest/archive.py).
  'unsafe_archive_entry',
  // An upload whose body stopped arriving (a whole upload's error, on the Add page).
  'body_timeout',
  // Not an error: a run's file cancelled because its item was deleted meanwhile (Run.skipped).
  'item_deleted',
] as const

/** Returns the catalog key of a file error code, or null when the code has no wording of its own. */
export function fileErrorKey(code: string): string | null {
  return (FILE_ERROR_CODES as readonly string[]).includes(code) ? `common.fileError.${code}` : null
}

export function fileErrorMessage(t: TFunction, error: { code: string; message: string }): string {
  const key = fileErrorKey(error.code)
  return key ? t(key) : error.message
}
