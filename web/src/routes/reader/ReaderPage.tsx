// The reader: an item's text a slice of chunks at a time, opened at a cited chunk when the link names one.
// A PDF whose original is kept opens in the PDF view (pdf.js, loaded lazily) at the cited page; a toggle
// switches to the extracted text (ChunkTextView), which every other type shows.
import { Suspense, lazy, useCallback, useEffect, useRef, useState } from 'react'
import { Link, useParams, useSearch } from '@tanstack/react-router'
import { useTranslation } from 'react-i18next'
import { ApiError } from '../../api/http'
import { CHUNK_PAGE_SIZE, useChunkPage, useContent, useItem } from '../../api/library'
import { ErrorNotice } from '../../components/ErrorNotice'
import { Spinner } from '../../components/Spinner'
import type { ReaderSearch } from '../../router'
import { ChunkTextView } from './ChunkTextView'
import { chunkPageOffset, neighbourOffsets } from './chunkLayout'

const column = 'mx-auto w-full max-w-[70ch]'
const PdfView = lazy(() => import('./PdfView').then((module) => ({ default: module.PdfView })))

type ReaderView = 'pdf' | 'text'

export function ReaderPage() {
  const { t } = useTranslation()
  const { itemId } = useParams({ from: '/app/reader/$itemId' })
  const search = useSearch({ from: '/app/reader/$itemId' })
  const item = useItem(itemId)

  // A cited chunk without an offset: ask where it sits in the item, then open the slice that holds it.
  const lookup = search.offset === undefined && search.chunk !== undefined
  const isPdf = item.data?.source_filename?.toLowerCase().endsWith('.pdf') ?? false
  const [view, setView] = useState<ReaderView>('pdf')
  const [noOriginal, setNoOriginal] = useState(false)
  const showPdf = isPdf && view === 'pdf' && !noOriginal
  const onUnavailable = useCallback(() => setNoOriginal(true), [])
  // The PDF view needs the cited chunk's page and text too, whatever slice the text view shows.
  const cited = useContent(search.chunk !== undefined ? [search.chunk] : [], {
    enabled: lookup || (isPdf && search.chunk !== undefined),
  })
  const citedChunk = cited.data?.chunks.find((chunk) => chunk.id === search.chunk && chunk.item_id === itemId)
  const citedGone = lookup && (cited.isError || (cited.isSuccess && !citedChunk))
  const offset =
    search.offset ??
    (search.chunk === undefined || citedGone ? 0 : citedChunk ? chunkPageOffset(citedChunk.chunk_index) : undefined)
  const page = useChunkPage(itemId, offset)

  const currentRef = useRef<HTMLDivElement>(null)
  const shownFor = useRef<string | null>(null)
  const chunks = page.data?.chunks ?? []
  const hasCurrent = search.chunk !== undefined && chunks.some((chunk) => chunk.id === search.chunk)
  const ready = page.isSuccess && !page.isPlaceholderData

  useEffect(() => {
    // Once per (chunk, slice): bring the cited passage's start into view and give it focus,
    // so keyboard and screen-reader users start where the citation pointed.
    const key = `${search.chunk}@${offset}`
    if (!ready || !hasCurrent || shownFor.current === key || !currentRef.current) return
    shownFor.current = key
    const reduced = window.matchMedia?.('(prefers-reduced-motion: reduce)').matches
    currentRef.current.scrollIntoView?.({ block: 'start', behavior: reduced ? 'auto' : 'smooth' })
    currentRef.current.focus({ preventScroll: true })
  }, [ready, hasCurrent, search.chunk, offset])

  useEffect(() => {
    if (item.data) document.title = `${item.data.title} · ${t('app.name')}`
    return () => {
      document.title = t('app.name')
    }
  }, [item.data, t])

  if (item.isError) {
    const notFound = item.error instanceof ApiError && (item.error.status === 404 || item.error.status === 422)
    return (
      <div data-testid="reader" className={`${column} space-y-4`}>
        <Link to="/library" className="text-sm font-medium text-orange-800 hover:underline dark:text-orange-300">
          ← {t('item.back')}
        </Link>
        {notFound ? (
          <h1 className="text-xl font-semibold text-stone-900 dark:text-stone-100">{t('reader.notFound')}</h1>
        ) : (
          <ErrorNotice error={item.error} onRetry={() => void item.refetch()} />
        )}
      </div>
    )
  }

  const total = page.data?.total ?? 0
  const start = offset ?? 0
  const title = item.data?.title ?? chunks[0]?.item_title ?? ''
  const author = item.data?.author ?? chunks[0]?.item_author ?? null

  return (
    <div data-testid="reader" className="space-y-6">
      <header className={`${column} space-y-1`}>
        <Link
          to="/library/$itemId"
          params={{ itemId }}
          className="text-sm font-medium text-orange-800 hover:underline dark:text-orange-300"
        >
          ← {t('reader.back')}
        </Link>
        <p className="pt-2 text-xs font-medium uppercase tracking-widest text-stone-600 dark:text-stone-400">
          {t('reader.label')}
        </p>
        <h1 className="break-words font-serif text-2xl font-semibold text-stone-900 sm:text-3xl dark:text-stone-100">
          {title || '\u00a0'}
        </h1>
        {author && <p className="font-serif text-lg text-stone-700 dark:text-stone-300">{author}</p>}
        {isPdf && !noOriginal ? (
          <div role="group" aria-label={t('reader.view.label')} className="flex gap-2 pt-2" data-testid="reader-view">
            {(['pdf', 'text'] as const).map((choice) => (
              <button
                key={choice}
                type="button"
                aria-pressed={view === choice}
                onClick={() => setView(choice)}
                data-testid={`reader-view-${choice}`}
                className={`rounded-md border px-3 py-1.5 text-sm font-medium ${
                  view === choice
                    ? 'border-orange-700 bg-orange-700 text-white dark:border-orange-300 dark:bg-orange-300 dark:text-stone-950'
                    : 'border-stone-300 text-stone-800 hover:bg-stone-100 dark:border-stone-600 dark:text-stone-200 dark:hover:bg-stone-800'
                }`}
              >
                {t(`reader.view.${choice}`)}
              </button>
            ))}
          </div>
        ) : (
          <p className="pt-1 text-sm text-stone-600 dark:text-stone-400">
            {noOriginal ? t('reader.noOriginal') : t('reader.textOnly')}
          </p>
        )}
      </header>

      {showPdf && (
        <div className="mx-auto w-full max-w-4xl">
          {search.chunk !== undefined && cited.isPending ? (
            <Spinner label={t('reader.loading')} />
          ) : (
            <Suspense fallback={<Spinner label={t('reader.pdf.loading')} />}>
              <PdfView
                itemId={itemId}
                title={title}
                requestedPage={search.page}
                chunkPage={citedChunk?.page ?? null}
                passage={citedChunk?.text}
                onUnavailable={onUnavailable}
              />
            </Suspense>
          )}
        </div>
      )}

      {citedGone && (
        <p role="status" className={`${column} rounded-md border border-amber-300 bg-amber-50 p-3 text-sm text-amber-950 dark:border-amber-800 dark:bg-amber-950 dark:text-amber-100`}>
          {t('reader.chunkMissing')}
        </p>
      )}

      {showPdf ? null : offset === undefined || page.isPending ? (
        <div className={column}>
          <Spinner label={t('reader.loading')} />
        </div>
      ) : page.isError ? (
        <div className={column}>
          <ErrorNotice error={page.error} onRetry={() => void page.refetch()} />
        </div>
      ) : chunks.length === 0 ? (
        <p className={`${column} text-stone-700 dark:text-stone-300`}>{t('reader.empty')}</p>
      ) : (
        <>
          <PageNav search={search} itemId={itemId} offset={start} total={total} shown={chunks.length} />
          <div
            className={`${column} rounded-lg bg-white px-5 py-6 shadow-sm ring-1 ring-stone-200 sm:px-8 sm:py-8 dark:bg-stone-900 dark:ring-stone-800 ${
              page.isPlaceholderData ? 'opacity-60' : ''
            }`}
          >
            <ChunkTextView
              chunks={chunks}
              currentChunkId={search.chunk}
              currentRef={currentRef}
              label={t('reader.text', { title })}
            />
          </div>
          <PageNav search={search} itemId={itemId} offset={start} total={total} shown={chunks.length} bottom />
        </>
      )}
    </div>
  )
}

function PageNav({
  search,
  itemId,
  offset,
  total,
  shown,
  bottom = false,
}: {
  search: ReaderSearch
  itemId: string
  offset: number
  total: number
  shown: number
  bottom?: boolean
}) {
  const { t } = useTranslation()
  const { previous, next } = neighbourOffsets(offset, total, CHUNK_PAGE_SIZE)
  const link =
    'rounded-md border border-stone-300 px-3 py-1.5 text-sm font-medium text-stone-800 hover:bg-stone-100 dark:border-stone-600 dark:text-stone-200 dark:hover:bg-stone-800'
  const off = 'rounded-md border border-stone-200 px-3 py-1.5 text-sm font-medium text-stone-500 dark:border-stone-800 dark:text-stone-400'
  return (
    <nav aria-label={bottom ? t('reader.pagesBottom') : t('reader.pages')} className={`${column} flex items-center justify-between gap-2`}>
      {previous !== null ? (
        <Link to="/reader/$itemId" params={{ itemId }} search={{ ...search, offset: previous }} className={link}>
          ← {t('reader.previous')}
        </Link>
      ) : (
        <span aria-disabled="true" className={off}>
          ← {t('reader.previous')}
        </span>
      )}
      <span className="text-center text-sm text-stone-600 tabular-nums dark:text-stone-400">
        {t('reader.range', { from: offset + 1, to: offset + shown, total })}
      </span>
      {next !== null ? (
        <Link to="/reader/$itemId" params={{ itemId }} search={{ ...search, offset: next }} className={link}>
          {t('reader.next')} →
        </Link>
      ) : (
        <span aria-disabled="true" className={off}>
          {t('reader.next')} →
        </span>
      )}
    </nav>
  )
}
