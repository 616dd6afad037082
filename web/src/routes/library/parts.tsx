// Small pieces the library and item pages share: type label, tag chips, status badge.
import { Link } from '@tanstack/react-router'
import { useTranslation } from 'react-i18next'
import type { Item } from '../../api/library'

export function TypeBadge({ type }: { type: Item['item_type'] }) {
  const { t } = useTranslation()
  return (
    <span className="inline-block rounded bg-stone-100 px-1.5 py-0.5 text-xs font-medium uppercase tracking-wide text-stone-700 dark:bg-stone-800 dark:text-stone-300">
      {t(`common.itemType.${type}`)}
    </span>
  )
}

/** Tag chips; each one filters the library by its tag. */
export function TagChips({ tags, className = '' }: { tags: readonly string[]; className?: string }) {
  const { t } = useTranslation()
  if (tags.length === 0) return null
  return (
    <ul className={`flex flex-wrap gap-1 ${className}`} aria-label={t('library.columns.tags')}>
      {tags.map((tag) => (
        <li key={tag}>
          <Link
            to="/library"
            search={{ tag }}
            className="inline-block rounded-full bg-amber-100 px-2 py-0.5 text-xs text-amber-950 hover:bg-amber-200 dark:bg-amber-950 dark:text-amber-100 dark:hover:bg-amber-900"
          >
            {tag}
          </Link>
        </li>
      ))}
    </ul>
  )
}

/** Ready, processing, or failed with its reason one click (or a hover) away. */
export function StatusBadge({ item }: { item: Pick<Item, 'status' | 'status_detail'> }) {
  const { t } = useTranslation()
  if (item.status === 'pending') {
    return (
      <span className="inline-flex items-center gap-1.5 rounded-full bg-sky-100 px-2 py-0.5 text-xs font-medium text-sky-900 dark:bg-sky-950 dark:text-sky-100">
        <span aria-hidden="true" className="h-2 w-2 animate-pulse rounded-full bg-sky-600 dark:bg-sky-300" />
        {t('common.itemStatus.pending')}
      </span>
    )
  }
  if (item.status === 'failed') {
    return (
      <details className="group text-xs" title={item.status_detail ?? undefined}>
        <summary className="inline-flex cursor-pointer list-none items-center gap-1 rounded-full bg-red-100 px-2 py-0.5 font-medium text-red-900 dark:bg-red-950 dark:text-red-100 [&::-webkit-details-marker]:hidden">
          {t('common.itemStatus.failed')}
          <span aria-hidden="true" className="transition-transform group-open:rotate-90">
            ›
          </span>
          <span className="sr-only">{t('library.failedWhy')}</span>
        </summary>
        <p className="mt-1 max-w-xs text-red-900 dark:text-red-200">{item.status_detail || t('library.noDetail')}</p>
      </details>
    )
  }
  return (
    <span className="inline-block rounded-full bg-emerald-100 px-2 py-0.5 text-xs font-medium text-emerald-900 dark:bg-emerald-950 dark:text-emerald-100">
      {t(`common.itemStatus.${item.status}`)}
    </span>
  )
}
