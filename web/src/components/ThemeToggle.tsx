// The light/dark switch: shown in the app header and on the sign-in page.
import { useState } from 'react'
import { useTranslation } from 'react-i18next'
import { currentTheme, setTheme, type Theme } from '../lib/theme'

export function ThemeToggle() {
  const { t } = useTranslation()
  const [theme, setThemeState] = useState<Theme>(() => currentTheme())
  const next: Theme = theme === 'dark' ? 'light' : 'dark'
  return (
    <button
      type="button"
      data-testid="theme-toggle"
      onClick={() => {
        setTheme(next)
        setThemeState(next)
      }}
      aria-label={`${t('app.theme.label')}: ${t(`app.theme.${next}`)}`}
      title={`${t('app.theme.label')}: ${t(`app.theme.${next}`)}`}
      className="rounded-md border border-stone-300 px-2 py-1 text-sm dark:border-stone-700"
    >
      <span aria-hidden="true">{theme === 'dark' ? '☀' : '☾'}</span>
    </button>
  )
}
