// How a search or an answer was produced, shown when it was less than the full hybrid search: keyword
// only (and why: the embedding service was unavailable, slow, busy…), or a cached result (maybe stale).
import { useTranslation } from 'react-i18next'

export interface TierBadgeProps {
  /** 1 hybrid, 2 keyword, 3 cached. */
  tier: number
  /** Why the query was not embedded (breaker_open, timeout, busy, rate_limited, provider_error). */
  degraded?: string | null
  cached?: boolean
  stale?: boolean
  /** Show the full tier too (the default says nothing about a normal hybrid result). */
  alwaysShow?: boolean
}

const DEGRADED = new Set(['breaker_open', 'timeout', 'busy', 'rate_limited', 'provider_error'])

export function TierBadge({ tier, degraded, cached = false, stale = false, alwaysShow = false }: TierBadgeProps) {
  const { t } = useTranslation()
  const parts: string[] = []
  if (tier === 3 || cached) {
    parts.push(t('common.tier.cached'))
    if (stale) parts.push(t('search.badge.stale'))
  }
  if (degraded) {
    parts.push(DEGRADED.has(degraded) ? t(`common.degraded.${degraded}`) : t('common.tier.keyword'))
  } else if (tier === 2) {
    parts.push(t('common.tier.keyword'))
  }
  if (parts.length === 0) {
    if (!alwaysShow) return null
    parts.push(t('common.tier.hybrid'))
  }
  const warn = tier === 2 || Boolean(degraded) || stale
  return (
    <span
      data-testid="tier-badge"
      data-tier={tier}
      className={
        'inline-flex items-center gap-1 rounded-full border px-2 py-0.5 text-xs font-medium ' +
        (warn
          ? 'border-amber-400 bg-amber-50 text-amber-950 dark:border-amber-700 dark:bg-amber-950 dark:text-amber-100'
          : 'border-stone-300 bg-stone-50 text-stone-800 dark:border-stone-600 dark:bg-stone-800 dark:text-stone-100')
      }
    >
      {warn && <span aria-hidden="true">⚠</span>}
      {parts.join(' · ')}
    </span>
  )
}
