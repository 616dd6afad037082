// The "try again in N s" wait after a 429: a deadline, and the whole seconds left until it.
import { useCallback, useEffect, useState } from 'react'

/** Whole seconds left until `untilMs` (rounded up, so "1 s" shows until the wait is really over). */
export function secondsLeft(untilMs: number | null, nowMs: number): number {
  if (untilMs === null) return 0
  return Math.max(0, Math.ceil((untilMs - nowMs) / 1000))
}

/** A live countdown: `start(seconds)` begins it, `remaining` ticks down to 0 once a second. */
export function useCountdown(): { remaining: number; start: (seconds: number) => void; clear: () => void } {
  const [until, setUntil] = useState<number | null>(null)
  const [now, setNow] = useState(() => Date.now())

  useEffect(() => {
    if (until === null) return
    // Ticking faster than a second keeps the shown number from lagging a whole second behind.
    const timer = setInterval(() => {
      const current = Date.now()
      setNow(current)
      if (current >= until) setUntil(null)
    }, 250)
    return () => clearInterval(timer)
  }, [until])

  const start = useCallback((seconds: number) => {
    const current = Date.now()
    setNow(current)
    setUntil(seconds > 0 ? current + seconds * 1000 : null)
  }, [])
  const clear = useCallback(() => setUntil(null), [])

  return { remaining: secondsLeft(until, now), start, clear }
}
