// Typed client of the operations endpoints (/api/health/*) and the admin-wide list of ingestion runs,
// which the status page polls.
import { useQuery } from '@tanstack/react-query'
import { api, ApiError, query } from './http'
import type { RunList } from './ingest'

export type BreakerStateName = 'closed' | 'open' | 'half_open'

/** "ok", or a sentence saying what is wrong ("unavailable: ConnectionError", "not configured"). */
export type CheckText = string

export interface QueueDepth {
  todo: number
  doing: number
}

export interface Readiness {
  status: 'ready' | 'degraded' | 'not_ready'
  checks: {
    database: CheckText
    /** The job queue's depth, or "unknown" when the database did not answer. */
    queue: QueueDepth | 'unknown'
    redis: CheckText
    /** Present only when a read replica is configured. */
    search_replica?: CheckText
    /** Each breaker's state by operation name. */
    breakers: Record<string, BreakerStateName>
  }
}

export interface Breaker {
  operation: string
  state: BreakerStateName
  calls_in_window: number
  failures_in_window: number
  /** 0..1 over the breaker's window. */
  failure_rate: number
  opened_at: string | null
  next_probe_at: string | null
}

export interface BreakerList {
  /** True when breaker state lives in Redis and so is shared by every worker. */
  shared: boolean
  breakers: Breaker[]
}

export interface MemoryReport {
  state: 'ok' | 'soft' | 'hard'
  rss_bytes: number
  soft_limit_bytes: number
  hard_limit_bytes: number
  streams_open: number
}

export const STATUS_POLL_MS = 5_000

export const opsKeys = {
  ready: ['health', 'ready'] as const,
  breakers: ['health', 'circuit-breakers'] as const,
  memory: ['health', 'memory'] as const,
  allRuns: (limit: number) => ['ingest', 'runs', { all: true, limit }] as const,
}

export const opsApi = {
  // Not ready is a 503 whose body still lists the checks: that answer is what the page shows.
  ready: (signal?: AbortSignal) => api<Readiness>('/api/health/ready', { signal, okStatuses: [503] }),
  breakers: (signal?: AbortSignal) => api<BreakerList>('/api/health/circuit-breakers', { signal }),
  memory: (signal?: AbortSignal) => api<MemoryReport>('/api/health/memory', { signal }),
  allRuns: (limit: number, signal?: AbortSignal) =>
    api<RunList>(`/api/ingest/runs${query({ all: true, limit })}`, { signal }),
}

export function useReadiness() {
  return useQuery({
    queryKey: opsKeys.ready,
    queryFn: ({ signal }) => opsApi.ready(signal),
    refetchInterval: STATUS_POLL_MS,
  })
}

export function useBreakers() {
  return useQuery({
    queryKey: opsKeys.breakers,
    queryFn: ({ signal }) => opsApi.breakers(signal),
    refetchInterval: STATUS_POLL_MS,
  })
}

export function useMemory() {
  return useQuery({
    queryKey: opsKeys.memory,
    queryFn: ({ signal }) => opsApi.memory(signal),
    refetchInterval: STATUS_POLL_MS,
  })
}

export function useAllRuns(limit = 20) {
  return useQuery({
    queryKey: opsKeys.allRuns(limit),
    queryFn: ({ signal }) => opsApi.allRuns(limit, signal),
    // A server without the route (404) or a non-admin (403) will not answer differently in 5 s.
    refetchInterval: (q) =>
      q.state.error instanceof ApiError && (q.state.error.status === 403 || q.state.error.status === 404)
        ? false
        : STATUS_POLL_MS,
  })
}
