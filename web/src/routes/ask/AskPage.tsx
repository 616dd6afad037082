// The Ask page, a chat: the user's conversations beside the open one (its questions and answers with
// their citation chips), a composer that asks follow-ups in it, streamed token by token with Stop and
// a busy countdown. The first question of a new chat creates it. `chat` in the URL is the open chat;
// `q` starts a new chat with that question.
import { useCallback, useEffect, useMemo, useRef, useState, type FormEvent } from 'react'
import { useNavigate, useSearch } from '@tanstack/react-router'
import { useQueryClient } from '@tanstack/react-query'
import { useTranslation } from 'react-i18next'
import { STREAM_INCOMPLETE } from '../../api/answer'
import {
  chatChanged,
  chatKeys,
  chatsApi,
  createChat,
  useChat,
  type ChatAnswer,
  type ChatDetail,
} from '../../api/chats'
import { ApiError } from '../../api/http'
import { BusyNotice } from '../../components/BusyNotice'
import { ErrorNotice } from '../../components/ErrorNotice'
import { Spinner } from '../../components/Spinner'
import { AnswerView, sourceIndex } from './AnswerView'
import { isActive } from './askState'
import { ChatHistory, FollowUpNote, QUESTION_CLASS } from './ChatHistory'
import { ChatList } from './ChatList'
import { historyWithout, pairTurns, type LiveTurn } from './chatTurns'
import { CitationPanel } from './CitationPanel'
import { parseAnswer } from './citations'
import { useAsk } from './useAsk'

/** Where the cited passage shows: beside the chat on wide screens, under its turn otherwise. */
const WIDE = '(min-width: 80rem)'
const LIVE = 'live'
// A stopped or failed answer is stored once the server notices the stream ended: look again then.
const LATE_STORE_MS = 1500

function useMediaQuery(media: string): boolean {
  const get = () => typeof window !== 'undefined' && typeof window.matchMedia === 'function' && window.matchMedia(media).matches
  const [matches, setMatches] = useState(get)
  useEffect(() => {
    if (typeof window.matchMedia !== 'function') return
    const list = window.matchMedia(media)
    const onChange = () => setMatches(list.matches)
    onChange()
    list.addEventListener('change', onChange)
    return () => list.removeEventListener('change', onChange)
  }, [media])
  return matches
}

export function AskPage() {
  const { t } = useTranslation()
  const { q: urlQuestion, chat: chatId } = useSearch({ from: '/app/ask' })
  const navigate = useNavigate()
  const client = useQueryClient()
  const [text, setText] = useState('')
  const [selected, setSelected] = useState<{ turn: string; chunkId: number } | null>(null)
  const [live, setLive] = useState<LiveTurn | null>(null)
  const { state, ask, stop, clear } = useAsk()
  const active = isActive(state.phase)
  const chat = useChat(chatId)
  const wide = useMediaQuery(WIDE)
  const notFound = chat.isError && chat.error instanceof ApiError && chat.error.status === 404
  const waitingForChat = Boolean(chatId) && chat.isPending
  const input = useRef<HTMLTextAreaElement>(null)
  const liveSection = useRef<HTMLElement>(null)
  const end = useRef<HTMLDivElement>(null)
  // The chat this page just created for the question it is asking: opening it is no reason to stop.
  const ownChat = useRef<string | null>(null)

  const focusInput = () => input.current?.focus()
  const stopAndFocus = () => {
    stop()
    // The Stop button goes away with the stream; focus returns to the composer.
    focusInput()
  }

  // Another chat (or none) was opened: whatever was being asked here stops and is put away.
  useEffect(() => {
    if (chatId && chatId === ownChat.current) return
    ownChat.current = null
    clear()
    setLive(null)
    setSelected(null)
  }, [chatId, clear])

  const send = async (question: string, target: string | undefined) => {
    const content = question.trim()
    if (!content) return
    const base = target ? (client.getQueryData<ChatDetail>(chatKeys.chat(target))?.messages.length ?? 0) : 0
    setSelected(null)
    setText('')
    setLive({ chatId: target ?? null, question: content, base })
    let id = target
    await ask(content, async (options) => {
      if (!id) {
        const created = await createChat({ signal: options.signal, onWait: options.onWait })
        if (options.signal?.aborted) throw new DOMException('Aborted', 'AbortError')
        id = created.id
        ownChat.current = created.id
        client.setQueryData<ChatDetail>(chatKeys.chat(created.id), { ...created, messages: [] })
        setLive((turn) => (turn ? { ...turn, chatId: created.id } : turn))
        void client.invalidateQueries({ queryKey: chatKeys.lists })
        void navigate({ to: '/ask', search: { chat: created.id }, replace: true })
      }
      return chatsApi.openMessageStream(id, { content }, options)
    })
    if (id) {
      const asked = id
      void chatChanged(client, asked)
      setTimeout(() => void chatChanged(client, asked), LATE_STORE_MS)
    }
  }
  const sendRef = useRef(send)
  sendRef.current = send

  // /ask?q=… asks the question in a new chat. Deferred a tick: React's development double-mount
  // would otherwise create the chat twice (the first one's request aborted by the remount).
  useEffect(() => {
    if (!urlQuestion) return
    const timer = setTimeout(() => void sendRef.current(urlQuestion, undefined), 0)
    return () => clearTimeout(timer)
  }, [urlQuestion])

  const submit = (event: FormEvent) => {
    event.preventDefault()
    // One question at a time: Stop first (the answer so far is kept, marked incomplete).
    if (!text.trim() || active || waitingForChat || notFound) return
    void send(text, chatId)
  }

  const startNew = () => {
    clear()
    setLive(null)
    setSelected(null)
    setText('')
    ownChat.current = null
    void navigate({ to: '/ask', search: {} })
    focusInput()
  }

  const onDeleted = (id: string) => {
    if (id === chatId || id === live?.chatId) startNew()
  }

  // The live turn comes into view as it starts.
  useEffect(() => {
    if (live) liveSection.current?.scrollIntoView?.({ block: 'nearest' })
  }, [live])

  // An opened chat shows its latest turn.
  const scrolledFor = useRef<string | null>(null)
  useEffect(() => {
    if (!chatId || !chat.data || scrolledFor.current === chatId || live) return
    scrolledFor.current = chatId
    end.current?.scrollIntoView?.({ block: 'end' })
  }, [chatId, chat.data, live])

  const messages = useMemo(() => (chatId ? (chat.data?.messages ?? []) : []), [chatId, chat.data])
  const liveAnswer = live && state.answer ? (state.answer as ChatAnswer) : null
  const turns = useMemo(() => pairTurns(historyWithout(messages, live, liveAnswer)), [messages, live, liveAnswer])

  const open = useCallback((turn: string, chunkId: number) => setSelected({ turn, chunkId }), [])
  const openLive = useCallback((chunkId: number) => setSelected({ turn: LIVE, chunkId }), [])

  // What the selected chip cites: its number in its answer, and what is known of the passage.
  const panel = useMemo(() => {
    if (!selected) return null
    let answerText = ''
    let sources
    if (selected.turn === LIVE) {
      answerText = state.text
      sources = sourceIndex(state.sources, state.answer?.citations)
    } else {
      const answer = turns.find((turn) => turn.key === selected.turn)?.answer
      if (!answer) return null
      answerText = answer.content
      sources = sourceIndex([], answer.citations)
    }
    const n = parseAnswer(answerText).order.indexOf(selected.chunkId) + 1 || null
    return (
      <CitationPanel
        key={`${selected.turn}-${selected.chunkId}`}
        chunkId={selected.chunkId}
        n={n}
        known={sources.get(selected.chunkId)}
        onClose={() => setSelected(null)}
      />
    )
  }, [selected, state.text, state.sources, state.answer, turns])

  const title = (chatId ? chat.data?.title : null) ?? live?.question ?? t('chat.newHeading')
  const showLive = live !== null && state.phase !== 'idle'
  const empty = !chatId && !showLive

  return (
    <div>
      <h1 className="text-2xl font-semibold text-stone-900 dark:text-stone-100">{t('ask.title')}</h1>
      <p className="mt-1 text-sm text-stone-600 dark:text-stone-400">{t('ask.intro')}</p>

      <div className="mt-4 grid gap-6 lg:grid-cols-[15rem_minmax(0,1fr)] xl:grid-cols-[15rem_minmax(0,1fr)_20rem]">
        <nav aria-label={t('chat.listHeading')} className="min-w-0 lg:sticky lg:top-4 lg:max-h-[calc(100vh-2rem)] lg:self-start lg:overflow-y-auto lg:pr-1">
          <ChatList
            selectedId={chatId}
            pendingTitle={live?.chatId ? { chatId: live.chatId, title: live.question } : null}
            onNew={startNew}
            onDeleted={onDeleted}
          />
        </nav>

        <section aria-labelledby="chat-heading" className="flex min-w-0 flex-col gap-6" data-testid="chat-view" data-chat-id={chatId}>
          <h2 id="chat-heading" className="break-words text-lg font-semibold text-stone-900 dark:text-stone-100">
            {title}
          </h2>

          {empty && <p className="text-sm text-stone-700 dark:text-stone-300">{t('chat.newIntro')}</p>}
          {waitingForChat && <Spinner label={t('chat.loadingChat')} />}
          {notFound ? (
            <div role="alert" className="rounded-md border border-amber-400 bg-amber-50 p-3 text-sm text-amber-950 dark:border-amber-700 dark:bg-amber-950 dark:text-amber-100">
              <p>{t('chat.notFound')}</p>
              <button type="button" onClick={startNew} className="mt-2 font-medium underline underline-offset-2">
                {t('chat.startNew')}
              </button>
            </div>
          ) : (
            chat.isError && <ErrorNotice error={chat.error} onRetry={() => void chat.refetch()} />
          )}

          <ChatHistory
            turns={turns}
            selected={selected}
            onOpen={open}
            renderPanel={wide ? null : () => panel}
          />

          {showLive && live && (
            <section
              ref={liveSection}
              aria-labelledby="live-question"
              data-phase={state.phase}
              data-testid="live-turn"
              className="flex scroll-mb-40 flex-col gap-3"
            >
              <h3 id="live-question" className={QUESTION_CLASS}>
                <span className="sr-only">{t('chat.you')}: </span>
                {live.question}
              </h3>
              {state.phase === 'busy' && state.busyUntil && <BusyNotice until={state.busyUntil} onCancel={stopAndFocus} />}
              {(state.phase === 'connecting' || (state.phase === 'streaming' && !state.text)) && (
                <p className="text-sm text-stone-600 dark:text-stone-400" role="status">
                  {state.phase === 'connecting' ? t('ask.status.finding') : t('ask.status.writing')}
                </p>
              )}
              <AnswerView state={state} selected={selected?.turn === LIVE ? selected.chunkId : null} onOpen={openLive} />
              {liveAnswer && <FollowUpNote mode={liveAnswer.followup} query={liveAnswer.search_query} question={live.question} />}
              {state.phase === 'stopped' && (
                <p data-testid="answer-stopped" role="status" className="text-sm font-medium text-stone-700 dark:text-stone-300">
                  {t('ask.status.stopped')}
                </p>
              )}
              {state.phase === 'error' && state.error && (
                <div
                  role="alert"
                  data-testid="answer-error"
                  className="rounded-md border border-red-300 bg-red-50 p-3 text-sm text-red-900 dark:border-red-800 dark:bg-red-950 dark:text-red-100"
                >
                  {state.error.code === STREAM_INCOMPLETE
                    ? t('ask.error.incomplete')
                    : state.error.code === 'network'
                      ? t('ask.error.network')
                      : t('ask.error.generic', { message: state.error.message })}
                </div>
              )}
              {!wide && selected?.turn === LIVE && panel}
            </section>
          )}
          <div ref={end} />

          <form
            onSubmit={submit}
            className="sticky bottom-0 -mx-1 flex items-start gap-2 border-t border-stone-200 bg-stone-50/95 px-1 pb-3 pt-3 backdrop-blur dark:border-stone-800 dark:bg-stone-950/95"
          >
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
              placeholder={chatId || showLive ? t('chat.followupPlaceholder') : t('ask.placeholder')}
              className="min-h-[3.25rem] w-full min-w-0 flex-1 resize-y rounded-lg border border-stone-300 bg-white px-3 py-2.5 text-base sm:px-4 sm:py-3 text-stone-900 shadow-sm placeholder:text-stone-500 dark:border-stone-600 dark:bg-stone-900 dark:text-stone-100 dark:placeholder:text-stone-400"
            />
            <div className="flex flex-col gap-2 sm:flex-row">
              <button
                type="submit"
                data-testid="ask-submit"
                disabled={!text.trim() || active || waitingForChat || notFound}
                className="rounded-lg bg-orange-700 px-4 py-3 text-sm font-semibold text-white sm:px-5 hover:bg-orange-800 disabled:opacity-60 dark:bg-orange-700 dark:hover:bg-orange-600"
              >
                {t('ask.submit')}
              </button>
              {active && (
                <button
                  type="button"
                  data-testid="ask-stop"
                  onClick={stopAndFocus}
                  className="rounded-lg border border-stone-400 bg-white px-4 py-3 text-sm font-semibold sm:px-5 text-stone-900 hover:bg-stone-100 dark:border-stone-500 dark:bg-stone-900 dark:text-stone-100 dark:hover:bg-stone-800"
                >
                  {t('ask.stop')}
                </button>
              )}
            </div>
          </form>
        </section>

        {wide && (
          <div className="min-w-0">
            {panel ? (
              <div className="sticky top-4">{panel}</div>
            ) : (
              (turns.some((turn) => turn.answer?.citations.length) || parseAnswer(state.text).order.length > 0) && (
                <p className="rounded-lg border border-dashed border-stone-300 p-4 text-sm text-stone-600 dark:border-stone-600 dark:text-stone-400">
                  {t('ask.panel.hint')}
                </p>
              )
            )}
          </div>
        )}
      </div>
    </div>
  )
}
