import { render, screen } from '@testing-library/react'
import type { Chunk } from '../../api/library'
import { ChunkTextView } from './ChunkTextView'

function chunk(id: number, page: number | null, chapter: string | null, text: string): Chunk {
  return { id, item_id: 'i', item_title: 'T', item_author: null, item_type: 'BOOK', content_type: 'text', chunk_index: id, text, page, chapter }
}

describe('ChunkTextView', () => {
  const chunks = [
    chunk(1, null, 'Chapter 1. The Porch', 'Chapter 1. The Porch\nStoicism takes its name from a building.'),
    chunk(2, null, 'Chapter 1. The Porch', 'The early Stoics divided philosophy.'),
    chunk(3, null, 'Chapter 2. Up to Us', 'Chapter 2. Up to Us\nEpictetus was born around 50 CE.'),
  ]

  it('puts chapters under headings once, without repeating their first line', () => {
    render(<ChunkTextView chunks={chunks} label="Text" />)
    expect(screen.getAllByRole('heading', { level: 2 }).map((h) => h.textContent)).toEqual([
      'Chapter 1. The Porch',
      'Chapter 2. Up to Us',
    ])
    expect(screen.getAllByText('Chapter 1. The Porch')).toHaveLength(1)
    expect(screen.getAllByTestId('reader-chunk').map((el) => el.dataset.chunkId)).toEqual(['1', '2', '3'])
  })

  it('marks the cited chunk and hands it to the ref', () => {
    const ref = { current: null as HTMLDivElement | null }
    render(<ChunkTextView chunks={chunks} label="Text" currentChunkId={2} currentRef={ref} />)
    const current = screen.getByTestId('reader-current')
    expect(current.dataset.chunkId).toBe('2')
    expect(current.getAttribute('aria-current')).toBe('true')
    expect(ref.current).toBe(current)
    expect(current.textContent).toContain('The early Stoics divided philosophy.')
    expect(current.getAttribute('aria-label')).toBe('Cited passage')
  })

  it('uses pages as headings when the text has no chapters', () => {
    render(<ChunkTextView chunks={[chunk(1, 1, null, 'One.'), chunk(2, 2, null, 'Two.')]} label="Text" />)
    expect(screen.getAllByRole('heading', { level: 2 }).map((h) => h.textContent)).toEqual(['Page 1', 'Page 2'])
  })
})
