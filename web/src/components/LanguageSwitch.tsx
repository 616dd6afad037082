// The language select: shown in the app header and on the sign-in page (never both at once, so one id).
import { useTranslation } from 'react-i18next'
import { LANGUAGES, setLanguage, type Language } from '../i18n'

const NAMES: Record<Language, string> = { en: 'English', tr: 'Türkçe' }

export function LanguageSwitch() {
  const { t, i18n } = useTranslation()
  return (
    <>
      <label className="sr-only" htmlFor="language-switch">
        {t('app.language')}
      </label>
      <select
        id="language-switch"
        data-testid="language-switch"
        value={i18n.language}
        onChange={(e) => setLanguage(e.target.value as Language)}
        className="rounded-md border border-stone-300 bg-white px-2 py-1 text-sm dark:border-stone-700 dark:bg-stone-900"
      >
        {LANGUAGES.map((lang) => (
          <option key={lang} value={lang} lang={lang}>
            {NAMES[lang]}
          </option>
        ))}
      </select>
    </>
  )
}
