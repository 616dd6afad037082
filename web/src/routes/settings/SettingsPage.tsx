// Settings: who is signed in, change password, personal API keys and how to use one from a script.
import { useEffect, useId } from 'react'
import { useTranslation } from 'react-i18next'
import { useAuthConfig } from '../../api/auth'
import { useSession } from '../../session'
import { ApiKeys } from './ApiKeys'
import { PasswordForm } from './PasswordForm'
import { H2, SECTION } from './ui'

export function SettingsPage() {
  const { t } = useTranslation()
  const { session } = useSession()
  const config = useAuthConfig()
  const id = useId()

  useEffect(() => {
    document.title = `${t('settings.title')} · ${t('app.name')}`
  }, [t])

  const user = session?.user
  return (
    <div className="space-y-6">
      <h1 className="text-2xl font-semibold">{t('settings.title')}</h1>

      {user && (
        <section aria-labelledby={`${id}-account`} className={SECTION}>
          <h2 id={`${id}-account`} className={H2}>
            {t('settings.account.heading')}
          </h2>
          <dl className="mt-3 grid max-w-md grid-cols-[auto_1fr] gap-x-6 gap-y-2 text-sm">
            <dt className="text-stone-600 dark:text-stone-400">{t('settings.account.username')}</dt>
            <dd data-testid="account-name" className="break-all font-medium">
              {user.username ?? user.uid}
            </dd>
            <dt className="text-stone-600 dark:text-stone-400">{t('settings.account.role')}</dt>
            <dd data-testid="account-role" className="font-medium">
              {user.is_admin ? t('settings.account.admin') : t('settings.account.member')}
            </dd>
          </dl>
        </section>
      )}

      {config.data?.mode === 'firebase' ? (
        <section aria-labelledby={`${id}-password`} className={SECTION}>
          <h2 id={`${id}-password`} className={H2}>
            {t('settings.password.heading')}
          </h2>
          <p className="mt-2 text-sm text-stone-700 dark:text-stone-300">{t('settings.password.firebase')}</p>
        </section>
      ) : (
        <PasswordForm />
      )}

      <ApiKeys />
      <ScriptsHint />
    </div>
  )
}

function ScriptsHint() {
  const { t } = useTranslation()
  const id = useId()
  const origin = typeof window !== 'undefined' ? window.location.origin : ''
  const example = [
    'curl -H "Authorization: Bearer th_…" \\',
    '     -H "Content-Type: application/json" \\',
    `     -d '{"query": "${t('settings.scripts.exampleQuery')}"}' \\`,
    `     ${origin}/api/smart-search`,
  ].join('\n')
  return (
    <section aria-labelledby={`${id}-scripts`} className={SECTION}>
      <h2 id={`${id}-scripts`} className={H2}>
        {t('settings.scripts.heading')}
      </h2>
      <p className="mt-1 text-sm text-stone-700 dark:text-stone-300">{t('settings.scripts.intro')}</p>
      <pre
        tabIndex={0}
        aria-label={t('settings.scripts.exampleLabel')}
        className="mt-3 overflow-x-auto rounded-md bg-stone-100 p-3 font-mono text-xs text-stone-900 dark:bg-stone-950 dark:text-stone-100"
      >
        <code>{example}</code>
      </pre>
      <p className="mt-2 text-sm text-stone-700 dark:text-stone-300">
        {t('settings.scripts.docs')}{' '}
        <a href="/docs" className="font-medium text-orange-800 underline dark:text-orange-300">
          /docs
        </a>
      </p>
    </section>
  )
}
