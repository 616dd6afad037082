// Asking a question: opens the answer stream (waiting out a busy server's Retry-After), feeds its
// events to the reducer, and stops it on demand (the abort reaches the server, which stops writing).
// Where the question goes is the caller's: the library (/api/search) by default, or a chat.
import { useCallback, useEffect, useReducer, useRef } from 'react'
import { openAnswerStream, type AnswerEvent, type OpenAnswerOptions } from '../../api/answer'
import { ApiError } from '../../api/http'
import { askReducer, initialAskState } from './askState'

/** Opens the stream of one question's answer events (with the given signal and busy callback). */
export type OpenStream = (options: OpenAnswerOptions) => Promise<AsyncGenerator<AnswerEvent>>

const askLibrary =
  (question: string): OpenStream =>
  (options) =>
    openAnswerStream({ question }, options)

export function useAsk() {
  const [state, dispatch] = useReducer(askReducer, initialAskState)
  const current = useRef<AbortController | null>(null)

  /** Asks `question`; resolves once its stream has ended in any way (done, error, stopped, replaced). */
  const ask = useCallback(async (question: string, open: OpenStream = askLibrary(question)) => {
    current.current?.abort()
    const controller = new AbortController()
    current.current = controller
    // Events of a question since replaced or stopped are dropped.
    const live = () => current.current === controller && !controller.signal.aborted
    dispatch({ type: 'start', question })
    try {
      const events = await open({
        signal: controller.signal,
        onWait: (seconds) => live() && dispatch({ type: 'busy', until: Date.now() + seconds * 1000 }),
      })
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

  /** Stops whatever is being asked and forgets it (another chat was opened). */
  const clear = useCallback(() => {
    current.current?.abort()
    current.current = null
    dispatch({ type: 'clear' })
  }, [])

  useEffect(() => () => current.current?.abort(), [])

  return { state, ask, stop, clear }
}
