// The Search page: results as you type (debounced; the stale request aborted; `q` in the URL), each
// hit with its passage and the query's words marked; filters by type, tag and item; the tier shown
// when the search was less than full; a busy server waited out for its Retry-After.
import { useEffect, useMemo, useRef, useState } from 'react'
import { useNavigate, useSearch } from '@tanstack/react-router'
import { useTranslation } from 'react-i18next'
import { compactFilters, useSmartSearch, type SearchRequest } from '../../api/search'
import { BusyNotice } from '../../components/BusyNotice'
import { ErrorNotice } from '../../components/ErrorNotice'
import { useDebounced } from '../../components/ItemPicker'
import { TierBadge } from '../../components/TierBadge'
import { queryTerms } from './highlight'
import { HitCard } from './HitCard'
import { activeFilterCount, noFilters, SearchFiltersPanel, type FilterState } from './SearchFiltersPanel'

export const DEBOUNCE_MS = 250

export function SearchPage() {
  const { t } = useTranslation()
  const { q: urlQuery = '' } = useSearch({ from: '/app/search' })
  const navigate = useNavigate()
  const [text, setText] = useState(urlQuery)
  const [filters, setFilters] = useState<FilterState>(noFilters)
  const [filtersOpen, setFiltersOpen] = useState(false)
  const [busyUntil, setBusyUntil] = useState<number | null>(null)
  const debounced = useDebounced(text, DEBOUNCE_MS).trim()

  // The URL follows what was typed (replacing, so Back leaves the page rather than each keystroke)…
  const urlRef = useRef(urlQuery)
  urlRef.current = urlQuery
  useEffect(() => {
    if (debounced !== urlRef.current) void navigate({ to: '/search', search: { q: debounced || undefined }, replace: true })
  }, [debounced, navigate])
  // …and what was typed follows the URL when it changes from outside (Back, a link).
  const typedRef = useRef(debounced)
  typedRef.current = debounced
  useEffect(() => {
    if (urlQuery !== typedRef.current) setText(urlQuery)
  }, [urlQuery])

  const request = useMemo<SearchRequest>(
    () => ({
      query: debounced,
      filters: compactFilters({
        item_types: filters.types,
        tags: filters.tags,
        item_ids: filters.items.map((item) => item.id),
      }),
    }),
    [debounced, filters],
  )
  const search = useSmartSearch(request, { onWait: (seconds) => setBusyUntil(Date.now() + seconds * 1000) })
  useEffect(() => {
    if (!search.isFetching) setBusyUntil(null)
  }, [search.isFetching])

  const result = debounced ? search.data : undefined
  const terms = useMemo(() => queryTerms(result?.query ?? debounced), [result?.query, debounced])
  const filterCount = activeFilterCount(filters)

  return (
    <div>
      <h1 className="text-2xl font-semibold text-stone-900 dark:text-stone-100">{t('search.title')}</h1>
      <form role="search" onSubmit={(e) => e.preventDefault()} className="mt-4">
        <label htmlFor="search-input" className="sr-only">
          {t('search.inputLabel')}
        </label>
        <input
          id="search-input"
          data-testid="search-input"
          type="search"
          autoFocus
          autoComplete="off"
          value={text}
          onChange={(e) => setText(e.target.value)}
          placeholder={t('search.placeholder')}
          className="w-full rounded-lg border border-stone-300 bg-white px-4 py-3 text-base text-stone-900 shadow-sm placeholder:text-stone-500 dark:border-stone-600 dark:bg-stone-900 dark:text-stone-100 dark:placeholder:text-stone-400"
        />
      </form>

      <div className="mt-4 grid gap-6 lg:grid-cols-[15rem_1fr]">
        <aside aria-labelledby="search-filters-heading">
          <div className="flex items-center justify-between lg:mb-3">
            <h2 id="search-filters-heading" className="hidden text-sm font-semibold uppercase tracking-wide text-stone-600 lg:block dark:text-stone-400">
              {t('search.filters.heading')}
            </h2>
            <button
              type="button"
              aria-expanded={filtersOpen}
              aria-controls="search-filters-panel"
              onClick={() => setFiltersOpen((open) => !open)}
              className="rounded-md border border-stone-300 px-3 py-1.5 text-sm font-medium text-stone-800 lg:hidden dark:border-stone-600 dark:text-stone-200"
            >
              {filterCount > 0 ? t('search.filters.toggleCount', { count: filterCount }) : t('search.filters.toggle')}
            </button>
          </div>
          <div id="search-filters-panel" className={(filtersOpen ? 'mt-3 block' : 'hidden') + ' lg:block'}>
            <SearchFiltersPanel filters={filters} onChange={setFilters} />
          </div>
        </aside>

        <section aria-labelledby="search-results-heading" className="min-w-0">
          <h2 id="search-results-heading" className="sr-only">
            {t('search.results.heading')}
          </h2>
          {busyUntil && search.isFetching && <BusyNotice until={busyUntil} />}
          {!debounced && <p className="text-sm text-stone-600 dark:text-stone-400">{t('search.results.prompt')}</p>}
          {debounced && search.isError && <ErrorNotice error={search.error} onRetry={() => void search.refetch()} />}
          {debounced && search.isPending && !busyUntil && <p className="text-sm text-stone-600 dark:text-stone-400">{t('search.results.searching')}</p>}
          {result && (
            <>
              <div className="mb-3 flex flex-wrap items-center gap-x-3 gap-y-1 text-sm text-stone-600 dark:text-stone-400" data-testid="search-meta">
                <span aria-live="polite">
                  {t('search.results.count', { count: result.hits.length })}
                  {' · '}
                  {t('search.results.took', { ms: Math.round(result.took_ms) })}
                </span>
                <TierBadge tier={result.tier} degraded={result.degraded} cached={result.cached} stale={result.stale} />
                {search.isFetching && <span>{t('search.results.updating')}</span>}
              </div>
              {result.expanded_queries.length > 0 && (
                <p className="mb-3 text-xs text-stone-600 dark:text-stone-400">
                  {t('search.results.expanded', { queries: result.expanded_queries.join(' · ') })}
                </p>
              )}
              {result.hits.length === 0 ? (
                <p className="text-sm text-stone-700 dark:text-stone-300">{t('search.results.none', { q: result.query })}</p>
              ) : (
                <ol data-testid="search-results" aria-busy={search.isFetching} className="flex flex-col gap-3">
                  {result.hits.map((hit) => (
                    <HitCard key={hit.chunk_id} hit={hit} terms={terms} />
                  ))}
                </ol>
              )}
            </>
          )}
        </section>
      </div>
    </div>
  )
}
