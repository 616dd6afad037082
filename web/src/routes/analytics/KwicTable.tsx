// Keyword-in-context lines, one per occurrence, in a monospace table: the text before right-aligned
// (clipped at its far end, so the words nearest the match stay visible), then the match — every one
// starting in the same column, highlighted and linking to the reader at its passage — with the text
// after it, and the page. Lines are grouped by item.
import { Link } from '@tanstack/react-router'
import { useTranslation } from 'react-i18next'
import type { ConcordanceLine } from '../../api/analytics'
import { groupLines } from './chart'

const CELL = 'py-1 align-baseline'

export interface KwicTableProps {
  term: string
  lines: ConcordanceLine[]
}

export function KwicTable({ term, lines }: KwicTableProps) {
  const { t } = useTranslation()
  const groups = groupLines(lines)

  return (
    <div className="overflow-x-auto">
      <table data-testid="kwic-table" className="w-full min-w-[20rem] table-fixed border-collapse font-mono text-[0.8125rem] leading-6">
        <caption className="sr-only">{t('analytics.kwic.caption', { term })}</caption>
        <colgroup>
          <col />
          <col />
          <col className="w-[4.5rem] sm:w-[7rem]" />
        </colgroup>
        <thead className="sr-only">
          <tr>
            <th scope="col">{t('analytics.kwic.before')}</th>
            <th scope="col">{t('analytics.kwic.matchAfter')}</th>
            <th scope="col">{t('analytics.kwic.where')}</th>
          </tr>
        </thead>
        {groups.map((group, g) => (
          <tbody key={`${group.itemId}-${g}`} data-testid="kwic-group" data-item-id={group.itemId}>
            <tr>
              <th
                scope="rowgroup"
                colSpan={3}
                className="border-b border-stone-200 pb-1 pt-4 text-left font-sans text-sm font-semibold text-stone-900 dark:border-stone-700 dark:text-stone-100"
              >
                {group.title}
                {group.author && <span className="font-normal text-stone-600 dark:text-stone-400"> — {group.author}</span>}
              </th>
            </tr>
            {group.lines.map((line) => (
              <tr
                key={`${line.chunk_id}-${line.offset}`}
                data-testid="kwic-line"
                data-chunk-id={line.chunk_id}
                className="hover:bg-amber-50 dark:hover:bg-stone-800"
              >
                <td className={CELL}>
                  {/* flex-end + no shrinking: a long left context overflows (and is clipped) on the left. */}
                  <div className="flex justify-end overflow-hidden">
                    <span data-testid="kwic-left" className="shrink-0 whitespace-pre text-stone-700 dark:text-stone-300">
                      {line.left}
                    </span>
                  </div>
                </td>
                <td className={CELL}>
                  <div className="flex overflow-hidden">
                    <Link
                      to="/reader/$itemId"
                      params={{ itemId: line.item_id }}
                      search={{ chunk: line.chunk_id }}
                      title={t('analytics.kwic.open')}
                      className="shrink-0 rounded-sm font-semibold text-stone-950 underline decoration-orange-700 underline-offset-2 dark:text-stone-50 dark:decoration-orange-300"
                    >
                      <mark data-testid="kwic-match">{line.match}</mark>
                    </Link>
                    <span data-testid="kwic-right" className="whitespace-pre text-stone-700 dark:text-stone-300">
                      {line.right}
                    </span>
                  </div>
                </td>
                <td
                  className={`${CELL} truncate pl-2 text-right font-sans text-xs text-stone-600 dark:text-stone-400`}
                  title={line.chapter ?? undefined}
                >
                  {line.page != null ? t('common.page', { page: line.page }) : (line.chapter ?? '')}
                </td>
              </tr>
            ))}
          </tbody>
        ))}
      </table>
    </div>
  )
}
