// Personal API keys: create one (its secret is shown once), list them, revoke one after a confirm step.
import { useEffect, useId, useRef, useState, type FormEvent } from 'react'
import { useTranslation } from 'react-i18next'
import { useApiKeys, useCreateKey, useRevokeKey, type ApiKey } from '../../api/auth'
import { ErrorNotice } from '../../components/ErrorNotice'
import { Spinner } from '../../components/Spinner'
import { BUTTON, DANGER, INPUT, PRIMARY, SECTION, H2, formatDate } from './ui'

type CopyState = 'idle' | 'copied' | 'failed'

const KEY_MARK = 'th_'

/** The start of a key as the list shows it ("th_abcd1234…"): enough to recognise it, useless to use. */
export function displayPrefix(prefix: string): string {
  return `${prefix.startsWith(KEY_MARK) ? prefix : KEY_MARK + prefix}…`
}

export function ApiKeys() {
  const { t } = useTranslation()
  const id = useId()
  const keys = useApiKeys()
  const create = useCreateKey()
  const [name, setName] = useState('')
  const [created, setCreated] = useState<{ key: ApiKey; secret: string } | null>(null)
  const nameRef = useRef<HTMLInputElement>(null)

  async function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault()
    const trimmed = name.trim()
    if (!trimmed) return
    try {
      setCreated(await create.mutateAsync(trimmed))
      setName('')
    } catch {
      // Shown from create.error below.
    }
  }

  function dismiss() {
    setCreated(null)
    create.reset()
    nameRef.current?.focus()
  }

  return (
    <section aria-labelledby={`${id}-heading`} className={SECTION}>
      <h2 id={`${id}-heading`} className={H2}>
        {t('settings.keys.heading')}
      </h2>
      <p className="mt-1 text-sm text-stone-700 dark:text-stone-300">{t('settings.keys.intro')}</p>

      <form data-testid="key-create-form" onSubmit={(e) => void submit(e)} className="mt-4 flex flex-wrap items-end gap-2">
        <div className="min-w-0 flex-1 basis-56">
          <label htmlFor={`${id}-name`} className="block text-sm font-medium">
            {t('settings.keys.name')}
          </label>
          <input
            ref={nameRef}
            id={`${id}-name`}
            value={name}
            onChange={(e) => setName(e.target.value)}
            maxLength={100}
            required
            placeholder={t('settings.keys.namePlaceholder')}
            className={INPUT}
          />
        </div>
        <button type="submit" disabled={create.isPending || !name.trim()} className={PRIMARY}>
          {create.isPending ? t('settings.keys.creating') : t('settings.keys.create')}
        </button>
      </form>
      {create.isError && (
        <div className="mt-3">
          <ErrorNotice error={create.error} />
        </div>
      )}

      {created && <NewKeySecret name={created.key.name} secret={created.secret} onDismiss={dismiss} />}

      <h3 className="mt-6 text-base font-semibold">{t('settings.keys.listHeading')}</h3>
      {keys.isPending && <Spinner label={t('app.loading')} />}
      {keys.isError && (
        <div className="mt-2">
          <ErrorNotice error={keys.error} onRetry={() => void keys.refetch()} />
        </div>
      )}
      {keys.data && keys.data.keys.length === 0 && (
        <p className="mt-2 text-sm text-stone-700 dark:text-stone-300">{t('settings.keys.none')}</p>
      )}
      {keys.data && keys.data.keys.length > 0 && (
        <ul data-testid="key-list" className="mt-2 divide-y divide-stone-200 dark:divide-stone-800">
          {keys.data.keys.map((key) => (
            <KeyRow key={key.id} apiKey={key} />
          ))}
        </ul>
      )}
    </section>
  )
}

function NewKeySecret({ name, secret, onDismiss }: { name: string; secret: string; onDismiss: () => void }) {
  const { t } = useTranslation()
  const id = useId()
  const inputRef = useRef<HTMLInputElement>(null)
  const [copy, setCopy] = useState<CopyState>('idle')

  useEffect(() => {
    // Focus lands on the secret so a keyboard user can copy it straight away.
    inputRef.current?.focus()
    inputRef.current?.select()
  }, [])

  async function copySecret() {
    try {
      if (!navigator.clipboard) throw new Error('no clipboard')
      await navigator.clipboard.writeText(secret)
      setCopy('copied')
    } catch {
      // Plain http or a denied permission: leave the text selected for the user to copy by hand.
      inputRef.current?.focus()
      inputRef.current?.select()
      setCopy('failed')
    }
  }

  return (
    <div
      data-testid="key-secret"
      className="mt-4 rounded-lg border border-amber-300 bg-amber-50 p-4 dark:border-amber-800 dark:bg-amber-950"
    >
      <p className="font-medium text-amber-950 dark:text-amber-100">{t('settings.keys.secretHeading', { name })}</p>
      <p className="mt-1 text-sm text-amber-950 dark:text-amber-100">
        <strong>{t('settings.keys.secretWarning')}</strong>
      </p>
      <label htmlFor={`${id}-secret`} className="mt-3 block text-sm font-medium text-amber-950 dark:text-amber-100">
        {t('settings.keys.secretLabel')}
      </label>
      <div className="mt-1 flex flex-wrap gap-2">
        <input
          ref={inputRef}
          id={`${id}-secret`}
          readOnly
          value={secret}
          onFocus={(e) => e.currentTarget.select()}
          className={`${INPUT} mt-0 min-w-0 flex-1 basis-64 font-mono text-sm`}
          spellCheck={false}
        />
        <button type="button" onClick={() => void copySecret()} className={BUTTON}>
          {t('settings.keys.copy')}
        </button>
      </div>
      <p role="status" className="mt-2 text-sm text-amber-950 dark:text-amber-100">
        {copy === 'copied' ? t('settings.keys.copied') : copy === 'failed' ? t('settings.keys.copyFailed') : ''}
      </p>
      <button type="button" onClick={onDismiss} className={`${BUTTON} mt-3`}>
        {t('settings.keys.dismiss')}
      </button>
    </div>
  )
}

function KeyRow({ apiKey }: { apiKey: ApiKey }) {
  const { t, i18n } = useTranslation()
  const revoke = useRevokeKey()
  const [confirming, setConfirming] = useState(false)
  const revokeRef = useRef<HTMLButtonElement>(null)
  const confirmRef = useRef<HTMLButtonElement>(null)

  useEffect(() => {
    if (confirming) confirmRef.current?.focus()
  }, [confirming])

  function cancel() {
    setConfirming(false)
    revoke.reset()
    // Back to the button that opened the question, after React has put it back.
    setTimeout(() => revokeRef.current?.focus(), 0)
  }

  return (
    <li className="flex flex-wrap items-start justify-between gap-x-4 gap-y-2 py-3 text-sm" data-testid={`key-${apiKey.id}`}>
      <div className="min-w-0">
        <p className="break-words font-medium">{apiKey.name}</p>
        <p className="mt-0.5 font-mono text-xs text-stone-700 dark:text-stone-300">
          <span className="sr-only">{t('settings.keys.prefix')} </span>
          {displayPrefix(apiKey.prefix)}
        </p>
        <p className="mt-0.5 text-xs text-stone-600 dark:text-stone-400">
          {t('settings.keys.created', { date: formatDate(apiKey.created_at, i18n.language) })}
          {' · '}
          {apiKey.last_used_at
            ? t('settings.keys.lastUsed', { date: formatDate(apiKey.last_used_at, i18n.language) })
            : t('settings.keys.neverUsed')}
        </p>
      </div>
      {confirming ? (
        <div role="group" aria-label={t('settings.keys.confirmLabel', { name: apiKey.name })} className="w-full sm:w-auto sm:max-w-xs">
          <p className="text-sm">{t('settings.keys.confirm', { name: apiKey.name })}</p>
          <div className="mt-2 flex gap-2">
            <button ref={confirmRef} type="button" disabled={revoke.isPending} onClick={() => revoke.mutate(apiKey.id)} className={DANGER}>
              {revoke.isPending ? t('settings.keys.revoking') : t('settings.keys.revokeConfirm')}
            </button>
            <button type="button" onClick={cancel} className={BUTTON}>
              {t('app.cancel')}
            </button>
          </div>
          {revoke.isError && (
            <div className="mt-2">
              <ErrorNotice error={revoke.error} />
            </div>
          )}
        </div>
      ) : (
        <button
          ref={revokeRef}
          type="button"
          onClick={() => setConfirming(true)}
          className={BUTTON}
          aria-label={t('settings.keys.revokeLabel', { name: apiKey.name })}
        >
          {t('settings.keys.revoke')}
        </button>
      )}
    </li>
  )
}
