// A chat's earlier turns: each question, its stored answer with citation chips and badges, and a
// marker on answers that were cut off. The passage a chip opens shows under its turn when `inline`.
import { memo, useMemo, type ReactNode } from 'react'
import { useTranslation } from 'react-i18next'
import type { ChatMessage, FollowUpMode } from '../../api/chats'
import { AnswerView } from './AnswerView'
import { storedAnswerState, type ChatTurn } from './chatTurns'

export const QUESTION_CLASS =
  'ml-auto w-fit max-w-[min(36rem,90%)] whitespace-pre-wrap break-words rounded-2xl rounded-br-sm bg-stone-200 px-4 py-2 text-base font-normal text-stone-900 dark:bg-stone-800 dark:text-stone-100'

/** "Searched as: …" under an answer whose search leaned on the earlier turns. */
export function FollowUpNote({
  mode,
  query,
  question,
}: {
  mode: FollowUpMode | null | undefined
  query: string | null | undefined
  question: string
}) {
  const { t } = useTranslation()
  // Said only when the history changed what was searched.
  if (!mode || !query || query.trim() === question.trim()) return null
  return (
    <p data-testid="followup-note" className="text-xs text-stone-600 dark:text-stone-400">
      {t(`chat.followup.${mode}`, { query })}
    </p>
  )
}

export function IncompleteBadge() {
  const { t } = useTranslation()
  return (
    <span
      data-testid="history-incomplete"
      className="inline-flex w-fit items-center gap-1 rounded-full border border-amber-400 bg-amber-50 px-2 py-0.5 text-xs font-medium text-amber-950 dark:border-amber-700 dark:bg-amber-950 dark:text-amber-100"
    >
      <span aria-hidden="true">⚠</span>
      {t('chat.incomplete')}
    </span>
  )
}

interface StoredTurnProps {
  turn: ChatTurn
  selected: number | null
  onOpen: (turnKey: string, chunkId: number) => void
  panel: ReactNode
}

const StoredTurn = memo(function StoredTurn({ turn, selected, onOpen, panel }: StoredTurnProps) {
  const { t } = useTranslation()
  const question = turn.question?.content ?? ''
  const answer: ChatMessage | null = turn.answer
  const state = useMemo(() => (answer ? storedAnswerState(question, answer) : null), [answer, question])
  const headingId = `turn-${turn.key}`
  return (
    <li data-testid="chat-turn" data-turn={turn.key} className="flex flex-col gap-3">
      {turn.question && (
        <h3 id={headingId} className={QUESTION_CLASS}>
          <span className="sr-only">{t('chat.you')}: </span>
          {question}
        </h3>
      )}
      {answer && state ? (
        <div className="flex flex-col gap-2" data-complete={answer.complete}>
          {!answer.complete && <IncompleteBadge />}
          <AnswerView
            state={state}
            variant="history"
            citations={answer.citations}
            selected={selected}
            onOpen={(chunkId) => onOpen(turn.key, chunkId)}
          />
          <FollowUpNote mode={answer.followup} query={answer.search_query} question={question} />
        </div>
      ) : (
        <p className="text-sm text-stone-600 dark:text-stone-400">{t('chat.noAnswer')}</p>
      )}
      {panel}
    </li>
  )
})

export interface ChatHistoryProps {
  turns: ChatTurn[]
  selected: { turn: string; chunkId: number } | null
  onOpen: (turnKey: string, chunkId: number) => void
  /** The cited passage, shown under the turn it belongs to (null when it sits beside the chat). */
  renderPanel: ((turn: ChatTurn) => ReactNode) | null
}

export function ChatHistory({ turns, selected, onOpen, renderPanel }: ChatHistoryProps) {
  if (turns.length === 0) return null
  return (
    <ol data-testid="chat-history" className="flex flex-col gap-8">
      {turns.map((turn) => {
        const mine = selected?.turn === turn.key
        return (
          <StoredTurn
            key={turn.key}
            turn={turn}
            selected={mine ? selected.chunkId : null}
            onOpen={onOpen}
            panel={mine && renderPanel ? renderPanel(turn) : null}
          />
        )
      })}
    </ol>
  )
}
