export function Spinner({ label, fullPage = false }: { label: string; fullPage?: boolean }) {
  return (
    <div role="status" className={fullPage ? 'flex min-h-screen items-center justify-center' : 'flex items-center gap-2 py-4'}>
      <span
        aria-hidden="true"
        className="inline-block h-5 w-5 animate-spin rounded-full border-2 border-stone-300 border-t-orange-700"
      />
      <span className={fullPage ? 'sr-only' : 'text-sm text-stone-600 dark:text-stone-400'}>{label}</span>
    </div>
  )
}
