"""Prometheus metrics, defined once; every module records into these."""

from __future__ import annotations

from contextvars import ContextVar

from prometheus_client import Counter, Gauge, Histogram

LLM_CALLS = Counter("tomehub_llm_calls_total", "Model calls by operation and outcome", ["operation", "outcome"])
LLM_RETRIES = Counter("tomehub_llm_retries_total", "Retries made by operation", ["operation"])
LLM_LATENCY = Histogram(
    "tomehub_llm_call_seconds",
    "Model call latency (breaker to result) by operation",
    ["operation"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16),
)
BREAKER_STATE = Gauge("tomehub_breaker_state", "Circuit breaker state (0 closed, 1 half_open, 2 open)", ["operation"])
BREAKER_FAILURE_RATE = Gauge("tomehub_breaker_failure_rate", "Failure share in the breaker's window", ["operation"])
SEARCH_TIER = Counter("tomehub_search_tier_total", "Searches served by tier", ["route", "tier"])
ANSWERS = Counter("tomehub_answers_total", "Answers by answerer and review verdict", ["answerer", "review"])
CACHE_REQUESTS = Counter(
    "tomehub_cache_requests_total", "Cache lookups by layer, kind and outcome", ["layer", "kind", "outcome"]
)
MEMORY_RSS = Gauge("tomehub_process_rss_bytes", "Resident memory of this worker", multiprocess_mode="all")
STREAMS_OPEN = Gauge("tomehub_streams_open", "Answer streams open", multiprocess_mode="livesum")
STREAMS_DROPPED = Counter("tomehub_streams_dropped_total", "Streams dropped because the client read too slowly")
REQUESTS = Counter("tomehub_requests_total", "HTTP requests by route, status and tier", ["route", "status", "tier"])
REQUEST_LATENCY = Histogram(
    "tomehub_request_seconds",
    "HTTP request latency by route and tier (to the last byte)",
    ["route", "tier"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 6, 10, 30),
)
DB_POOL = Gauge(
    "tomehub_db_pool",
    "Connection pool figures (size, available, waiting)",
    ["pool", "figure"],
    multiprocess_mode="livesum",
)
DB_CHECKOUTS = Histogram(
    "tomehub_db_checkouts_per_request",
    "Database connections a request took from the pools (one query or transaction each): N+1 shows here",
    ["route"],
    buckets=(0, 1, 2, 3, 5, 10, 20, 50, 100),
)
# The current request's checkout count (set by the request middleware, counted by the database layer).
REQUEST_CHECKOUTS: ContextVar[list[int] | None] = ContextVar("tomehub_request_checkouts", default=None)
QUEUE_DEPTH = Gauge(
    "tomehub_ingest_queue_jobs", "Ingestion jobs by status (todo, doing)", ["status"], multiprocess_mode="max"
)
# Work that reached a stage after its request's deadline: refused there (hardened) or started anyway
# (baseline profile, no deadlines). Hardened runs keep "started" at zero by construction.
LATE_STARTS = Counter("tomehub_late_starts_total", "Stages reached after the request deadline", ["stage", "action"])
# How much of its deadline a request had left when the server first saw it and when its answer
# started (negative: already late, so its client has given up): where a client timeout was lost.
DEADLINE_LEFT = Histogram(
    "tomehub_deadline_left_seconds",
    "Time to the request's deadline on arrival and when the answer started (negative: late)",
    ["moment"],
    buckets=(-1, -0.25, 0, 0.25, 0.5, 1, 2, 4, 6),
)
# How long a refused request was in the worker before its 503 went out (from the outermost layer):
# "edge" refusals cost no auth or I/O, "admission" ones waited for a slot first (or were refused on
# asking for one), "memory" ones met a worker over its memory limit. Beside the clients' own shed
# times, it tells the time a refusal spent in the server from the time spent before it.
SHED_TIME = Histogram(
    "tomehub_shed_seconds",
    "Time from a request's arrival at the worker to its 503, by where it was refused",
    ["where"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 6),
)
LOOP_LAG = Histogram(
    "tomehub_loop_lag_seconds",
    "How late a worker's event loop ran its 50 ms edge tick: every tick, so a short stall is seen "
    "(the tomehub_edge_signal gauge holds only the latest)",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
HELD_TIME = Histogram(
    "tomehub_held_seconds",
    "Time a request was held at the edge because its client came back before its Retry-After",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10),
)
EDGE_SIGNALS = Gauge(
    "tomehub_edge_signal",
    "Overload signals at the edge (loop_lag_seconds, accept_queue)",
    ["signal"],
    multiprocess_mode="max",
)
GC_PAUSE = Histogram(
    "tomehub_gc_pause_seconds",
    "Garbage collections by generation: how long each stopped the worker",
    ["generation"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1),
)
ADMISSION = Counter(
    "tomehub_admission_total", "Admission decisions (admitted, queued, shed, shed_edge, expired, held)", ["outcome"]
)
ADMISSION_WAIT = Histogram(
    "tomehub_admission_wait_seconds",
    "Time from asking for a slot to getting one (0 when one was free), by priority; resuming: after a provider wait",
    ["priority"],
    buckets=(0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 6),
)
