import { QueryClient, QueryClientProvider } from '@tanstack/react-query'
import { render, screen, within } from '@testing-library/react'
import type { BreakerList, MemoryReport, Readiness } from '../../api/ops'
import i18n from '../../i18n'
import { StatusDashboard } from './StatusPage'

const json = (body: unknown, status = 200) =>
  new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } })

const ready: Readiness = {
  status: 'degraded',
  checks: {
    database: 'ok',
    queue: { todo: 4, doing: 1 },
    redis: 'not configured',
    breakers: { embed: 'open', generate: 'closed' },
  },
}

const breakers: BreakerList = {
  shared: false,
  breakers: [
    {
      operation: 'embed',
      state: 'open',
      calls_in_window: 20,
      failures_in_window: 15,
      failure_rate: 0.75,
      opened_at: '2025-01-02T10:00:00+00:00',
      next_probe_at: new Date(Date.now() + 30_000).toISOString(),
    },
    {
      operation: 'generate',
      state: 'closed',
      calls_in_window: 10,
      failures_in_window: 0,
      failure_rate: 0,
      opened_at: null,
      next_probe_at: null,
    },
    {
      operation: 'judge',
      state: 'half_open',
      calls_in_window: 2,
      failures_in_window: 1,
      failure_rate: 0.5,
      opened_at: '2025-01-02T10:00:00+00:00',
      next_probe_at: null,
    },
  ],
}

const memory: MemoryReport = {
  state: 'ok',
  rss_bytes: 350 * 1024 * 1024,
  soft_limit_bytes: 700 * 1024 * 1024,
  hard_limit_bytes: 1000 * 1024 * 1024,
  streams_open: 2,
}

function stubOps(runs: Response) {
  vi.stubGlobal(
    'fetch',
    vi.fn(async (url: string) => {
      if (url === '/api/health/ready') return json(ready)
      if (url === '/api/health/circuit-breakers') return json(breakers)
      if (url === '/api/health/memory') return json(memory)
      if (url.startsWith('/api/ingest/runs')) return runs
      return json({ error: { code: 'not_found', message: 'Not found' } }, 404)
    }),
  )
}

function renderDashboard() {
  const client = new QueryClient({ defaultOptions: { queries: { retry: false } } })
  return render(
    <QueryClientProvider client={client}>
      <StatusDashboard />
    </QueryClientProvider>,
  )
}

describe('StatusDashboard', () => {
  beforeAll(() => i18n.changeLanguage('en'))
  afterEach(() => vi.unstubAllGlobals())

  it('lists every breaker with its state in words, failure rate and probe time', async () => {
    stubOps(json({ error: { code: 'not_found', message: 'Not found' } }, 404))
    renderDashboard()

    const list = await screen.findByTestId('breaker-list')
    const items = within(list).getAllByRole('listitem')
    expect(items).toHaveLength(3)

    const embed = within(list).getByTestId('breaker-embed')
    expect(within(embed).getByTestId('breaker-state').textContent).toContain('Open (failing)')
    expect(within(embed).getByTestId('breaker-state').getAttribute('data-tone')).toBe('bad')
    expect(embed.textContent).toContain('75% (15 of 20 calls)')
    expect(within(embed).getByText(/in \d+ seconds/)).toBeTruthy()

    expect(within(list).getByTestId('breaker-generate').textContent).toContain('Closed (healthy)')
    expect(within(list).getByTestId('breaker-judge').textContent).toContain('Half-open (probing)')
    expect(screen.getByText('State kept by each worker')).toBeTruthy()
  })

  it('shows readiness, the queue depth and memory as a labelled meter', async () => {
    stubOps(json({ runs: [] }))
    renderDashboard()

    expect((await screen.findByTestId('readiness-status')).textContent).toContain('Degraded')
    expect(screen.getByTestId('queue-depth').textContent).toContain('4 waiting, 1 running')
    expect(screen.getByText('Not configured')).toBeTruthy()

    const meter = await screen.findByRole('meter')
    expect(meter.getAttribute('aria-valuenow')).toBe(String(memory.rss_bytes))
    expect(meter.getAttribute('aria-valuemax')).toBe(String(memory.hard_limit_bytes))
    expect(meter.getAttribute('aria-valuetext')).toMatch(/350.*700.*1,000/)
    expect(await screen.findByText('No imports yet.')).toBeTruthy()
  })

  it('says the run history is not there yet when the route answers 404', async () => {
    stubOps(json({ error: { code: 'not_found', message: 'Not found' } }, 404))
    renderDashboard()
    expect(await screen.findByText(/not available from this server yet/)).toBeTruthy()
  })

  it('lists recent runs with their file errors', async () => {
    stubOps(
      json({
        runs: [
          {
            id: 'r1', label: 'books.zip', status: 'completed_with_errors', files_total: 3, files_done: 2, files_failed: 1,
            chunks_written: 120, passages_reused: 0, passages_embedded: 120, passages_pending_embedding: 0, progress: 1,
            errors: [{ file: 'locked.pdf', code: 'encrypted_document', message: 'The PDF is encrypted.' }],
            item_ids: [], created_at: '2025-01-02T10:00:00Z', started_at: null, finished_at: null,
          },
        ],
      }),
    )
    renderDashboard()
    const runs = await screen.findByTestId('run-list')
    expect(runs.textContent).toContain('books.zip')
    expect(runs.textContent).toContain('Finished with errors')
    expect(runs.textContent).toContain('2 of 3 files done, 1 failed')
    expect(runs.textContent).toContain('1 file error')
    expect(within(runs).getByText('locked.pdf')).toBeTruthy()
  })
})
