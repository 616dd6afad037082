// One item: its details (editable), its passages, and the ingestion runs that wrote it.
import { useEffect, useId, useState, type FormEvent, type ReactNode } from 'react'
import { useQueryClient } from '@tanstack/react-query'
import { Link, useNavigate, useParams } from '@tanstack/react-router'
import { useTranslation } from 'react-i18next'
import { ApiError } from '../../api/http'
import type { Run } from '../../api/ingest'
import {
  ITEM_TYPES,
  forgetDeletedItem,
  useDeleteItem,
  useItem,
  useItemChunks,
  useItemRuns,
  usePatchItem,
  type Chunk,
  type Item,
  type ItemPatch,
  type ItemType,
} from '../../api/library'
import { ErrorNotice } from '../../components/ErrorNotice'
import { Spinner } from '../../components/Spinner'
import { paragraphs } from '../reader/chunkLayout'
import { ConfirmDialog } from './ConfirmDialog'
import { fileErrorMessage } from './fileErrors'
import { formatDate, formatDateTime, languageName } from './format'
import { StatusBadge, TagChips, TypeBadge } from './parts'

const card = 'rounded-lg border border-stone-200 bg-white p-4 dark:border-stone-800 dark:bg-stone-900'
const h2 = 'text-lg font-semibold text-stone-900 dark:text-stone-100'

export function ItemPage() {
  const { t } = useTranslation()
  const { itemId } = useParams({ from: '/app/library/$itemId' })
  const item = useItem(itemId)

  if (item.isPending) return <Spinner label={t('item.loading')} />
  if (item.isError) {
    const notFound = item.error instanceof ApiError && (item.error.status === 404 || item.error.status === 422)
    return (
      <div className="space-y-4">
        <BackLink />
        {notFound ? (
          <div className={card}>
            <h1 className="text-xl font-semibold text-stone-900 dark:text-stone-100">{t('item.notFound')}</h1>
          </div>
        ) : (
          <ErrorNotice error={item.error} onRetry={() => void item.refetch()} />
        )}
      </div>
    )
  }
  return <ItemView item={item.data} />
}

function BackLink() {
  const { t } = useTranslation()
  return (
    <Link to="/library" className="inline-block text-sm font-medium text-orange-800 hover:underline dark:text-orange-300">
      ← {t('item.back')}
    </Link>
  )
}

function ItemView({ item }: { item: Item }) {
  const { t, i18n } = useTranslation()
  const navigate = useNavigate()
  const remove = useDeleteItem()
  const client = useQueryClient()
  const [confirming, setConfirming] = useState(false)
  // Which version of the item the edit form last saved: the form is remounted for every new version
  // (key below), so its "Saved." would be lost with it if the form kept it.
  const [savedAt, setSavedAt] = useState<string | null>(null)

  useEffect(() => {
    document.title = `${item.title} · ${t('app.name')}`
    return () => {
      document.title = t('app.name')
    }
  }, [item.title, t])

  const confirmDelete = async () => {
    try {
      await remove.mutateAsync(item.id)
      setConfirming(false)
      await navigate({ to: '/library' })
      forgetDeletedItem(client, item.id)
    } catch {
      // The dialog shows the error and stays open.
    }
  }

  return (
    <div className="space-y-6">
      <BackLink />
      <header className="space-y-2">
        <div className="flex flex-wrap items-center gap-2">
          <TypeBadge type={item.item_type} />
          <StatusBadge item={item} />
        </div>
        <h1 data-testid="item-title" className="break-words text-2xl font-semibold text-stone-900 sm:text-3xl dark:text-stone-100">
          {item.title}
        </h1>
        {item.author && <p className="text-stone-700 dark:text-stone-300">{t('item.by', { author: item.author })}</p>}
        <TagChips tags={item.tags} />
        <div className="flex flex-wrap gap-2 pt-2">
          {item.chunk_count > 0 && (
            <Link
              to="/reader/$itemId"
              params={{ itemId: item.id }}
              className="rounded-md bg-orange-800 px-3 py-1.5 text-sm font-medium text-white hover:bg-orange-900 dark:bg-orange-300 dark:text-stone-950 dark:hover:bg-orange-200"
            >
              {t('item.openReader')}
            </Link>
          )}
          <button
            type="button"
            data-testid="item-delete"
            onClick={() => {
              remove.reset()
              setConfirming(true)
            }}
            className="rounded-md border border-red-300 px-3 py-1.5 text-sm font-medium text-red-800 hover:bg-red-50 dark:border-red-800 dark:text-red-200 dark:hover:bg-red-950"
          >
            {t('item.delete')}
          </button>
        </div>
      </header>

      <div className="grid gap-6 lg:grid-cols-[minmax(0,1fr)_22rem]">
        <div className="order-2 min-w-0 lg:order-1">
          <ChunkList item={item} />
        </div>
        <aside className="order-1 space-y-6 lg:order-2" aria-label={t('item.details')}>
          <section className={card} aria-labelledby="item-details">
            <h2 id="item-details" className={h2}>
              {t('item.details')}
            </h2>
            <dl className="mt-3 grid grid-cols-[auto_minmax(0,1fr)] gap-x-4 gap-y-1.5 text-sm">
              <Meta term={t('item.meta.type')}>{t(`common.itemType.${item.item_type}`)}</Meta>
              <Meta term={t('item.meta.author')}>{item.author}</Meta>
              <Meta term={t('item.meta.language')}>{languageName(item.language, i18n.language)}</Meta>
              <Meta term={t('item.meta.status')}>
                {t(`common.itemStatus.${item.status}`)}
                {item.status === 'failed' && item.status_detail ? ` — ${item.status_detail}` : ''}
              </Meta>
              <Meta term={t('item.meta.chunks')}>{String(item.chunk_count)}</Meta>
              <Meta term={t('item.meta.source')}>{item.source_filename}</Meta>
              {item.isbn && <Meta term={t('item.meta.isbn')}>{item.isbn}</Meta>}
              <Meta term={t('item.meta.added')}>{formatDate(item.created_at, i18n.language)}</Meta>
              <Meta term={t('item.meta.updated')}>{formatDate(item.updated_at, i18n.language)}</Meta>
            </dl>
          </section>
          <EditForm key={item.updated_at} item={item} saved={savedAt === item.updated_at} onSaved={setSavedAt} />
          <RunHistory itemId={item.id} />
        </aside>
      </div>

      <ConfirmDialog
        open={confirming}
        title={t('item.confirmTitle', { title: item.title })}
        confirmLabel={t('item.delete')}
        busyLabel={t('item.deleting')}
        busy={remove.isPending}
        error={remove.isError ? <ErrorNotice error={remove.error} /> : undefined}
        onConfirm={() => void confirmDelete()}
        onClose={() => setConfirming(false)}
      >
        <p>{t('item.confirmBody', { count: item.chunk_count })}</p>
      </ConfirmDialog>
    </div>
  )
}

function Meta({ term, children }: { term: string; children: ReactNode }) {
  const { t } = useTranslation()
  const empty = children === null || children === undefined || children === ''
  return (
    <>
      <dt className="text-stone-600 dark:text-stone-400">{term}</dt>
      <dd className="break-words text-stone-900 dark:text-stone-100">{empty ? t('item.none') : children}</dd>
    </>
  )
}

/** Returns "a, b, c" as ["a", "b", "c"]: trimmed, lower-cased, no blanks or repeats (as the server keeps them). */
export function parseTags(text: string): string[] {
  const seen = new Set<string>()
  for (const part of text.split(',')) {
    const tag = part.trim().toLowerCase()
    if (tag) seen.add(tag)
  }
  return [...seen]
}

/** Returns only the fields the form changed, so an untouched field is never rewritten. */
export function itemChanges(
  item: Pick<Item, 'title' | 'author' | 'tags' | 'item_type'>,
  form: { title: string; author: string; tags: string; itemType: ItemType },
): ItemPatch {
  const patch: ItemPatch = {}
  const title = form.title.trim()
  if (title !== item.title) patch.title = title
  const author = form.author.trim()
  if (author !== (item.author ?? '')) patch.author = author === '' ? null : author
  const tags = parseTags(form.tags)
  if (tags.join(',') !== item.tags.join(',')) patch.tags = tags
  if (form.itemType !== item.item_type) patch.item_type = form.itemType
  return patch
}

function EditForm({ item, saved, onSaved }: { item: Item; saved: boolean; onSaved: (updatedAt: string) => void }) {
  const { t } = useTranslation()
  const patch = usePatchItem(item.id)
  const ids = { title: useId(), author: useId(), tags: useId(), tagsHint: useId(), type: useId() }
  const initial = { title: item.title, author: item.author ?? '', tags: item.tags.join(', '), itemType: item.item_type }
  const [form, setForm] = useState(initial)
  const changes = itemChanges(item, form)
  const dirty = Object.keys(changes).length > 0
  const titleMissing = form.title.trim() === ''

  const submit = (e: FormEvent) => {
    e.preventDefault()
    if (!dirty || titleMissing) return
    // A promise, not mutate's callbacks: those are dropped when the saved item remounts this form.
    void patch.mutateAsync(changes).then(
      (updated) => onSaved(updated.updated_at),
      () => undefined, // shown by patch.isError
    )
  }
  const field =
    'mt-1 w-full rounded-md border border-stone-300 bg-white px-2.5 py-1.5 text-sm text-stone-900 dark:border-stone-600 dark:bg-stone-950 dark:text-stone-100'
  const label = 'block text-sm font-medium text-stone-800 dark:text-stone-200'

  return (
    <section className={card} aria-labelledby="item-edit">
      <h2 id="item-edit" className={h2}>
        {t('item.edit')}
      </h2>
      <form data-testid="item-edit-form" onSubmit={submit} className="mt-3 space-y-3" noValidate>
        <div>
          <label htmlFor={ids.title} className={label}>
            {t('item.fields.title')}
          </label>
          <input
            id={ids.title}
            name="title"
            value={form.title}
            required
            maxLength={500}
            aria-invalid={titleMissing}
            onChange={(e) => setForm({ ...form, title: e.target.value })}
            className={field}
          />
          {titleMissing && <p className="mt-1 text-sm text-red-800 dark:text-red-300">{t('item.titleRequired')}</p>}
        </div>
        <div>
          <label htmlFor={ids.author} className={label}>
            {t('item.fields.author')}
          </label>
          <input
            id={ids.author}
            name="author"
            value={form.author}
            maxLength={300}
            onChange={(e) => setForm({ ...form, author: e.target.value })}
            className={field}
          />
        </div>
        <div>
          <label htmlFor={ids.tags} className={label}>
            {t('item.fields.tags')}
          </label>
          <input
            id={ids.tags}
            name="tags"
            value={form.tags}
            aria-describedby={ids.tagsHint}
            onChange={(e) => setForm({ ...form, tags: e.target.value })}
            className={field}
          />
          <p id={ids.tagsHint} className="mt-1 text-xs text-stone-600 dark:text-stone-400">
            {t('item.fields.tagsHint')}
          </p>
        </div>
        <div>
          <label htmlFor={ids.type} className={label}>
            {t('item.fields.type')}
          </label>
          <select
            id={ids.type}
            name="item_type"
            value={form.itemType}
            onChange={(e) => setForm({ ...form, itemType: e.target.value as ItemType })}
            className={field}
          >
            {ITEM_TYPES.map((type) => (
              <option key={type} value={type}>
                {t(`common.itemType.${type}`)}
              </option>
            ))}
          </select>
        </div>
        {patch.isError && <ErrorNotice error={patch.error} />}
        <div className="flex flex-wrap items-center gap-2">
          <button
            type="submit"
            disabled={!dirty || titleMissing || patch.isPending}
            className="rounded-md bg-orange-800 px-3 py-1.5 text-sm font-medium text-white hover:bg-orange-900 disabled:cursor-not-allowed disabled:opacity-50 dark:bg-orange-300 dark:text-stone-950 dark:hover:bg-orange-200"
          >
            {patch.isPending ? t('item.saving') : t('app.save')}
          </button>
          {dirty && !patch.isPending && (
            <button
              type="button"
              onClick={() => setForm(initial)}
              className="rounded-md px-3 py-1.5 text-sm font-medium text-stone-700 hover:bg-stone-100 dark:text-stone-300 dark:hover:bg-stone-800"
            >
              {t('item.reset')}
            </button>
          )}
          <span role="status" className="text-sm text-emerald-800 dark:text-emerald-300">
            {saved && !dirty ? t('item.saved') : ''}
          </span>
        </div>
      </form>
    </section>
  )
}

function ChunkList({ item }: { item: Item }) {
  const { t } = useTranslation()
  const chunks = useItemChunks(item.id)
  const loaded = chunks.data?.pages.flatMap((page) => page.chunks) ?? []
  const total = chunks.data?.pages[0]?.total ?? item.chunk_count
  const { refetch } = chunks

  useEffect(() => {
    // The item page polls a pending item; once it is processed, its passages exist to be read.
    if (item.status === 'ready' && item.chunk_count > 0 && total === 0) void refetch()
  }, [item.status, item.chunk_count, total, refetch])

  return (
    <section aria-labelledby="item-chunks-title" className="space-y-3">
      <div className="flex flex-wrap items-baseline justify-between gap-2">
        <h2 id="item-chunks-title" className={h2}>
          {t('item.chunks.title')}
        </h2>
        {loaded.length > 0 && (
          <span className="text-sm text-stone-600 dark:text-stone-400">
            {t('item.chunks.shown', { shown: loaded.length, total })}
          </span>
        )}
      </div>
      {chunks.isPending ? (
        <Spinner label={t('app.loading')} />
      ) : chunks.isError && loaded.length === 0 ? (
        <ErrorNotice error={chunks.error} onRetry={() => void chunks.refetch()} />
      ) : loaded.length === 0 ? (
        <p className="text-stone-700 dark:text-stone-300">
          {item.status === 'pending' ? t('item.chunks.pending') : t('item.chunks.none')}
        </p>
      ) : (
        <ol data-testid="item-chunks" className="space-y-3">
          {loaded.map((chunk) => (
            <ChunkCard key={chunk.id} chunk={chunk} />
          ))}
        </ol>
      )}
      {chunks.isError && loaded.length > 0 && <ErrorNotice error={chunks.error} onRetry={() => void chunks.fetchNextPage()} />}
      {chunks.hasNextPage && (
        <div className="flex justify-center">
          <button
            type="button"
            onClick={() => void chunks.fetchNextPage()}
            disabled={chunks.isFetchingNextPage}
            className="rounded-md border border-stone-300 px-4 py-2 text-sm font-medium hover:bg-stone-100 disabled:opacity-60 dark:border-stone-600 dark:hover:bg-stone-800"
          >
            {chunks.isFetchingNextPage ? t('app.loading') : t('item.chunks.loadMore')}
          </button>
        </div>
      )}
    </section>
  )
}

/** Passages longer than this start folded to a few lines. */
const FOLD_CHARS = 320

function ChunkCard({ chunk }: { chunk: Chunk }) {
  const { t } = useTranslation()
  const [open, setOpen] = useState(false)
  const textId = useId()
  const long = chunk.text.length > FOLD_CHARS
  return (
    <li className={card}>
      <div className="flex flex-wrap items-center gap-x-3 gap-y-1 text-xs text-stone-600 dark:text-stone-400">
        <span className="font-medium">{t('item.chunks.position', { index: chunk.chunk_index + 1 })}</span>
        {chunk.page !== null && <span>{t('common.page', { page: chunk.page })}</span>}
        {chunk.chapter && <span className="min-w-0 truncate">{t('common.chapter', { chapter: chunk.chapter })}</span>}
        <Link
          to="/reader/$itemId"
          params={{ itemId: chunk.item_id }}
          search={{ chunk: chunk.id }}
          className="ml-auto font-medium text-orange-800 hover:underline dark:text-orange-300"
        >
          {t('item.chunks.openInReader')}
        </Link>
      </div>
      <div
        id={textId}
        className={`mt-2 space-y-2 font-serif text-[0.95rem] leading-relaxed text-stone-800 dark:text-stone-200 ${
          long && !open ? 'line-clamp-4' : ''
        }`}
      >
        {paragraphs(chunk.text).map((text, i) => (
          <p key={i}>{text}</p>
        ))}
      </div>
      {long && (
        <button
          type="button"
          aria-expanded={open}
          aria-controls={textId}
          onClick={() => setOpen(!open)}
          className="mt-1 text-sm font-medium text-orange-800 hover:underline dark:text-orange-300"
        >
          {open ? t('item.chunks.showLess') : t('item.chunks.showMore')}
        </button>
      )}
    </li>
  )
}

function RunHistory({ itemId }: { itemId: string }) {
  const { t } = useTranslation()
  const runs = useItemRuns(itemId)
  return (
    <section className={card} aria-labelledby="item-runs-title">
      <h2 id="item-runs-title" className={h2}>
        {t('item.runs.title')}
      </h2>
      <div data-testid="item-runs" className="mt-3">
        {runs.isPending ? (
          <Spinner label={t('app.loading')} />
        ) : runs.isError ? (
          <ErrorNotice error={runs.error} onRetry={() => void runs.refetch()} />
        ) : runs.data.runs.length === 0 ? (
          <p className="text-sm text-stone-700 dark:text-stone-300">{t('item.runs.none')}</p>
        ) : (
          <ol className="space-y-3">
            {runs.data.runs.map((run) => (
              <RunEntry key={run.id} run={run} />
            ))}
          </ol>
        )}
      </div>
    </section>
  )
}

const RUN_TONE: Record<Run['status'], string> = {
  queued: 'bg-stone-100 text-stone-800 dark:bg-stone-800 dark:text-stone-200',
  running: 'bg-sky-100 text-sky-900 dark:bg-sky-950 dark:text-sky-100',
  succeeded: 'bg-emerald-100 text-emerald-900 dark:bg-emerald-950 dark:text-emerald-100',
  completed_with_errors: 'bg-amber-100 text-amber-950 dark:bg-amber-950 dark:text-amber-100',
  failed: 'bg-red-100 text-red-900 dark:bg-red-950 dark:text-red-100',
}

function RunEntry({ run }: { run: Run }) {
  const { t, i18n } = useTranslation()
  return (
    <li className="border-t border-stone-200 pt-3 text-sm first:border-t-0 first:pt-0 dark:border-stone-800">
      <div className="flex flex-wrap items-center gap-2">
        <span className={`rounded-full px-2 py-0.5 text-xs font-medium ${RUN_TONE[run.status] ?? RUN_TONE.queued}`}>
          {t(`item.runs.status.${run.status}`, { defaultValue: run.status })}
        </span>
        <time dateTime={run.started_at ?? run.created_at} className="text-stone-700 dark:text-stone-300">
          {t('item.runs.when', { date: formatDateTime(run.started_at ?? run.created_at, i18n.language) })}
        </time>
      </div>
      <p className="mt-1 break-words text-stone-600 dark:text-stone-400">{run.label}</p>
      <p className="mt-1 text-stone-700 dark:text-stone-300">
        {t('item.runs.files', { done: run.files_done, total: run.files_total })}
        {' · '}
        {t('item.runs.written', { count: run.chunks_written })}
        {run.files_failed > 0 && <> · {t('item.runs.failedFiles', { count: run.files_failed })}</>}
        {run.files_skipped > 0 && <> · {t('item.runs.skippedFiles', { count: run.files_skipped })}</>}
      </p>
      {run.errors.length > 0 && (
        <div className="mt-2">
          <h3 className="text-xs font-semibold uppercase tracking-wide text-stone-600 dark:text-stone-400">{t('item.runs.errors')}</h3>
          <ul className="mt-1 space-y-1">
            {run.errors.map((error, i) => (
              <li key={`${error.file}-${i}`} className="text-red-900 dark:text-red-200">
                <span className="break-all font-medium">{error.file}</span>: {fileErrorMessage(t, error)}
              </li>
            ))}
          </ul>
        </div>
      )}
      {run.skipped.length > 0 && (
        // A file cancelled because its item was deleted is no problem of the file's: listed apart.
        <div className="mt-2">
          <h3 className="text-xs font-semibold uppercase tracking-wide text-stone-600 dark:text-stone-400">{t('item.runs.skipped')}</h3>
          <ul className="mt-1 space-y-1">
            {run.skipped.map((file, i) => (
              <li key={`${file.file}-${i}`} className="text-stone-700 dark:text-stone-300">
                <span className="break-all font-medium">{file.file}</span>: {fileErrorMessage(t, file)}
              </li>
            ))}
          </ul>
        </div>
      )}
    </li>
  )
}
