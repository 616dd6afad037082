// The cited passage beside the answer (below it on phones): its source, page or chapter, the text
// (from the answer's sources, else fetched by id) and a link to read it in place.
import { useEffect, useRef } from 'react'
import { Link } from '@tanstack/react-router'
import { useTranslation } from 'react-i18next'
import { useContent } from '../../api/library'
import { ErrorNotice } from '../../components/ErrorNotice'
import { Spinner } from '../../components/Spinner'
import { PANEL_ID, type SourceInfo } from './AnswerView'

export interface CitationPanelProps {
  chunkId: number
  n: number | null
  known: SourceInfo | undefined
  onClose: () => void
}

export function CitationPanel({ chunkId, n, known, onClose }: CitationPanelProps) {
  const { t } = useTranslation()
  const heading = useRef<HTMLHeadingElement>(null)
  const needsFetch = !known?.text
  const content = useContent([chunkId], { enabled: needsFetch })
  const chunk = content.data?.chunks.find((c) => c.id === chunkId)
  const source: SourceInfo | undefined =
    known?.text || !chunk
      ? known
      : {
          chunk_id: chunk.id,
          item_id: chunk.item_id,
          title: chunk.item_title,
          author: chunk.item_author,
          page: chunk.page,
          chapter: chunk.chapter,
          text: chunk.text,
        }

  useEffect(() => {
    // Keyboard and screen-reader users land on the passage they asked for.
    heading.current?.focus()
  }, [chunkId])

  const meta = [
    source?.author,
    source?.page != null ? t('common.page', { page: source.page }) : null,
    source?.chapter ? t('common.chapter', { chapter: source.chapter }) : null,
  ].filter(Boolean)

  return (
    <aside
      id={PANEL_ID}
      data-testid="citation-panel"
      data-chunk-id={chunkId}
      aria-labelledby={`${PANEL_ID}-heading`}
      className="rounded-lg border border-stone-200 bg-white p-4 shadow-sm dark:border-stone-700 dark:bg-stone-900"
    >
      <div className="flex items-start gap-2">
        <h2
          id={`${PANEL_ID}-heading`}
          ref={heading}
          tabIndex={-1}
          className="min-w-0 flex-1 text-base font-semibold text-stone-900 focus:outline-none dark:text-stone-100"
        >
          {n !== null && <span className="mr-1 text-orange-800 dark:text-orange-300">[{n}]</span>}
          {source?.title ?? t('ask.panel.heading')}
        </h2>
        <button
          type="button"
          onClick={onClose}
          aria-label={t('ask.panel.close')}
          className="rounded px-1.5 text-lg leading-none text-stone-600 hover:bg-stone-100 hover:text-stone-900 dark:text-stone-400 dark:hover:bg-stone-800 dark:hover:text-stone-100"
        >
          ×
        </button>
      </div>
      {meta.length > 0 && <p className="mt-0.5 text-sm text-stone-600 dark:text-stone-400">{meta.join(' · ')}</p>}
      {needsFetch && content.isPending && <Spinner label={t('ask.panel.loading')} />}
      {needsFetch && content.isError && <ErrorNotice error={content.error} onRetry={() => void content.refetch()} />}
      {needsFetch && content.data && !chunk && (
        <p className="mt-3 text-sm text-stone-700 dark:text-stone-300">{t('ask.panel.missing')}</p>
      )}
      {source?.text && (
        <blockquote
          // Scrollable, so it takes keyboard focus (arrow keys scroll it).
          tabIndex={0}
          aria-label={t('ask.panel.heading')}
          className="mt-3 max-h-[50vh] overflow-y-auto whitespace-pre-line border-l-4 border-orange-300 pl-3 text-sm leading-relaxed text-stone-800 dark:border-orange-800 dark:text-stone-200">
          {source.text}
        </blockquote>
      )}
      {source && (
        <Link
          to="/reader/$itemId"
          params={{ itemId: source.item_id }}
          search={{ chunk: chunkId }}
          className="mt-3 inline-block text-sm font-medium text-orange-800 underline underline-offset-2 dark:text-orange-300"
          data-testid="citation-open-reader"
        >
          {t('ask.panel.openReader')}
        </Link>
      )}
    </aside>
  )
}
