"""The two configurations a stress run compares.

* ``hardened``: TomeHub as it ships.
* ``baseline``: TomeHub configured like the system of the SRE report: one shared pool of 20 with an
  unbounded wait, one global breaker (5 failures, 5-minute lockout), retries without a budget, no
  admission control, stream limits or memory shedding, no single-flight, no degradation tiers, no
  deadlines (late work is counted instead).
"""

from __future__ import annotations

# The fake provider's latencies, as the report describes a healthy provider (p95 2-3 s).
EMBEDDING_LATENCY = {"latency_p50_ms": 1200, "latency_p95_ms": 2500}
CHAT_LATENCY = {"latency_p50_ms": 1000, "latency_p95_ms": 2000, "token_delay_ms": 0}

HARDENED: dict[str, str] = {}

BASELINE: dict[str, str] = {
    "TOMEHUB_DATABASE__SHARED_POOL": "true",
    "TOMEHUB_DATABASE__READ_POOL_MIN_SIZE": "4",
    "TOMEHUB_DATABASE__READ_POOL_MAX_SIZE": "20",
    "TOMEHUB_DATABASE__POOL_MAX_WAITING": "0",  # psycopg_pool: 0 = unbounded
    "TOMEHUB_DATABASE__ACQUIRE_TIMEOUT_S": "30",
    "TOMEHUB_DATABASE__READ_STATEMENT_TIMEOUT_MS": "30000",
    "TOMEHUB_LLM__BREAKER__SCOPE": "global",
    "TOMEHUB_LLM__BREAKER__MIN_CALLS": "5",
    "TOMEHUB_LLM__BREAKER__FAILURE_RATE": "1.0",
    "TOMEHUB_LLM__BREAKER__WINDOW_S": "300",
    "TOMEHUB_LLM__BREAKER__OPEN_S": "300",
    "TOMEHUB_LLM__BREAKER__HALF_OPEN_PROBES": "1",
    "TOMEHUB_LLM__BREAKER__PROBES_TO_CLOSE": "1",
    "TOMEHUB_LLM__PROVIDER_CONCURRENCY": "20",
    "TOMEHUB_LLM__RESERVED_INTERACTIVE": "0",
    "TOMEHUB_LLM__INTERACTIVE_SLOT_WAIT_S": "60",
    "TOMEHUB_LLM__INTERACTIVE_MAX_ATTEMPTS": "4",
    "TOMEHUB_LLM__RETRY_BUDGET_RATIO": "100",
    "TOMEHUB_LLM__SEARCH_EMBEDDING_TIMEOUT_S": "60",
    "TOMEHUB_LLM__GENERATION_TIMEOUT_S": "60",
    "TOMEHUB_LLM__JUDGE_TIMEOUT_S": "60",
    "TOMEHUB_SERVER__ADMISSION": "false",
    "TOMEHUB_SERVER__ENFORCE_DEADLINES": "false",
    "TOMEHUB_SERVER__MAX_STREAMS": "1000000",
    "TOMEHUB_SERVER__STREAM_SEND_TIMEOUT_S": "3600",
    "TOMEHUB_SERVER__MEMORY_SOFT_LIMIT_MB": "1000000",
    "TOMEHUB_SERVER__MEMORY_HARD_LIMIT_MB": "1000000",
    "TOMEHUB_RATE_LIMITS__ENABLED": "false",
    "TOMEHUB_CACHE__SINGLE_FLIGHT": "false",
    "TOMEHUB_SEARCH__DEGRADE_TO_KEYWORDS": "false",
}

PROFILES = {"hardened": HARDENED, "baseline": BASELINE}
