// An answer as it streams and once it is done: badges (who wrote it, how it was reviewed, the tier),
// the text with its citations as numbered chips, and the cited sources listed below.
import { memo, useMemo } from 'react'
import { useTranslation } from 'react-i18next'
import type { Answer, Citation } from '../../api/answer'
import type { Hit } from '../../api/search'
import { CitationChip } from '../../components/CitationChip'
import { StreamView } from '../../components/StreamView'
import { TierBadge } from '../../components/TierBadge'
import type { AskState } from './askState'
import { parseAnswer } from './citations'

export const PANEL_ID = 'citation-panel'

/** What is known of a cited chunk: its hit (with text) from the sources, or its citation. */
export interface SourceInfo {
  chunk_id: number
  item_id: string
  title: string
  author: string | null
  page: number | null
  chapter: string | null
  text?: string
}

export function sourceIndex(sources: Hit[], citations: Citation[] = []): Map<number, SourceInfo> {
  const index = new Map<number, SourceInfo>()
  for (const citation of citations) index.set(citation.chunk_id, citation)
  for (const hit of sources) index.set(hit.chunk_id, hit)
  return index
}

const BADGE = 'inline-flex items-center rounded-full border px-2 py-0.5 text-xs font-medium'
const NEUTRAL = `${BADGE} border-stone-300 bg-stone-50 text-stone-800 dark:border-stone-600 dark:bg-stone-800 dark:text-stone-100`
const GOOD = `${BADGE} border-green-300 bg-green-50 text-green-900 dark:border-green-800 dark:bg-green-950 dark:text-green-100`
const WARN = `${BADGE} border-amber-400 bg-amber-50 text-amber-950 dark:border-amber-700 dark:bg-amber-950 dark:text-amber-100`

function AnswerBadges({ answer, tier, testId }: { answer: Answer | null; tier: number | null; testId: string }) {
  const { t } = useTranslation()
  if (!answer && tier === null) return null
  const review = answer?.review
  return (
    <div data-testid={testId} className="flex flex-wrap items-center gap-1.5">
      {answer && (
        <span data-badge="answerer" data-value={answer.answerer} className={NEUTRAL}>
          {answer.answerer === 'llm' ? t('ask.badge.llm') : t('ask.badge.extractive')}
        </span>
      )}
      {(review === 'passed' || review === 'regenerated' || review === 'fast-track') && (
        <span data-badge="review" data-value={review} className={GOOD}>
          {t(`ask.badge.review.${review}`)}
        </span>
      )}
      {review === 'unreviewed' && (
        <span data-badge="review" data-value={review} className={WARN}>
          {t('ask.badge.review.unreviewed')}
        </span>
      )}
      {review === 'declined' && (
        <span data-badge="review" data-value={review} className={WARN}>
          {t('ask.badge.review.declined')}
        </span>
      )}
      {answer?.cached && <span className={NEUTRAL}>{t('ask.badge.cached')}</span>}
      {tier !== null && <TierBadge tier={answer?.tier ?? tier} />}
    </div>
  )
}

export interface AnswerViewProps {
  state: AskState
  selected: number | null
  onOpen: (chunkId: number) => void
  /**
   * `live`: the answer being asked now (a live region, test ids answer-*); `history`: an earlier
   * answer of a chat, stored (no live region, test ids history-*).
   */
  variant?: 'live' | 'history'
  /** What the answer cites when there is no finished answer to say it (a stopped answer's citations). */
  citations?: Citation[]
}

const TEXT_CLASS = 'text-base text-stone-900 dark:text-stone-100'

export const AnswerView = memo(function AnswerView({ state, selected, onOpen, variant = 'live', citations }: AnswerViewProps) {
  const { t } = useTranslation()
  const parsed = useMemo(() => parseAnswer(state.text), [state.text])
  const sources = useMemo(
    () => sourceIndex(state.sources, state.answer?.citations ?? citations),
    [state.sources, state.answer, citations],
  )
  const streaming = state.phase === 'streaming' || state.phase === 'connecting'
  const history = variant === 'history'
  const chips = parsed.parts.map((part, i) =>
    part.kind === 'text' ? (
      part.text
    ) : (
      <CitationChip
        key={`${i}-${part.chunkId}`}
        n={part.n}
        chunkId={part.chunkId}
        title={sources.get(part.chunkId)?.title}
        selected={selected === part.chunkId}
        controls={PANEL_ID}
        onOpen={onOpen}
      />
    ),
  )

  return (
    <div className="flex flex-col gap-3">
      <AnswerBadges answer={state.answer} tier={state.tier} testId={history ? 'history-badges' : 'answer-badges'} />
      {history ? (
        <div data-testid="history-answer" className={`whitespace-pre-wrap break-words leading-relaxed ${TEXT_CLASS}`}>
          {chips}
        </div>
      ) : (
        <StreamView streaming={streaming} label={t('ask.answerLabel')} className={TEXT_CLASS}>
          {chips}
        </StreamView>
      )}
      {parsed.order.length > 0 && (
        <div>
          <h4 className="text-sm font-semibold text-stone-700 dark:text-stone-300">{t('ask.sources.heading')}</h4>
          <ol className="mt-1 space-y-1 text-sm" data-testid={history ? 'history-sources' : 'answer-sources'}>
            {parsed.order.map((chunkId, i) => {
              const source = sources.get(chunkId)
              const meta = [
                source?.author,
                source?.page != null ? t('common.page', { page: source.page }) : null,
                source?.chapter ? t('common.chapter', { chapter: source.chapter }) : null,
              ].filter(Boolean)
              return (
                <li key={chunkId} className="flex gap-2">
                  <span className="font-semibold text-orange-900 dark:text-orange-200">[{i + 1}]</span>
                  <button
                    type="button"
                    onClick={() => onOpen(chunkId)}
                    aria-controls={PANEL_ID}
                    className="text-left text-stone-800 underline decoration-stone-400 underline-offset-2 hover:decoration-orange-700 dark:text-stone-200"
                  >
                    {source?.title ?? t('ask.citation.unknown', { n: i + 1 })}
                    {meta.length > 0 && <span className="text-stone-600 dark:text-stone-400"> — {meta.join(', ')}</span>}
                  </button>
                </li>
              )
            })}
          </ol>
        </div>
      )}
    </div>
  )
})
