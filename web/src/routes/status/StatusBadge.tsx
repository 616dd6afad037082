// A small coloured badge that always carries its meaning in words and a shape too, never colour alone.
import type { ReactNode } from 'react'

export type Tone = 'good' | 'warn' | 'bad' | 'neutral' | 'info'

const TONES: Record<Tone, { className: string; mark: string }> = {
  good: { className: 'bg-emerald-100 text-emerald-900 ring-emerald-300 dark:bg-emerald-950 dark:text-emerald-100 dark:ring-emerald-800', mark: '●' },
  warn: { className: 'bg-amber-100 text-amber-950 ring-amber-300 dark:bg-amber-950 dark:text-amber-100 dark:ring-amber-800', mark: '◐' },
  bad: { className: 'bg-red-100 text-red-900 ring-red-300 dark:bg-red-950 dark:text-red-100 dark:ring-red-800', mark: '■' },
  info: { className: 'bg-sky-100 text-sky-900 ring-sky-300 dark:bg-sky-950 dark:text-sky-100 dark:ring-sky-800', mark: '▶' },
  neutral: { className: 'bg-stone-100 text-stone-800 ring-stone-300 dark:bg-stone-800 dark:text-stone-100 dark:ring-stone-600', mark: '○' },
}

export function StatusBadge({ tone, children, testId }: { tone: Tone; children: ReactNode; testId?: string }) {
  const { className, mark } = TONES[tone]
  return (
    <span
      data-testid={testId}
      data-tone={tone}
      className={`inline-flex items-center gap-1 whitespace-nowrap rounded-full px-2 py-0.5 text-xs font-semibold ring-1 ring-inset ${className}`}
    >
      <span aria-hidden="true">{mark}</span>
      {children}
    </span>
  )
}
