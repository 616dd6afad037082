import { render, screen, within } from '@testing-library/react'
import { createMemoryHistory, createRootRoute, createRouter, RouterProvider } from '@tanstack/react-router'
import type { ConcordanceLine } from '../../api/analytics'
import i18n from '../../i18n'
import { groupLines } from './chart'
import { KwicTable } from './KwicTable'

function line(item: string, chunk: number, left: string, match: string, right: string, page: number | null): ConcordanceLine {
  return {
    item_id: item,
    title: item === 'a' ? 'Osmanlı’dan Cumhuriyet’e' : 'Yunus Emre Notları',
    author: item === 'a' ? 'Tarihçi' : null,
    chunk_id: chunk,
    chunk_index: chunk,
    page,
    chapter: page === null ? 'Sonsöz' : null,
    left,
    match,
    right,
    offset: left.length,
  }
}

const LINES = [
  line('a', 10, 'Sultanın ', 'kitaplarında', ' yazılanlar okunurdu.', 4),
  line('a', 11, 'Eski ', 'kitap', ' satıcıları', 9),
  line('b', 20, 'Dört ', 'kitabın', ' manası bir elif', null),
]

describe('keyword in context', () => {
  beforeAll(async () => {
    await i18n.changeLanguage('en')
  })
  beforeEach(() => {
    // jsdom has no scrolling; the router's scroll restoration calls it.
    vi.spyOn(window, 'scrollTo').mockImplementation(() => {})
  })
  afterEach(() => vi.restoreAllMocks())

  it('groups consecutive lines by item', () => {
    expect(groupLines(LINES).map((g) => [g.itemId, g.lines.length])).toEqual([
      ['a', 2],
      ['b', 1],
    ])
  })

  it('renders each line as before | highlighted match linking to the reader | after | page', async () => {
    const router = createRouter({
      routeTree: createRootRoute({ component: () => <KwicTable term="kitap" lines={LINES} /> }),
      history: createMemoryHistory({ initialEntries: ['/'] }),
    })
    render(<RouterProvider router={router as never} />)
    const table = await screen.findByTestId('kwic-table')
    expect(table.querySelector('caption')?.textContent).toContain('Lines where “kitap” occurs')

    const groups = within(table).getAllByTestId('kwic-group')
    expect(groups.map((g) => within(g).getByRole('rowheader').textContent)).toEqual([
      'Osmanlı’dan Cumhuriyet’e — Tarihçi',
      'Yunus Emre Notları',
    ])

    const rows = within(table).getAllByTestId('kwic-line')
    expect(rows.map((r) => r.dataset.chunkId)).toEqual(['10', '11', '20'])
    const first = rows[0]!
    const cells = within(first).getAllByRole('cell')
    expect(cells.map((c) => c.textContent)).toEqual(['Sultanın ', 'kitaplarında yazılanlar okunurdu.', 'p. 4'])
    // The left context sits against the match: right-aligned, clipped at its far (left) end; the
    // match opens the cell after it, so every match starts in the same column.
    expect(within(first).getByTestId('kwic-left').parentElement?.className).toContain('justify-end')
    expect(cells[1]!.firstElementChild?.firstElementChild?.textContent).toBe('kitaplarında')
    const match = within(first).getByTestId('kwic-match')
    expect(match.tagName).toBe('MARK')
    expect(match.closest('a')?.getAttribute('href')).toBe('/reader/a?chunk=10')
    // A line without a page says its chapter.
    expect(within(rows[2]!).getAllByRole('cell')[2]!.textContent).toBe('Sonsöz')
  })
})
