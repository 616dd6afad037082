// One upload on the Add page, in plain words: where it stands, its progress, and why it failed.
import { memo } from 'react'
import { Link } from '@tanstack/react-router'
import { useTranslation } from 'react-i18next'
import { useCountdown } from '../../components/BusyNotice'
import { ProgressRow, type ProgressTone } from '../../components/ProgressRow'
import type { RowFailure, RowState, UploadRow } from './rows'

const TONE: Record<RowState, ProgressTone> = {
  queued: 'neutral',
  uploading: 'active',
  retrying: 'warn',
  waiting: 'active',
  parsing: 'active',
  embedding: 'active',
  done: 'ok',
  duplicate: 'ok',
  failed: 'error',
}

const CANCELLABLE: readonly RowState[] = ['queued', 'uploading', 'retrying']

/** A file failure in words: the known codes are translated, others keep the server's message. */
export function useFailureText() {
  const { t } = useTranslation()
  return (failure: RowFailure) =>
    failure.code === 'network'
      ? t('add.error.network')
      : t(`common.fileError.${failure.code}`, { defaultValue: failure.message || t('common.fileError.document_error') })
}

function progressOf(row: UploadRow): number | null | undefined {
  if (row.state === 'embedding' && row.embedded && row.embedded.m > 0) return row.embedded.n / row.embedded.m
  if (row.kind === 'zip' && row.files && row.files.total > 0 && (row.state === 'parsing' || row.state === 'embedding')) {
    return (row.files.done + row.files.failed + row.files.skipped) / row.files.total
  }
  if (row.state === 'uploading' || row.state === 'parsing') return null
  return undefined
}

export const UploadRowView = memo(function UploadRowView({ row, onCancel }: { row: UploadRow; onCancel: (id: string) => void }) {
  const { t } = useTranslation()
  const failureText = useFailureText()
  const seconds = useCountdown(row.state === 'retrying' ? row.retryUntil : null)
  const label =
    row.state === 'retrying'
      ? t('add.state.retrying', { seconds })
      : row.state === 'embedding' && row.embeddingRetry
        ? t('add.embeddingRetrying', {
            n: row.embedded?.n ?? 0,
            m: row.embedded?.m ?? 0,
            reason: row.embeddingRetry.reason,
            time: row.embeddingRetry.at ? new Date(row.embeddingRetry.at).toLocaleTimeString() : '—',
          })
        : row.state === 'embedding'
          ? t('add.state.embedding', { n: row.embedded?.n ?? 0, m: row.embedded?.m ?? 0 })
          : row.state === 'failed' && row.kind === 'file' && row.errors[0]
            ? t('add.state.failedBecause', { reason: failureText(row.errors[0]) })
            : t(`add.state.${row.state}`)
  const itemId = row.kind === 'file' && row.itemIds.length === 1 ? row.itemIds[0] : undefined
  const showErrors = row.kind === 'zip' && row.errors.length > 0
  const skipped = row.kind === 'zip' ? (row.skipped ?? []) : []

  return (
    <ProgressRow
      name={row.name}
      state={row.state}
      label={label}
      tone={TONE[row.state]}
      progress={progressOf(row)}
      actions={
        <>
          {row.kind === 'zip' && row.files && (
            <span className="text-xs text-stone-600 dark:text-stone-400">
              {t('add.zipFiles', { done: row.files.done, total: row.files.total })}
              {row.files.skipped > 0 && <> · {t('add.zipSkipped', { count: row.files.skipped })}</>}
            </span>
          )}
          {itemId && (row.state === 'done' || row.state === 'duplicate') && (
            <Link
              to="/library/$itemId"
              params={{ itemId }}
              className="text-sm font-medium text-orange-800 underline underline-offset-2 dark:text-orange-300"
              aria-label={t('add.openItemNamed', { name: row.name })}
            >
              {t('add.openItem')}
            </Link>
          )}
          {CANCELLABLE.includes(row.state) && (
            <button
              type="button"
              onClick={() => onCancel(row.id)}
              aria-label={t('add.cancelNamed', { name: row.name })}
              className="rounded px-1.5 text-sm text-stone-600 hover:bg-stone-100 hover:text-stone-900 dark:text-stone-400 dark:hover:bg-stone-800 dark:hover:text-stone-100"
            >
              {t('app.cancel')}
            </button>
          )}
        </>
      }
    >
      {showErrors && (
        <ul className="mt-1.5 space-y-0.5 text-sm text-red-800 dark:text-red-300">
          {row.errors.map((error, i) => (
            <li key={`${error.file ?? ''}-${i}`}>
              {error.file ? `${error.file}: ` : ''}
              {failureText(error)}
            </li>
          ))}
        </ul>
      )}
      {skipped.length > 0 && (
        // Cancelled, not failed: said in the row's quiet colour, apart from the errors.
        <ul className="mt-1.5 space-y-0.5 text-sm text-stone-600 dark:text-stone-400">
          {skipped.map((file, i) => (
            <li key={`skipped-${file.file ?? ''}-${i}`}>
              {file.file ? `${file.file}: ` : ''}
              {failureText(file)}
            </li>
          ))}
        </ul>
      )}
    </ProgressRow>
  )
})
