// The distribution of a term as charts of plain CSS bars: occurrences per item as horizontal bars in a
// table (each row is its own text label), and for one item, occurrences per page/chapter as columns in
// reading order with the same figures as a table beneath (the columns themselves are hidden from
// screen readers, which read the table).
import { Link } from '@tanstack/react-router'
import { useTranslation } from 'react-i18next'
import type { ItemDistribution } from '../../api/analytics'
import { axisTicks, barPercent, niceCeiling, peakIndex, sectionLabel } from './chart'

const BAR = 'bg-orange-600 dark:bg-orange-400'
const CELL = 'px-2 py-1.5 align-middle'

export interface ItemBarsProps {
  term: string
  items: ItemDistribution[]
}

/** Occurrences per item, most first; an item's name narrows the page to it. */
export function ItemBars({ term, items }: ItemBarsProps) {
  const { t } = useTranslation()
  const max = Math.max(0, ...items.map((item) => item.count))
  return (
    <figure className="m-0">
      <table data-testid="distribution-items" className="w-full table-fixed border-collapse text-sm">
        <caption className="mb-2 text-left text-sm text-stone-700 dark:text-stone-300">
          {t('analytics.chart.perItemCaption', { term })}
        </caption>
        <colgroup>
          <col className="w-[38%] sm:w-[32%]" />
          <col />
          <col className="w-[5.5rem]" />
        </colgroup>
        <thead>
          <tr className="border-b border-stone-200 text-left text-xs uppercase tracking-wide text-stone-600 dark:border-stone-700 dark:text-stone-400">
            <th scope="col" className={CELL}>
              {t('analytics.chart.item')}
            </th>
            <th scope="col" className={CELL}>
              {t('analytics.chart.occurrences')}
            </th>
            <th scope="col" className={`${CELL} text-right`}>
              {t('analytics.chart.passages')}
            </th>
          </tr>
        </thead>
        <tbody>
          {items.map((item) => (
            <tr key={item.item_id} data-testid="distribution-item" data-item-id={item.item_id} className="border-b border-stone-100 dark:border-stone-800">
              <th scope="row" className={`${CELL} text-left font-normal`}>
                <Link
                  to="/analytics"
                  search={{ term, item: item.item_id }}
                  title={t('analytics.chart.narrow', { title: item.title })}
                  className="block truncate font-medium text-stone-900 underline decoration-stone-400 underline-offset-2 hover:decoration-orange-700 dark:text-stone-100"
                >
                  {item.title}
                </Link>
                {item.author && <span className="block truncate text-xs text-stone-600 dark:text-stone-400">{item.author}</span>}
              </th>
              <td className={CELL}>
                <div className="flex items-center gap-2">
                  <div className="h-4 min-w-0 flex-1 rounded-sm bg-stone-100 dark:bg-stone-800" aria-hidden="true">
                    <div data-testid="bar" className={`h-full rounded-sm ${BAR}`} style={{ width: `${barPercent(item.count, max)}%` }} />
                  </div>
                  <span className="w-12 shrink-0 text-right font-mono tabular-nums text-stone-900 dark:text-stone-100">{item.count}</span>
                </div>
              </td>
              <td className={`${CELL} text-right font-mono tabular-nums text-stone-700 dark:text-stone-300`}>{item.chunks}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </figure>
  )
}

export interface SectionColumnsProps {
  term: string
  item: ItemDistribution
}

/** Occurrences per page/chapter of one item, in reading order; each row of the table opens the reader there. */
export function SectionColumns({ term, item }: SectionColumnsProps) {
  const { t } = useTranslation()
  const sections = item.sections
  const counts = sections.map((s) => s.count)
  const top = niceCeiling(Math.max(0, ...counts))
  const ticks = axisTicks(top)
  const names = { page: (page: number) => t('common.page', { page }), none: t('analytics.chart.noPage') }
  const peak = peakIndex(counts)
  const peakSection = sections[peak]
  const first = sections[0]
  const last = sections[sections.length - 1]

  return (
    <figure className="m-0 flex flex-col gap-3" data-testid="distribution-sections">
      <figcaption className="text-sm text-stone-700 dark:text-stone-300">
        {t('analytics.chart.perSectionCaption', { term, title: item.title })}
        {peakSection && (
          <span data-testid="distribution-summary" className="block text-stone-600 dark:text-stone-400">
            {t('analytics.chart.summary', {
              count: item.count,
              sections: sections.length,
              peak: sectionLabel(peakSection, names),
              peakCount: peakSection.count,
            })}
          </span>
        )}
      </figcaption>
      <div aria-hidden="true" className="flex gap-2">
        {/* The y axis: its ticks, top down. */}
        <div className="relative h-40 w-8 shrink-0 font-mono text-xs text-stone-600 dark:text-stone-400">
          {ticks.map((tick) => (
            <span key={tick} data-testid="axis-tick" className="absolute right-0 -translate-y-1/2" style={{ top: `${100 - (tick / top) * 100}%` }}>
              {tick}
            </span>
          ))}
        </div>
        <div className="min-w-0 flex-1">
          <div className="relative h-40 border-b border-l border-stone-300 dark:border-stone-600">
            {ticks.slice(1).map((tick) => (
              <div
                key={tick}
                className="absolute inset-x-0 border-t border-dashed border-stone-200 dark:border-stone-700"
                style={{ top: `${100 - (tick / top) * 100}%` }}
              />
            ))}
            <div className="absolute inset-0 flex items-end gap-px px-px">
              {sections.map((section, i) => (
                <div
                  key={`${section.page ?? ''}-${section.chapter ?? ''}-${i}`}
                  data-testid="column"
                  title={`${sectionLabel(section, names)}: ${section.count}`}
                  className={`min-w-0 max-w-8 flex-1 rounded-t-sm ${i === peak ? 'bg-orange-700 dark:bg-orange-300' : BAR}`}
                  style={{ height: `${barPercent(section.count, top, 2)}%` }}
                />
              ))}
            </div>
          </div>
          {first && last && (
            <div className="mt-1 flex justify-between gap-2 text-xs text-stone-600 dark:text-stone-400">
              <span className="truncate">{sectionLabel(first, names)}</span>
              {sections.length > 1 && <span className="truncate">{sectionLabel(last, names)}</span>}
            </div>
          )}
        </div>
      </div>
      <details className="text-sm">
        <summary className="cursor-pointer font-medium text-orange-800 underline underline-offset-2 dark:text-orange-300">
          {t('analytics.chart.showTable')}
        </summary>
        <table data-testid="distribution-table" className="mt-2 w-full border-collapse text-sm">
          <caption className="sr-only">{t('analytics.chart.perSectionCaption', { term, title: item.title })}</caption>
          <thead>
            <tr className="border-b border-stone-200 text-left text-xs uppercase tracking-wide text-stone-600 dark:border-stone-700 dark:text-stone-400">
              <th scope="col" className={CELL}>
                {t('analytics.chart.section')}
              </th>
              <th scope="col" className={`${CELL} text-right`}>
                {t('analytics.chart.occurrences')}
              </th>
              <th scope="col" className={`${CELL} text-right`}>
                {t('analytics.chart.passages')}
              </th>
            </tr>
          </thead>
          <tbody>
            {sections.map((section, i) => (
              <tr key={`${section.page ?? ''}-${section.chapter ?? ''}-${i}`} className="border-b border-stone-100 dark:border-stone-800">
                <th scope="row" className={`${CELL} text-left font-normal`}>
                  {section.page != null ? (
                    <Link
                      to="/reader/$itemId"
                      params={{ itemId: item.item_id }}
                      search={{ page: section.page }}
                      className="text-stone-900 underline decoration-stone-400 underline-offset-2 hover:decoration-orange-700 dark:text-stone-100"
                    >
                      {sectionLabel(section, names)}
                    </Link>
                  ) : (
                    sectionLabel(section, names)
                  )}
                </th>
                <td className={`${CELL} text-right font-mono tabular-nums`}>{section.count}</td>
                <td className={`${CELL} text-right font-mono tabular-nums`}>{section.chunks}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </details>
    </figure>
  )
}
