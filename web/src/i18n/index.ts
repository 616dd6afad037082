// Every visible string comes from these catalogs; the language is remembered per browser.
import i18n from 'i18next'
import { initReactI18next } from 'react-i18next'
import en from './en.json'
import tr from './tr.json'

export const LANGUAGES = ['en', 'tr'] as const
export type Language = (typeof LANGUAGES)[number]
const STORAGE_KEY = 'tomehub.lang'

function initialLanguage(): Language {
  try {
    const saved = localStorage.getItem(STORAGE_KEY)
    if (saved === 'en' || saved === 'tr') return saved
  } catch {
    // Storage may be blocked; fall back to the browser's language.
  }
  return typeof navigator !== 'undefined' && navigator.language.toLowerCase().startsWith('tr') ? 'tr' : 'en'
}

export function setLanguage(language: Language): void {
  try {
    localStorage.setItem(STORAGE_KEY, language)
  } catch {
    // Not remembered, still switched.
  }
  void i18n.changeLanguage(language)
  document.documentElement.lang = language
}

void i18n.use(initReactI18next).init({
  resources: { en: { translation: en }, tr: { translation: tr } },
  lng: initialLanguage(),
  fallbackLng: 'en',
  interpolation: { escapeValue: false },
  returnNull: false,
})
if (typeof document !== 'undefined') document.documentElement.lang = i18n.language

export default i18n
