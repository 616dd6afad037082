// "The server is busy; retrying in N s…" with a live countdown to the Retry-After, and a Cancel.
import { useEffect, useState } from 'react'
import { useTranslation } from 'react-i18next'

/** Whole seconds left until `until` (epoch ms), ticking. */
export function useCountdown(until: number | null | undefined): number {
  const [now, setNow] = useState(() => Date.now())
  useEffect(() => {
    if (!until) return
    setNow(Date.now())
    const timer = setInterval(() => setNow(Date.now()), 250)
    return () => clearInterval(timer)
  }, [until])
  return until ? Math.max(0, Math.ceil((until - now) / 1000)) : 0
}

export function BusyNotice({ until, onCancel, testId = 'busy-notice' }: { until: number; onCancel?: () => void; testId?: string }) {
  const { t } = useTranslation()
  const seconds = useCountdown(until)
  return (
    <div
      role="status"
      data-testid={testId}
      className="flex flex-wrap items-center gap-3 rounded-md border border-amber-300 bg-amber-50 px-3 py-2 text-sm text-amber-950 dark:border-amber-700 dark:bg-amber-950 dark:text-amber-100"
    >
      <span>{t('app.busyRetrying', { seconds })}</span>
      {onCancel && (
        <button type="button" onClick={onCancel} className="font-medium underline underline-offset-2">
          {t('app.cancel')}
        </button>
      )}
    </div>
  )
}
