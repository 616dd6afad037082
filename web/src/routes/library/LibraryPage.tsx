// The library: the user's items as a list or a grid, filtered and sorted from the URL, loaded a page at a
// time, with bulk delete.
import { useEffect, useMemo, useRef, useState } from 'react'
import { Link, useNavigate, useSearch } from '@tanstack/react-router'
import { useTranslation } from 'react-i18next'
import {
  ITEM_SORTS,
  ITEM_STATUSES,
  ITEM_TYPES,
  hasPending,
  useDeleteItems,
  useItems,
  useTags,
  type Item,
} from '../../api/library'
import { ErrorNotice } from '../../components/ErrorNotice'
import { Spinner } from '../../components/Spinner'
import type { LibrarySearch } from '../../router'
import { useSession } from '../../session'
import { ConfirmDialog } from './ConfirmDialog'
import { DEFAULT_SORT, isFiltered, listParams, searchWith } from './filters'
import { formatDate, languageName } from './format'
import { StatusBadge, TagChips, TypeBadge } from './parts'
import { keepVisible, selectAllState, toggleAllVisible, toggleOne } from './selection'

/** Typing pauses this long before the text filter reaches the URL (and the server). */
export const TEXT_FILTER_DEBOUNCE_MS = 250

const control =
  'w-full rounded-md border border-stone-300 bg-white px-2.5 py-1.5 text-sm text-stone-900 dark:border-stone-600 dark:bg-stone-900 dark:text-stone-100'
const label = 'mb-1 block text-xs font-medium text-stone-700 dark:text-stone-300'

export function LibraryPage() {
  const { t } = useTranslation()
  const search = useSearch({ from: '/app/library' })
  const navigate = useNavigate({ from: '/library' })
  const params = useMemo(() => listParams(search), [search])
  const items = useItems(params)
  const tags = useTags()
  const remove = useDeleteItems()
  const { session } = useSession()

  const [selected, setSelected] = useState<ReadonlySet<string>>(new Set())
  const [confirming, setConfirming] = useState(false)
  const [notice, setNotice] = useState('')

  const update = (change: Partial<LibrarySearch>, replace = false) =>
    void navigate({ search: (prev: LibrarySearch) => searchWith(prev, change), replace })

  const list: Item[] = useMemo(() => items.data?.pages.flatMap((page) => page.items) ?? [], [items.data])
  const visibleIds = useMemo(() => list.map((item) => item.id), [list])
  // Only what is on screen can be deleted: a selection never outlives its row.
  const chosen = keepVisible(selected, visibleIds)
  const allState = selectAllState(visibleIds, chosen)
  const view = search.view === 'grid' ? 'grid' : 'list'

  const confirmDelete = async () => {
    const ids = [...chosen]
    try {
      const result = await remove.mutateAsync(ids)
      setConfirming(false)
      setSelected(new Set())
      setNotice(t('library.deleted', { count: result.deleted.length }))
    } catch {
      // The dialog shows remove.error; it stays open for another try.
    }
  }

  return (
    <div className="space-y-5">
      <div className="flex flex-wrap items-center justify-between gap-3">
        <h1 className="text-2xl font-semibold text-stone-900 dark:text-stone-100">{t('library.title')}</h1>
        <Link
          to="/add"
          className="rounded-md bg-orange-800 px-3 py-1.5 text-sm font-medium text-white hover:bg-orange-900 dark:bg-orange-300 dark:text-stone-950 dark:hover:bg-orange-200"
        >
          {t('library.addItems')}
        </Link>
      </div>

      <Filters search={search} onChange={update} tags={tags.data?.tags ?? []} />

      <div className="flex flex-wrap items-center gap-x-4 gap-y-2 border-b border-stone-200 pb-3 dark:border-stone-800">
        <SelectAll state={allState} disabled={list.length === 0} onToggle={() => setSelected(toggleAllVisible(visibleIds, chosen))} />
        <span className="text-sm text-stone-600 dark:text-stone-400" aria-live="polite">
          {chosen.size > 0 ? t('library.selected', { count: chosen.size }) : ''}
        </span>
        <button
          type="button"
          data-testid="bulk-delete"
          disabled={chosen.size === 0}
          onClick={() => {
            remove.reset()
            setConfirming(true)
          }}
          className="rounded-md border border-red-300 px-3 py-1.5 text-sm font-medium text-red-800 hover:bg-red-50 disabled:cursor-not-allowed disabled:opacity-50 dark:border-red-800 dark:text-red-200 dark:hover:bg-red-950"
        >
          {t('library.deleteSelected')}
        </button>
        <ViewToggle view={view} onChange={(next) => update({ view: next === 'grid' ? 'grid' : undefined })} />
      </div>

      <p role="status" className={notice ? 'text-sm text-emerald-800 dark:text-emerald-300' : 'sr-only'}>
        {notice}
      </p>

      {items.isPending ? (
        <Spinner label={t('library.loading')} />
      ) : items.isError && list.length === 0 ? (
        <ErrorNotice error={items.error} onRetry={() => void items.refetch()} />
      ) : list.length === 0 ? (
        isFiltered(search) ? (
          <p className="rounded-md border border-dashed border-stone-300 p-6 text-center text-stone-700 dark:border-stone-700 dark:text-stone-300">
            {t('library.noMatches')}{' '}
            <Link to="/library" search={{ view: search.view }} className="font-medium text-orange-800 underline dark:text-orange-300">
              {t('library.clearFilters')}
            </Link>
          </p>
        ) : (
          <EmptyLibrary user={session?.user.username ?? session?.user.uid ?? 'demo'} />
        )
      ) : (
        <>
          {hasPending(items.data) && (
            <p className="text-sm text-sky-900 dark:text-sky-200">{t('library.pendingNotice')}</p>
          )}
          <ItemList
            items={list}
            view={view}
            selected={chosen}
            onToggle={(id) => setSelected(toggleOne(chosen, id))}
            stale={items.isPlaceholderData}
          />
          {items.isError && <ErrorNotice error={items.error} onRetry={() => void items.refetch()} />}
          {items.hasNextPage && (
            <div className="flex justify-center">
              <button
                type="button"
                onClick={() => void items.fetchNextPage()}
                disabled={items.isFetchingNextPage}
                className="rounded-md border border-stone-300 px-4 py-2 text-sm font-medium hover:bg-stone-100 disabled:opacity-60 dark:border-stone-600 dark:hover:bg-stone-800"
              >
                {items.isFetchingNextPage ? t('library.loadingMore') : t('library.loadMore')}
              </button>
            </div>
          )}
        </>
      )}

      <ConfirmDialog
        open={confirming}
        title={t('library.confirmTitle', { count: chosen.size })}
        confirmLabel={t('library.deleteSelected')}
        busyLabel={t('library.deleting')}
        busy={remove.isPending}
        error={remove.isError ? <ErrorNotice error={remove.error} /> : undefined}
        onConfirm={() => void confirmDelete()}
        onClose={() => setConfirming(false)}
      >
        <p>{t('library.confirmBody')}</p>
      </ConfirmDialog>
    </div>
  )
}

function Filters({
  search,
  onChange,
  tags,
}: {
  search: LibrarySearch
  onChange: (change: Partial<LibrarySearch>, replace?: boolean) => void
  tags: readonly { tag: string; count: number }[]
}) {
  const { t } = useTranslation()
  const [text, setText] = useState(search.q ?? '')
  // What this box last wrote to the URL: a URL change that is not ours (back, a link) resets the box.
  const written = useRef(search.q ?? '')

  useEffect(() => {
    const q = search.q ?? ''
    if (q !== written.current) {
      written.current = q
      setText(q)
    }
  }, [search.q])

  useEffect(() => {
    const q = text.trim()
    if (q === written.current) return
    const timer = setTimeout(() => {
      written.current = q
      onChange({ q: q || undefined }, true)
    }, TEXT_FILTER_DEBOUNCE_MS)
    return () => clearTimeout(timer)
    // onChange is a fresh closure each render; the text is what matters.
  }, [text])

  const tagOptions = tags.some((entry) => entry.tag === search.tag) || !search.tag ? tags : [{ tag: search.tag, count: 0 }, ...tags]

  return (
    <section aria-label={t('library.filters')} className="grid grid-cols-2 gap-3 md:grid-cols-[minmax(0,2fr)_repeat(4,minmax(0,1fr))]">
      <div className="col-span-2 md:col-span-1">
        <label htmlFor="library-q" className={label}>
          {t('library.filterText')}
        </label>
        <input
          id="library-q"
          type="search"
          data-testid="library-filter-text"
          value={text}
          onChange={(e) => setText(e.target.value)}
          placeholder={t('library.filterTextPlaceholder')}
          autoComplete="off"
          className={control}
        />
      </div>
      <div>
        <label htmlFor="library-type" className={label}>
          {t('library.type')}
        </label>
        <select id="library-type" value={search.type ?? ''} onChange={(e) => onChange({ type: e.target.value || undefined })} className={control}>
          <option value="">{t('library.allTypes')}</option>
          {ITEM_TYPES.map((type) => (
            <option key={type} value={type}>
              {t(`common.itemType.${type}`)}
            </option>
          ))}
        </select>
      </div>
      <div>
        <label htmlFor="library-tag" className={label}>
          {t('library.tag')}
        </label>
        <select id="library-tag" value={search.tag ?? ''} onChange={(e) => onChange({ tag: e.target.value || undefined })} className={control}>
          <option value="">{t('library.allTags')}</option>
          {tagOptions.map((entry) => (
            <option key={entry.tag} value={entry.tag}>
              {entry.count ? t('library.tagOption', { tag: entry.tag, count: entry.count }) : entry.tag}
            </option>
          ))}
        </select>
      </div>
      <div>
        <label htmlFor="library-status" className={label}>
          {t('library.status')}
        </label>
        <select id="library-status" value={search.status ?? ''} onChange={(e) => onChange({ status: e.target.value || undefined })} className={control}>
          <option value="">{t('library.allStatuses')}</option>
          {ITEM_STATUSES.map((status) => (
            <option key={status} value={status}>
              {t(`common.itemStatus.${status}`)}
            </option>
          ))}
        </select>
      </div>
      <div>
        <label htmlFor="library-sort" className={label}>
          {t('library.sort')}
        </label>
        <select id="library-sort" value={search.sort ?? DEFAULT_SORT} onChange={(e) => onChange({ sort: e.target.value })} className={control}>
          {ITEM_SORTS.map((sort) => (
            <option key={sort} value={sort}>
              {t(`library.sortBy.${sort}`)}
            </option>
          ))}
        </select>
      </div>
    </section>
  )
}

function SelectAll({ state, disabled, onToggle }: { state: 'none' | 'some' | 'all'; disabled: boolean; onToggle: () => void }) {
  const { t } = useTranslation()
  const ref = useRef<HTMLInputElement>(null)
  useEffect(() => {
    if (ref.current) ref.current.indeterminate = state === 'some'
  }, [state])
  return (
    <label className="flex items-center gap-2 text-sm font-medium text-stone-800 dark:text-stone-200">
      <input
        ref={ref}
        type="checkbox"
        data-testid="select-all"
        checked={state === 'all'}
        disabled={disabled}
        onChange={onToggle}
        className="h-4 w-4 accent-orange-700"
      />
      {t('library.selectAll')}
    </label>
  )
}

function ViewToggle({ view, onChange }: { view: 'list' | 'grid'; onChange: (view: 'list' | 'grid') => void }) {
  const { t } = useTranslation()
  const button = (value: 'list' | 'grid', text: string) => (
    <button
      type="button"
      aria-pressed={view === value}
      onClick={() => onChange(value)}
      className={`px-3 py-1.5 text-sm font-medium ${
        view === value
          ? 'bg-stone-800 text-white dark:bg-stone-200 dark:text-stone-900'
          : 'text-stone-700 hover:bg-stone-100 dark:text-stone-300 dark:hover:bg-stone-800'
      }`}
    >
      {text}
    </button>
  )
  return (
    <div role="group" aria-label={t('library.view')} className="ml-auto flex overflow-hidden rounded-md border border-stone-300 dark:border-stone-600">
      {button('list', t('library.viewList'))}
      {button('grid', t('library.viewGrid'))}
    </div>
  )
}

function EmptyLibrary({ user }: { user: string }) {
  const { t } = useTranslation()
  return (
    <div className="rounded-lg border border-dashed border-stone-300 px-6 py-10 text-center dark:border-stone-700">
      <h2 className="text-lg font-semibold text-stone-900 dark:text-stone-100">{t('library.emptyTitle')}</h2>
      <p className="mx-auto mt-2 max-w-prose text-stone-700 dark:text-stone-300">{t('library.emptyBody')}</p>
      <Link
        to="/add"
        className="mt-4 inline-block rounded-md bg-orange-800 px-4 py-2 text-sm font-medium text-white hover:bg-orange-900 dark:bg-orange-300 dark:text-stone-950 dark:hover:bg-orange-200"
      >
        {t('library.emptyAdd')}
      </Link>
      <p className="mt-6 text-sm text-stone-700 dark:text-stone-300">{t('library.emptySample')}</p>
      <code className="mt-1 inline-block rounded bg-stone-100 px-2 py-1 text-sm text-stone-900 dark:bg-stone-800 dark:text-stone-100">
        tomehub demo --user {user}
      </code>
    </div>
  )
}

export function ItemList({
  items,
  view,
  selected,
  onToggle,
  stale = false,
}: {
  items: readonly Item[]
  view: 'list' | 'grid'
  selected: ReadonlySet<string>
  onToggle: (id: string) => void
  stale?: boolean
}) {
  const { t, i18n } = useTranslation()
  const lang = i18n.language
  const fade = stale ? 'opacity-60 transition-opacity' : 'transition-opacity'

  if (view === 'grid') {
    return (
      <ul data-testid="library-list" aria-label={t('library.listLabel')} aria-busy={stale} className={`grid gap-4 sm:grid-cols-2 lg:grid-cols-3 ${fade}`}>
        {items.map((item) => (
          <li
            key={item.id}
            data-testid="library-item"
            data-item-id={item.id}
            className={`flex flex-col gap-2 rounded-lg border bg-white p-4 shadow-sm dark:bg-stone-900 ${
              selected.has(item.id) ? 'border-orange-500 dark:border-orange-400' : 'border-stone-200 dark:border-stone-800'
            }`}
          >
            <div className="flex items-start justify-between gap-2">
              <TypeBadge type={item.item_type} />
              <RowCheckbox item={item} checked={selected.has(item.id)} onToggle={onToggle} />
            </div>
            <ItemTitle item={item} />
            <TagChips tags={item.tags} />
            <div className="mt-auto flex flex-wrap items-center gap-x-3 gap-y-1 pt-2 text-xs text-stone-600 dark:text-stone-400">
              <StatusBadge item={item} />
              <span>{t('library.chunks', { count: item.chunk_count })}</span>
              {item.language && <span>{languageName(item.language, lang)}</span>}
              <span>{formatDate(item.created_at, lang)}</span>
            </div>
          </li>
        ))}
      </ul>
    )
  }

  const columns =
    'md:grid md:grid-cols-[1.5rem_minmax(0,3fr)_6.5rem_minmax(0,2fr)_6rem_7rem_5.5rem_7rem] md:items-center md:gap-3'
  return (
    <div className={fade}>
      <div
        aria-hidden="true"
        className={`hidden px-3 pb-2 text-xs font-medium uppercase tracking-wide text-stone-600 dark:text-stone-400 ${columns}`}
      >
        <span />
        <span>{t('library.columns.title')}</span>
        <span>{t('library.columns.type')}</span>
        <span>{t('library.columns.tags')}</span>
        <span>{t('library.columns.language')}</span>
        <span>{t('library.columns.status')}</span>
        <span className="text-right">{t('library.columns.chunks')}</span>
        <span>{t('library.columns.added')}</span>
      </div>
      <ul
        data-testid="library-list"
        aria-label={t('library.listLabel')}
        aria-busy={stale}
        className="divide-y divide-stone-200 rounded-lg border border-stone-200 bg-white dark:divide-stone-800 dark:border-stone-800 dark:bg-stone-900"
      >
        {items.map((item) => (
          <li
            key={item.id}
            data-testid="library-item"
            data-item-id={item.id}
            className={`flex gap-3 px-3 py-3 ${columns} ${selected.has(item.id) ? 'bg-orange-50 dark:bg-orange-950/40' : ''}`}
          >
            <RowCheckbox item={item} checked={selected.has(item.id)} onToggle={onToggle} />
            <div className="min-w-0 flex-1">
              <ItemTitle item={item} />
              {/* Phones: the columns fold into lines under the title. */}
              <div className="mt-1.5 flex flex-wrap items-center gap-x-3 gap-y-1.5 text-xs text-stone-600 md:hidden dark:text-stone-400">
                <TypeBadge type={item.item_type} />
                <StatusBadge item={item} />
                <span>{t('library.chunks', { count: item.chunk_count })}</span>
                {item.language && <span>{languageName(item.language, lang)}</span>}
                <span>{t('library.added', { date: formatDate(item.created_at, lang) })}</span>
              </div>
              <TagChips tags={item.tags} className="mt-1.5 md:hidden" />
            </div>
            <div className="hidden md:block">
              <TypeBadge type={item.item_type} />
            </div>
            <div className="hidden min-w-0 md:block">
              <TagChips tags={item.tags} />
            </div>
            <div className="hidden text-sm text-stone-700 md:block dark:text-stone-300">
              {languageName(item.language, lang) ?? <span aria-hidden="true">—</span>}
            </div>
            <div className="hidden md:block">
              <StatusBadge item={item} />
            </div>
            <div className="hidden text-right text-sm tabular-nums text-stone-700 md:block dark:text-stone-300">
              <span className="sr-only">{t('library.columns.chunks')}: </span>
              {item.chunk_count}
            </div>
            <div className="hidden text-sm text-stone-700 md:block dark:text-stone-300">
              <span className="sr-only">{t('library.columns.added')}: </span>
              {formatDate(item.created_at, lang)}
            </div>
          </li>
        ))}
      </ul>
    </div>
  )
}

function ItemTitle({ item }: { item: Item }) {
  return (
    <div className="min-w-0">
      <Link
        to="/library/$itemId"
        params={{ itemId: item.id }}
        className="break-words font-medium text-stone-900 hover:text-orange-800 hover:underline dark:text-stone-100 dark:hover:text-orange-300"
      >
        {item.title}
      </Link>
      {item.author && <p className="truncate text-sm text-stone-600 dark:text-stone-400">{item.author}</p>}
    </div>
  )
}

function RowCheckbox({ item, checked, onToggle }: { item: Item; checked: boolean; onToggle: (id: string) => void }) {
  const { t } = useTranslation()
  return (
    <input
      type="checkbox"
      checked={checked}
      onChange={() => onToggle(item.id)}
      aria-label={t('library.selectItem', { title: item.title })}
      className="mt-1 h-4 w-4 shrink-0 accent-orange-700 md:mt-0"
    />
  )
}
