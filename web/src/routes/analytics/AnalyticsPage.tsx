// The Concordance page: a word looked up across the library (or one item) by its stem — how its
// occurrences are spread (per item, or per page/chapter of one item) and every occurrence in its
// context, each opening the reader at its passage. `term` and `item` live in the URL.
import { useEffect, useId, useState, type FormEvent } from 'react'
import { Link, useNavigate, useSearch } from '@tanstack/react-router'
import { useTranslation } from 'react-i18next'
import { useConcordance, useDistribution, type Distribution } from '../../api/analytics'
import { useItem } from '../../api/library'
import { ErrorNotice } from '../../components/ErrorNotice'
import { ItemPicker } from '../../components/ItemPicker'
import { Spinner } from '../../components/Spinner'
import { ItemBars, SectionColumns } from './DistributionChart'
import { KwicTable } from './KwicTable'

/** The chosen item's name (fetched only when one is chosen), with a way to drop it. */
function ChosenItem({ id, onClear }: { id: string; onClear: () => void }) {
  const { t } = useTranslation()
  const item = useItem(id)
  const title = item.data?.title ?? (item.isError ? t('analytics.item.unknown') : t('app.loading'))
  return (
    <p
      data-testid="analytics-item"
      className="flex flex-wrap items-center gap-2 rounded-md border border-orange-300 bg-orange-50 px-3 py-2 text-sm text-orange-950 dark:border-orange-800 dark:bg-orange-950 dark:text-orange-50"
    >
      <span>{t('analytics.item.only', { title })}</span>
      <button
        type="button"
        data-testid="analytics-item-clear"
        onClick={onClear}
        className="font-medium underline underline-offset-2"
      >
        {t('analytics.item.clear')}
      </button>
    </p>
  )
}

function Stats({ distribution }: { distribution: Distribution }) {
  const { t, i18n } = useTranslation()
  const format = (n: number) => n.toLocaleString(i18n.language)
  const stats = [
    ['occurrences', distribution.total_count],
    ['passages', distribution.total_chunks],
    ['items', distribution.total_items],
  ] as const
  return (
    <dl data-testid="analytics-totals" className="grid grid-cols-3 gap-2 sm:max-w-md">
      {stats.map(([key, value]) => (
        <div key={key} className="rounded-md border border-stone-200 bg-white px-3 py-2 dark:border-stone-700 dark:bg-stone-900">
          <dt className="text-xs text-stone-600 dark:text-stone-400">{t(`analytics.totals.${key}`)}</dt>
          <dd className="font-mono text-lg font-semibold tabular-nums text-stone-900 dark:text-stone-100">{format(value)}</dd>
        </div>
      ))}
    </dl>
  )
}

function Lexemes({ lexemes }: { lexemes: Record<string, string[]> }) {
  const { t } = useTranslation()
  const entries = Object.entries(lexemes).filter(([, stems]) => stems.length > 0)
  if (entries.length === 0) return null
  const list = entries.map(([config, stems]) => t('analytics.lexeme', { stems: stems.join(', '), config })).join('; ')
  return (
    <p data-testid="analytics-lexemes" className="text-sm text-stone-600 dark:text-stone-400">
      {t('analytics.lexemes', { list })}
    </p>
  )
}

function Results({ term, itemId }: { term: string; itemId: string | undefined }) {
  const { t, i18n } = useTranslation()
  const params = { term, item_id: itemId }
  const distribution = useDistribution(params)
  const concordance = useConcordance(params)
  const data = distribution.data
  const lines = concordance.data?.pages.flatMap((page) => page.lines) ?? []
  const one = itemId ? data?.items[0] : undefined

  if (distribution.isPending) return <Spinner label={t('analytics.loading')} />
  if (distribution.isError) return <ErrorNotice error={distribution.error} onRetry={() => void distribution.refetch()} />
  if (!data) return null
  if (data.total_count === 0) {
    return (
      <p data-testid="analytics-none" className="text-sm text-stone-700 dark:text-stone-300">
        {itemId ? t('analytics.noneInItem', { term: data.term }) : t('analytics.none', { term: data.term })}
      </p>
    )
  }

  return (
    <div className="flex flex-col gap-8" aria-busy={distribution.isFetching}>
      <div className="flex flex-col gap-2">
        <Stats distribution={data} />
        <Lexemes lexemes={data.lexemes} />
      </div>

      <section aria-labelledby="distribution-heading" className="flex flex-col gap-3">
        <h2 id="distribution-heading" className="text-lg font-semibold text-stone-900 dark:text-stone-100">
          {t('analytics.distributionHeading')}
        </h2>
        {one ? <SectionColumns term={data.term} item={one} /> : <ItemBars term={data.term} items={data.items} />}
        {data.truncated && (
          <p className="text-sm text-stone-600 dark:text-stone-400">{t('analytics.truncated', { count: data.items.length })}</p>
        )}
      </section>

      <section aria-labelledby="kwic-heading" className="flex flex-col gap-3">
        <h2 id="kwic-heading" className="text-lg font-semibold text-stone-900 dark:text-stone-100">
          {t('analytics.kwic.heading')}
        </h2>
        {concordance.isPending && <Spinner label={t('analytics.kwic.loading')} />}
        {concordance.isError && <ErrorNotice error={concordance.error} onRetry={() => void concordance.refetch()} />}
        {lines.length > 0 && <KwicTable term={data.term} lines={lines} />}
        {concordance.isSuccess && (
          <div className="flex flex-wrap items-center gap-3">
            <p role="status" className="text-sm text-stone-600 dark:text-stone-400" data-testid="kwic-count">
              {concordance.hasNextPage
                ? t('analytics.kwic.shown', { shown: lines.length.toLocaleString(i18n.language), total: data.total_count.toLocaleString(i18n.language) })
                : t('analytics.kwic.all', { count: lines.length })}
            </p>
            {concordance.hasNextPage && (
              <button
                type="button"
                data-testid="kwic-more"
                onClick={() => void concordance.fetchNextPage()}
                disabled={concordance.isFetchingNextPage}
                className="rounded-md border border-stone-300 bg-white px-3 py-1.5 text-sm font-medium text-stone-800 hover:bg-stone-100 disabled:opacity-60 dark:border-stone-600 dark:bg-stone-900 dark:text-stone-200 dark:hover:bg-stone-800"
              >
                {concordance.isFetchingNextPage ? t('app.loading') : t('analytics.kwic.loadMore')}
              </button>
            )}
          </div>
        )}
      </section>
    </div>
  )
}

export function AnalyticsPage() {
  const { t } = useTranslation()
  const id = useId()
  const { term = '', item } = useSearch({ from: '/app/analytics' })
  const navigate = useNavigate()
  const [text, setText] = useState(term)
  const [hint, setHint] = useState(false)

  useEffect(() => setText(term), [term])

  const go = (search: { term?: string; item?: string }) => void navigate({ to: '/analytics', search })

  const submit = (event: FormEvent) => {
    event.preventDefault()
    const next = text.trim()
    // One word: the server would refuse a phrase; say so before asking.
    if (/\s/.test(next)) {
      setHint(true)
      return
    }
    setHint(false)
    go({ term: next || undefined, item })
  }

  return (
    <div className="flex flex-col gap-6">
      <div>
        <h1 className="text-2xl font-semibold text-stone-900 dark:text-stone-100">{t('analytics.title')}</h1>
        <p className="mt-1 text-sm text-stone-600 dark:text-stone-400">{t('analytics.intro')}</p>
        <p data-testid="analytics-stemming" className="mt-2 max-w-3xl rounded-md border-l-4 border-amber-400 bg-amber-50 px-3 py-2 text-sm text-stone-800 dark:border-amber-600 dark:bg-stone-900 dark:text-stone-200">
          {t('analytics.stemming')}
        </p>
      </div>

      <div className="grid gap-4 md:grid-cols-[minmax(0,1fr)_minmax(0,1fr)] md:items-end">
        <form onSubmit={submit} role="search" aria-label={t('analytics.formLabel')} className="flex flex-col gap-1">
          <label htmlFor={`${id}-term`} className="text-sm font-medium text-stone-800 dark:text-stone-200">
            {t('analytics.termLabel')}
          </label>
          <div className="flex gap-2">
            <input
              id={`${id}-term`}
              data-testid="analytics-term"
              type="search"
              value={text}
              onChange={(e) => {
                setText(e.target.value)
                setHint(false)
              }}
              placeholder={t('analytics.termPlaceholder')}
              aria-describedby={hint ? `${id}-hint` : undefined}
              aria-invalid={hint || undefined}
              autoComplete="off"
              spellCheck={false}
              maxLength={64}
              className="min-w-0 flex-1 rounded-md border border-stone-300 bg-white px-3 py-2 text-base text-stone-900 placeholder:text-stone-500 dark:border-stone-600 dark:bg-stone-900 dark:text-stone-100 dark:placeholder:text-stone-400"
            />
            <button
              type="submit"
              data-testid="analytics-submit"
              className="rounded-md bg-orange-700 px-4 py-2 text-sm font-semibold text-white hover:bg-orange-800"
            >
              {t('analytics.submit')}
            </button>
          </div>
          {hint && (
            <p id={`${id}-hint`} role="alert" className="text-sm text-red-800 dark:text-red-300">
              {t('analytics.oneWord')}
            </p>
          )}
        </form>
        <div>
          {item ? (
            <ChosenItem id={item} onClear={() => go({ term: term || undefined })} />
          ) : (
            <ItemPicker
              label={t('analytics.item.label')}
              placeholder={t('analytics.item.placeholder')}
              testId="analytics-item-picker"
              onPick={(picked) => go({ term: term || undefined, item: picked.id })}
            />
          )}
        </div>
      </div>

      {term ? (
        <Results term={term} itemId={item} />
      ) : (
        <p className="text-sm text-stone-700 dark:text-stone-300" data-testid="analytics-empty">
          {t('analytics.empty')}{' '}
          <Link to="/analytics" search={{ term: 'kitap' }} className="font-medium text-orange-800 underline underline-offset-2 dark:text-orange-300">
            {t('analytics.example')}
          </Link>
        </p>
      )}
    </div>
  )
}
