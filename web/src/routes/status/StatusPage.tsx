// The status page (administrators): readiness, circuit breakers, memory and recent ingestion runs,
// refreshed every few seconds.
import { useEffect, useId, useState } from 'react'
import { useTranslation } from 'react-i18next'
import { ApiError } from '../../api/http'
import type { Run, RunStatus } from '../../api/ingest'
import {
  STATUS_POLL_MS,
  useAllRuns,
  useBreakers,
  useMemory,
  useReadiness,
  type Breaker,
  type BreakerStateName,
  type MemoryReport,
  type Readiness,
} from '../../api/ops'
import { ErrorNotice } from '../../components/ErrorNotice'
import { Spinner } from '../../components/Spinner'
import { useSession } from '../../session'
import { StatusBadge, type Tone } from './StatusBadge'
import { formatDateTime, formatMegabytes, formatPercent, formatRelative } from './format'

const CARD = 'rounded-xl border border-stone-200 bg-white p-4 dark:border-stone-800 dark:bg-stone-900'
const H2 = 'text-lg font-semibold text-stone-900 dark:text-stone-100'

export function StatusPage() {
  const { t } = useTranslation()
  const { session } = useSession()

  useEffect(() => {
    document.title = `${t('status.title')} · ${t('app.name')}`
  }, [t])

  if (!session?.user.is_admin) {
    return (
      <div data-testid="status-page">
        <h1 className="text-2xl font-semibold">{t('status.title')}</h1>
        <p role="alert" className="mt-4 rounded-md border border-amber-300 bg-amber-50 p-3 text-amber-950 dark:border-amber-800 dark:bg-amber-950 dark:text-amber-100">
          {t('status.adminsOnly')}
        </p>
      </div>
    )
  }
  return <StatusDashboard />
}

/** The dashboard itself (no session or router needed, so it is tested with a stubbed fetch). */
export function StatusDashboard() {
  const { t, i18n } = useTranslation()
  const readiness = useReadiness()
  const now = useNow()

  return (
    <div data-testid="status-page" className="space-y-6">
      <div className="flex flex-wrap items-end justify-between gap-3">
        <div>
          <h1 className="text-2xl font-semibold">{t('status.title')}</h1>
          <p className="mt-1 text-sm text-stone-600 dark:text-stone-400">
            {t('status.refreshEvery', { seconds: STATUS_POLL_MS / 1000 })}
            {readiness.dataUpdatedAt > 0 && (
              <> {t('status.updatedAt', { time: formatDateTime(new Date(readiness.dataUpdatedAt).toISOString(), 'time', i18n.language) })}</>
            )}
          </p>
        </div>
        <nav aria-label={t('status.linksLabel')} className="flex gap-2 text-sm">
          <a href="/metrics" className="rounded-md border border-stone-300 px-3 py-1.5 font-medium text-orange-900 hover:bg-stone-100 dark:border-stone-700 dark:text-orange-300 dark:hover:bg-stone-800">
            {t('status.metricsLink')}
          </a>
          <a href="/docs" className="rounded-md border border-stone-300 px-3 py-1.5 font-medium text-orange-900 hover:bg-stone-100 dark:border-stone-700 dark:text-orange-300 dark:hover:bg-stone-800">
            {t('status.docsLink')}
          </a>
        </nav>
      </div>
      <div className="grid gap-6 md:grid-cols-2">
        <ReadinessCard readiness={readiness.data} error={readiness.error} pending={readiness.isPending} onRetry={() => void readiness.refetch()} />
        <MemoryCard />
      </div>
      <BreakersCard now={now} />
      <RunsCard />
    </div>
  )
}

/** The current time, ticking each second, so "next probe in 12 s" counts down between polls. */
function useNow(): number {
  const [now, setNow] = useState(() => Date.now())
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), 1000)
    return () => clearInterval(timer)
  }, [])
  return now
}

function checkTone(value: string): Tone {
  if (value === 'ok') return 'good'
  if (value === 'not configured') return 'neutral'
  return value.startsWith('unavailable') ? 'bad' : 'warn'
}

function CheckRow({ label, value }: { label: string; value: string }) {
  const { t } = useTranslation()
  const tone = checkTone(value)
  const words = value === 'ok' ? t('status.check.ok') : value === 'not configured' ? t('status.check.notConfigured') : null
  return (
    <div className="flex flex-wrap items-start justify-between gap-x-3 gap-y-1 py-2">
      <dt className="font-medium">{label}</dt>
      <dd className="min-w-0 text-right">
        <StatusBadge tone={tone}>{words ?? (tone === 'bad' ? t('status.check.unavailable') : t('status.check.other'))}</StatusBadge>
        {words === null && <span className="mt-1 block break-words text-xs text-stone-600 dark:text-stone-400">{value}</span>}
      </dd>
    </div>
  )
}

const READY_TONE: Record<Readiness['status'], Tone> = { ready: 'good', degraded: 'warn', not_ready: 'bad' }

function ReadinessCard(props: { readiness?: Readiness; error: unknown; pending: boolean; onRetry: () => void }) {
  const { t } = useTranslation()
  const headingId = useId()
  const { readiness } = props
  return (
    <section aria-labelledby={headingId} className={CARD}>
      <div className="flex items-center justify-between gap-2">
        <h2 id={headingId} className={H2}>
          {t('status.readiness.heading')}
        </h2>
        {readiness && (
          <StatusBadge tone={READY_TONE[readiness.status]} testId="readiness-status">
            {t(`status.readiness.${readiness.status}`)}
          </StatusBadge>
        )}
      </div>
      {props.pending && <Spinner label={t('app.loading')} />}
      {props.error !== null && !readiness && <div className="mt-3"><ErrorNotice error={props.error} onRetry={props.onRetry} /></div>}
      {readiness && (
        <dl className="mt-2 divide-y divide-stone-200 text-sm dark:divide-stone-800">
          <CheckRow label={t('status.readiness.database')} value={readiness.checks.database} />
          <CheckRow label={t('status.readiness.redis')} value={readiness.checks.redis} />
          {readiness.checks.search_replica !== undefined && (
            <CheckRow label={t('status.readiness.searchReplica')} value={readiness.checks.search_replica} />
          )}
          <div className="flex flex-wrap items-start justify-between gap-x-3 gap-y-1 py-2">
            <dt className="font-medium">{t('status.readiness.queue')}</dt>
            <dd data-testid="queue-depth">
              {readiness.checks.queue === 'unknown'
                ? t('status.readiness.queueUnknown')
                : t('status.readiness.queueDepth', { todo: readiness.checks.queue.todo, doing: readiness.checks.queue.doing })}
            </dd>
          </div>
        </dl>
      )}
    </section>
  )
}

const MEMORY_TONE: Record<MemoryReport['state'], Tone> = { ok: 'good', soft: 'warn', hard: 'bad' }
const MEMORY_BAR: Record<MemoryReport['state'], string> = {
  ok: 'bg-emerald-600 dark:bg-emerald-500',
  soft: 'bg-amber-500 dark:bg-amber-400',
  hard: 'bg-red-600 dark:bg-red-500',
}

function MemoryCard() {
  const { t, i18n } = useTranslation()
  const memory = useMemory()
  const headingId = useId()
  const m = memory.data
  const mb = (bytes: number) => formatMegabytes(bytes, i18n.language)
  return (
    <section aria-labelledby={headingId} className={CARD}>
      <div className="flex items-center justify-between gap-2">
        <h2 id={headingId} className={H2}>
          {t('status.memory.heading')}
        </h2>
        {m && <StatusBadge tone={MEMORY_TONE[m.state]}>{t(`status.memory.state.${m.state}`)}</StatusBadge>}
      </div>
      {memory.isPending && <Spinner label={t('app.loading')} />}
      {memory.isError && !m && <div className="mt-3"><ErrorNotice error={memory.error} onRetry={() => void memory.refetch()} /></div>}
      {m && (
        <>
          <p id={`${headingId}-label`} className="mt-3 text-sm">
            {t('status.memory.summary', { rss: mb(m.rss_bytes), hard: mb(m.hard_limit_bytes) })}
          </p>
          <div
            role="meter"
            aria-labelledby={`${headingId}-label`}
            aria-valuemin={0}
            aria-valuemax={m.hard_limit_bytes}
            aria-valuenow={Math.min(m.rss_bytes, m.hard_limit_bytes)}
            aria-valuetext={t('status.memory.valueText', { rss: mb(m.rss_bytes), soft: mb(m.soft_limit_bytes), hard: mb(m.hard_limit_bytes) })}
            className="relative mt-2 h-4 overflow-hidden rounded-full bg-stone-200 dark:bg-stone-700"
          >
            <div className={`h-full rounded-full ${MEMORY_BAR[m.state]}`} style={{ width: `${Math.min(100, (m.rss_bytes / m.hard_limit_bytes) * 100)}%` }} />
            {/* The soft limit as a tick on the bar. */}
            <div
              aria-hidden="true"
              className="absolute inset-y-0 w-0.5 bg-stone-900 dark:bg-stone-100"
              style={{ left: `${Math.min(100, (m.soft_limit_bytes / m.hard_limit_bytes) * 100)}%` }}
            />
          </div>
          <dl className="mt-3 grid grid-cols-2 gap-x-4 gap-y-1 text-sm">
            <dt className="text-stone-600 dark:text-stone-400">{t('status.memory.rss')}</dt>
            <dd className="text-right tabular-nums">{mb(m.rss_bytes)}</dd>
            <dt className="text-stone-600 dark:text-stone-400">{t('status.memory.soft')}</dt>
            <dd className="text-right tabular-nums">{mb(m.soft_limit_bytes)}</dd>
            <dt className="text-stone-600 dark:text-stone-400">{t('status.memory.hard')}</dt>
            <dd className="text-right tabular-nums">{mb(m.hard_limit_bytes)}</dd>
            <dt className="text-stone-600 dark:text-stone-400">{t('status.memory.streams')}</dt>
            <dd className="text-right tabular-nums">{m.streams_open}</dd>
          </dl>
          <p className="mt-2 text-xs text-stone-600 dark:text-stone-400">{t('status.memory.perWorker')}</p>
        </>
      )}
    </section>
  )
}

const BREAKER_TONE: Record<BreakerStateName, Tone> = { closed: 'good', half_open: 'warn', open: 'bad' }

function BreakersCard({ now }: { now: number }) {
  const { t } = useTranslation()
  const breakers = useBreakers()
  const headingId = useId()
  const data = breakers.data
  return (
    <section aria-labelledby={headingId} className={CARD}>
      <div className="flex flex-wrap items-center justify-between gap-2">
        <h2 id={headingId} className={H2}>
          {t('status.breakers.heading')}
        </h2>
        {data && (
          <span className="text-xs text-stone-600 dark:text-stone-400">
            {data.shared ? t('status.breakers.shared') : t('status.breakers.perWorker')}
          </span>
        )}
      </div>
      <p className="mt-1 text-sm text-stone-600 dark:text-stone-400">{t('status.breakers.intro')}</p>
      {breakers.isPending && <Spinner label={t('app.loading')} />}
      {breakers.isError && !data && <div className="mt-3"><ErrorNotice error={breakers.error} onRetry={() => void breakers.refetch()} /></div>}
      {data && data.breakers.length === 0 && <p className="mt-3 text-sm">{t('status.breakers.none')}</p>}
      {data && data.breakers.length > 0 && (
        <ul data-testid="breaker-list" className="mt-3 grid gap-3 sm:grid-cols-2 lg:grid-cols-3">
          {data.breakers.map((b) => (
            <BreakerItem key={b.operation} breaker={b} now={now} />
          ))}
        </ul>
      )}
    </section>
  )
}

function BreakerItem({ breaker, now }: { breaker: Breaker; now: number }) {
  const { t, i18n } = useTranslation()
  return (
    <li data-testid={`breaker-${breaker.operation}`} className="rounded-lg border border-stone-200 p-3 text-sm dark:border-stone-700">
      <div className="flex items-center justify-between gap-2">
        <span className="break-all font-mono font-medium">{breaker.operation}</span>
        <StatusBadge tone={BREAKER_TONE[breaker.state]} testId="breaker-state">
          {t(`status.breakers.state.${breaker.state}`)}
        </StatusBadge>
      </div>
      <dl className="mt-2 grid grid-cols-[auto_1fr] gap-x-3 gap-y-1">
        <dt className="text-stone-600 dark:text-stone-400">{t('status.breakers.failureRate')}</dt>
        <dd className="text-right tabular-nums">
          {breaker.calls_in_window === 0 ? t('status.breakers.noCalls') : t('status.breakers.failures', {
            rate: formatPercent(breaker.failure_rate, i18n.language),
            failures: breaker.failures_in_window,
            calls: breaker.calls_in_window,
          })}
        </dd>
        <dt className="text-stone-600 dark:text-stone-400">{t('status.breakers.openedAt')}</dt>
        <dd className="text-right">{breaker.opened_at ? formatDateTime(breaker.opened_at, 'time', i18n.language) : '—'}</dd>
        <dt className="text-stone-600 dark:text-stone-400">{t('status.breakers.nextProbe')}</dt>
        <dd className="text-right">
          {breaker.next_probe_at ? (
            <time dateTime={breaker.next_probe_at} title={formatDateTime(breaker.next_probe_at, 'full', i18n.language)}>
              {formatRelative(breaker.next_probe_at, now, i18n.language)}
            </time>
          ) : (
            '—'
          )}
        </dd>
      </dl>
    </li>
  )
}

const RUN_TONE: Record<RunStatus, Tone> = {
  queued: 'neutral',
  running: 'info',
  succeeded: 'good',
  completed_with_errors: 'warn',
  failed: 'bad',
}

function RunsCard() {
  const { t } = useTranslation()
  const runs = useAllRuns(20)
  const headingId = useId()
  const missing = runs.error instanceof ApiError && (runs.error.status === 404 || runs.error.status === 403)
  return (
    <section aria-labelledby={headingId} className={CARD}>
      <h2 id={headingId} className={H2}>
        {t('status.runs.heading')}
      </h2>
      {runs.isPending && <Spinner label={t('app.loading')} />}
      {missing && (
        <p className="mt-3 text-sm text-stone-700 dark:text-stone-300">
          {(runs.error as ApiError).status === 403 ? t('status.runs.forbidden') : t('status.runs.unavailable')}
        </p>
      )}
      {runs.isError && !missing && !runs.data && <div className="mt-3"><ErrorNotice error={runs.error} onRetry={() => void runs.refetch()} /></div>}
      {runs.data && runs.data.runs.length === 0 && <p className="mt-3 text-sm">{t('status.runs.none')}</p>}
      {runs.data && runs.data.runs.length > 0 && (
        <ul data-testid="run-list" className="mt-3 divide-y divide-stone-200 dark:divide-stone-800">
          {runs.data.runs.map((run) => (
            <RunItem key={run.id} run={run} />
          ))}
        </ul>
      )}
    </section>
  )
}

function RunItem({ run }: { run: Run }) {
  const { t, i18n } = useTranslation()
  return (
    <li className="py-3 text-sm">
      <div className="flex flex-wrap items-center justify-between gap-2">
        <span className="min-w-0 break-words font-medium">{run.label}</span>
        <StatusBadge tone={RUN_TONE[run.status] ?? 'neutral'}>{t(`status.runs.state.${run.status}`, { defaultValue: run.status })}</StatusBadge>
      </div>
      <p className="mt-1 text-stone-600 dark:text-stone-400">
        {t('status.runs.files', { done: run.files_done, total: run.files_total, failed: run.files_failed })}
        {' · '}
        {t('status.runs.chunks', { count: run.chunks_written })}
        {' · '}
        <time dateTime={run.created_at}>{formatDateTime(run.created_at, 'short', i18n.language)}</time>
      </p>
      {run.errors.length > 0 && (
        <details className="mt-2">
          <summary className="cursor-pointer font-medium text-red-800 dark:text-red-300">
            {t('status.runs.errors', { count: run.errors.length })}
          </summary>
          <ul className="mt-2 space-y-1 pl-4">
            {run.errors.map((error, index) => (
              <li key={`${error.file}-${index}`} className="break-words">
                <span className="font-mono">{error.file}</span>: {error.message}{' '}
                <span className="text-stone-600 dark:text-stone-400">({error.code})</span>
              </li>
            ))}
          </ul>
        </details>
      )}
    </li>
  )
}
