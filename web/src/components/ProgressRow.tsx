// One row of a progress list (an upload): its name, where it stands in words, a bar, and details.
import type { ReactNode } from 'react'

export type ProgressTone = 'neutral' | 'active' | 'ok' | 'warn' | 'error'

export interface ProgressRowProps {
  name: string
  /** Machine-readable state (data-state), for tests and styling. */
  state: string
  /** The state in words. */
  label: string
  tone?: ProgressTone
  /** 0..1, or null for "busy, no measure"; undefined hides the bar. */
  progress?: number | null
  /** What the bar measures, for assistive technology ("Embedding 40/100"). */
  progressLabel?: string
  actions?: ReactNode
  children?: ReactNode
  testId?: string
}

const TONES: Record<ProgressTone, string> = {
  neutral: 'text-stone-700 dark:text-stone-300',
  active: 'text-orange-900 dark:text-orange-200',
  ok: 'text-green-800 dark:text-green-300',
  warn: 'text-amber-900 dark:text-amber-200',
  error: 'text-red-800 dark:text-red-300',
}

const ICONS: Record<ProgressTone, string> = { neutral: '○', active: '◌', ok: '✓', warn: '⏳', error: '✕' }

export function ProgressRow({
  name,
  state,
  label,
  tone = 'neutral',
  progress,
  progressLabel,
  actions,
  children,
  testId = 'upload-row',
}: ProgressRowProps) {
  return (
    <li data-testid={testId} data-filename={name} data-state={state} className="px-3 py-2.5">
      <div className="flex flex-wrap items-center gap-x-3 gap-y-1">
        <span className="min-w-0 flex-1 basis-48 truncate text-sm font-medium text-stone-900 dark:text-stone-100" title={name}>
          {name}
        </span>
        <span className={`flex items-center gap-1.5 text-sm ${TONES[tone]}`}>
          <span aria-hidden="true">{ICONS[tone]}</span>
          {label}
        </span>
        {actions}
      </div>
      {progress !== undefined && (
        <div
          role="progressbar"
          aria-label={progressLabel ?? label}
          aria-valuemin={0}
          aria-valuemax={100}
          aria-valuenow={progress === null ? undefined : Math.round(progress * 100)}
          className="mt-1.5 h-1.5 overflow-hidden rounded-full bg-stone-200 dark:bg-stone-700"
        >
          <div
            className={
              'h-full rounded-full bg-orange-600 transition-[width] motion-reduce:transition-none dark:bg-orange-400 ' +
              (progress === null ? 'w-1/3 motion-safe:animate-pulse' : '')
            }
            style={progress === null ? undefined : { width: `${Math.max(2, Math.round(progress * 100))}%` }}
          />
        </div>
      )}
      {children}
    </li>
  )
}
