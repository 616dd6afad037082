// Ingestion's file error codes in plain words (the catalogs' common.fileError); an unknown code keeps the
// server's own message.
import type { TFunction } from 'i18next'

export const FILE_ERROR_CODES = [
  'encrypted_document',
  'corrupt_document',
  'empty_document',
  'document_too_large',
  'unsupported_type',
  'payload_too_large',
  'document_error',
] as const

/** Returns the catalog key of a file error code, or null when the code has no wording of its own. */
export function fileErrorKey(code: string): string | null {
  return (FILE_ERROR_CODES as readonly string[]).includes(code) ? `common.fileError.${code}` : null
}

export function fileErrorMessage(t: TFunction, error: { code: string; message: string }): string {
  const key = fileErrorKey(error.code)
  return key ? t(key) : error.message
}
