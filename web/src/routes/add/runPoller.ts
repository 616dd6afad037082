// Watches ingestion runs until they end: every second while something moves, backing off (up to
// maxIntervalMs) while nothing does. Few runs are asked one by one (GET /api/ingest/runs/{id});
// many at once with one list request, so fifty dropped files never mean fifty requests a second.
// 429/503 are waited out for their Retry-After. The clock is injected (tested without sleeping).
import { ApiError } from '../../api/http'
import { isTerminalRun, type Run } from '../../api/ingest'
import { realClock, type Clock } from './uploadQueue'

export interface RunPollerOptions {
  fetchRun: (runId: string, signal: AbortSignal) => Promise<Run>
  /** The user's newest runs (one request for many watched runs); optional. */
  fetchRuns?: (limit: number, signal: AbortSignal) => Promise<Run[]>
  onRun: (run: Run) => void
  /** The run cannot be watched any more (404: deleted, or not ours). */
  onLost?: (runId: string, error: unknown) => void
  clock?: Clock
  minIntervalMs?: number
  maxIntervalMs?: number
  backoff?: number
  /** From this many watched runs on, one list request replaces the single ones. */
  bulkFrom?: number
}

// The loop sleeps in short steps so a newly watched run is looked at within a second.
const STEP_MS = 250
const LIST_LIMIT = 100
// Watched runs missing from the list (older than its newest LIST_LIMIT) asked singly per round.
const SINGLES_PER_ROUND = 2

function signature(run: Run): string {
  return [
    run.status,
    run.files_done,
    run.files_failed,
    run.files_skipped,
    run.passages_embedded,
    run.passages_reused,
    run.passages_pending_embedding,
  ].join('|')
}

export class RunPoller {
  private readonly watched = new Set<string>()
  private readonly seen = new Map<string, string>()
  private readonly controller = new AbortController()
  private readonly clock: Clock
  private readonly min: number
  private readonly max: number
  private interval: number
  private nextAt = 0
  private looping = false

  constructor(private readonly options: RunPollerOptions) {
    this.clock = options.clock ?? realClock
    this.min = options.minIntervalMs ?? 1000
    this.max = options.maxIntervalMs ?? 8000
    this.interval = this.min
  }

  get size(): number {
    return this.watched.size
  }

  watch(runId: string): void {
    if (this.controller.signal.aborted) return
    this.watched.add(runId)
    this.interval = this.min
    this.nextAt = Math.min(this.nextAt || Infinity, this.clock.now() + this.min)
    if (!this.looping) void this.loop()
  }

  unwatch(runId: string): void {
    this.watched.delete(runId)
    this.seen.delete(runId)
  }

  close(): void {
    this.controller.abort()
    this.watched.clear()
  }

  private async loop(): Promise<void> {
    this.looping = true
    const signal = this.controller.signal
    try {
      while (this.watched.size > 0 && !signal.aborted) {
        for (let now = this.clock.now(); now < this.nextAt; now = this.clock.now()) {
          await this.clock.sleep(Math.min(STEP_MS, this.nextAt - now), signal)
        }
        let changed = false
        let pauseMs = 0
        try {
          changed = await this.round(signal)
        } catch (error) {
          if (signal.aborted) return
          if (error instanceof ApiError && error.retryable) pauseMs = Math.max(1, error.retryAfterS ?? 2) * 1000
        }
        this.interval = changed ? this.min : Math.min(this.max, Math.round(this.interval * (this.options.backoff ?? 1.5)))
        this.nextAt = this.clock.now() + Math.max(pauseMs, this.interval)
      }
    } catch {
      // Aborted while sleeping: the page went away.
    } finally {
      this.looping = false
      this.nextAt = 0
    }
  }

  /** Asks for every watched run once; true when any of them moved. */
  private async round(signal: AbortSignal): Promise<boolean> {
    const ids = [...this.watched]
    const runs: Run[] = []
    let singles = ids
    if (ids.length >= (this.options.bulkFrom ?? 4) && this.options.fetchRuns) {
      const listed = new Map((await this.options.fetchRuns(LIST_LIMIT, signal)).map((run) => [run.id, run]))
      singles = []
      for (const id of ids) {
        const run = listed.get(id)
        if (run) runs.push(run)
        else singles.push(id)
      }
      singles = singles.slice(0, SINGLES_PER_ROUND)
    }
    for (const id of singles) {
      try {
        runs.push(await this.options.fetchRun(id, signal))
      } catch (error) {
        if (error instanceof ApiError && error.status === 404) {
          this.unwatch(id)
          this.options.onLost?.(id, error)
          continue
        }
        throw error
      }
    }
    let changed = false
    for (const run of runs) {
      if (!this.watched.has(run.id) || signal.aborted) continue
      const sig = signature(run)
      if (this.seen.get(run.id) !== sig) {
        changed = true
        this.seen.set(run.id, sig)
        this.options.onRun(run)
      }
      if (isTerminalRun(run)) this.unwatch(run.id)
    }
    return changed
  }
}
