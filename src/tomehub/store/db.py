"""Connection pools: one for interactive reads, one for ingestion writes (a bulkhead between them),
and optionally one for search statements on a read replica.

Each pool waits boundedly: at most ``pool_max_waiting`` waiters, each for at most the acquire timeout
(or the request's time left, whichever is shorter). A full pool is answered with 503 at once instead of
an unbounded queue, the failure the reference system's report found first.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import psycopg
import psycopg_pool
from pgvector.psycopg import register_vector_async
from psycopg import AsyncConnection
from psycopg.rows import DictRow, dict_row

from tomehub.config import DatabaseSettings, SearchSettings
from tomehub.errors import DatabaseUnavailable, DeadlineExceeded, PoolExhausted
from tomehub.metrics import REQUEST_CHECKOUTS
from tomehub.resilience.breaker import BreakerOpen, BreakerPolicy, CircuitBreaker, MemoryStore, Outcome
from tomehub.resilience.deadline import Deadline

_log = logging.getLogger(__name__)
# How long after a connection failure a pool timeout is taken for the server being down.
_DOWN_MEMORY_S = 30.0

Connection = AsyncConnection[DictRow]


def _session_options(*, statement_timeout_ms: int, search: SearchSettings | None) -> str:
    # Session settings travel in the startup packet: no extra round trip per connection.
    opts = [f"-c statement_timeout={statement_timeout_ms}", "-c jit=off"]
    if search is not None:
        opts += [
            f"-c hnsw.ef_search={search.hnsw_ef_search}",
            # Iterative scans keep walking the graph until enough rows pass the per-user filter,
            # so filtering never silently loses recall.
            "-c hnsw.iterative_scan=relaxed_order",
            # No parallel workers for request-path reads. The search statement's exact branch is
            # planned as a parallel sort over every passage of the user even when the walk runs
            # instead: its workers were started and stopped for nothing, 6-7 ms of every search at
            # 100,000 chunks (docs/performance.md, stop 20); and under concurrent users, workers
            # only take the cores other requests need.
            "-c max_parallel_workers_per_gather=0",
            f"-c hnsw.max_scan_tuples={search.hnsw_max_scan_tuples}",
        ]
    return " ".join(opts)


async def _configure(conn: AsyncConnection[DictRow]) -> None:
    await register_vector_async(conn)


# SQLSTATE classes meaning the server went away or will not take connections now.
_UNAVAILABLE_STATES = ("08", "57P01", "57P02", "57P03", "53300")


def _connection_lost(exc: psycopg.OperationalError) -> bool:
    """True for a dead or refused connection; False for a statement's own failure (deadlock…)."""
    state = exc.sqlstate
    return state is None or state.startswith(_UNAVAILABLE_STATES)


def _outage_breaker(name: str) -> CircuitBreaker:
    # After connection failures a server is presumed down for a moment: requests get 503 at once
    # (or go elsewhere), then one probe at a time finds out whether it is back.
    return CircuitBreaker(
        name,
        BreakerPolicy(window_s=10, min_calls=2, failure_rate=0.5, open_s=1.0, half_open_probes=1, probes_to_close=1),
        MemoryStore(),
    )


class Database:
    """The read and write pools over the primary PostgreSQL server, and an optional search pool
    over a read replica."""

    def __init__(self, url: str, settings: DatabaseSettings, search: SearchSettings) -> None:
        self.url = url
        self.settings = settings
        self.breaker = _outage_breaker("database")
        self._rechecking: set[str] = set()
        # Until when each pool's server counts as just failed: a pool timeout then means "down", not
        # "busy" (after an outage the pool's reconnection attempts back off for seconds, so a waiter
        # may see neither a new connection error nor an empty pool).
        self._down_until: dict[str, float] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.read_pool = self._pool(
            "read",
            min_size=settings.read_pool_min_size,
            max_size=settings.read_pool_max_size,
            options=_session_options(statement_timeout_ms=settings.read_statement_timeout_ms, search=search),
        )
        # The baseline stress profile shares one pool, as the reference system did.
        self.write_pool = (
            self.read_pool
            if settings.shared_pool
            else self._pool(
                "write",
                min_size=settings.write_pool_min_size,
                max_size=settings.write_pool_max_size,
                options=_session_options(statement_timeout_ms=settings.write_statement_timeout_ms, search=None),
            )
        )
        # The replica has its own breaker: its outage sends searches to the primary, nothing more.
        self.replica_breaker = _outage_breaker("database-replica")
        self.search_pool = (
            None
            if settings.search_replica_url is None
            else self._pool(
                "search",
                min_size=1,
                max_size=settings.search_pool_max_size,
                options=_session_options(statement_timeout_ms=settings.read_statement_timeout_ms, search=search),
                url=settings.search_replica_url,
            )
        )

    @property
    def pools(self) -> list[psycopg_pool.AsyncConnectionPool[AsyncConnection[DictRow]]]:
        """Every distinct pool (the baseline profile's read and write pools are one)."""
        pools = {id(p): p for p in (self.read_pool, self.write_pool, self.search_pool) if p is not None}
        return list(pools.values())

    def _pool(
        self, name: str, *, min_size: int, max_size: int, options: str, url: str | None = None
    ) -> psycopg_pool.AsyncConnectionPool[AsyncConnection[DictRow]]:
        return psycopg_pool.AsyncConnectionPool(
            url or self.url,
            min_size=min_size,
            max_size=max_size,
            max_waiting=self.settings.pool_max_waiting,
            timeout=self.settings.acquire_timeout_s,
            name=name,
            open=False,
            configure=_configure,
            connection_class=AsyncConnection[DictRow],
            kwargs={
                "row_factory": dict_row,
                "options": options,
                "application_name": f"tomehub-{name}",
                "connect_timeout": max(1, int(self.settings.connect_timeout_s)),
                # Autocommit: each statement is its own transaction unless a block asks for one.
                "autocommit": True,
            },
        )

    async def open(self) -> None:
        """Opens the primary's pools and waits until each holds its minimum connections; the
        replica's pool connects in the background (a replica that is down must not stop start-up)."""
        for pool in (self.read_pool, self.write_pool):
            if not pool.closed:
                continue
            await pool.open(wait=True, timeout=self.settings.connect_timeout_s * 2)
        if self.search_pool is not None:
            await self.search_pool.open(wait=False)

    async def close(self) -> None:
        """Closes every pool."""
        for pool in self.pools:
            await pool.close()

    @asynccontextmanager
    async def read(self, deadline: Deadline | None = None) -> AsyncIterator[Connection]:
        """Yields a connection from the read pool, waiting at most the acquire timeout."""
        async with self._acquire(self.read_pool, self.breaker, deadline) as conn:
            yield conn

    @asynccontextmanager
    async def search(self, deadline: Deadline | None = None) -> AsyncIterator[Connection]:
        """Yields a connection for search statements: the replica's when one is configured and
        reachable, else the read pool's."""
        if self.search_pool is None:
            async with self.read(deadline) as conn:
                yield conn
            return
        async with AsyncExitStack() as stack:
            try:
                conn = await stack.enter_async_context(self._acquire(self.search_pool, self.replica_breaker, deadline))
            except DatabaseUnavailable:
                conn = await stack.enter_async_context(self.read(deadline))
            yield conn

    @asynccontextmanager
    async def write(self, deadline: Deadline | None = None) -> AsyncIterator[Connection]:
        """Yields a connection from the write pool, waiting at most the acquire timeout."""
        async with self._acquire(self.write_pool, self.breaker, deadline) as conn:
            yield conn

    @asynccontextmanager
    async def _acquire(
        self,
        pool: psycopg_pool.AsyncConnectionPool[AsyncConnection[DictRow]],
        breaker: CircuitBreaker,
        deadline: Deadline | None,
    ) -> AsyncIterator[Connection]:
        timeout = self.settings.acquire_timeout_s
        if deadline is not None:
            deadline.check("a database query")
            timeout = deadline.cap(timeout)
        try:
            admission = await breaker.admit()
        except BreakerOpen as exc:
            # The database just failed: answer at once instead of every request waiting its timeout.
            raise DatabaseUnavailable("The database is unavailable; retry shortly.", retry_after_s=1.0) from exc
        outcome = Outcome.IGNORED
        try:
            async with self._translate(pool, deadline, wait_s=timeout), pool.connection(timeout=timeout) as conn:
                checkouts = REQUEST_CHECKOUTS.get()
                if checkouts is not None:
                    checkouts[0] += 1
                yield conn
            outcome = Outcome.SUCCESS
            self._down_until.pop(pool.name, None)
        except DatabaseUnavailable:
            outcome = Outcome.FAILURE
            self._down_until[pool.name] = time.monotonic() + _DOWN_MEMORY_S
            self._recheck(pool)
            raise
        finally:
            await breaker.record(admission, outcome)

    def _recheck(self, pool: psycopg_pool.AsyncConnectionPool[AsyncConnection[DictRow]]) -> None:
        """Tests every idle connection of ``pool`` in the background and replaces the broken ones, so
        after an outage no request meets a connection that died with the old server."""
        if pool.name in self._rechecking:
            return
        self._rechecking.add(pool.name)

        async def check() -> None:
            try:
                await pool.check()
            except Exception as exc:  # the server may still be down; the next failure checks again
                _log.info("pool check of %s failed: %s", pool.name, exc.__class__.__name__)
            finally:
                self._rechecking.discard(pool.name)

        self._tasks.add(asyncio.get_running_loop().create_task(check()))
        for task in [t for t in self._tasks if t.done()]:
            self._tasks.discard(task)

    @asynccontextmanager
    async def _translate(
        self,
        pool: psycopg_pool.AsyncConnectionPool[AsyncConnection[DictRow]],
        deadline: Deadline | None,
        *,
        wait_s: float,
    ) -> AsyncIterator[None]:
        """Turns pool and driver errors into TomeHub's (503 full or down, 504 too late)."""
        errors_before = pool.get_stats().get("connections_errors", 0)
        try:
            yield
        except psycopg_pool.TooManyRequests as exc:
            raise PoolExhausted(
                f"The {pool.name} pool is full and its queue too; retry shortly.", retry_after_s=1.0
            ) from exc
        except psycopg_pool.PoolTimeout as exc:
            stats = pool.get_stats()
            never_connected = stats.get("connections_num", 0) <= stats.get("connections_errors", 0)
            recently_down = time.monotonic() < self._down_until.get(pool.name, 0.0)
            if (
                stats.get("connections_errors", 0) > errors_before
                or stats.get("pool_size", 0) == 0
                or never_connected
                or recently_down
            ):
                # Nobody was holding the connections: the server cannot be reached.
                raise DatabaseUnavailable("The database is unavailable; retry shortly.", retry_after_s=1.0) from exc
            if deadline is not None and deadline.expired:
                raise DeadlineExceeded("The request's deadline passed while waiting for the database.") from exc
            raise PoolExhausted(
                f"No {pool.name} connection became free within {wait_s:.2f} s; retry shortly.",
                retry_after_s=1.0,
            ) from exc
        except psycopg.errors.QueryCanceled as exc:
            # Worth an operator's look: a statement that outlasts its timeout is slow or blocked.
            _log.warning("a statement on the %s pool was cancelled: %s", pool.name, str(exc).strip())
            raise DeadlineExceeded("A database statement ran past its time limit.") from exc
        except psycopg.OperationalError as exc:
            if not _connection_lost(exc):
                raise
            _log.warning("database unavailable: %s", exc.__class__.__name__)
            raise DatabaseUnavailable("The database is unavailable; retry shortly.", retry_after_s=2.0) from exc
