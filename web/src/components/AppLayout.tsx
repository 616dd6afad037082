// The frame of every signed-in page: skip link, navigation, language and theme switches, sign-out.
import { useEffect } from 'react'
import { Link, Navigate, Outlet, useRouterState } from '@tanstack/react-router'
import { useTranslation } from 'react-i18next'
import { useSession } from '../session'
import { LanguageSwitch } from './LanguageSwitch'
import { Spinner } from './Spinner'
import { ThemeToggle } from './ThemeToggle'

const NAV = [
  { to: '/library', key: 'library' },
  { to: '/add', key: 'add' },
  { to: '/search', key: 'search' },
  { to: '/ask', key: 'ask' },
  { to: '/analytics', key: 'analytics' },
] as const

export function AppLayout() {
  const { t } = useTranslation()
  const { session, loading, signOut } = useSession()
  const location = useRouterState({ select: (s) => s.location })

  useEffect(() => {
    document.title = t('app.name')
  }, [t])

  if (loading) return <Spinner label={t('app.loading')} fullPage />
  if (!session) {
    // While the lazy sign-in page loads, this layout still renders with the new location: navigating
    // again from there would nest /signin?redirect=… inside itself without end.
    if (location.pathname === '/signin') return null
    return <Navigate to="/signin" search={{ redirect: location.href }} replace />
  }

  const nav = session.user.is_admin ? [...NAV, { to: '/status', key: 'status' } as const] : NAV
  const name = session.user.username ?? session.user.uid

  return (
    <div className="min-h-screen">
      <a
        href="#main"
        className="sr-only focus:not-sr-only focus:absolute focus:left-2 focus:top-2 focus:z-50 focus:rounded focus:bg-amber-100 focus:px-3 focus:py-2 focus:text-stone-900"
      >
        {t('app.skipToContent')}
      </a>
      <header className="border-b border-stone-200 bg-white/80 backdrop-blur dark:border-stone-800 dark:bg-stone-900/80">
        <div className="mx-auto flex max-w-6xl flex-wrap items-center gap-x-4 gap-y-2 px-4 py-3">
          <Link to="/library" className="flex items-center gap-2 text-lg font-semibold text-orange-900 dark:text-orange-300">
            <img src="/favicon.svg" alt="" className="h-6 w-6" />
            {t('app.name')}
          </Link>
          <nav aria-label={t('app.mainNav')} className="order-3 w-full sm:order-none sm:w-auto">
            <ul className="flex flex-wrap gap-1">
              {[...nav, { to: '/settings', key: 'settings' } as const].map((entry) => (
                <li key={entry.to}>
                  <Link
                    to={entry.to}
                    className="block rounded-md px-3 py-1.5 text-sm font-medium text-stone-700 hover:bg-stone-100 dark:text-stone-300 dark:hover:bg-stone-800"
                    activeProps={{
                      className: 'bg-orange-100 text-orange-950 dark:bg-orange-950 dark:text-orange-100',
                      'aria-current': 'page',
                    }}
                  >
                    {t(`app.nav.${entry.key}`)}
                  </Link>
                </li>
              ))}
            </ul>
          </nav>
          <div className="ml-auto flex items-center gap-2 text-sm">
            <LanguageSwitch />
            <ThemeToggle />
            <span className="hidden text-stone-600 md:inline dark:text-stone-400" title={t('app.signedInAs', { name })}>
              {name}
            </span>
            <button
              type="button"
              onClick={() => void signOut()}
              className="rounded-md px-2 py-1 font-medium text-stone-700 hover:bg-stone-100 dark:text-stone-300 dark:hover:bg-stone-800"
            >
              {t('app.signOut')}
            </button>
          </div>
        </div>
      </header>
      <main id="main" tabIndex={-1} className="mx-auto max-w-6xl px-4 py-6 focus:outline-none">
        <Outlet />
      </main>
    </div>
  )
}
