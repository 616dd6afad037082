// The library's filters live in the URL (so they survive reload and back); these map the URL's search
// params to the API's list parameters and back, dropping defaults so URLs stay short.
import { ITEM_SORTS, ITEM_STATUSES, ITEM_TYPES, type ItemListParams, type ItemSort } from '../../api/library'
import type { LibrarySearch } from '../../router'

export const DEFAULT_SORT: ItemSort = 'newest'

function oneOf<T extends string>(values: readonly T[], value: string | undefined): T | undefined {
  return values.find((v) => v === value)
}

/** Returns the API parameters of the list the URL asks for; unknown values are ignored, not sent. */
export function listParams(search: LibrarySearch): ItemListParams {
  const params: ItemListParams = {}
  const itemType = oneOf(ITEM_TYPES, search.type)
  if (itemType) params.item_type = itemType
  const tag = search.tag?.trim().toLowerCase()
  if (tag) params.tag = tag
  const status = oneOf(ITEM_STATUSES, search.status)
  if (status) params.status = status
  const q = search.q?.trim()
  if (q) params.q = q
  const sort = oneOf(ITEM_SORTS, search.sort)
  if (sort && sort !== DEFAULT_SORT) params.sort = sort
  return params
}

/** Returns the URL search params with `change` applied; empty and default values are removed. */
export function searchWith(search: LibrarySearch, change: Partial<LibrarySearch>): LibrarySearch {
  const next: LibrarySearch = { ...search, ...change }
  const out: LibrarySearch = {}
  const q = next.q?.trim()
  if (q) out.q = q
  if (oneOf(ITEM_TYPES, next.type)) out.type = next.type
  if (next.tag) out.tag = next.tag
  if (oneOf(ITEM_STATUSES, next.status)) out.status = next.status
  if (oneOf(ITEM_SORTS, next.sort) && next.sort !== DEFAULT_SORT) out.sort = next.sort
  if (next.view === 'grid') out.view = 'grid'
  return out
}

/** True when the URL narrows the list (so an empty answer means "no matches", not "empty library"). */
export function isFiltered(search: LibrarySearch): boolean {
  const p = listParams(search)
  return Boolean(p.item_type || p.tag || p.status || p.q)
}
