// The reader's text view: a slice of an item's chunks as one continuous column, under chapter and page
// headings, with the cited chunk marked. (For a PDF with a kept original the reader offers the PDF view,
// PdfView, beside it; the reader chooses which view to show.)
import type { Ref } from 'react'
import { useTranslation } from 'react-i18next'
import type { Chunk } from '../../api/library'
import { groupChunks, paragraphs } from './chunkLayout'

interface ChunkTextViewProps {
  chunks: readonly Chunk[]
  /** The chunk to mark (the one a citation pointed at), if it is in this slice. */
  currentChunkId?: number
  /** Label of the text region, e.g. "Text of <title>". */
  label: string
  /** Lands on the current chunk, so the reader can scroll to it and focus it. */
  currentRef?: Ref<HTMLDivElement>
}

export function ChunkTextView({ chunks, currentChunkId, label, currentRef }: ChunkTextViewProps) {
  const { t } = useTranslation()
  const groups = groupChunks(chunks)
  // Chapters are the headings when the text has any (pages are then markers inside them); otherwise pages are.
  const hasChapters = groups.some((group) => group.chapter !== null)
  const pageLine =
    'mb-3 mt-8 flex items-center gap-3 font-sans text-xs font-medium uppercase tracking-widest text-stone-600 first:mt-0 dark:text-stone-400'
  const rule = <span aria-hidden="true" className="h-px flex-1 bg-stone-200 dark:bg-stone-700" />

  return (
    <article
      aria-label={label}
      className="font-serif text-[1.075rem] leading-[1.8] text-stone-900 [hyphens:auto] dark:text-stone-200"
    >
      {groups.map((group, g) => (
        <div key={`${g}-${group.chunks[0]?.id}`}>
          {/* A new page comes before the chapter that starts on it. */}
          {group.page !== null &&
            (hasChapters ? (
              <p className={pageLine}>
                {rule}
                {t('reader.page', { page: group.page })}
                {rule}
              </p>
            ) : (
              <h2 className={pageLine}>
                {rule}
                {t('reader.page', { page: group.page })}
                {rule}
              </h2>
            ))}
          {group.chapter !== null && (
            <h2 className="mb-4 mt-10 font-sans text-xl font-semibold text-stone-900 first:mt-0 dark:text-stone-100 [p+&]:mt-4">
              {group.chapter}
            </h2>
          )}
          {group.chunks.map((chunk, c) => {
            const current = chunk.id === currentChunkId
            const texts = paragraphs(chunk.text)
            // Extractors keep the chapter's title as the text's first line; the heading above says it already.
            if (c === 0 && group.chapter !== null && texts[0] === group.chapter.trim()) texts.shift()
            const body = texts.map((text, i) => (
              <p key={i} className="mb-[1em] last:mb-0">
                {text}
              </p>
            ))
            return (
              <div key={chunk.id} id={`chunk-${chunk.id}`} data-testid="reader-chunk" data-chunk-id={chunk.id} className="mb-[1em] scroll-mt-24">
                {current ? (
                  <div
                    ref={currentRef}
                    data-testid="reader-current"
                    data-chunk-id={chunk.id}
                    aria-current="true"
                    aria-label={t('reader.cited')}
                    role="region"
                    tabIndex={-1}
                    className="-mx-3 rounded-md border-l-4 border-amber-500 bg-amber-50 px-3 py-2 focus:outline-none dark:border-amber-400 dark:bg-amber-950/50"
                  >
                    <p aria-hidden="true" className="mb-1 font-sans text-xs font-semibold uppercase tracking-wide text-amber-900 dark:text-amber-200">
                      {t('reader.cited')}
                    </p>
                    {body}
                  </div>
                ) : (
                  body
                )}
              </div>
            )
          })}
        </div>
      ))}
    </article>
  )
}
