// Bulk selection of the items shown: which are checked, and the select-all box's state over the visible ones.

export type SelectAllState = 'none' | 'some' | 'all'

/** Returns whether none, some or all of the visible items are selected (drives checked/indeterminate). */
export function selectAllState(visible: readonly string[], selected: ReadonlySet<string>): SelectAllState {
  let count = 0
  for (const id of visible) if (selected.has(id)) count++
  if (count === 0) return 'none'
  return count === visible.length ? 'all' : 'some'
}

/** Returns the selection after the select-all box is clicked: all visible selected, or (if they were) none. */
export function toggleAllVisible(visible: readonly string[], selected: ReadonlySet<string>): Set<string> {
  const next = new Set(selected)
  if (selectAllState(visible, selected) === 'all') for (const id of visible) next.delete(id)
  else for (const id of visible) next.add(id)
  return next
}

export function toggleOne(selected: ReadonlySet<string>, id: string): Set<string> {
  const next = new Set(selected)
  if (next.has(id)) next.delete(id)
  else next.add(id)
  return next
}

/** Returns the selection without ids no longer shown (deleted or filtered out), the same set if nothing changed. */
export function keepVisible(selected: ReadonlySet<string>, visible: readonly string[]): ReadonlySet<string> {
  const shown = new Set(visible)
  for (const id of selected) {
    if (!shown.has(id)) return new Set([...selected].filter((s) => shown.has(s)))
  }
  return selected
}
