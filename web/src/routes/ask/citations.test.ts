import { parseAnswer } from './citations'

describe('parseAnswer', () => {
  it('numbers citations by first appearance and reuses numbers', () => {
    const { parts, order } = parseAnswer('Fear kills [905]. Dune says so [12][905], twice [12].')
    expect(order).toEqual([905, 12])
    expect(parts).toEqual([
      { kind: 'text', text: 'Fear kills ' },
      { kind: 'cite', chunkId: 905, n: 1 },
      { kind: 'text', text: '. Dune says so ' },
      { kind: 'cite', chunkId: 12, n: 2 },
      { kind: 'cite', chunkId: 905, n: 1 },
      { kind: 'text', text: ', twice ' },
      { kind: 'cite', chunkId: 12, n: 2 },
      { kind: 'text', text: '.' },
    ])
  })

  it('splits a marker that lists several chunks', () => {
    expect(parseAnswer('Both [3, 7]').parts).toEqual([
      { kind: 'text', text: 'Both ' },
      { kind: 'cite', chunkId: 3, n: 1 },
      { kind: 'cite', chunkId: 7, n: 2 },
    ])
  })

  it('leaves a half-streamed marker and other brackets as text', () => {
    expect(parseAnswer('As shown [4').parts).toEqual([{ kind: 'text', text: 'As shown [4' }])
    expect(parseAnswer('see [a] and [] ').order).toEqual([])
    expect(parseAnswer('').parts).toEqual([])
  })
})
