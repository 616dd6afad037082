// Shared looks of the settings page's sections and controls.
export const SECTION = 'rounded-xl border border-stone-200 bg-white p-4 sm:p-6 dark:border-stone-800 dark:bg-stone-900'
export const H2 = 'text-lg font-semibold text-stone-900 dark:text-stone-100'
export const INPUT =
  'mt-1 block w-full rounded-md border border-stone-300 bg-white px-3 py-2 text-stone-900 placeholder:text-stone-500 dark:border-stone-600 dark:bg-stone-950 dark:text-stone-100'
export const PRIMARY =
  'rounded-md bg-orange-800 px-4 py-2 font-medium text-white hover:bg-orange-900 disabled:cursor-not-allowed disabled:bg-stone-400 disabled:text-stone-900 dark:bg-orange-700 dark:hover:bg-orange-600 dark:disabled:bg-stone-700 dark:disabled:text-stone-300'
export const BUTTON =
  'rounded-md border border-stone-300 bg-white px-3 py-2 text-sm font-medium text-stone-900 hover:bg-stone-100 disabled:opacity-60 dark:border-stone-600 dark:bg-stone-900 dark:text-stone-100 dark:hover:bg-stone-800'
export const DANGER =
  'rounded-md bg-red-700 px-3 py-2 text-sm font-medium text-white hover:bg-red-800 disabled:opacity-60 dark:bg-red-600 dark:hover:bg-red-500'

export function formatDate(iso: string, language: string): string {
  const date = new Date(iso)
  return Number.isNaN(date.getTime()) ? iso : new Intl.DateTimeFormat(language, { dateStyle: 'medium' }).format(date)
}
