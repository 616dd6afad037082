import { render, screen, within } from '@testing-library/react'
import { createMemoryHistory, createRootRoute, createRouter, RouterProvider } from '@tanstack/react-router'
import type { ReactNode } from 'react'
import type { ItemDistribution } from '../../api/analytics'
import i18n from '../../i18n'
import { axisTicks, barPercent, niceCeiling, peakIndex, sectionLabel } from './chart'
import { ItemBars, SectionColumns } from './DistributionChart'

describe('chart scaling', () => {
  it('rounds an axis up to 1, 2 or 5 × 10^k', () => {
    expect([0, 1, 2, 3, 7, 10, 11, 26, 99, 120, 501].map(niceCeiling)).toEqual([1, 1, 2, 5, 10, 10, 20, 50, 100, 200, 1000])
  })

  it('puts round ticks from 0 to the top', () => {
    expect(axisTicks(10)).toEqual([0, 2, 4, 6, 8, 10])
    expect(axisTicks(20)).toEqual([0, 5, 10, 15, 20])
    expect(axisTicks(5)).toEqual([0, 1, 2, 3, 4, 5])
    expect(axisTicks(200)).toEqual([0, 50, 100, 150, 200])
    expect(axisTicks(1000)).toEqual([0, 200, 400, 600, 800, 1000])
    expect(axisTicks(1)).toEqual([0, 1])
    expect(axisTicks(0)).toEqual([0])
  })

  it('scales bars to the maximum, keeping a lone occurrence visible', () => {
    expect(barPercent(50, 200)).toBe(25)
    expect(barPercent(200, 200)).toBe(100)
    expect(barPercent(1, 1000)).toBe(1)
    expect(barPercent(0, 1000)).toBe(0)
    expect(barPercent(3, 0)).toBe(0)
    expect(peakIndex([1, 4, 2, 4])).toBe(1)
    expect(peakIndex([])).toBe(-1)
  })

  it('names a page, a chapter, both, or neither', () => {
    const names = { page: (p: number) => `p. ${p}`, none: 'No page' }
    expect(sectionLabel({ page: 12, chapter: 'Giriş' }, names)).toBe('p. 12 · Giriş')
    expect(sectionLabel({ page: 3, chapter: null }, names)).toBe('p. 3')
    expect(sectionLabel({ page: null, chapter: 'Sonsöz' }, names)).toBe('Sonsöz')
    expect(sectionLabel({ page: null, chapter: '' }, names)).toBe('No page')
  })
})

function item(id: string, title: string, count: number, sections: ItemDistribution['sections'] = []): ItemDistribution {
  return { item_id: id, title, author: null, item_type: 'BOOK', count, chunks: Math.ceil(count / 2), sections }
}

async function renderInRouter(node: ReactNode) {
  const router = createRouter({
    routeTree: createRootRoute({ component: () => node }),
    history: createMemoryHistory({ initialEntries: ['/'] }),
  })
  render(<RouterProvider router={router as never} />)
  await screen.findByRole('table')
}

describe('distribution charts', () => {
  beforeAll(async () => {
    await i18n.changeLanguage('en')
  })
  beforeEach(() => {
    // jsdom has no scrolling; the router's scroll restoration calls it.
    vi.spyOn(window, 'scrollTo').mockImplementation(() => {})
  })
  afterEach(() => vi.restoreAllMocks())

  it('draws one labelled bar per item, the longest for the most occurrences', async () => {
    await renderInRouter(
      <ItemBars term="kitap" items={[item('a', 'Osmanlı’dan Cumhuriyet’e', 40), item('b', 'Yunus Emre Notları', 10), item('c', 'Journal', 1)]} />,
    )
    const rows = screen.getAllByTestId('distribution-item')
    expect(rows.map((r) => r.dataset.itemId)).toEqual(['a', 'b', 'c'])
    expect(rows.map((r) => within(r).getByTestId('bar').style.width)).toEqual(['100%', '25%', '2.5%'])
    // Every bar has its words: the item (a link narrowing to it), the count, the passages.
    expect(rows.map((r) => r.textContent)).toEqual(['Osmanlı’dan Cumhuriyet’e4020', 'Yunus Emre Notları105', 'Journal11'])
    const link = within(rows[1]!).getByRole('link', { name: 'Yunus Emre Notları' })
    expect(link.getAttribute('href')).toBe('/analytics?term=kitap&item=b')
    expect(screen.getByRole('table').querySelector('caption')?.textContent).toContain('Occurrences of “kitap” per item')
  })

  it('draws one column per page/chapter on a round axis, summarised in words and as a table', async () => {
    const sections = [
      { page: 1, chapter: null, count: 2, chunks: 1 },
      { page: 2, chapter: 'Giriş', count: 7, chunks: 2 },
      { page: null, chapter: null, count: 1, chunks: 1 },
    ]
    await renderInRouter(<SectionColumns term="kitap" item={item('a', 'Osmanlı’dan Cumhuriyet’e', 10, sections)} />)
    const columns = screen.getAllByTestId('column')
    // The axis tops out at 10 (7 rounded up), so 7 is 70% high.
    expect(columns.map((c) => c.style.height)).toEqual(['20%', '70%', '10%'])
    expect(columns.map((c) => c.getAttribute('title'))).toEqual(['p. 1: 2', 'p. 2 · Giriş: 7', 'No page: 1'])
    expect(screen.getAllByTestId('axis-tick').map((t) => t.textContent)).toEqual(['0', '2', '4', '6', '8', '10'])
    expect(screen.getByTestId('distribution-summary').textContent).toBe('10 occurrences in 3 places; most on p. 2 · Giriş (7).')
    const table = screen.getByTestId('distribution-table')
    const rows = within(table).getAllByRole('row').slice(1)
    expect(rows.map((r) => r.textContent)).toEqual(['p. 121', 'p. 2 · Giriş72', 'No page11'])
    expect(within(rows[0]!).getByRole('link').getAttribute('href')).toBe('/reader/a?page=1')
  })
})
