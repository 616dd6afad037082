// Dates and language names in the reader's own language.

export function formatDate(iso: string, language: string): string {
  const date = new Date(iso)
  if (Number.isNaN(date.getTime())) return iso
  return new Intl.DateTimeFormat(language, { dateStyle: 'medium' }).format(date)
}

export function formatDateTime(iso: string, language: string): string {
  const date = new Date(iso)
  if (Number.isNaN(date.getTime())) return iso
  return new Intl.DateTimeFormat(language, { dateStyle: 'medium', timeStyle: 'short' }).format(date)
}

// The server names an item's language by its text-search configuration (PostgreSQL snowball names);
// "simple" means it could not tell.
const CONFIG_LANGUAGES: Record<string, string> = {
  arabic: 'ar', armenian: 'hy', basque: 'eu', catalan: 'ca', danish: 'da', dutch: 'nl', english: 'en',
  estonian: 'et', finnish: 'fi', french: 'fr', german: 'de', greek: 'el', hindi: 'hi', hungarian: 'hu',
  indonesian: 'id', irish: 'ga', italian: 'it', lithuanian: 'lt', nepali: 'ne', norwegian: 'no',
  portuguese: 'pt', romanian: 'ro', russian: 'ru', serbian: 'sr', spanish: 'es', swedish: 'sv', tamil: 'ta',
  turkish: 'tr', yiddish: 'yi',
}

/** Returns "English" for "english" or "en" (in the UI's language); null when the language is unknown. */
export function languageName(value: string | null, language: string): string | null {
  if (!value || value === 'simple') return null
  const code = CONFIG_LANGUAGES[value.toLowerCase()] ?? value
  try {
    const name = new Intl.DisplayNames([language], { type: 'language' }).of(code) ?? code
    return name.charAt(0).toLocaleUpperCase(language) + name.slice(1)
  } catch {
    return value
  }
}
