// A numbered citation in an answer ([1], [2] by order of first appearance); opens the cited passage.
import { useTranslation } from 'react-i18next'

export interface CitationChipProps {
  n: number
  chunkId: number
  /** The cited source's title (its accessible name); unknown until the sources arrive. */
  title?: string
  selected?: boolean
  /** The id of the panel the chip opens. */
  controls?: string
  onOpen: (chunkId: number) => void
}

export function CitationChip({ n, chunkId, title, selected = false, controls, onOpen }: CitationChipProps) {
  const { t } = useTranslation()
  return (
    <button
      type="button"
      data-testid="citation-chip"
      data-chunk-id={chunkId}
      aria-label={title ? t('ask.citation.label', { n, title }) : t('ask.citation.unknown', { n })}
      aria-expanded={selected}
      aria-controls={controls}
      onClick={() => onOpen(chunkId)}
      className={
        'mx-0.5 inline-flex min-w-[1.75rem] items-center justify-center rounded-md border px-1 align-baseline text-xs font-semibold leading-5 ' +
        (selected
          ? 'border-orange-700 bg-orange-700 text-white dark:border-orange-300 dark:bg-orange-300 dark:text-stone-950'
          : 'border-orange-300 bg-orange-50 text-orange-900 hover:bg-orange-100 dark:border-orange-800 dark:bg-orange-950 dark:text-orange-100 dark:hover:bg-orange-900')
      }
    >
      [{n}]
    </button>
  )
}
