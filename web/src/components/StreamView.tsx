// The live region a streamed text grows in: polite announcements, busy while streaming, and a caret
// that blinks only for those who have not asked for reduced motion.
import type { ReactNode } from 'react'

export interface StreamViewProps {
  streaming: boolean
  children: ReactNode
  label?: string
  testId?: string
  className?: string
}

export function StreamView({ streaming, children, label, testId = 'answer-text', className = '' }: StreamViewProps) {
  return (
    <div
      data-testid={testId}
      aria-live="polite"
      aria-busy={streaming}
      aria-label={label}
      className={`whitespace-pre-wrap break-words leading-relaxed ${className}`}
    >
      {children}
      {streaming && (
        <span
          aria-hidden="true"
          className="ml-0.5 inline-block h-4 w-1.5 translate-y-0.5 bg-orange-600 motion-safe:animate-pulse dark:bg-orange-400"
        />
      )}
    </div>
  )
}
