// Asking a question: opens the answer stream (waiting out a busy server's Retry-After), feeds its
// events to the reducer, and stops it on demand (the abort reaches the server, which stops writing).
import { useCallback, useEffect, useReducer, useRef } from 'react'
import { openAnswerStream } from '../../api/answer'
import { ApiError } from '../../api/http'
import type { SearchFilters } from '../../api/search'
import { askReducer, initialAskState } from './askState'

export function useAsk() {
  const [state, dispatch] = useReducer(askReducer, initialAskState)
  const current = useRef<AbortController | null>(null)

  const ask = useCallback(async (question: string, filters?: SearchFilters) => {
    current.current?.abort()
    const controller = new AbortController()
    current.current = controller
    // Events of a question since replaced or stopped are dropped.
    const live = () => current.current === controller && !controller.signal.aborted
    dispatch({ type: 'start', question })
    try {
      const events = await openAnswerStream(
        { question, filters },
        {
          signal: controller.signal,
          onWait: (seconds) => live() && dispatch({ type: 'busy', until: Date.now() + seconds * 1000 }),
        },
      )
      for await (const event of events) {
        if (!live()) break
        dispatch({ type: 'event', event })
      }
    } catch (error) {
      if (!live()) return
      if (error instanceof ApiError) dispatch({ type: 'failed', code: error.code, message: error.message })
      else dispatch({ type: 'failed', code: 'network', message: error instanceof Error ? error.message : String(error) })
    } finally {
      if (current.current === controller && !controller.signal.aborted) current.current = null
    }
  }, [])

  const stop = useCallback(() => {
    current.current?.abort()
    current.current = null
    dispatch({ type: 'stopped' })
  }, [])

  useEffect(() => () => current.current?.abort(), [])

  return { state, ask, stop }
}
