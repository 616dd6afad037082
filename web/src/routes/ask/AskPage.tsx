// The Ask page: a question answered from the library, streamed token by token, its citations as
// numbered chips opening the cited passage beside the answer; Stop cancels it; `q` is in the URL.
import { useEffect, useMemo, useRef, useState, type FormEvent } from 'react'
import { useNavigate, useSearch } from '@tanstack/react-router'
import { useTranslation } from 'react-i18next'
import { STREAM_INCOMPLETE } from '../../api/answer'
import { BusyNotice } from '../../components/BusyNotice'
import { AnswerView, sourceIndex } from './AnswerView'
import { isActive } from './askState'
import { CitationPanel } from './CitationPanel'
import { parseAnswer } from './citations'
import { useAsk } from './useAsk'

export function AskPage() {
  const { t } = useTranslation()
  const { q: urlQuestion = '' } = useSearch({ from: '/app/ask' })
  const navigate = useNavigate()
  const [text, setText] = useState(urlQuestion)
  const [selected, setSelected] = useState<number | null>(null)
  const { state, ask, stop } = useAsk()
  const active = isActive(state.phase)
  const input = useRef<HTMLTextAreaElement>(null)
  const stopAndFocus = () => {
    stop()
    // The Stop button goes away with the stream; focus returns to the question.
    input.current?.focus()
  }

  // The question in the URL is asked (on arrival, and when Back or a link changes it).
  useEffect(() => {
    setText(urlQuestion)
    setSelected(null)
    if (urlQuestion) void ask(urlQuestion)
    else stop()
  }, [urlQuestion, ask, stop])

  const submit = (event: FormEvent) => {
    event.preventDefault()
    const question = text.trim()
    if (!question) return
    if (question === urlQuestion) {
      setSelected(null)
      void ask(question)
    } else {
      void navigate({ to: '/ask', search: { q: question } })
    }
  }

  const numbers = useMemo(() => parseAnswer(state.text).order, [state.text])
  const sources = useMemo(() => sourceIndex(state.sources, state.answer?.citations), [state.sources, state.answer])
  const selectedN = selected === null ? null : numbers.indexOf(selected) + 1 || null

  return (
    <div>
      <h1 className="text-2xl font-semibold text-stone-900 dark:text-stone-100">{t('ask.title')}</h1>
      <p className="mt-1 text-sm text-stone-600 dark:text-stone-400">{t('ask.intro')}</p>

      <form onSubmit={submit} className="mt-4 flex flex-col gap-2 sm:flex-row sm:items-start">
        <label htmlFor="ask-input" className="sr-only">
          {t('ask.inputLabel')}
        </label>
        <textarea
          id="ask-input"
          ref={input}
          data-testid="ask-input"
          rows={2}
          value={text}
          onChange={(e) => setText(e.target.value)}
          onKeyDown={(e) => {
            // Enter asks; Shift+Enter makes a new line.
            if (e.key === 'Enter' && !e.shiftKey && !e.nativeEvent.isComposing) {
              e.preventDefault()
              e.currentTarget.form?.requestSubmit()
            }
          }}
          placeholder={t('ask.placeholder')}
          className="min-h-[3.25rem] w-full flex-1 resize-y rounded-lg border border-stone-300 bg-white px-4 py-3 text-base text-stone-900 shadow-sm placeholder:text-stone-500 dark:border-stone-600 dark:bg-stone-900 dark:text-stone-100 dark:placeholder:text-stone-400"
        />
        <div className="flex gap-2">
          <button
            type="submit"
            data-testid="ask-submit"
            disabled={!text.trim()}
            className="rounded-lg bg-orange-700 px-5 py-3 text-sm font-semibold text-white hover:bg-orange-800 disabled:opacity-60 dark:bg-orange-700 dark:hover:bg-orange-600"
          >
            {t('ask.submit')}
          </button>
          {active && (
            <button
              type="button"
              data-testid="ask-stop"
              onClick={stopAndFocus}
              className="rounded-lg border border-stone-400 bg-white px-5 py-3 text-sm font-semibold text-stone-900 hover:bg-stone-100 dark:border-stone-500 dark:bg-stone-900 dark:text-stone-100 dark:hover:bg-stone-800"
            >
              {t('ask.stop')}
            </button>
          )}
        </div>
      </form>

      {state.phase === 'busy' && state.busyUntil && (
        <div className="mt-4">
          <BusyNotice until={state.busyUntil} onCancel={stopAndFocus} />
        </div>
      )}

      {state.phase !== 'idle' && (
        <div className="mt-6 grid gap-6 lg:grid-cols-[minmax(0,1fr)_22rem]">
          <section aria-labelledby="answer-heading" className="min-w-0" data-phase={state.phase}>
            <h2 id="answer-heading" className="mb-2 text-lg font-semibold text-stone-900 dark:text-stone-100">
              {t('ask.answerHeading')}
            </h2>
            {(state.phase === 'connecting' || (state.phase === 'streaming' && !state.text)) && (
              <p className="mb-2 text-sm text-stone-600 dark:text-stone-400" role="status">
                {state.phase === 'connecting' ? t('ask.status.finding') : t('ask.status.writing')}
              </p>
            )}
            <AnswerView state={state} selected={selected} onOpen={setSelected} />
            {state.phase === 'stopped' && (
              <p data-testid="answer-stopped" role="status" className="mt-3 text-sm font-medium text-stone-700 dark:text-stone-300">
                {t('ask.status.stopped')}
              </p>
            )}
            {state.phase === 'error' && state.error && (
              <div
                role="alert"
                data-testid="answer-error"
                className="mt-3 rounded-md border border-red-300 bg-red-50 p-3 text-sm text-red-900 dark:border-red-800 dark:bg-red-950 dark:text-red-100"
              >
                {state.error.code === STREAM_INCOMPLETE
                  ? t('ask.error.incomplete')
                  : state.error.code === 'network'
                    ? t('ask.error.network')
                    : t('ask.error.generic', { message: state.error.message })}
              </div>
            )}
          </section>
          <div className="min-w-0">
            {selected !== null ? (
              <div className="lg:sticky lg:top-4">
                <CitationPanel chunkId={selected} n={selectedN} known={sources.get(selected)} onClose={() => setSelected(null)} />
              </div>
            ) : (
              numbers.length > 0 && (
                <p className="hidden rounded-lg border border-dashed border-stone-300 p-4 text-sm text-stone-600 lg:block dark:border-stone-600 dark:text-stone-400">
                  {t('ask.panel.hint')}
                </p>
              )
            )}
          </div>
        </div>
      )}
    </div>
  )
}
