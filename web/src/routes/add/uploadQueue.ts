// The upload queue of the Add page: many files dropped at once go up at most `maxInFlight` at a time,
// paced by a token bucket under the server's ingest rate limit, and every 429/503 is waited out for
// its Retry-After (by every upload, not just the one that met it) before anything is sent again.
// No I/O and no timers of its own: the clock is injected, so the pacing is tested without sleeping.
import { ApiError, sleep } from '../../api/http'

export interface Clock {
  now(): number
  sleep(ms: number, signal?: AbortSignal): Promise<void>
}

export const realClock: Clock = { now: () => Date.now(), sleep }

/**
 * A token bucket that hands out reservations: `reserve()` takes a token now and returns how many
 * milliseconds its holder must wait before using it (0 when one was available), so concurrent
 * callers queue up behind each other instead of racing.
 */
export class TokenBucket {
  private tokens: number
  private updatedAt: number

  constructor(
    private readonly ratePerS: number,
    private readonly capacity: number,
    private readonly clock: Clock,
  ) {
    this.tokens = capacity
    this.updatedAt = clock.now()
  }

  reserve(): number {
    const now = this.clock.now()
    this.tokens = Math.min(this.capacity, this.tokens + ((now - this.updatedAt) * this.ratePerS) / 1000)
    this.updatedAt = now
    this.tokens -= 1
    return this.tokens >= 0 ? 0 : Math.ceil((-this.tokens * 1000) / this.ratePerS)
  }
}

export type UploadEvent<R> =
  | { type: 'uploading'; id: string; attempt: number }
  | { type: 'retrying'; id: string; seconds: number; until: number; error: unknown }
  | { type: 'accepted'; id: string; result: R }
  | { type: 'failed'; id: string; error: unknown }
  | { type: 'cancelled'; id: string }

export interface UploadQueueOptions<J extends { id: string }, R> {
  send: (job: J, signal: AbortSignal) => Promise<R>
  onEvent: (event: UploadEvent<R>) => void
  clock?: Clock
  /** Uploads on the wire at once (a waiting retry keeps its slot). */
  maxInFlight?: number
  /**
   * Upload starts per second, refilled continuously; with `burst` 1 no window of one second holds more
   * than ratePerS + 1 starts: 8 by default, under the server's per-user ingest limit (10/s).
   */
  ratePerS?: number
  burst?: number
  /** Attempts per file when the server keeps answering busy. */
  maxBusyAttempts?: number
  /** Attempts per file when the network fails (no answer at all). */
  maxNetworkAttempts?: number
}

/** Seconds to wait before trying again, or null when the error is final. */
export function retryDelayS(error: unknown, attempt: number, limits: { busy: number; network: number }): number | null {
  if (error instanceof ApiError) {
    if (!error.retryable || attempt >= limits.busy) return null
    // Never sooner than a second; without a Retry-After, back off exponentially.
    return Math.max(1, error.retryAfterS ?? Math.min(60, 2 ** attempt))
  }
  // fetch rejects with a TypeError when the network fails: worth a few patient retries.
  if (error instanceof TypeError && attempt < limits.network) return Math.min(30, 2 ** attempt)
  return null
}

function isAbort(error: unknown): boolean {
  return error instanceof DOMException && error.name === 'AbortError'
}

export class UploadQueue<J extends { id: string }, R> {
  private readonly waiting: J[] = []
  private readonly running = new Map<string, AbortController>()
  private readonly closed = new AbortController()
  private readonly bucket: TokenBucket
  private readonly clock: Clock
  private readonly maxInFlight: number
  private readonly limits: { busy: number; network: number }
  private pausedUntil = 0
  private idleWaiters: (() => void)[] = []

  constructor(private readonly options: UploadQueueOptions<J, R>) {
    this.clock = options.clock ?? realClock
    this.maxInFlight = options.maxInFlight ?? 2
    this.bucket = new TokenBucket(options.ratePerS ?? 7, options.burst ?? 1, this.clock)
    this.limits = { busy: options.maxBusyAttempts ?? 10, network: options.maxNetworkAttempts ?? 3 }
  }

  /** Files waiting or on their way. */
  get pending(): number {
    return this.waiting.length + this.running.size
  }

  add(jobs: J[]): void {
    if (this.closed.signal.aborted) return
    this.waiting.push(...jobs)
    this.pump()
  }

  /** Drops a waiting file, or aborts one on its way. */
  cancel(id: string): void {
    const index = this.waiting.findIndex((job) => job.id === id)
    if (index >= 0) {
      this.waiting.splice(index, 1)
      this.options.onEvent({ type: 'cancelled', id })
      this.settle()
      return
    }
    this.running.get(id)?.abort()
  }

  /** Stops everything (the page is going away); no events follow. */
  close(): void {
    this.waiting.length = 0
    this.closed.abort()
    for (const controller of this.running.values()) controller.abort()
  }

  /** Resolves once nothing waits or runs. */
  idle(): Promise<void> {
    if (this.pending === 0) return Promise.resolve()
    return new Promise((resolve) => this.idleWaiters.push(resolve))
  }

  private pump(): void {
    while (this.running.size < this.maxInFlight && this.waiting.length > 0 && !this.closed.signal.aborted) {
      const job = this.waiting.shift() as J
      const controller = new AbortController()
      this.running.set(job.id, controller)
      void this.run(job, controller.signal).finally(() => {
        this.running.delete(job.id)
        this.pump()
        this.settle()
      })
    }
  }

  private settle(): void {
    if (this.pending > 0) return
    const waiters = this.idleWaiters
    this.idleWaiters = []
    for (const resolve of waiters) resolve()
  }

  private emit(event: UploadEvent<R>): void {
    if (!this.closed.signal.aborted) this.options.onEvent(event)
  }

  private async run(job: J, signal: AbortSignal): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.waitTurn(signal)
        this.emit({ type: 'uploading', id: job.id, attempt })
        const result = await this.options.send(job, signal)
        this.emit({ type: 'accepted', id: job.id, result })
        return
      } catch (error) {
        if (signal.aborted || isAbort(error)) {
          this.emit({ type: 'cancelled', id: job.id })
          return
        }
        const seconds = retryDelayS(error, attempt, this.limits)
        if (seconds === null) {
          this.emit({ type: 'failed', id: job.id, error })
          return
        }
        // Busy means busy for every upload of this user: all of them wait, not just this one.
        const until = this.clock.now() + seconds * 1000
        this.pausedUntil = Math.max(this.pausedUntil, until)
        this.emit({ type: 'retrying', id: job.id, seconds, until: this.pausedUntil, error })
      }
    }
  }

  private async waitPause(signal: AbortSignal): Promise<void> {
    for (let wait = this.pausedUntil - this.clock.now(); wait > 0; wait = this.pausedUntil - this.clock.now()) {
      await this.clock.sleep(wait, signal)
    }
  }

  private async waitTurn(signal: AbortSignal): Promise<void> {
    await this.waitPause(signal)
    const delay = this.bucket.reserve()
    if (delay > 0) await this.clock.sleep(delay, signal)
    // Another upload may have met a 429 while this one waited for its token.
    await this.waitPause(signal)
  }
}
