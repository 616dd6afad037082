// An API failure in words a person can act on: the server's own message, and a retry when it helps.
import { useTranslation } from 'react-i18next'
import { ApiError } from '../api/http'

export function ErrorNotice({ error, onRetry }: { error: unknown; onRetry?: () => void }) {
  const { t } = useTranslation()
  const message = error instanceof ApiError || error instanceof Error ? error.message : String(error)
  return (
    <div role="alert" className="rounded-md border border-red-300 bg-red-50 p-3 text-sm text-red-900 dark:border-red-800 dark:bg-red-950 dark:text-red-100">
      <p>{t('app.error', { message })}</p>
      {onRetry && (
        <button type="button" onClick={onRetry} className="mt-2 font-medium underline">
          {t('app.retry')}
        </button>
      )}
    </div>
  )
}
