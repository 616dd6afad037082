// A chat's stored messages as the turns the page shows (a question and its answer), and which of them
// the turn being asked right now already stands for, so it is never shown twice.
import type { Answer } from '../../api/answer'
import type { ChatAnswer, ChatMessage } from '../../api/chats'
import { initialAskState, type AskState } from './askState'

export interface ChatTurn {
  /** Stable across refetches: the ids of its messages. */
  key: string
  question: ChatMessage | null
  answer: ChatMessage | null
}

/** Pairs each question with the answer stored after it (an answer without a question stands alone). */
export function pairTurns(messages: readonly ChatMessage[]): ChatTurn[] {
  const turns: ChatTurn[] = []
  for (const message of messages) {
    const last = turns[turns.length - 1]
    if (message.role === 'assistant' && last && last.question && !last.answer) {
      last.answer = message
      last.key = `${last.key}-${message.id}`
    } else if (message.role === 'user') {
      turns.push({ key: String(message.id), question: message, answer: null })
    } else {
      turns.push({ key: `a${message.id}`, question: null, answer: message })
    }
  }
  return turns
}

/** The turn being asked on this page now. */
export interface LiveTurn {
  /** Null until a new chat has been created for it. */
  chatId: string | null
  question: string
  /** How many of the chat's messages were known when it was asked (its own come after). */
  base: number
}

function same(a: string, b: string): boolean {
  return a.trim().replace(/\s+/g, ' ') === b.trim().replace(/\s+/g, ' ')
}

/**
 * The chat's messages without those of the live turn. Once done, its answer names its stored
 * messages; a stopped or failed turn is stored without telling us, so its question is found by its
 * text among the messages stored after it was asked, with the (incomplete) answer that follows.
 */
export function historyWithout(
  messages: readonly ChatMessage[],
  live: LiveTurn | null,
  answer: Pick<ChatAnswer, 'user_message_id' | 'assistant_message_id'> | null,
): ChatMessage[] {
  if (!live) return [...messages]
  if (answer && answer.user_message_id != null) {
    const ids = new Set([answer.user_message_id, answer.assistant_message_id])
    return messages.filter((m) => !ids.has(m.id))
  }
  const at = messages.findIndex((m, i) => i >= live.base && m.role === 'user' && same(m.content, live.question))
  if (at < 0) return [...messages]
  const drop = messages[at + 1]?.role === 'assistant' ? 2 : 1
  return [...messages.slice(0, at), ...messages.slice(at + drop)]
}

/** A stored answer as the state AnswerView shows (done; its badges only if the answer was finished). */
export function storedAnswerState(question: string, message: ChatMessage): AskState {
  const answer: Answer | null = message.answerer
    ? {
        question,
        answer: message.content,
        citations: message.citations,
        answerer: message.answerer,
        review: message.review ?? 'unreviewed',
        scores: {},
        fallback_reason: null,
        tier: message.tier ?? 1,
        tier_name: '',
        versions: message.versions ?? { embedding_model: '', chat_model: null, prompt_hash: '' },
        cached: false,
      }
    : null
  return {
    ...initialAskState,
    phase: message.complete ? 'done' : 'stopped',
    question,
    text: message.content,
    tier: message.tier,
    answer,
  }
}
