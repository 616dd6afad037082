import type { ChatMessage } from '../../api/chats'
import { historyWithout, pairTurns, storedAnswerState } from './chatTurns'

let nextId = 1
function message(role: 'user' | 'assistant', content: string, extra: Partial<ChatMessage> = {}): ChatMessage {
  return {
    id: nextId++,
    role,
    content,
    citations: [],
    answerer: role === 'assistant' ? 'llm' : null,
    review: role === 'assistant' ? 'passed' : null,
    tier: role === 'assistant' ? 1 : null,
    versions: null,
    search_query: null,
    followup: null,
    complete: true,
    created_at: '2030-01-01T00:00:00Z',
    ...extra,
  }
}

describe('pairTurns', () => {
  it('pairs each question with the answer after it', () => {
    const q1 = message('user', 'Who was Yunus Emre?')
    const a1 = message('assistant', 'A poet [3].')
    const q2 = message('user', 'And what did he say about love?')
    const turns = pairTurns([q1, a1, q2])
    expect(turns.map((t) => [t.question?.content, t.answer?.content])).toEqual([
      ['Who was Yunus Emre?', 'A poet [3].'],
      ['And what did he say about love?', undefined],
    ])
    expect(turns[0]!.key).toBe(`${q1.id}-${a1.id}`)
  })
})

describe('historyWithout', () => {
  const q1 = message('user', 'First?')
  const a1 = message('assistant', 'One.')
  const q2 = message('user', 'Second  question?')
  const a2 = message('assistant', 'Two, cut', { complete: false, answerer: null, review: null })

  it('drops the live turn’s stored messages by id once done', () => {
    const live = { chatId: 'c', question: 'Second question?', base: 2 }
    const kept = historyWithout([q1, a1, q2, a2], live, { user_message_id: q2.id, assistant_message_id: a2.id })
    expect(kept).toEqual([q1, a1])
  })

  it('finds a stopped turn by its question among the messages stored after it was asked', () => {
    const live = { chatId: 'c', question: ' Second question? ', base: 2 }
    expect(historyWithout([q1, a1, q2, a2], live, null)).toEqual([q1, a1])
    // Not stored yet: nothing to drop.
    expect(historyWithout([q1, a1], live, null)).toEqual([q1, a1])
    // The same question asked before the live turn stays in the history.
    expect(historyWithout([q1, a1], { chatId: 'c', question: 'First?', base: 2 }, null)).toEqual([q1, a1])
  })
})

describe('storedAnswerState', () => {
  it('shows a finished answer with its badges, and a cut one as stopped without them', () => {
    const done = storedAnswerState('Q?', message('assistant', 'Yes [4].', { review: 'regenerated', tier: 2 }))
    expect(done).toMatchObject({ phase: 'done', text: 'Yes [4].', tier: 2, answer: { review: 'regenerated', tier: 2 } })
    const cut = storedAnswerState('Q?', message('assistant', 'Ye', { complete: false, answerer: null, review: null }))
    expect(cut).toMatchObject({ phase: 'stopped', text: 'Ye', answer: null })
  })
})
