import { ApiError } from '../../api/http'
import type { Run } from '../../api/ingest'
import { FakeClock } from './fakeClock'
import { makeRun } from './testRuns'
import { RunPoller } from './runPoller'

/** A server whose runs move along a script: each poll of a run returns its next state. */
function server(scripts: Record<string, Partial<Run>[]>) {
  const calls: { kind: 'one' | 'list'; at: number; id?: string }[] = []
  const step = new Map<string, number>()
  const current = (id: string): Run => {
    const script = scripts[id]!
    const i = Math.min(step.get(id) ?? 0, script.length - 1)
    return makeRun({ id, ...script[i] })
  }
  const advance = (id: string) => step.set(id, (step.get(id) ?? 0) + 1)
  return {
    calls,
    fetchRun: async (id: string) => {
      calls.push({ kind: 'one', at: clock.now(), id })
      const run = current(id)
      advance(id)
      return run
    },
    fetchRuns: async () => {
      calls.push({ kind: 'list', at: clock.now() })
      const runs = Object.keys(scripts).map(current)
      Object.keys(scripts).forEach(advance)
      return runs
    },
  }
}

let clock: FakeClock

beforeEach(() => {
  clock = new FakeClock()
})

describe('RunPoller', () => {
  it('polls a run every second while it moves and stops when it ends', async () => {
    const s = server({ r1: [{ status: 'queued' }, { status: 'running' }, { status: 'running', passages_pending_embedding: 3 }, { status: 'succeeded' }] })
    const seen: string[] = []
    const poller = new RunPoller({ clock, fetchRun: s.fetchRun, onRun: (run) => seen.push(run.status) })
    poller.watch('r1')
    await clock.run(() => poller.size === 0)
    expect(seen).toEqual(['queued', 'running', 'running', 'succeeded'])
    expect(s.calls.map((c) => c.at)).toEqual([1000, 2000, 3000, 4000])
    await clock.advance(30_000)
    expect(s.calls).toHaveLength(4)
  })

  it('backs off while nothing changes', async () => {
    const waiting = Array.from({ length: 6 }, () => ({ status: 'queued' as const }))
    const s = server({ r1: [...waiting, { status: 'succeeded' }] })
    const poller = new RunPoller({ clock, fetchRun: s.fetchRun, onRun: () => {}, maxIntervalMs: 4000 })
    poller.watch('r1')
    await clock.run(() => poller.size === 0)
    const gaps = s.calls.slice(1).map((c, i) => c.at - s.calls[i]!.at)
    // The first answer is news (1 s); then nothing moves and the wait grows to the cap.
    expect(gaps).toEqual([1000, 1500, 2250, 3375, 4000, 4000])
  })

  it('asks once for many runs instead of once per run', async () => {
    const scripts: Record<string, Partial<Run>[]> = {}
    for (let i = 0; i < 50; i++) scripts[`r${i}`] = [{ status: 'queued' }, { status: 'running' }, { status: 'succeeded' }]
    const s = server(scripts)
    const done = new Set<string>()
    const poller = new RunPoller({
      clock,
      fetchRun: s.fetchRun,
      fetchRuns: s.fetchRuns,
      onRun: (run) => run.status === 'succeeded' && done.add(run.id),
    })
    for (const id of Object.keys(scripts)) poller.watch(id)
    await clock.run(() => poller.size === 0)
    expect(done.size).toBe(50)
    expect(s.calls.every((c) => c.kind === 'list')).toBe(true)
    expect(s.calls).toHaveLength(3)
  })

  it('waits a 429’s Retry-After and forgets a run that is gone', async () => {
    let refused = false
    const calls: number[] = []
    const lost: string[] = []
    const poller = new RunPoller({
      clock,
      fetchRun: async (id) => {
        calls.push(clock.now())
        if (id === 'gone') throw new ApiError(404, 'not_found', 'No such run', null)
        if (!refused) {
          refused = true
          throw new ApiError(429, 'rate_limited', 'Slow down', 5)
        }
        return makeRun({ id, status: 'succeeded' })
      },
      onRun: () => {},
      onLost: (id) => lost.push(id),
    })
    poller.watch('r1')
    await clock.run(() => poller.size === 0)
    expect(calls).toEqual([1000, 6000])
    poller.watch('gone')
    await clock.run(() => poller.size === 0)
    expect(lost).toEqual(['gone'])
  })

  it('stops on close', async () => {
    const s = server({ r1: [{ status: 'queued' }] })
    const poller = new RunPoller({ clock, fetchRun: s.fetchRun, onRun: () => {} })
    poller.watch('r1')
    await clock.advance(1500)
    poller.close()
    await clock.advance(60_000)
    expect(s.calls).toHaveLength(1)
  })
})
