import { ApiError } from '../../api/http'
import { FakeClock } from './fakeClock'
import { TokenBucket, UploadQueue, retryDelayS, type UploadEvent } from './uploadQueue'

interface Job {
  id: string
}

const jobs = (n: number): Job[] => Array.from({ length: n }, (_, i) => ({ id: `f${i}` }))

/** A fake server: each upload takes `latencyMs`; `answer` may throw to refuse one attempt. */
function harness(options: { latencyMs?: number; answer?: (job: Job, attempt: number, now: number) => void } = {}) {
  const clock = new FakeClock()
  const events: UploadEvent<string>[] = []
  const starts: { id: string; at: number }[] = []
  const attempts = new Map<string, number>()
  let inFlight = 0
  let maxInFlight = 0
  const queue = new UploadQueue<Job, string>({
    clock,
    onEvent: (event) => events.push(event),
    send: async (job, signal) => {
      const attempt = (attempts.get(job.id) ?? 0) + 1
      attempts.set(job.id, attempt)
      starts.push({ id: job.id, at: clock.now() })
      inFlight++
      maxInFlight = Math.max(maxInFlight, inFlight)
      try {
        await clock.sleep(options.latencyMs ?? 300, signal)
        options.answer?.(job, attempt, clock.now())
        return `run-${job.id}`
      } finally {
        inFlight--
      }
    },
  })
  return {
    clock,
    queue,
    events,
    starts,
    attempts,
    maxInFlight: () => maxInFlight,
    finished: (type: UploadEvent<string>['type']) => events.filter((e) => e.type === type).map((e) => e.id),
  }
}

function maxStartsPerSecond(starts: { at: number }[]): number {
  let most = 0
  for (const start of starts) {
    most = Math.max(most, starts.filter((s) => s.at >= start.at && s.at <= start.at + 1000).length)
  }
  return most
}

describe('TokenBucket', () => {
  it('hands out reservations spaced by the rate once the burst is spent', () => {
    const clock = new FakeClock()
    const bucket = new TokenBucket(8, 1, clock)
    expect(bucket.reserve()).toBe(0)
    expect(bucket.reserve()).toBe(125)
    expect(bucket.reserve()).toBe(250)
  })

  it('refills with time', async () => {
    const clock = new FakeClock()
    const bucket = new TokenBucket(8, 2, clock)
    bucket.reserve()
    bucket.reserve()
    await clock.advance(250)
    expect(bucket.reserve()).toBe(0)
    expect(bucket.reserve()).toBe(0)
    expect(bucket.reserve()).toBe(125)
  })
})

describe('retryDelayS', () => {
  const limits = { busy: 5, network: 3 }
  it('waits the Retry-After of a 429 or 503, never less than a second', () => {
    expect(retryDelayS(new ApiError(429, 'rate_limited', 'slow', 7), 1, limits)).toBe(7)
    expect(retryDelayS(new ApiError(503, 'unavailable', 'busy', 0), 1, limits)).toBe(1)
    expect(retryDelayS(new ApiError(503, 'unavailable', 'busy', null), 3, limits)).toBe(8)
  })
  it('gives up on final errors and after the last attempt', () => {
    expect(retryDelayS(new ApiError(415, 'unsupported_type', 'no', null), 1, limits)).toBeNull()
    expect(retryDelayS(new ApiError(429, 'rate_limited', 'slow', 1), 5, limits)).toBeNull()
    expect(retryDelayS(new TypeError('Failed to fetch'), 1, limits)).toBe(2)
    expect(retryDelayS(new TypeError('Failed to fetch'), 3, limits)).toBeNull()
  })
})

describe('UploadQueue', () => {
  it('uploads 50 files with at most 2 in flight and at most 8 starts a second', async () => {
    const h = harness({ latencyMs: 50 })
    h.queue.add(jobs(50))
    await h.clock.run(() => h.queue.pending === 0)
    expect(h.finished('accepted')).toHaveLength(50)
    expect(h.maxInFlight()).toBeLessThanOrEqual(2)
    expect(maxStartsPerSecond(h.starts)).toBeLessThanOrEqual(8)
    // Files go up in the order they were dropped.
    expect(h.starts.map((s) => s.id)).toEqual(jobs(50).map((j) => j.id))
  })

  it('waits out every 429 for its Retry-After, all uploads together, then retries', async () => {
    const refusedAt: number[] = []
    const h = harness({
      answer: (job, attempt, now) => {
        // The server refuses f7 and f20 the first time with "come back in 3 s".
        if ((job.id === 'f7' || job.id === 'f20') && attempt === 1) {
          refusedAt.push(now)
          throw new ApiError(429, 'rate_limited', 'Too many uploads', 3)
        }
      },
    })
    h.queue.add(jobs(50))
    await h.clock.run(() => h.queue.pending === 0)
    expect(h.finished('accepted')).toHaveLength(50)
    expect(h.finished('failed')).toEqual([])
    expect(h.attempts.get('f7')).toBe(2)
    expect(h.attempts.get('f20')).toBe(2)
    expect(refusedAt).toHaveLength(2)
    for (const at of refusedAt) {
      // Nothing was sent while the server asked us to wait.
      expect(h.starts.filter((s) => s.at > at && s.at < at + 3000)).toEqual([])
    }
    const retrying = h.events.filter((e) => e.type === 'retrying')
    expect(retrying.map((e) => e.id)).toEqual(['f7', 'f20'])
    expect(retrying.every((e) => e.type === 'retrying' && e.seconds === 3 && e.until === refusedAt[retrying.indexOf(e)]! + 3000)).toBe(true)
    expect(h.maxInFlight()).toBeLessThanOrEqual(2)
  })

  it('keeps waiting while the server keeps saying busy, and gives up in the end', async () => {
    const h = harness({
      answer: (job) => {
        if (job.id === 'f1') throw new ApiError(503, 'unavailable', 'Busy', 2)
      },
    })
    h.queue.add(jobs(3))
    await h.clock.run(() => h.queue.pending === 0)
    expect(h.attempts.get('f1')).toBe(10)
    expect(h.finished('failed')).toEqual(['f1'])
    expect(h.finished('accepted').sort()).toEqual(['f0', 'f2'])
    // Each retry came at least the Retry-After after the refusal before it.
    const f1 = h.starts.filter((s) => s.id === 'f1').map((s) => s.at)
    for (let i = 1; i < f1.length; i++) expect(f1[i]! - f1[i - 1]!).toBeGreaterThanOrEqual(300 + 2000)
  })

  it('goes on with the other files when one fails', async () => {
    const h = harness({
      answer: (job) => {
        if (job.id === 'f3') throw new ApiError(415, 'unsupported_type', 'Not a document', null)
        if (job.id === 'f10') throw new ApiError(413, 'payload_too_large', 'Too large', null)
      },
    })
    h.queue.add(jobs(20))
    await h.clock.run(() => h.queue.pending === 0)
    expect(h.finished('failed').sort()).toEqual(['f10', 'f3'])
    expect(h.finished('accepted')).toHaveLength(18)
    expect(h.attempts.get('f3')).toBe(1)
    const failed = h.events.find((e) => e.type === 'failed' && e.id === 'f3')
    expect(failed?.type === 'failed' && failed.error instanceof ApiError && failed.error.code).toBe('unsupported_type')
  })

  it('retries a network failure a few times with backoff', async () => {
    const h = harness({
      answer: (job, attempt) => {
        if (job.id === 'f0' && attempt < 3) throw new TypeError('Failed to fetch')
      },
    })
    h.queue.add(jobs(1))
    await h.clock.run(() => h.queue.pending === 0)
    expect(h.finished('accepted')).toEqual(['f0'])
    expect(h.attempts.get('f0')).toBe(3)
  })

  it('drops a waiting file on cancel and stops everything on close', async () => {
    const h = harness()
    h.queue.add(jobs(5))
    h.queue.cancel('f4')
    expect(h.finished('cancelled')).toEqual(['f4'])
    await h.clock.advance(310)
    h.queue.close()
    await h.clock.run()
    expect(h.queue.pending).toBe(0)
    expect(h.starts.length).toBeLessThanOrEqual(3)
    expect(h.finished('accepted').length).toBeLessThanOrEqual(2)
  })
})
