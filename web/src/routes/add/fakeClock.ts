// A clock for tests: time moves only when `run` advances it to the next timer.
import type { Clock } from './uploadQueue'

interface Timer {
  at: number
  seq: number
  resolve: () => void
}

async function flushMicrotasks(): Promise<void> {
  // A macrotask turn lets every pending promise chain settle.
  await new Promise((resolve) => setTimeout(resolve, 0))
}

export class FakeClock implements Clock {
  private t = 0
  private seq = 0
  private timers: Timer[] = []

  now(): number {
    return this.t
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) {
        reject(new DOMException('Aborted', 'AbortError'))
        return
      }
      const onAbort = () => {
        this.timers = this.timers.filter((t) => t !== timer)
        reject(new DOMException('Aborted', 'AbortError'))
      }
      const timer: Timer = {
        at: this.t + Math.max(0, ms),
        seq: this.seq++,
        resolve: () => {
          signal?.removeEventListener('abort', onAbort)
          resolve()
        },
      }
      this.timers.push(timer)
      signal?.addEventListener('abort', onAbort, { once: true })
    })
  }

  /** Advances time timer by timer until `done()` holds or no timer is left (or `limitMs` passes). */
  async run(done: () => boolean = () => false, limitMs = 10 * 60_000): Promise<void> {
    for (;;) {
      await flushMicrotasks()
      if (done() || this.timers.length === 0) return
      this.timers.sort((a, b) => a.at - b.at || a.seq - b.seq)
      const next = this.timers.shift() as Timer
      if (next.at > limitMs) {
        this.timers.unshift(next)
        return
      }
      this.t = Math.max(this.t, next.at)
      next.resolve()
    }
  }

  /** Advances time by `ms`, firing the timers due on the way. */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms
    for (;;) {
      await flushMicrotasks()
      this.timers.sort((a, b) => a.at - b.at || a.seq - b.seq)
      const next = this.timers[0]
      if (!next || next.at > end) break
      this.timers.shift()
      this.t = Math.max(this.t, next.at)
      next.resolve()
    }
    this.t = end
    await flushMicrotasks()
  }
}
