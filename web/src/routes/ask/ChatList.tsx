// The user's conversations, most recently active first: a search over titles and messages, "New
// chat", and per chat an inline rename and a delete behind a confirmation. On phones the list folds
// away behind a toggle so the conversation keeps the screen.
import { useEffect, useId, useRef, useState, type FormEvent, type KeyboardEvent } from 'react'
import { Link } from '@tanstack/react-router'
import { useTranslation } from 'react-i18next'
import { useChats, useDeleteChat, useRenameChat, type Chat } from '../../api/chats'
import { ErrorNotice } from '../../components/ErrorNotice'
import { useDebounced } from '../../components/ItemPicker'
import { Spinner } from '../../components/Spinner'
import { ConfirmDialog } from '../library/ConfirmDialog'

export interface ChatListProps {
  selectedId: string | undefined
  /** The question being asked in a chat that has no title yet (shown until the server names it). */
  pendingTitle?: { chatId: string; title: string } | null
  onNew: () => void
  /** Told after a chat was deleted (the page leaves it if it was open). */
  onDeleted?: (id: string) => void
}

function useFormatWhen() {
  const { i18n } = useTranslation()
  return (iso: string) => {
    const date = new Date(iso)
    const today = new Date().toDateString() === date.toDateString()
    return new Intl.DateTimeFormat(i18n.language, today ? { timeStyle: 'short' } : { dateStyle: 'medium' }).format(date)
  }
}

const ICON_BUTTON =
  'inline-flex h-8 w-8 shrink-0 items-center justify-center rounded-md text-stone-600 hover:bg-stone-200 hover:text-stone-900 dark:text-stone-400 dark:hover:bg-stone-700 dark:hover:text-stone-100'

function PencilIcon() {
  return (
    <svg aria-hidden="true" viewBox="0 0 20 20" className="h-4 w-4" fill="none" stroke="currentColor" strokeWidth="1.6">
      <path d="M13.5 3.5l3 3L7 16H4v-3l9.5-9.5z" strokeLinejoin="round" />
    </svg>
  )
}

function TrashIcon() {
  return (
    <svg aria-hidden="true" viewBox="0 0 20 20" className="h-4 w-4" fill="none" stroke="currentColor" strokeWidth="1.6">
      <path d="M4 6h12M8 6V4h4v2M6 6l1 10h6l1-10" strokeLinejoin="round" strokeLinecap="round" />
    </svg>
  )
}

interface RenameFormProps {
  chat: Chat
  title: string
  onDone: (renamed: boolean) => void
}

function RenameForm({ chat, title, onDone }: RenameFormProps) {
  const { t } = useTranslation()
  const id = useId()
  const [value, setValue] = useState(chat.title ?? '')
  const rename = useRenameChat()
  const input = useRef<HTMLInputElement>(null)

  useEffect(() => {
    input.current?.focus()
    input.current?.select()
  }, [])

  const submit = (event: FormEvent) => {
    event.preventDefault()
    const next = value.trim()
    if (!next || next === chat.title) {
      onDone(false)
      return
    }
    rename.mutate({ id: chat.id, title: next }, { onSuccess: () => onDone(true) })
  }

  const onKeyDown = (event: KeyboardEvent<HTMLInputElement>) => {
    if (event.key === 'Escape') {
      event.preventDefault()
      onDone(false)
    }
  }

  return (
    <form onSubmit={submit} className="flex flex-col gap-2 p-2" data-testid="chat-rename-form">
      <label htmlFor={`${id}-title`} className="sr-only">
        {t('chat.renameLabel', { title })}
      </label>
      <input
        id={`${id}-title`}
        ref={input}
        data-testid="chat-rename-input"
        value={value}
        maxLength={200}
        onChange={(e) => setValue(e.target.value)}
        onKeyDown={onKeyDown}
        disabled={rename.isPending}
        className="w-full rounded-md border border-stone-300 bg-white px-2 py-1.5 text-sm text-stone-900 dark:border-stone-600 dark:bg-stone-900 dark:text-stone-100"
      />
      {rename.isError && (
        <p role="alert" className="text-sm text-red-800 dark:text-red-300">
          {t('chat.renameFailed', { message: rename.error.message })}
        </p>
      )}
      <div className="flex gap-2">
        <button
          type="submit"
          data-testid="chat-rename-save"
          disabled={rename.isPending || !value.trim()}
          className="rounded-md bg-orange-700 px-3 py-1 text-sm font-semibold text-white hover:bg-orange-800 disabled:opacity-60"
        >
          {t('app.save')}
        </button>
        <button
          type="button"
          onClick={() => onDone(false)}
          className="rounded-md border border-stone-300 px-3 py-1 text-sm font-medium text-stone-800 hover:bg-stone-100 dark:border-stone-600 dark:text-stone-200 dark:hover:bg-stone-800"
        >
          {t('app.cancel')}
        </button>
      </div>
    </form>
  )
}

export function ChatList({ selectedId, pendingTitle, onNew, onDeleted }: ChatListProps) {
  const { t } = useTranslation()
  const id = useId()
  const formatWhen = useFormatWhen()
  const [open, setOpen] = useState(false)
  const [text, setText] = useState('')
  const q = useDebounced(text.trim(), 250)
  const chats = useChats(q)
  const [editing, setEditing] = useState<string | null>(null)
  const [deleting, setDeleting] = useState<Chat | null>(null)
  const remove = useDeleteChat()
  const renameButtons = useRef(new Map<string, HTMLButtonElement>())
  const list = chats.data?.pages.flatMap((page) => page.chats) ?? []

  const titleOf = (chat: Chat) =>
    chat.title ?? (pendingTitle && pendingTitle.chatId === chat.id ? pendingTitle.title : t('chat.untitled'))

  const finishRename = (chatId: string) => {
    setEditing(null)
    // Focus goes back where it was, not to the top of the page.
    requestAnimationFrame(() => renameButtons.current.get(chatId)?.focus())
  }

  const confirmDelete = () => {
    if (!deleting) return
    const chatId = deleting.id
    remove.mutate(chatId, {
      onSuccess: () => {
        setDeleting(null)
        onDeleted?.(chatId)
      },
    })
  }

  return (
    <div className="flex flex-col gap-3">
      <div className="flex items-center gap-2">
        <button
          type="button"
          className="flex flex-1 items-center justify-between rounded-md border border-stone-300 px-3 py-2 text-sm font-semibold text-stone-900 lg:hidden dark:border-stone-600 dark:text-stone-100"
          aria-expanded={open}
          aria-controls={`${id}-panel`}
          onClick={() => setOpen((o) => !o)}
          data-testid="chat-list-toggle"
        >
          {t('chat.listHeading')}
          <span aria-hidden="true">{open ? '▴' : '▾'}</span>
        </button>
        <h2 className="hidden flex-1 text-base font-semibold text-stone-900 lg:block dark:text-stone-100">
          {t('chat.listHeading')}
        </h2>
        <button
          type="button"
          data-testid="chat-new"
          onClick={() => {
            setOpen(false)
            onNew()
          }}
          className="rounded-md bg-orange-700 px-3 py-2 text-sm font-semibold text-white hover:bg-orange-800"
        >
          {t('chat.new')}
        </button>
      </div>

      <div id={`${id}-panel`} className={`${open ? 'flex' : 'hidden'} flex-col gap-3 lg:flex`}>
        <div>
          <label htmlFor={`${id}-search`} className="mb-1 block text-sm font-medium text-stone-800 dark:text-stone-200">
            {t('chat.searchLabel')}
          </label>
          <input
            id={`${id}-search`}
            type="search"
            data-testid="chat-search"
            value={text}
            onChange={(e) => setText(e.target.value)}
            placeholder={t('chat.searchPlaceholder')}
            className="w-full rounded-md border border-stone-300 bg-white px-3 py-2 text-sm text-stone-900 placeholder:text-stone-500 dark:border-stone-600 dark:bg-stone-900 dark:text-stone-100 dark:placeholder:text-stone-400"
          />
        </div>

        {chats.isPending && <Spinner label={t('chat.loadingList')} />}
        {chats.isError && <ErrorNotice error={chats.error} onRetry={() => void chats.refetch()} />}
        {chats.isSuccess && list.length === 0 && (
          <p className="text-sm text-stone-600 dark:text-stone-400" data-testid="chat-list-empty">
            {q ? t('chat.noMatch', { q }) : t('chat.empty')}
          </p>
        )}

        {list.length > 0 && (
          <ul data-testid="chat-list" aria-label={t('chat.listHeading')} className="flex flex-col gap-1">
            {list.map((chat) => {
              const title = titleOf(chat)
              const current = chat.id === selectedId
              return (
                <li
                  key={chat.id}
                  data-testid="chat-item"
                  data-chat-id={chat.id}
                  className={
                    'rounded-md border ' +
                    (current
                      ? 'border-orange-300 bg-orange-50 dark:border-orange-800 dark:bg-orange-950'
                      : 'border-transparent hover:bg-stone-100 dark:hover:bg-stone-800')
                  }
                >
                  {editing === chat.id ? (
                    <RenameForm chat={chat} title={title} onDone={() => finishRename(chat.id)} />
                  ) : (
                    <div className="flex items-center gap-1 py-1 pl-2 pr-1">
                      <Link
                        to="/ask"
                        search={{ chat: chat.id }}
                        aria-current={current ? 'page' : undefined}
                        onClick={() => setOpen(false)}
                        className="min-w-0 flex-1 rounded py-1"
                      >
                        <span
                          data-testid="chat-title"
                          className={
                            'block truncate text-sm ' +
                            (current ? 'font-semibold text-orange-950 dark:text-orange-50' : 'font-medium text-stone-900 dark:text-stone-100')
                          }
                        >
                          {title}
                        </span>
                        <time dateTime={chat.updated_at} className="block text-xs text-stone-600 dark:text-stone-400">
                          {formatWhen(chat.updated_at)}
                        </time>
                      </Link>
                      <button
                        type="button"
                        data-testid="chat-rename"
                        ref={(el) => {
                          if (el) renameButtons.current.set(chat.id, el)
                          else renameButtons.current.delete(chat.id)
                        }}
                        aria-label={t('chat.rename', { title })}
                        title={t('chat.rename', { title })}
                        onClick={() => setEditing(chat.id)}
                        className={ICON_BUTTON}
                      >
                        <PencilIcon />
                      </button>
                      <button
                        type="button"
                        data-testid="chat-delete"
                        aria-label={t('chat.delete', { title })}
                        title={t('chat.delete', { title })}
                        onClick={() => {
                          remove.reset()
                          setDeleting(chat)
                        }}
                        className={ICON_BUTTON}
                      >
                        <TrashIcon />
                      </button>
                    </div>
                  )}
                </li>
              )
            })}
          </ul>
        )}

        {chats.hasNextPage && (
          <button
            type="button"
            onClick={() => void chats.fetchNextPage()}
            disabled={chats.isFetchingNextPage}
            className="rounded-md border border-stone-300 px-3 py-1.5 text-sm font-medium text-stone-800 hover:bg-stone-100 disabled:opacity-60 dark:border-stone-600 dark:text-stone-200 dark:hover:bg-stone-800"
          >
            {chats.isFetchingNextPage ? t('app.loading') : t('chat.loadMore')}
          </button>
        )}
      </div>

      <ConfirmDialog
        open={deleting !== null}
        title={t('chat.deleteTitle')}
        confirmLabel={t('chat.deleteConfirm')}
        busyLabel={t('chat.deleting')}
        busy={remove.isPending}
        error={remove.isError ? <ErrorNotice error={remove.error} /> : undefined}
        onConfirm={confirmDelete}
        onClose={() => setDeleting(null)}
      >
        {deleting && t('chat.deleteBody', { title: titleOf(deleting), count: deleting.message_count })}
      </ConfirmDialog>
    </div>
  )
}
