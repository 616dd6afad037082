// The sign-in page: the first account on a fresh install, sign-in and (when open) sign-up in local
// mode, or Firebase's e-mail/Google sign-in in Firebase mode. It sits outside the app layout.
import { useEffect, useId, useState, type FormEvent, type ReactNode } from 'react'
import { useRouter, useSearch } from '@tanstack/react-router'
import { useTranslation } from 'react-i18next'
import { useAuthConfig, type AuthConfig, type Credentials } from '../../api/auth'
import { ErrorNotice } from '../../components/ErrorNotice'
import { LanguageSwitch } from '../../components/LanguageSwitch'
import { Spinner } from '../../components/Spinner'
import { ThemeToggle } from '../../components/ThemeToggle'
import { useSession } from '../../session'
import { useCountdown } from './countdown'
import { checkNewAccount, describeSignInError, MIN_PASSWORD_LENGTH, type SignInAction, type SignInProblem } from './errors'
import { safeRedirect } from './redirect'

const INPUT =
  'mt-1 block w-full rounded-md border border-stone-300 bg-white px-3 py-2 text-stone-900 placeholder:text-stone-500 dark:border-stone-600 dark:bg-stone-950 dark:text-stone-100'
const PRIMARY =
  'w-full rounded-md bg-orange-800 px-4 py-2 font-medium text-white hover:bg-orange-900 disabled:cursor-not-allowed disabled:bg-stone-400 disabled:text-stone-900 dark:bg-orange-700 dark:hover:bg-orange-600 dark:disabled:bg-stone-700 dark:disabled:text-stone-300'
const LINK_BUTTON = 'font-medium text-orange-800 underline underline-offset-2 hover:text-orange-950 dark:text-orange-300 dark:hover:text-orange-200'

export function SignInPage() {
  const { t } = useTranslation()
  const { session, loading } = useSession()
  const search = useSearch({ from: '/signin' })
  const config = useAuthConfig()
  const router = useRouter()
  const signedIn = session !== null

  useEffect(() => {
    document.title = `${t('auth.title')} · ${t('app.name')}`
  }, [t])

  useEffect(() => {
    // The target is a path with its own search string, already checked to stay inside the app.
    if (signedIn) router.history.replace(safeRedirect(search.redirect))
  }, [signedIn, router, search.redirect])

  if (signedIn) return <Spinner label={t('app.loading')} fullPage />

  let body: ReactNode
  if (loading || config.isPending) body = <Spinner label={t('app.loading')} />
  else if (config.isError) {
    body = (
      <>
        <h1 className="mb-4 text-2xl font-semibold">{t('auth.title')}</h1>
        <ErrorNotice error={config.error} onRetry={() => void config.refetch()} />
      </>
    )
  } else body = <SignInForms config={config.data} />

  return (
    <div className="flex min-h-screen flex-col">
      <header className="flex items-center justify-between gap-2 px-4 py-3">
        <span className="flex items-center gap-2 text-lg font-semibold text-orange-900 dark:text-orange-300">
          <img src="/favicon.svg" alt="" className="h-6 w-6" />
          {t('app.name')}
        </span>
        <div className="flex items-center gap-2">
          <LanguageSwitch />
          <ThemeToggle />
        </div>
      </header>
      <main id="main" className="flex flex-1 items-start justify-center px-4 pb-12 pt-6 sm:pt-16">
        <div className="w-full max-w-sm rounded-xl border border-stone-200 bg-white p-6 shadow-sm dark:border-stone-800 dark:bg-stone-900">
          {body}
        </div>
      </main>
    </div>
  )
}

type View = 'login' | 'signup'

export function SignInForms({ config }: { config: AuthConfig }) {
  const { t } = useTranslation()
  const { signIn, signInWithBearer } = useSession()
  const [view, setView] = useState<View>('login')
  // After the user switches between sign-in and sign-up, focus goes to the new form's first field.
  const [switched, setSwitched] = useState(false)
  const [problem, setProblem] = useState<SignInProblem | null>(null)
  const [busy, setBusy] = useState(false)
  const countdown = useCountdown()
  const waiting = countdown.remaining > 0

  // The wait is over: the rate-limit message has nothing more to say.
  useEffect(() => {
    if (problem?.retryAfterS !== undefined && !waiting) setProblem(null)
  }, [problem, waiting])

  async function run(action: SignInAction, attempt: () => Promise<unknown>) {
    setBusy(true)
    setProblem(null)
    try {
      await attempt()
      // Success: the session changes and the page redirects.
    } catch (error) {
      const next = describeSignInError(error, action)
      setProblem(next)
      if (next?.retryAfterS !== undefined) countdown.start(next.retryAfterS)
    } finally {
      setBusy(false)
    }
  }

  const local = (action: 'login' | 'setup' | 'signup') => (credentials: Credentials, confirm: string) => {
    const invalid = action === 'login' ? null : checkNewAccount(credentials.username, credentials.password, confirm)
    if (invalid) {
      if (!waiting) setProblem({ key: invalid })
      return Promise.resolve()
    }
    return run(action, () => signIn(credentials, action))
  }
  const error = problem && <SignInError problem={problem} remaining={countdown.remaining} />
  const disabled = busy || waiting
  const state = { error, disabled, busy, remaining: countdown.remaining, focusFirst: switched }

  if (config.mode === 'firebase' && config.firebase) {
    const settings = config.firebase
    const firebase = async () => (await import('../../lib/firebase')).firebaseSignIn(settings)
    return (
      <FirebaseForm
        {...state}
        onPassword={(email, password) =>
          run('firebase', async () => {
            const provider = await firebase()
            await provider.withPassword(email, password)
            await signInWithBearer(provider)
          })
        }
        onGoogle={() =>
          run('firebase', async () => {
            const provider = await firebase()
            await provider.withGoogle()
            await signInWithBearer(provider)
          })
        }
      />
    )
  }

  if (config.needs_setup) {
    return (
      <CredentialsForm
        testId="setup-form"
        heading={t('auth.setup.heading')}
        intro={t('auth.setup.intro')}
        submitLabel={t('auth.setup.submit')}
        newAccount
        {...state}
        onSubmit={local('setup')}
      />
    )
  }

  const switchTo = (next: View) => {
    setView(next)
    setSwitched(true)
    if (problem?.retryAfterS === undefined) setProblem(null)
  }

  if (view === 'signup' && config.signup_open) {
    return (
      <CredentialsForm
        key="signup"
        testId="signup-form"
        heading={t('auth.signup.heading')}
        submitLabel={t('auth.signup.submit')}
        newAccount
        {...state}
        onSubmit={local('signup')}
        footer={
          <p>
            {t('auth.signup.haveAccount')}{' '}
            <button type="button" className={LINK_BUTTON} onClick={() => switchTo('login')}>
              {t('auth.signup.back')}
            </button>
          </p>
        }
      />
    )
  }

  return (
    <CredentialsForm
      key="login"
      testId="signin-form"
      heading={t('auth.heading')}
      submitLabel={t('auth.signIn')}
      {...state}
      onSubmit={local('login')}
      footer={
        config.signup_open && (
          <p>
            {t('auth.signup.noAccount')}{' '}
            <button type="button" className={LINK_BUTTON} onClick={() => switchTo('signup')}>
              {t('auth.signup.open')}
            </button>
          </p>
        )
      }
    />
  )
}

function SignInError({ problem, remaining }: { problem: SignInProblem; remaining: number }) {
  const { t } = useTranslation()
  const text = (seconds?: number) =>
    t(`auth.errors.${problem.key}`, { seconds, message: problem.message, min: MIN_PASSWORD_LENGTH })
  return (
    <div
      role="alert"
      data-testid="signin-error"
      className="mb-4 rounded-md border border-red-300 bg-red-50 p-3 text-sm text-red-900 dark:border-red-800 dark:bg-red-950 dark:text-red-100"
    >
      {problem.retryAfterS === undefined ? (
        text()
      ) : (
        <>
          {/* Read once to screen readers; the ticking copy is for the eye only, so it is not re-announced every second. */}
          <span className="sr-only">{text(problem.retryAfterS)}</span>
          <span aria-hidden="true">{text(remaining)}</span>
        </>
      )}
    </div>
  )
}

function SubmitButton({ label, disabled, busy, remaining }: { label: string; disabled: boolean; busy: boolean; remaining: number }) {
  const { t } = useTranslation()
  return (
    <button type="submit" disabled={disabled} className={PRIMARY}>
      {remaining > 0 ? t('auth.retryIn', { seconds: remaining }) : busy ? t('auth.working') : label}
    </button>
  )
}

interface CredentialsFormProps {
  testId: 'signin-form' | 'setup-form' | 'signup-form'
  heading: string
  intro?: string
  submitLabel: string
  /** Setup and sign-up: a confirmation field and the client-side checks of a new account. */
  newAccount?: boolean
  error: ReactNode
  disabled: boolean
  busy: boolean
  remaining: number
  focusFirst?: boolean
  /** Gets the confirmation too, so the checks of a new account live with the other errors. */
  onSubmit: (credentials: Credentials, confirm: string) => Promise<void>
  footer?: ReactNode
}

function CredentialsForm(props: CredentialsFormProps) {
  const { t } = useTranslation()
  const id = useId()
  const [username, setUsername] = useState('')
  const [password, setPassword] = useState('')
  const [confirm, setConfirm] = useState('')

  function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault()
    if (!props.disabled) void props.onSubmit({ username: username.trim().toLowerCase(), password }, confirm)
  }

  const hintId = `${id}-username-hint`
  const passwordHintId = `${id}-password-hint`
  return (
    <form data-testid={props.testId} onSubmit={submit} noValidate aria-labelledby={`${id}-heading`}>
      <h1 id={`${id}-heading`} className="text-2xl font-semibold text-stone-900 dark:text-stone-100">
        {props.heading}
      </h1>
      {props.intro && <p className="mt-2 text-sm text-stone-700 dark:text-stone-300">{props.intro}</p>}
      <div className="mt-5 space-y-4">
        {props.error}
        <div>
          <label htmlFor={`${id}-username`} className="block text-sm font-medium">
            {t('auth.username')}
          </label>
          <input
            id={`${id}-username`}
            name="username"
            value={username}
            onChange={(e) => setUsername(e.target.value)}
            autoComplete="username"
            autoFocus={props.focusFirst}
            autoCapitalize="none"
            spellCheck={false}
            required
            aria-describedby={props.newAccount ? hintId : undefined}
            className={INPUT}
          />
          {props.newAccount && (
            <p id={hintId} className="mt-1 text-xs text-stone-600 dark:text-stone-400">
              {t('auth.usernameHint')}
            </p>
          )}
        </div>
        <div>
          <label htmlFor={`${id}-password`} className="block text-sm font-medium">
            {t('auth.password')}
          </label>
          <input
            id={`${id}-password`}
            name="password"
            type="password"
            value={password}
            onChange={(e) => setPassword(e.target.value)}
            autoComplete={props.newAccount ? 'new-password' : 'current-password'}
            required
            minLength={props.newAccount ? MIN_PASSWORD_LENGTH : undefined}
            aria-describedby={props.newAccount ? passwordHintId : undefined}
            className={INPUT}
          />
          {props.newAccount && (
            <p id={passwordHintId} className="mt-1 text-xs text-stone-600 dark:text-stone-400">
              {t('auth.passwordHint', { min: MIN_PASSWORD_LENGTH })}
            </p>
          )}
        </div>
        {props.newAccount && (
          <div>
            <label htmlFor={`${id}-confirm`} className="block text-sm font-medium">
              {t('auth.confirmPassword')}
            </label>
            <input
              id={`${id}-confirm`}
              name="confirm"
              type="password"
              value={confirm}
              onChange={(e) => setConfirm(e.target.value)}
              autoComplete="new-password"
              required
              className={INPUT}
            />
          </div>
        )}
        <SubmitButton label={props.submitLabel} disabled={props.disabled} busy={props.busy} remaining={props.remaining} />
      </div>
      {props.footer && <div className="mt-5 text-sm text-stone-700 dark:text-stone-300">{props.footer}</div>}
    </form>
  )
}

interface FirebaseFormProps {
  error: ReactNode
  disabled: boolean
  busy: boolean
  remaining: number
  focusFirst?: boolean
  onPassword: (email: string, password: string) => Promise<void>
  onGoogle: () => Promise<void>
}

function FirebaseForm(props: FirebaseFormProps) {
  const { t } = useTranslation()
  const id = useId()
  const [email, setEmail] = useState('')
  const [password, setPassword] = useState('')

  function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault()
    if (!props.disabled) void props.onPassword(email.trim(), password)
  }

  return (
    <div>
      <h1 className="text-2xl font-semibold text-stone-900 dark:text-stone-100">{t('auth.heading')}</h1>
      <div className="mt-5 space-y-4">
        {props.error}
        <button
          type="button"
          disabled={props.disabled}
          onClick={() => void props.onGoogle()}
          className="w-full rounded-md border border-stone-300 bg-white px-4 py-2 font-medium text-stone-900 hover:bg-stone-50 disabled:cursor-not-allowed disabled:opacity-60 dark:border-stone-600 dark:bg-stone-950 dark:text-stone-100 dark:hover:bg-stone-800"
        >
          {t('auth.firebase.google')}
        </button>
        <p className="flex items-center gap-3 text-xs uppercase text-stone-600 dark:text-stone-400">
          <span aria-hidden="true" className="h-px flex-1 bg-stone-200 dark:bg-stone-700" />
          {t('auth.firebase.or')}
          <span aria-hidden="true" className="h-px flex-1 bg-stone-200 dark:bg-stone-700" />
        </p>
        <form data-testid="signin-form" onSubmit={submit} className="space-y-4" aria-label={t('auth.firebase.emailForm')}>
          <div>
            <label htmlFor={`${id}-email`} className="block text-sm font-medium">
              {t('auth.email')}
            </label>
            <input
              id={`${id}-email`}
              name="email"
              type="email"
              value={email}
              onChange={(e) => setEmail(e.target.value)}
              autoComplete="email"
              required
              className={INPUT}
            />
          </div>
          <div>
            <label htmlFor={`${id}-password`} className="block text-sm font-medium">
              {t('auth.password')}
            </label>
            <input
              id={`${id}-password`}
              name="password"
              type="password"
              value={password}
              onChange={(e) => setPassword(e.target.value)}
              autoComplete="current-password"
              required
              className={INPUT}
            />
          </div>
          <SubmitButton label={t('auth.signIn')} disabled={props.disabled} busy={props.busy} remaining={props.remaining} />
        </form>
      </div>
    </div>
  )
}
