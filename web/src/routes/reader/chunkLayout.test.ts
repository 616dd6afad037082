import type { Chunk } from '../../api/library'
import { chunkPageOffset, groupChunks, neighbourOffsets, paragraphs } from './chunkLayout'

function chunk(id: number, chunk_index: number, page: number | null, chapter: string | null, text = `t${id}`): Chunk {
  return {
    id,
    item_id: 'item',
    item_title: 'Title',
    item_author: null,
    item_type: 'BOOK',
    content_type: 'text',
    chunk_index,
    text,
    page,
    chapter,
  }
}

describe('chunkPageOffset', () => {
  it('returns the start of the 50-chunk slice that holds the index', () => {
    expect(chunkPageOffset(0)).toBe(0)
    expect(chunkPageOffset(49)).toBe(0)
    expect(chunkPageOffset(50)).toBe(50)
    expect(chunkPageOffset(137)).toBe(100)
  })

  it('honours another slice size', () => {
    expect(chunkPageOffset(25, 20)).toBe(20)
  })

  it('falls back to the beginning for nonsense', () => {
    expect(chunkPageOffset(-3)).toBe(0)
    expect(chunkPageOffset(Number.NaN)).toBe(0)
  })
})

describe('neighbourOffsets', () => {
  it('has no previous slice at the start and no next at the end', () => {
    expect(neighbourOffsets(0, 120)).toEqual({ previous: null, next: 50 })
    expect(neighbourOffsets(50, 120)).toEqual({ previous: 0, next: 100 })
    expect(neighbourOffsets(100, 120)).toEqual({ previous: 50, next: null })
    expect(neighbourOffsets(0, 50)).toEqual({ previous: null, next: null })
  })
})

describe('groupChunks', () => {
  it('starts a group where the chapter or page changes, naming only what changed', () => {
    const groups = groupChunks([
      chunk(1, 0, 1, 'One'),
      chunk(2, 1, 1, 'One'),
      chunk(3, 2, 2, 'One'),
      chunk(4, 3, 2, 'Two'),
    ])
    expect(groups.map((g) => [g.chapter, g.page, g.chunks.map((c) => c.id)])).toEqual([
      ['One', 1, [1, 2]],
      [null, 2, [3]],
      ['Two', null, [4]],
    ])
  })

  it('keeps text without pages or chapters in one group', () => {
    const groups = groupChunks([chunk(1, 0, null, null), chunk(2, 1, null, null)])
    expect(groups).toHaveLength(1)
    expect(groups[0]?.chapter).toBeNull()
    expect(groups[0]?.page).toBeNull()
  })
})

describe('paragraphs', () => {
  it('splits on blank lines', () => {
    expect(paragraphs('One.\n\n  Two.\n\n\n')).toEqual(['One.', 'Two.'])
  })

  it('keeps one paragraph per line when lines are paragraphs (EPUB, HTML)', () => {
    expect(paragraphs('Preface\nThis little book grew out of a group.\nIt was useful.')).toEqual([
      'Preface',
      'This little book grew out of a group.',
      'It was useful.',
    ])
  })

  it('joins lines a PDF wrapped at the page width', () => {
    const pdf =
      'Everyone agrees that science works. Vaccines prevent disease, bridges stay up,\n' +
      'and spacecraft arrive. It is much harder to say what makes science different from\n' +
      'Astrology and other well-\nknown beliefs.\nThe question is not academic.'
    expect(paragraphs(pdf)).toEqual([
      'Everyone agrees that science works. Vaccines prevent disease, bridges stay up, and spacecraft arrive. ' +
        'It is much harder to say what makes science different from Astrology and other well-known beliefs.',
      'The question is not academic.',
    ])
  })
})
