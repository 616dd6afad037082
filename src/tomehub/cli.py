"""The ``tomehub`` command line."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import signal
import sys
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TypeVar
from uuid import UUID

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from tomehub.config import Settings
from tomehub.ops.logs import choose_logging, configure_logging

app = typer.Typer(
    name="tomehub",
    help="TomeHub: your personal library — ingest, search (BM25 + vectors, RRF) and cited answers.",
    no_args_is_help=True,
    add_completion=False,
)
token_app = typer.Typer(help="Issue tokens for the embedded default (locally signed).", no_args_is_help=True)
app.add_typer(token_app, name="token")
user_app = typer.Typer(help="Local accounts (a user name is also its library's uid).", no_args_is_help=True)
app.add_typer(user_app, name="user")
key_app = typer.Typer(help="Personal API keys, sent as 'Authorization: Bearer th_...'.", no_args_is_help=True)
app.add_typer(key_app, name="key")

console = Console(stderr=True)
T = TypeVar("T")

UserOption = Annotated[str, typer.Option("--user", "-u", help="User id (uid) whose library to use.")]


class LogFormat(StrEnum):
    PLAIN = "plain"
    JSON = "json"


@dataclass(frozen=True)
class LogChoice:
    """The global logging options of this invocation."""

    verbose: bool = False
    log_format: LogFormat | None = None


# Set once per invocation by the app callback, before any command runs (one command per process).
_log_choice = LogChoice()


@app.callback(epilog="Servers (serve, worker) log JSON lines at INFO; other commands show only warnings.")
def global_options(
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Also show INFO logs, as plain text on stderr.")
    ] = False,
    log_format: Annotated[
        LogFormat | None,
        typer.Option(
            "--log-format",
            case_sensitive=False,
            help="Logs on stderr as JSON lines (at INFO) or plain text "
            "(default: plain warnings only; servers: TOMEHUB_LOG_JSON).",
        ),
    ] = None,
) -> None:
    global _log_choice
    _log_choice = LogChoice(verbose=verbose, log_format=log_format)


def _settings(*, serving: bool = False, **overrides: Any) -> Settings:
    """Returns the settings and sets up logging: a server's (as configured) or a person's (plain
    warnings only), either changed by the global --verbose and --log-format options."""
    settings = Settings()
    level, as_json = choose_logging(
        level=settings.log_level,
        json_logs=settings.log_json,
        serving=serving,
        verbose=_log_choice.verbose,
        log_format=_log_choice.log_format.value if _log_choice.log_format else None,
    )
    configure_logging(level, json_logs=as_json)
    return settings.model_copy(update=overrides) if overrides else settings


@app.command()
def serve(
    host: Annotated[
        str | None, typer.Option(help="Interface to bind (default: TOMEHUB_SERVER__HOST, else 127.0.0.1).")
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="Port to listen on (default: TOMEHUB_SERVER__PORT, else 8000).")
    ] = None,
    workers: Annotated[
        int, typer.Option(help="Worker processes (each with its own limits; shared state in PG/Redis).")
    ] = 1,
) -> None:
    """Serve the web app and the HTTP API (embedded PostgreSQL unless TOMEHUB_DATABASE_URL is set)."""
    import uvicorn

    from tomehub.main import create_app
    from tomehub.store.embedded import start_embedded
    from tomehub.store.migrate import apply_migrations

    settings = _settings(serving=True)
    host = host or settings.server.host
    port = port or settings.server.port
    settings = _checked_embedding_dim(settings)
    embedded = None
    if settings.database_url is None:
        # This process owns the embedded server; the workers only connect to it.
        embedded = start_embedded(settings.embedded_pgdata)
        settings = settings.model_copy(update={"database_url": embedded.url})
    # uvicorn re-raises the signal that stopped it once it has shut down; SIGTERM's default action
    # would end this process before the embedded server below is stopped (it kept running, orphaned).
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        assert settings.database_url is not None
        apply_migrations(settings.database_url)  # once, before any worker starts
        console.print(f"TomeHub on http://{host}:{port}  ({workers} worker(s); data: {settings.resolved_data_dir})")
        if workers == 1:
            uvicorn.run(
                create_app(settings),
                host=host,
                port=port,
                log_level="warning",
                access_log=False,
                **_uvicorn_limits(settings),
            )
            return
        with tempfile.TemporaryDirectory(prefix="tomehub-metrics-") as metrics_dir:
            # Workers read their settings from the environment; the parent fills in what it decided.
            os.environ["TOMEHUB_DATABASE_URL"] = settings.database_url
            os.environ["TOMEHUB_SERVER__RECYCLE_ON_HARD_LIMIT"] = "true"
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
            uvicorn.run(
                "tomehub.main:app_from_environment",
                factory=True,
                host=host,
                port=port,
                workers=workers,
                log_level="warning",
                access_log=False,
                timeout_graceful_shutdown=30,
                **_uvicorn_limits(settings),
            )
    finally:
        if embedded is not None:
            embedded.stop()


def _uvicorn_limits(settings: Settings) -> dict[str, Any]:
    """The connection settings chosen for load (ServerSettings: backlog, keep-alive, concurrency)."""
    server = settings.server
    return {
        "backlog": server.backlog,
        "timeout_keep_alive": server.keep_alive_s,
        "limit_concurrency": server.limit_concurrency,
    }


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(0)


@app.command("deploy-check")
def deploy_check() -> None:
    """Check this configuration against .deployed (what the last start ran with) without starting."""
    from tomehub.main import check_deployment
    from tomehub.ops.versions import DeploymentMismatch

    async def run(rt: Any) -> None:
        for note in await check_deployment(rt, record=False):
            console.print(f"• {note}")

    try:
        _with_runtime(run)
    except DeploymentMismatch as exc:
        console.print(f"[red]{exc.message}[/]")
        raise typer.Exit(1) from exc
    console.print("[green]deployment check passed[/]")


@app.command()
def worker(
    concurrency: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Jobs processed at once by this process (default: TOMEHUB_INGEST__WORKER_CONCURRENCY, "
            "else 4 with a remote embedder and 1 with the in-process one).",
        ),
    ] = None,
) -> None:
    """Process ingestion jobs only (run any number, on any machine that reaches the database)."""

    from tomehub.ingest.sandbox import sandbox_for
    from tomehub.main import start_ingestion, worker_concurrency

    async def run(rt: Any) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        if concurrency is not None:
            rt.settings.ingest.worker_concurrency = concurrency
        # The parsers' sandbox starts before the first job, not while that job waits for it.
        await asyncio.to_thread(sandbox_for(rt.settings.ingest).warm_up)
        tasks = await start_ingestion(rt, name=f"worker-{os.getpid()}", dedicated=True)
        jobs = worker_concurrency(rt.settings, dedicated=True)
        console.print(f"ingestion worker {os.getpid()} running ({jobs} at a time); Ctrl-C stops it")
        await stop.wait()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    _with_runtime(run, serving=True)


@app.command("fake-llm")
def fake_llm(
    port: Annotated[int, typer.Option(help="Port to listen on (loopback only).")] = 8100,
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    seed: Annotated[int, typer.Option(help="Seed of every random decision (latency, errors).")] = 0,
    embedding_dim: Annotated[int, typer.Option(help="Dimension of the embeddings served.")] = 384,
    latency_p50_ms: Annotated[float, typer.Option(help="Median latency of every call.")] = 5.0,
    latency_p95_ms: Annotated[float, typer.Option(help="95th percentile latency of every call.")] = 10.0,
) -> None:
    """Serve the fake OpenAI-compatible provider (faults changeable at /control/faults)."""
    import uvicorn

    from tomehub.llm.fake.server import FakeProvider, Faults, create_fake_app

    faults = Faults(latency_p50_ms=latency_p50_ms, latency_p95_ms=latency_p95_ms)
    provider = FakeProvider(seed=seed, embedding_dim=embedding_dim, faults={"embeddings": faults, "chat": faults})
    console.print(f"fake LLM provider on http://{host}:{port}/v1  (control: /control/faults, /control/stats)")
    uvicorn.run(create_fake_app(provider), host=host, port=port, log_level="warning", access_log=False)


@app.command(
    epilog="Scenarios: 1a concurrent search (warm cache), 1b cold cache with Redis down, 2 LLM degradation, "
    "2b ingestion + peak search, 3 streaming memory, 4 N+1, 5 timeout cascade, ramp breaking points."
)
def stress(
    scenario: Annotated[str, typer.Argument(help="A scenario id, 'all', or 'compare' (then the scenario id).")],
    compared: Annotated[str | None, typer.Argument(help="With 'compare': the scenario (or 'all') to compare.")] = None,
    profile: Annotated[
        str, typer.Option(help="hardened (TomeHub as it ships), baseline (configured like the report's system), both.")
    ] = "hardened",
    users: Annotated[int | None, typer.Option(help="Concurrent users (default: the scenario's own).")] = None,
    duration: Annotated[
        float | None, typer.Option(help="Seconds of load per scenario (default: the scenario's own length x --scale).")
    ] = None,
    scale: Annotated[float, typer.Option(help="Length of every phase, x the scenario's full length.")] = 1.0,
    workers: Annotated[int, typer.Option(help="TomeHub worker processes of the local deployment.")] = 2,
    quick: Annotated[
        bool, typer.Option(help="Seconds per scenario, small data; checks that the mechanisms engage.")
    ] = False,
    report: Annotated[Path, typer.Option(help="Folder for report.md and the plots.")] = Path("stress-report"),
    target: Annotated[
        str | None, typer.Option(help="Base URL of a running deployment to load instead of starting one.")
    ] = None,
    signing_key: Annotated[
        Path | None, typer.Option(help="With --target: the deployment's local signing key (to issue user tokens).")
    ] = None,
    fake_llm: Annotated[
        str | None, typer.Option(help="With --target: URL of its fake provider (scenarios that inject faults need it).")
    ] = None,
    load_processes: Annotated[
        int | None,
        typer.Option(
            help="OS processes generating the load, each an asyncio client with its share of the users or "
            "arrivals (default: one per 100 users, at most one per core)."
        ),
    ] = None,
    max_generator_lag_ms: Annotated[
        float,
        typer.Option(
            help="Self-check: a phase is marked NOT TRUSTWORTHY when a load process's event-loop lag p99 exceeds this."
        ),
    ] = 100.0,
    max_generator_cpu: Annotated[
        float,
        typer.Option(help="Self-check: ... or when a load process's mean CPU reaches this % of one core (saturated)."),
    ] = 90.0,
    deadline_at: Annotated[
        bool,
        typer.Option(
            help="Send X-TomeHub-Deadline-At (the client's deadline as Unix ms; needs clocks in step with --target)."
        ),
    ] = True,
    server_nice: Annotated[
        int | None,
        typer.Option(
            min=0,
            max=19,
            help="Local runs: start the server at this lower CPU priority (nice), so the load processes on the "
            "same cores are not starved by it; 0: both compete as equals (default: 10).",
        ),
    ] = None,
) -> None:
    """Run the SRE report's scenarios against a fresh local deployment (or --target) and write a report."""
    from tomehub.stress.runner import SCENARIOS, LoadOptions, run_all, target_deployment
    from tomehub.stress.selfcheck import Bounds

    if scenario == "compare":
        if compared is None:
            console.print("[red]Say which scenario to compare: tomehub stress compare 2[/]")
            raise typer.Exit(2)
        scenario, profile = compared, "both"
    elif compared is not None:
        console.print(f"[red]Unexpected argument {compared!r} (only 'compare' takes a second one).[/]")
        raise typer.Exit(2)
    ids = list(SCENARIOS) if scenario == "all" else [scenario]
    unknown = [s for s in ids if s not in SCENARIOS]
    if unknown:
        console.print(f"[red]Unknown scenario {unknown[0]!r}; choose one of {', '.join(SCENARIOS)}, or all.[/]")
        raise typer.Exit(2)
    profiles = {"both": ["baseline", "hardened"], "hardened": ["hardened"], "baseline": ["baseline"]}.get(profile)
    if profiles is None:
        console.print(f"[red]Unknown profile {profile!r}; choose hardened, baseline or both.[/]")
        raise typer.Exit(2)
    remote = None
    if target is not None:
        if signing_key is None or profile == "both":
            console.print(
                "[red]--target needs --signing-key, and runs the target's own configuration (one profile).[/]"
            )
            raise typer.Exit(2)
        clients = users or max(SCENARIOS[sid].users for sid in ids)
        remote = target_deployment(target, signing_key, fake_llm, clients)
    if load_processes is not None and load_processes < 1:
        console.print("[red]--load-processes must be at least 1.[/]")
        raise typer.Exit(2)
    load = LoadOptions(load_processes, Bounds(max_generator_lag_ms, max_generator_cpu), deadline_at)
    if server_nice is not None:
        load = dataclasses.replace(load, server_nice=server_nice)
    command = "tomehub stress " + " ".join(sys.argv[2:])
    runs = run_all(ids, profiles, scale=scale, duration_s=duration, users=users, quick=quick, workers=workers,
                   report_dir=report, command=command, target=remote, load=load)  # fmt: skip
    console.print(f"Report: {report / 'report.md'}")
    failed = [
        f"{r.scenario.id}: {name}"
        for r in runs
        if r.profile == "hardened"
        for name, ok in r.outcome.mechanisms.items()
        if not ok
    ]
    if quick and failed:
        console.print("[red]Mechanisms that did not engage:[/] " + "; ".join(failed))
        raise typer.Exit(1)


@token_app.command("create")
def token_create(
    user: UserOption,
    ttl_hours: Annotated[float, typer.Option(help="Lifetime of the token in hours.")] = 24 * 30,
) -> None:
    """Print a bearer token for USER (signed with the key in the data dir), and nothing else."""
    from tomehub.auth.tokens import issue_local_token

    settings = _settings()
    if settings.auth.mode != "local":
        console.print("[red]Tokens are issued by Firebase in this deployment (TOMEHUB_AUTH__MODE=firebase).[/]")
        raise typer.Exit(2)
    token = issue_local_token(settings.auth, settings.local_signing_key_path, user, ttl_s=int(ttl_hours * 3600))
    sys.stdout.write(token + "\n")


def _local_accounts_only(settings: Settings) -> None:
    if settings.auth.mode != "local":
        console.print("[red]Accounts are managed by Firebase in this deployment (TOMEHUB_AUTH__MODE=firebase).[/]")
        raise typer.Exit(2)


@user_app.command("create")
def user_create(
    name: Annotated[str, typer.Argument(help="User name (3-64 of a-z 0-9 . _ -); also the uid of its library.")],
    admin: Annotated[bool, typer.Option("--admin", help="Make the account an administrator.")] = False,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from the first line of stdin (scripts).")
    ] = False,
) -> None:
    """Create the local account NAME; asks for its password twice (hidden) unless --password-stdin."""
    from tomehub.auth.accounts import create_account, normalize_username
    from tomehub.auth.passwords import Passwords
    from tomehub.errors import BadInput, Conflict

    settings = _settings()
    _local_accounts_only(settings)
    cfg = settings.auth
    passwords = Passwords(min_length=cfg.password_min_length, max_length=cfg.password_max_length, concurrency=1)
    try:
        username = normalize_username(name)
        if password_stdin:
            password = sys.stdin.readline().rstrip("\r\n")
        else:
            password = typer.prompt("Password", hide_input=True, confirmation_prompt=True, err=True)
        passwords.check_new(password)
    except BadInput as exc:
        console.print(f"[red]{exc.message}[/]")
        raise typer.Exit(2) from exc

    async def run(db: Any) -> Any:
        password_hash = await passwords.hash(password)
        return await create_account(db=db, username=username, password_hash=password_hash, is_admin=admin)

    try:
        account = _with_database(settings, run)
    except Conflict as exc:
        console.print(f"[red]{exc.message}[/]")
        raise typer.Exit(1) from exc
    console.print(f"Created account {account.username}" + (" (admin)." if account.is_admin else "."))


@user_app.command("list")
def user_list() -> None:
    """List the local accounts."""
    from tomehub.auth.accounts import list_accounts

    settings = _settings()
    found = _with_database(settings, lambda db: list_accounts(db=db))
    table = Table("name", "admin", "disabled", "created")
    for a in found:
        table.add_row(
            a.username, "yes" if a.is_admin else "", "yes" if a.disabled else "", f"{a.created_at:%Y-%m-%d %H:%M}"
        )
    Console().print(table)


def _set_disabled(name: str, *, disabled: bool) -> None:
    from tomehub.auth.accounts import set_disabled
    from tomehub.errors import NotFound

    settings = _settings()
    try:
        _with_database(settings, lambda db: set_disabled(db=db, username=name.strip().lower(), disabled=disabled))
    except NotFound as exc:
        console.print(f"[red]{exc.message}[/]")
        raise typer.Exit(1) from exc


@user_app.command("disable")
def user_disable(name: Annotated[str, typer.Argument(help="User name.")]) -> None:
    """Disable an account: it can no longer sign in, and its sessions and API keys are revoked."""
    _set_disabled(name, disabled=True)
    console.print(f"Disabled {name}; its sessions and API keys are revoked.")


@user_app.command("enable")
def user_enable(name: Annotated[str, typer.Argument(help="User name.")]) -> None:
    """Enable a disabled account again (its revoked keys stay revoked)."""
    _set_disabled(name, disabled=False)
    console.print(f"Enabled {name}.")


@key_app.command("create")
def key_create(
    user: UserOption,
    name: Annotated[str, typer.Option("--name", help="A label to recognise the key by.")] = "cli",
) -> None:
    """Print a new API key for USER, and nothing else (it is shown once; only its hash is kept)."""
    from tomehub.auth.keys import create_key
    from tomehub.store.users import UserDirectory

    async def run(db: Any) -> Any:
        user_id = await UserDirectory(db).user_id(user)
        return await create_key(db=db, user_id=user_id, name=name.strip()[:100] or "cli")

    key, secret = _with_database(_settings(), run)
    console.print(f"Created API key {key.id} ({key.prefix}) for {user}.")
    sys.stdout.write(secret + "\n")


@key_app.command("list")
def key_list(user: UserOption) -> None:
    """List USER's API keys (revoked ones too), never their secrets."""
    from tomehub.auth.keys import ApiKey, list_keys
    from tomehub.store.users import UserDirectory

    async def run(db: Any) -> list[ApiKey]:
        user_id = await UserDirectory(db).find(user)
        return [] if user_id is None else await list_keys(db=db, user_id=user_id, include_revoked=True)

    table = Table("id", "name", "prefix", "created", "last used", "revoked")
    for k in _with_database(_settings(), run):
        table.add_row(
            str(k.id),
            k.name,
            k.prefix,
            f"{k.created_at:%Y-%m-%d %H:%M}",
            f"{k.last_used_at:%Y-%m-%d %H:%M}" if k.last_used_at else "",
            f"{k.revoked_at:%Y-%m-%d %H:%M}" if k.revoked_at else "",
        )
    Console().print(table)


@key_app.command("revoke")
def key_revoke(key_id: Annotated[int, typer.Argument(help="The key's id (see `tomehub key list`).")]) -> None:
    """Revoke an API key at once."""
    from tomehub.auth.keys import revoke_key
    from tomehub.errors import NotFound

    try:
        _with_database(_settings(), lambda db: revoke_key(db=db, key_id=key_id, user_id=None))
    except NotFound as exc:
        console.print(f"[red]{exc.message}[/]")
        raise typer.Exit(1) from exc
    console.print(f"Revoked API key {key_id}.")


@app.command()
def ingest(
    paths: Annotated[
        list[Path], typer.Argument(help="Files, folders (searched recursively) or zip archives.", exists=True)
    ],
    user: UserOption,
    item_type: Annotated[str, typer.Option(help="Item type of every file.")] = "BOOK",
    tags: Annotated[str, typer.Option(help="Comma-separated tags for every file.")] = "",
) -> None:
    """Ingest files and folders into USER's library, with a progress bar."""
    from tomehub.ingest.parsers import SUPPORTED_EXTENSIONS
    from tomehub.ingest.service import UploadMeta
    from tomehub.library.schemas import ItemType, clean_tags

    files = sorted(_walk(paths, SUPPORTED_EXTENSIONS | {".zip"}))
    if not files:
        console.print("[yellow]No PDF, EPUB, DOCX, ODT, HTML, Markdown, text or highlight export files found.[/]")
        raise typer.Exit(1)
    try:
        meta = UploadMeta(item_type=ItemType(item_type.upper()), tags=tuple(clean_tags(tags.split(",")) or ()))
    except ValueError as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from exc

    async def run(rt: Any) -> None:
        from contextlib import ExitStack

        from tomehub.ingest import accept
        from tomehub.ingest.archive import Incoming, ZipBatch
        from tomehub.store.users import UserDirectory

        user_id = await UserDirectory(rt.db).user_id(user)
        label = ", ".join(p.name for p in paths)[:200]
        limits = rt.settings.ingest
        batch: list[Incoming] = []
        with ExitStack() as zips:
            for f in files:
                if f.suffix.lower() == ".zip":
                    batch.extend(zips.enter_context(ZipBatch(f, limits=limits, label=f.name)).entries)
                else:
                    batch.append(Incoming.from_path(f, limit=limits.max_upload_bytes))
            run_id = await accept.submit_files(
                db=rt.db, queue=rt.queue, settings=rt.settings, user_id=user_id, label=label, files=batch, meta=meta
            )
        await _work_until_done(rt, user_id=user_id, run_id=run_id, total=len(batch))

    _with_runtime(run)


@app.command()
def demo(
    user: Annotated[str, typer.Option("--user", "-u", help="User to load the sample library for.")] = "demo",
    force: Annotated[bool, typer.Option(help="Load even if the user's library is not empty.")] = False,
) -> None:
    """Load the sample library (a few documents in every supported format)."""
    from tomehub.demo import load_demo
    from tomehub.store.users import UserDirectory

    async def run(rt: Any) -> None:
        loaded = await load_demo(
            db=rt.db,
            queue=rt.queue,
            embedder=rt.search_embedder,
            settings=rt.settings,
            user_uid=user,
            only_if_empty=not force,
        )
        if loaded is None:
            console.print(f"The library of {user!r} is not empty; use --force to load the demo again.")
            return
        user_id = await UserDirectory(rt.db).user_id(user)
        run_ids, _notes = loaded
        await _work_until_done(rt, user_id=user_id, run_ids=run_ids, total=len(run_ids))
        console.print(f"Demo library ready for {user!r}. Try: tomehub ask 'What is Dasein?' --user {user}")

    _with_runtime(run)


@app.command()
def reembed(
    user: Annotated[str | None, typer.Option("--user", "-u", help="Only this user's library.")] = None,
) -> None:
    """Re-embed every chunk that lacks a vector of the current embedding model (after a model change)."""
    from tomehub.ingest import reembed
    from tomehub.search.vector import drop_unused_indexes
    from tomehub.store.users import UserDirectory

    async def run(rt: Any) -> None:
        embedder = rt.ingest_embedder
        stale = await reembed.stale_vectors(db=rt.db, embedder=embedder)
        if user is not None:
            user_id = await UserDirectory(rt.db).find(user)
            stale = {k: v for k, v in stale.items() if k == user_id}
        total = sum(stale.values())
        console.print(f"{total} chunks of {len(stale)} libraries need {embedder.model}@{embedder.version} vectors.")
        for user_id in stale:
            await rt.queue.enqueue_reembedding(user_id=user_id)
        worker = asyncio.create_task(rt.queue.run_worker(rt.worker_context, concurrency=1, wait=True, name="reembed"))
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        try:
            with Progress(*columns, console=console) as progress:
                task = progress.add_task("re-embedded", total=total)
                while True:
                    left = await reembed.stale_vectors(db=rt.db, embedder=embedder)
                    remaining = sum(v for k, v in left.items() if k in stale)
                    progress.update(task, completed=total - remaining)
                    if remaining == 0:
                        break
                    if worker.done():
                        worker.result()
                    await asyncio.sleep(0.5)
        finally:
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker
        dropped = await drop_unused_indexes(rt.db, keep_model=embedder.model, keep_version=embedder.version)
        for name in dropped:
            console.print(f"dropped the vector index of a retired model: {name}")

    _with_runtime(run)


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="What to look for.")],
    user: UserOption,
    limit: Annotated[int, typer.Option(help="Hits to show.")] = 10,
) -> None:
    """Search USER's library (hybrid BM25 + vectors) and print the hits."""

    async def run(rt: Any) -> None:
        from tomehub.main import build_search_and_answers
        from tomehub.resilience.deadline import Deadline
        from tomehub.store.users import UserDirectory

        user_id = await UserDirectory(rt.db).user_id(user)
        searcher, _answers = build_search_and_answers(rt)
        retrieval = await searcher.search(
            user_id=user_id, query=query, limit=limit, filters=None, deadline=Deadline.after(30)
        )
        result = retrieval.result
        table = Table(
            title=f"{len(result.hits)} hits · tier {int(result.tier)} ({result.tier_name}) · {result.took_ms} ms"
        )
        for column in ("#", "title", "where", "text", "chunk"):
            table.add_column(column, overflow="fold")
        for n, hit in enumerate(result.hits, start=1):
            where = ", ".join(x for x in (hit.chapter, f"p. {hit.page}" if hit.page else None) if x)
            snippet = " ".join(hit.text.split())[:160]
            table.add_row(str(n), hit.title, where, snippet, str(hit.chunk_id))
        Console().print(table)

    _with_runtime(run, worker=False)


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="A question answered from the library.")],
    user: UserOption,
) -> None:
    """Answer a question from USER's library, streaming the answer with its citations."""

    async def run(rt: Any) -> None:
        from tomehub.answer.service import Done, Reset, Sources, Token
        from tomehub.main import build_search_and_answers
        from tomehub.resilience.deadline import Deadline
        from tomehub.store.users import UserDirectory

        user_id = await UserDirectory(rt.db).user_id(user)
        _searcher, answers = build_search_and_answers(rt)
        out = Console()
        async for event in answers.events(
            user_id=user_id, question=question, filters=None, deadline=Deadline.after(60)
        ):
            if isinstance(event, Sources):
                out.print(f"[dim]{len(event.search.hits)} sources · tier {int(event.search.tier)}[/]")
            elif isinstance(event, Token):
                out.print(event.text, end="", soft_wrap=True, highlight=False)
            elif isinstance(event, Reset):
                out.print(f"\n[dim]({event.reason}; starting over)[/]")
            elif isinstance(event, Done):
                answer = event.answer
                out.print()
                out.print(f"[dim]answerer: {answer.answerer} · review: {answer.review.value}[/]")
                for c in answer.citations:
                    where = ", ".join(x for x in (c.chapter, f"p. {c.page}" if c.page else None) if x)
                    out.print(f"  [{c.chunk_id}] {c.title}" + (f" — {where}" if where else ""))

    _with_runtime(run, worker=False)


@app.command("mcp")
def mcp_stdio(
    api_key: Annotated[
        str | None,
        typer.Option(
            "--api-key",
            envvar="TOMEHUB_API_KEY",
            show_envvar=True,
            help="Your API key (th_...; `tomehub key create`). Prefer the environment variable: "
            "other users of the machine can see a command line.",
        ),
    ] = None,
) -> None:
    """Serve the library's MCP tools over stdio for a desktop client (stdout is the protocol; logs go to stderr)."""
    from tomehub.auth.keys import well_formed
    from tomehub.errors import TomehubError, Unauthorized
    from tomehub.mcp.stdio import StdoutToStderr, caller_for_key, serve_stdio
    from tomehub.mcp.tools import LibraryServices

    if not api_key or not api_key.strip():
        console.print("[red]Give your API key with --api-key or TOMEHUB_API_KEY (`tomehub key create --user NAME`).[/]")
        raise typer.Exit(2)
    key = api_key.strip()
    if not well_formed(key):  # refused before the database and the models start
        console.print("[red]This is not a TomeHub API key (they look like th_xxxxxxxx_...).[/]")
        raise typer.Exit(2)

    async def run(rt: Any) -> int:
        from tomehub.main import build_search_and_answers, start_ingestion

        searcher, answers = build_search_and_answers(rt)
        services = LibraryServices(
            settings=rt.settings,
            db=rt.db,
            searcher=searcher,
            answers=answers,
            queue=rt.queue,
            embedder=rt.search_embedder,
        )
        try:
            await caller_for_key(services=services, key=key)
        except Unauthorized as exc:
            console.print(f"[red]{exc.message}[/]")
            return 2
        except TomehubError as exc:  # the database could not be asked
            console.print(f"[red]{exc.message}[/]")
            return 1
        if rt.settings.ingest.run_in_api_workers:
            # Notes added through the tools are embedded here, as the API's workers would.
            rt.background.extend(await start_ingestion(rt, name=f"mcp-{os.getpid()}"))
        startup.restore()
        await serve_stdio(services=services, key=key)
        return 0

    # Nothing but the protocol may reach stdout: start-up output goes to stderr.
    with StdoutToStderr() as startup:
        code = _with_runtime(run)
    if code:
        raise typer.Exit(code)


def _walk(paths: list[Path], extensions: frozenset[str]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            for child in path.rglob("*"):
                if child.is_file() and child.suffix.lower() in extensions and not child.name.startswith("."):
                    yield child
        elif path.is_file():
            yield path


def _checked_embedding_dim(settings: Settings) -> Settings:
    """Returns the settings with the embedding dimension checked against the provider; a mismatch
    is printed (not a traceback out of the server's start-up) and exits 1."""
    from tomehub.llm.build import EmbeddingDimensionMismatch, check_embedding_dim

    try:
        return asyncio.run(check_embedding_dim(settings))
    except EmbeddingDimensionMismatch as exc:
        console.print(f"[red]{exc.message}[/]")
        raise typer.Exit(1) from exc


def _with_runtime(body: Callable[[Any], Awaitable[T]], *, worker: bool = True, serving: bool = False) -> T:
    """Runs ``body`` with TomeHub's runtime open (embedded server started if needed)."""
    from tomehub.main import open_runtime

    settings = _checked_embedding_dim(_settings(serving=serving))

    async def main() -> T:
        rt = await open_runtime(settings)
        try:
            return await body(rt)
        finally:
            await rt.close()

    return asyncio.run(main())


def _with_database(settings: Settings, body: Callable[[Any], Awaitable[T]]) -> T:
    """Runs ``body`` with only the database open (migrated; embedded server started if needed):
    account and key commands need no models, so they start in a second, not after the embedder."""
    from tomehub.store.db import Database
    from tomehub.store.embedded import start_embedded
    from tomehub.store.migrate import apply_migrations

    async def main() -> T:
        embedded = None
        url = settings.database_url
        if url is None:
            embedded = await asyncio.to_thread(start_embedded, settings.embedded_pgdata)
            url = embedded.url
        try:
            await asyncio.to_thread(apply_migrations, url)
            db = Database(url, settings.database, settings.search)
            await db.open()
            try:
                return await body(db)
            finally:
                await db.close()
        finally:
            if embedded is not None:
                embedded.stop()

    return asyncio.run(main())


async def _work_until_done(
    rt: Any, *, user_id: int, run_id: UUID | None = None, run_ids: list[UUID] | None = None, total: int
) -> None:
    """Processes queued jobs in this process, showing progress until the runs finish."""
    from tomehub.ingest import service
    from tomehub.resilience.deadline import Deadline

    ids = run_ids or ([run_id] if run_id else [])
    worker = asyncio.create_task(rt.queue.run_worker(rt.worker_context, concurrency=1, wait=True, name="cli"))
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    try:
        with Progress(*columns, console=console) as progress:
            files = progress.add_task("files", total=total)
            chunks = progress.add_task("passages embedded", total=None)
            while True:
                runs = [
                    await service.get_run(db=rt.db, user_id=user_id, run_id=i, deadline=Deadline.after(10)) for i in ids
                ]
                finished = sum(r.files_done + r.files_failed for r in runs)
                embedded = sum(r.passages_embedded + r.passages_reused for r in runs)
                pending = sum(r.passages_pending_embedding for r in runs)
                progress.update(files, completed=finished)
                progress.update(chunks, completed=embedded, total=embedded + pending)
                if all(r.finished_at is not None for r in runs) and pending == 0:
                    break
                if worker.done():
                    worker.result()
                await asyncio.sleep(0.5)
    finally:
        worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await worker
    failed = [e for r in runs for e in r.errors]
    done = sum(r.files_done for r in runs)
    console.print(f"{done} file(s) ingested, {len(failed)} failed.")
    added, skipped = sum(r.highlights_added for r in runs), sum(r.highlights_skipped for r in runs)
    if added or skipped:
        console.print(f"{added} highlight(s) imported, {skipped} already in the library.")
    for err in failed:
        console.print(f"  [red]✗[/] {err.file}: {err.message}")
