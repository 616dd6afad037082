// Change password: checked here for length and match, then by the server (current password right?).
import { useId, useState, type FormEvent } from 'react'
import { useTranslation } from 'react-i18next'
import { useChangePassword } from '../../api/auth'
import { ApiError } from '../../api/http'
import { H2, INPUT, PRIMARY, SECTION } from './ui'

export const MIN_PASSWORD_LENGTH = 8

/** Returns the settings.password.errors key of the first problem with a new password, or null. */
export function checkNewPassword(next: string, confirm: string): 'tooShort' | 'mismatch' | null {
  if (next.length < MIN_PASSWORD_LENGTH) return 'tooShort'
  if (next !== confirm) return 'mismatch'
  return null
}

export function PasswordForm() {
  const { t } = useTranslation()
  const id = useId()
  const change = useChangePassword()
  const [current, setCurrent] = useState('')
  const [next, setNext] = useState('')
  const [confirm, setConfirm] = useState('')
  const [invalid, setInvalid] = useState<'tooShort' | 'mismatch' | null>(null)
  const [done, setDone] = useState(false)

  async function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault()
    setDone(false)
    const problem = checkNewPassword(next, confirm)
    setInvalid(problem)
    if (problem) return
    try {
      await change.mutateAsync({ current_password: current, new_password: next })
      setCurrent('')
      setNext('')
      setConfirm('')
      setDone(true)
    } catch {
      // Shown below from change.error.
    }
  }

  const serverError =
    change.error instanceof ApiError && change.error.status === 401
      ? t('settings.password.errors.wrongCurrent')
      : change.error
        ? t('settings.password.errors.server', { message: change.error.message })
        : null
  const error = invalid ? t(`settings.password.errors.${invalid}`, { min: MIN_PASSWORD_LENGTH }) : serverError

  return (
    <section aria-labelledby={`${id}-heading`} className={SECTION}>
      <h2 id={`${id}-heading`} className={H2}>
        {t('settings.password.heading')}
      </h2>
      <form data-testid="password-form" onSubmit={(e) => void submit(e)} noValidate className="mt-4 max-w-md space-y-4">
        {error && (
          <p role="alert" className="rounded-md border border-red-300 bg-red-50 p-3 text-sm text-red-900 dark:border-red-800 dark:bg-red-950 dark:text-red-100">
            {error}
          </p>
        )}
        {done && (
          <p role="status" className="rounded-md border border-emerald-300 bg-emerald-50 p-3 text-sm text-emerald-900 dark:border-emerald-800 dark:bg-emerald-950 dark:text-emerald-100">
            {t('settings.password.changed')}
          </p>
        )}
        <div>
          <label htmlFor={`${id}-current`} className="block text-sm font-medium">
            {t('settings.password.current')}
          </label>
          <input
            id={`${id}-current`}
            type="password"
            autoComplete="current-password"
            value={current}
            onChange={(e) => setCurrent(e.target.value)}
            required
            className={INPUT}
          />
        </div>
        <div>
          <label htmlFor={`${id}-new`} className="block text-sm font-medium">
            {t('settings.password.new')}
          </label>
          <input
            id={`${id}-new`}
            type="password"
            autoComplete="new-password"
            value={next}
            onChange={(e) => setNext(e.target.value)}
            required
            minLength={MIN_PASSWORD_LENGTH}
            aria-describedby={`${id}-hint`}
            aria-invalid={invalid === 'tooShort' || undefined}
            className={INPUT}
          />
          <p id={`${id}-hint`} className="mt-1 text-xs text-stone-600 dark:text-stone-400">
            {t('settings.password.hint', { min: MIN_PASSWORD_LENGTH })}
          </p>
        </div>
        <div>
          <label htmlFor={`${id}-confirm`} className="block text-sm font-medium">
            {t('settings.password.confirm')}
          </label>
          <input
            id={`${id}-confirm`}
            type="password"
            autoComplete="new-password"
            value={confirm}
            onChange={(e) => setConfirm(e.target.value)}
            required
            aria-invalid={invalid === 'mismatch' || undefined}
            className={INPUT}
          />
        </div>
        <button type="submit" disabled={change.isPending || !current || !next} className={PRIMARY}>
          {change.isPending ? t('settings.password.saving') : t('settings.password.submit')}
        </button>
      </form>
    </section>
  )
}
