import { fireEvent, render, screen, within } from '@testing-library/react'
import type { Answer, AnswerEvent } from '../../api/answer'
import type { Hit } from '../../api/search'
import i18n from '../../i18n'
import { askReducer, initialAskState, type AskState } from './askState'
import { AnswerView } from './AnswerView'

function hit(chunk_id: number, title: string, text: string): Hit {
  return {
    chunk_id,
    item_id: `item-${chunk_id}`,
    title,
    author: 'A. Writer',
    item_type: 'BOOK',
    tags: [],
    content_type: 'text',
    chunk_index: 0,
    text,
    page: 12,
    chapter: null,
    score: 1,
    lexical_rank: 1,
    lexical_score: 1,
    dense_rank: 1,
    dense_similarity: 0.9,
  }
}

const answer: Answer = {
  question: 'What kills the mind?',
  answer: 'Fear kills the mind [905]. Litanies help [12], as does practice [905].',
  citations: [
    { chunk_id: 905, item_id: 'item-905', title: 'Dune', author: 'Frank Herbert', page: 12, chapter: null },
    { chunk_id: 12, item_id: 'item-12', title: 'Litanies', author: null, page: null, chapter: null },
  ],
  answerer: 'llm',
  review: 'regenerated',
  scores: {},
  fallback_reason: null,
  tier: 1,
  tier_name: 'hybrid',
  versions: { embedding_model: 'm', chat_model: 'c', prompt_hash: 'h' },
  cached: false,
}

function stateAfter(events: AnswerEvent[]): AskState {
  return events.reduce(
    (state, event) => askReducer(state, { type: 'event', event }),
    askReducer(initialAskState, { type: 'start', question: answer.question }),
  )
}

beforeAll(async () => {
  await i18n.changeLanguage('en')
})

describe('AnswerView', () => {
  const sources: AnswerEvent = {
    type: 'sources',
    tier: 1,
    tier_name: 'hybrid',
    hits: [hit(905, 'Dune', 'I must not fear.'), hit(12, 'Litanies', 'Fear is the mind-killer.')],
  }

  it('renders a done answer with numbered citation chips named by their sources', () => {
    const onOpen = vi.fn()
    const state = stateAfter([sources, { type: 'token', text: 'draft [1' }, { type: 'done', answer }])
    render(<AnswerView state={state} selected={null} onOpen={onOpen} />)

    const text = screen.getByTestId('answer-text')
    expect(text.getAttribute('aria-live')).toBe('polite')
    expect(text.getAttribute('aria-busy')).toBe('false')
    expect(text.textContent).toBe('Fear kills the mind [1]. Litanies help [2], as does practice [1].')

    const chips = within(text).getAllByTestId('citation-chip')
    expect(chips.map((c) => c.textContent)).toEqual(['[1]', '[2]', '[1]'])
    expect(chips.map((c) => c.dataset.chunkId)).toEqual(['905', '12', '905'])
    expect(screen.getAllByRole('button', { name: /Dune/ })[0]).toBe(chips[0])
    expect(chips[1]!.getAttribute('aria-label')).toBe('Source 2: Litanies')

    fireEvent.click(chips[1]!)
    expect(onOpen).toHaveBeenCalledWith(12)

    const badges = screen.getByTestId('answer-badges')
    expect(badges.textContent).toContain('LLM answer')
    expect(badges.textContent).toContain('LLM reviewed: rewritten once')
    expect(within(badges).queryByTestId('tier-badge')).toBeNull()

    const listed = screen.getByTestId('answer-sources')
    expect(within(listed).getAllByRole('listitem').map((li) => li.textContent)).toEqual([
      '[1]Dune — A. Writer, p. 12',
      '[2]Litanies — A. Writer, p. 12',
    ])
  })

  it('shows a declined answer as extractive quotes, and the keyword tier', () => {
    const state = stateAfter([
      { ...sources, tier: 2, tier_name: 'keyword' },
      { type: 'done', answer: { ...answer, answerer: 'extractive', review: 'declined', tier: 2, tier_name: 'keyword' } },
    ])
    render(<AnswerView state={state} selected={905} onOpen={() => {}} />)
    const badges = screen.getByTestId('answer-badges')
    expect(badges.textContent).toContain('Extractive quotes')
    expect(badges.textContent).toContain('Declined by the reviewer → extractive quotes')
    expect(within(badges).getByTestId('tier-badge').textContent).toContain('Keyword only')
    expect(screen.getAllByTestId('citation-chip')[0]!.getAttribute('aria-expanded')).toBe('true')
  })

  it('streams: busy while tokens arrive, a reset clears the text so far', () => {
    let state = stateAfter([sources, { type: 'token', text: 'First try [905]' }])
    const { rerender } = render(<AnswerView state={state} selected={null} onOpen={() => {}} />)
    expect(screen.getByTestId('answer-text').getAttribute('aria-busy')).toBe('true')
    expect(screen.getAllByTestId('citation-chip')).toHaveLength(1)
    state = askReducer(state, { type: 'event', event: { type: 'reset', reason: 'regenerate' } })
    state = askReducer(state, { type: 'event', event: { type: 'token', text: 'Second' } })
    rerender(<AnswerView state={state} selected={null} onOpen={() => {}} />)
    expect(screen.getByTestId('answer-text').textContent).toBe('Second')
    expect(screen.queryAllByTestId('citation-chip')).toHaveLength(0)
    state = askReducer(state, { type: 'stopped' })
    expect(state.phase).toBe('stopped')
    rerender(<AnswerView state={state} selected={null} onOpen={() => {}} />)
    expect(screen.getByTestId('answer-text').getAttribute('aria-busy')).toBe('false')
  })
})
