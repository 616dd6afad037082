// Search filters: item types, tags and chosen items (all optional; none means the whole library).
import { useTranslation } from 'react-i18next'
import { ITEM_TYPES, useTags, type ItemType } from '../../api/library'
import { ItemPicker } from '../../components/ItemPicker'

export interface FilterState {
  types: ItemType[]
  tags: string[]
  items: { id: string; title: string }[]
}

export const noFilters: FilterState = { types: [], tags: [], items: [] }

export function activeFilterCount(filters: FilterState): number {
  return filters.types.length + filters.tags.length + filters.items.length
}

function toggle<T>(list: readonly T[], value: T): T[] {
  return list.includes(value) ? list.filter((v) => v !== value) : [...list, value]
}

const CHECK = 'h-4 w-4 rounded border-stone-400 accent-orange-700 dark:accent-orange-400'
const LEGEND = 'mb-1.5 text-sm font-semibold text-stone-900 dark:text-stone-100'

export function SearchFiltersPanel({ filters, onChange }: { filters: FilterState; onChange: (next: FilterState) => void }) {
  const { t } = useTranslation()
  const tags = useTags()

  return (
    <div className="flex flex-col gap-5" data-testid="search-filters">
      <fieldset>
        <legend className={LEGEND}>{t('search.filters.types')}</legend>
        <div className="grid grid-cols-2 gap-x-3 gap-y-1 lg:grid-cols-1">
          {ITEM_TYPES.map((type) => (
            <label key={type} className="flex items-center gap-2 text-sm text-stone-800 dark:text-stone-200">
              <input
                type="checkbox"
                className={CHECK}
                checked={filters.types.includes(type)}
                onChange={() => onChange({ ...filters, types: toggle(filters.types, type) })}
              />
              {t(`common.itemType.${type}`)}
            </label>
          ))}
        </div>
      </fieldset>

      <fieldset>
        <legend className={LEGEND}>{t('search.filters.tags')}</legend>
        {tags.isPending && <p className="text-sm text-stone-600 dark:text-stone-400">{t('app.loading')}</p>}
        {tags.data && tags.data.tags.length === 0 && (
          <p className="text-sm text-stone-600 dark:text-stone-400">{t('search.filters.noTags')}</p>
        )}
        {tags.data && tags.data.tags.length > 0 && (
          <div className="flex max-h-48 flex-wrap gap-1.5 overflow-y-auto p-0.5">
            {tags.data.tags.map(({ tag, count }) => {
              const on = filters.tags.includes(tag)
              return (
                <label
                  key={tag}
                  className={
                    'flex cursor-pointer items-center gap-1 rounded-full border px-2 py-0.5 text-xs has-[:focus-visible]:outline-2 has-[:focus-visible]:outline-amber-500 ' +
                    (on
                      ? 'border-orange-700 bg-orange-100 text-orange-950 dark:border-orange-400 dark:bg-orange-950 dark:text-orange-50'
                      : 'border-stone-300 text-stone-800 dark:border-stone-600 dark:text-stone-200')
                  }
                >
                  <input
                    type="checkbox"
                    className="sr-only"
                    checked={on}
                    onChange={() => onChange({ ...filters, tags: toggle(filters.tags, tag) })}
                  />
                  {on && <span aria-hidden="true">✓</span>}
                  {tag}
                  <span className="text-stone-600 dark:text-stone-400">{count}</span>
                </label>
              )
            })}
          </div>
        )}
      </fieldset>

      <div>
        <ItemPicker
          label={t('search.filters.items')}
          placeholder={t('search.filters.findItem')}
          exclude={filters.items.map((item) => item.id)}
          onPick={(item) => onChange({ ...filters, items: [...filters.items, { id: item.id, title: item.title }] })}
          testId="search-item-filter"
        />
        {filters.items.length > 0 && (
          <ul className="mt-2 flex flex-wrap gap-1.5">
            {filters.items.map((item) => (
              <li
                key={item.id}
                className="flex items-center gap-1 rounded-full border border-orange-700 bg-orange-100 py-0.5 pl-2 pr-1 text-xs text-orange-950 dark:border-orange-400 dark:bg-orange-950 dark:text-orange-50"
              >
                <span className="max-w-48 truncate">{item.title}</span>
                <button
                  type="button"
                  aria-label={t('search.filters.remove', { title: item.title })}
                  onClick={() => onChange({ ...filters, items: filters.items.filter((i) => i.id !== item.id) })}
                  className="rounded-full px-1 hover:bg-orange-200 dark:hover:bg-orange-900"
                >
                  ×
                </button>
              </li>
            ))}
          </ul>
        )}
      </div>

      {activeFilterCount(filters) > 0 && (
        <button
          type="button"
          onClick={() => onChange(noFilters)}
          className="self-start text-sm font-medium text-orange-800 underline underline-offset-2 dark:text-orange-300"
        >
          {t('search.filters.clear')}
        </button>
      )}
    </div>
  )
}
