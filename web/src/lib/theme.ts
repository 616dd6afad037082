// Light or dark, remembered per browser; the class on <html> drives Tailwind's `dark:` variant.
export type Theme = 'light' | 'dark'
const STORAGE_KEY = 'tomehub.theme'

export function currentTheme(): Theme {
  return document.documentElement.classList.contains('dark') ? 'dark' : 'light'
}

export function setTheme(theme: Theme): void {
  document.documentElement.classList.toggle('dark', theme === 'dark')
  try {
    localStorage.setItem(STORAGE_KEY, theme)
  } catch {
    // Not remembered, still switched.
  }
}
