import { Link } from '@tanstack/react-router'
import { useTranslation } from 'react-i18next'

export function NotFound() {
  const { t } = useTranslation()
  return (
    <main className="mx-auto max-w-xl px-4 py-16 text-center">
      <h1 className="text-xl font-semibold">{t('app.notFound')}</h1>
      <Link to="/library" className="mt-4 inline-block text-orange-800 underline dark:text-orange-300">
        {t('app.backHome')}
      </Link>
    </main>
  )
}
