// Where an asked question stands, as a reducer of the stream's events and the user's actions.
import type { Answer, AnswerEvent } from '../../api/answer'
import type { Hit } from '../../api/search'

export type AskPhase = 'idle' | 'connecting' | 'busy' | 'streaming' | 'done' | 'stopped' | 'error'

export function isActive(phase: AskPhase): boolean {
  return phase === 'connecting' || phase === 'busy' || phase === 'streaming'
}

export interface AskState {
  phase: AskPhase
  question: string
  /** The answer text so far (cleared by a reset). */
  text: string
  sources: Hit[]
  tier: number | null
  answer: Answer | null
  error: { code: string; message: string } | null
  /** While busy: when the next attempt goes (epoch ms). */
  busyUntil: number | null
}

export const initialAskState: AskState = {
  phase: 'idle',
  question: '',
  text: '',
  sources: [],
  tier: null,
  answer: null,
  error: null,
  busyUntil: null,
}

export type AskAction =
  | { type: 'start'; question: string }
  | { type: 'busy'; until: number }
  | { type: 'event'; event: AnswerEvent }
  | { type: 'stopped' }
  | { type: 'failed'; code: string; message: string }
  | { type: 'clear' }

export function askReducer(state: AskState, action: AskAction): AskState {
  switch (action.type) {
    case 'start':
      return { ...initialAskState, phase: 'connecting', question: action.question }
    case 'clear':
      return initialAskState
    case 'busy':
      return { ...state, phase: 'busy', busyUntil: action.until }
    case 'stopped':
      return isActive(state.phase) ? { ...state, phase: 'stopped', busyUntil: null } : state
    case 'failed':
      return { ...state, phase: 'error', busyUntil: null, error: { code: action.code, message: action.message } }
    case 'event': {
      const event = action.event
      switch (event.type) {
        case 'sources':
          return { ...state, phase: 'streaming', busyUntil: null, sources: event.hits, tier: event.tier }
        case 'token':
          return { ...state, phase: 'streaming', text: state.text + event.text }
        case 'reset':
          return { ...state, text: '' }
        case 'done':
          return { ...state, phase: 'done', text: event.answer.answer, answer: event.answer, tier: event.answer.tier }
        case 'error':
          return { ...state, phase: 'error', error: { code: event.code, message: event.message } }
      }
    }
  }
}

