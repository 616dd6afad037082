import { keepVisible, selectAllState, toggleAllVisible, toggleOne } from './selection'

const visible = ['a', 'b', 'c']

describe('selectAllState', () => {
  it('is none, some (indeterminate) or all over the visible items', () => {
    expect(selectAllState(visible, new Set())).toBe('none')
    expect(selectAllState(visible, new Set(['b']))).toBe('some')
    expect(selectAllState(visible, new Set(['a', 'b', 'c']))).toBe('all')
  })

  it('counts only visible items', () => {
    expect(selectAllState(visible, new Set(['x', 'y']))).toBe('none')
    expect(selectAllState(['a'], new Set(['a', 'x']))).toBe('all')
  })

  it('is none for an empty list', () => {
    expect(selectAllState([], new Set(['a']))).toBe('none')
  })
})

describe('toggleAllVisible', () => {
  it('selects every visible item from none or some', () => {
    expect([...toggleAllVisible(visible, new Set())].sort()).toEqual(['a', 'b', 'c'])
    expect([...toggleAllVisible(visible, new Set(['b']))].sort()).toEqual(['a', 'b', 'c'])
  })

  it('clears the visible items when all were selected', () => {
    expect([...toggleAllVisible(visible, new Set(['a', 'b', 'c']))]).toEqual([])
  })

  it('does not mutate its input', () => {
    const selected = new Set(['a'])
    toggleAllVisible(visible, selected)
    expect([...selected]).toEqual(['a'])
  })
})

describe('toggleOne', () => {
  it('adds and removes one id', () => {
    expect([...toggleOne(new Set(['a']), 'b')].sort()).toEqual(['a', 'b'])
    expect([...toggleOne(new Set(['a', 'b']), 'a')]).toEqual(['b'])
  })
})

describe('keepVisible', () => {
  it('forgets ids no longer shown (deleted, filtered out)', () => {
    expect([...keepVisible(new Set(['a', 'gone']), visible)]).toEqual(['a'])
  })

  it('returns the same set when nothing changed (no needless re-render)', () => {
    const selected = new Set(['a', 'c'])
    expect(keepVisible(selected, visible)).toBe(selected)
  })
})
