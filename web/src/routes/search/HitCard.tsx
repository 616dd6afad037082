// One search hit: where it comes from, the passage with the query's words marked, and links to read it.
import { memo, useMemo } from 'react'
import { Link } from '@tanstack/react-router'
import { useTranslation } from 'react-i18next'
import type { Hit } from '../../api/search'
import { excerpt, highlight } from './highlight'

export function Marked({ text, terms }: { text: string; terms: readonly string[] }) {
  // Highlighting runs once per passage and query, not on every render of the list.
  const segments = useMemo(() => highlight(text, terms), [text, terms])
  return (
    <>
      {segments.map((segment, i) => (segment.mark ? <mark key={i}>{segment.text}</mark> : segment.text))}
    </>
  )
}

export const HitCard = memo(function HitCard({ hit, terms }: { hit: Hit; terms: readonly string[] }) {
  const { t } = useTranslation()
  const passage = useMemo(() => excerpt(hit.text, terms), [hit.text, terms])
  const where = [
    hit.author,
    hit.page != null ? t('common.page', { page: hit.page }) : null,
    hit.chapter ? t('common.chapter', { chapter: hit.chapter }) : null,
  ].filter(Boolean)
  return (
    <li
      data-testid="search-hit"
      data-chunk-id={hit.chunk_id}
      className="rounded-lg border border-stone-200 bg-white p-4 dark:border-stone-700 dark:bg-stone-900"
    >
      <div className="flex flex-wrap items-baseline gap-x-2 gap-y-1">
        <span className="rounded bg-stone-100 px-1.5 py-0.5 text-xs font-medium text-stone-700 dark:bg-stone-800 dark:text-stone-300">
          {t(`common.itemType.${hit.item_type}`)}
        </span>
        <h3 className="min-w-0 text-base font-semibold text-stone-900 dark:text-stone-100">{hit.title}</h3>
      </div>
      {where.length > 0 && <p className="mt-0.5 text-sm text-stone-600 dark:text-stone-400">{where.join(' · ')}</p>}
      <p className="mt-2 whitespace-pre-line text-sm leading-relaxed text-stone-800 dark:text-stone-200">
        <Marked text={passage} terms={terms} />
      </p>
      <div className="mt-3 flex flex-wrap gap-x-4 gap-y-1 text-sm">
        <Link
          to="/reader/$itemId"
          params={{ itemId: hit.item_id }}
          search={{ chunk: hit.chunk_id }}
          className="font-medium text-orange-800 underline underline-offset-2 dark:text-orange-300"
        >
          {t('search.hit.openReader')}
          <span className="sr-only">: {hit.title}</span>
        </Link>
        <Link
          to="/library/$itemId"
          params={{ itemId: hit.item_id }}
          className="text-stone-700 underline underline-offset-2 dark:text-stone-300"
        >
          {t('search.hit.openItem')}
          <span className="sr-only">: {hit.title}</span>
        </Link>
      </div>
    </li>
  )
})
