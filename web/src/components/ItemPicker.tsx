// Picks an item of the library by title or author: a combobox over GET /api/library/items?q=.
import { useEffect, useId, useState, type KeyboardEvent } from 'react'
import { useQuery } from '@tanstack/react-query'
import { useTranslation } from 'react-i18next'
import { libraryApi, type Item } from '../api/library'

const LIMIT = 8

/** `value` after it has stopped changing for `ms`. */
export function useDebounced<T>(value: T, ms: number): T {
  const [debounced, setDebounced] = useState(value)
  useEffect(() => {
    const timer = setTimeout(() => setDebounced(value), ms)
    return () => clearTimeout(timer)
  }, [value, ms])
  return debounced
}

function usePickerItems(q: string, enabled: boolean) {
  return useQuery({
    // Under ['library', 'items'] so adding or editing an item refreshes it; 'picker' keeps it apart
    // from the paged lists' infinite queries.
    queryKey: ['library', 'items', { q, limit: LIMIT, picker: true }],
    queryFn: ({ signal }) => libraryApi.listItems({ q: q || undefined, limit: LIMIT, sort: q ? 'title' : 'newest' }, signal),
    enabled,
    staleTime: 30_000,
  })
}

export interface ItemPickerProps {
  label: string
  placeholder?: string
  onPick: (item: Item) => void
  /** Ids not to offer (already picked). */
  exclude?: readonly string[]
  testId?: string
}

export function ItemPicker({ label, placeholder, onPick, exclude = [], testId }: ItemPickerProps) {
  const { t } = useTranslation()
  const id = useId()
  const [text, setText] = useState('')
  const [open, setOpen] = useState(false)
  const [active, setActive] = useState(0)
  const q = useDebounced(text.trim(), 250)
  const query = usePickerItems(q, open)
  // Until the typed text has been asked for, the list on show answers an older text: offer nothing.
  const settled = text.trim() === q && !query.isPending
  const options = settled ? (query.data?.items ?? []).filter((item) => !exclude.includes(item.id)) : []
  const listId = `${id}-list`

  const pick = (item: Item) => {
    onPick(item)
    setText('')
    setOpen(false)
  }

  const onKeyDown = (event: KeyboardEvent<HTMLInputElement>) => {
    if (event.key === 'ArrowDown') {
      event.preventDefault()
      setOpen(true)
      setActive((i) => Math.min(i + 1, Math.max(0, options.length - 1)))
    } else if (event.key === 'ArrowUp') {
      event.preventDefault()
      setActive((i) => Math.max(0, i - 1))
    } else if (event.key === 'Enter' && open && options[active]) {
      event.preventDefault()
      pick(options[active])
    } else if (event.key === 'Escape') {
      setOpen(false)
    }
  }

  return (
    <div className="relative">
      <label htmlFor={`${id}-input`} className="mb-1 block text-sm font-medium text-stone-800 dark:text-stone-200">
        {label}
      </label>
      <input
        id={`${id}-input`}
        data-testid={testId}
        type="search"
        role="combobox"
        autoComplete="off"
        aria-expanded={open}
        aria-controls={listId}
        aria-autocomplete="list"
        aria-activedescendant={open && options[active] ? `${id}-opt-${active}` : undefined}
        placeholder={placeholder}
        value={text}
        onChange={(e) => {
          setText(e.target.value)
          setOpen(true)
          setActive(0)
        }}
        onFocus={() => setOpen(true)}
        onBlur={() => setOpen(false)}
        onKeyDown={onKeyDown}
        className="w-full rounded-md border border-stone-300 bg-white px-3 py-2 text-sm text-stone-900 placeholder:text-stone-500 dark:border-stone-600 dark:bg-stone-900 dark:text-stone-100 dark:placeholder:text-stone-400"
      />
      {open && (
        <ul
          id={listId}
          role="listbox"
          aria-label={label}
          className="absolute z-20 mt-1 max-h-64 w-full overflow-auto rounded-md border border-stone-300 bg-white py-1 shadow-lg dark:border-stone-600 dark:bg-stone-900"
        >
          {!settled && <li className="px-3 py-2 text-sm text-stone-600 dark:text-stone-400">{t('app.loading')}</li>}
          {settled && options.length === 0 && (
            <li className="px-3 py-2 text-sm text-stone-600 dark:text-stone-400">{t('search.picker.none')}</li>
          )}
          {options.map((item, index) => (
            <li
              key={item.id}
              id={`${id}-opt-${index}`}
              role="option"
              aria-selected={index === active}
              // mousedown, not click: the input's blur would close the list first.
              onMouseDown={(e) => {
                e.preventDefault()
                pick(item)
              }}
              onMouseEnter={() => setActive(index)}
              className={
                'cursor-pointer px-3 py-2 text-sm ' +
                (index === active ? 'bg-orange-100 text-orange-950 dark:bg-orange-950 dark:text-orange-50' : 'text-stone-900 dark:text-stone-100')
              }
            >
              <span className="font-medium">{item.title}</span>
              {item.author && <span className="text-stone-600 dark:text-stone-400"> — {item.author}</span>}
              <span className="ml-1 text-xs text-stone-600 dark:text-stone-400">({t(`common.itemType.${item.item_type}`)})</span>
            </li>
          ))}
        </ul>
      )}
    </div>
  )
}
