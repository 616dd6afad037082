"""The fake LLM provider: a real OpenAI-compatible HTTP server with faults you can change while it runs.

``tomehub fake-llm --port 8100`` serves

* ``GET  /v1/models``
* ``POST /v1/embeddings`` — hashed bag-of-words vectors (texts sharing words are near each other),
  dimension set by ``--embedding-dim`` or the control endpoint;
* ``POST /v1/chat/completions`` — streaming or not; the reply is built from the prompt so it is
  meaningful: an answer quotes the context passages it was given and cites their ``[ids]``, a judge
  request gets a rubric verdict as JSON, a query-expansion request gets three rephrasings, a
  condense request gets the last message with its pronouns replaced by the name the reader last asked about;

and a control surface for tests and stress runs:

* ``GET/PUT /control/faults`` — per kind (``embeddings``, ``chat``) and optionally per operation
  (the ``X-TomeHub-Operation`` header TomeHub sends): latency distribution (p50/p95, log-normal),
  error rate (500), rate-limit rate (429 + Retry-After), capacity (max concurrent, requests/s, both
  answered with 429 when exceeded), hang rate (never answers), malformed JSON rate, token delay;
* ``GET /control/stats`` — calls, errors, 429s, hangs, in flight, streams cut by the client;
* ``POST /control/reset`` — faults back to the start-up ones, counters to zero, RNG reseeded.

Every random decision comes from one seeded generator per kind, so a run is repeatable.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import re
import time
from collections import defaultdict, deque
from collections.abc import AsyncIterator
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from tomehub.llm.fake.embedding import hashed_bow

Kind = Literal["embeddings", "chat"]
OPERATION_HEADER = "x-tomehub-operation"


class Faults(BaseModel):
    """How the fake misbehaves for one kind of call (or one operation)."""

    model_config = ConfigDict(extra="forbid")

    latency_p50_ms: float = Field(default=5.0, ge=0)
    latency_p95_ms: float = Field(default=10.0, ge=0)
    error_rate: float = Field(default=0.0, ge=0, le=1)
    rate_limit_rate: float = Field(default=0.0, ge=0, le=1)
    retry_after_s: float = Field(default=1.0, ge=0)
    max_concurrent: int | None = Field(default=None, ge=1)
    requests_per_s: float | None = Field(default=None, gt=0)
    hang_rate: float = Field(default=0.0, ge=0, le=1)
    malformed_rate: float = Field(default=0.0, ge=0, le=1)
    token_delay_ms: float = Field(default=0.0, ge=0)
    # Answers: cite an id that was never given (a hallucinated citation) with this probability,
    # unless the request carries a reviewer's hints and the fake is told to heed them.
    invent_citation_rate: float = Field(default=0.0, ge=0, le=1)
    ignore_hints: bool = False


class FaultUpdate(BaseModel):
    """A partial change of the faults: kinds and operations not named stay as they are."""

    model_config = ConfigDict(extra="forbid")

    embeddings: dict[str, Any] | None = None
    chat: dict[str, Any] | None = None
    operations: dict[str, dict[str, Any] | None] | None = None
    embedding_dim: int | None = Field(default=None, ge=2, le=8192)


class _Counters:
    def __init__(self) -> None:
        self.calls: dict[str, int] = defaultdict(int)
        self.outcomes: dict[str, int] = defaultdict(int)
        self.in_flight = 0
        self.max_in_flight = 0
        self.streams_cut = 0
        self.recent: deque[float] = deque()

    def as_dict(self) -> dict[str, Any]:
        return {
            "calls": dict(self.calls),
            "outcomes": dict(self.outcomes),
            "in_flight": self.in_flight,
            "max_in_flight": self.max_in_flight,
            "streams_cut": self.streams_cut,
        }


class FakeProvider:
    """The state behind the fake server: faults, RNGs, counters."""

    def __init__(self, *, seed: int = 0, embedding_dim: int = 384, faults: dict[str, Faults] | None = None) -> None:
        self.seed = seed
        self.initial_dim = embedding_dim
        self.initial = {"embeddings": Faults(), "chat": Faults(), **(faults or {})}
        self.reset()

    def reset(self) -> None:
        self.embedding_dim = self.initial_dim
        self.faults: dict[str, Faults] = {k: v.model_copy() for k, v in self.initial.items()}
        self.by_operation: dict[str, Faults] = {}
        self.rng = {kind: random.Random(f"{self.seed}:{kind}") for kind in ("embeddings", "chat")}
        self.counters = _Counters()
        self.in_flight: dict[str, int] = defaultdict(int)
        self.arrivals: dict[str, deque[float]] = defaultdict(deque)

    def update(self, change: FaultUpdate) -> None:
        for kind in ("embeddings", "chat"):
            patch = getattr(change, kind)
            if patch:
                self.faults[kind] = Faults.model_validate({**self.faults[kind].model_dump(), **patch})
        for operation, patch in (change.operations or {}).items():
            if patch is None:
                self.by_operation.pop(operation, None)
            else:
                base = self.by_operation.get(operation) or Faults()
                self.by_operation[operation] = Faults.model_validate({**base.model_dump(), **patch})
        if change.embedding_dim is not None:
            self.embedding_dim = change.embedding_dim

    def faults_for(self, kind: str, operation: str | None) -> Faults:
        if operation and operation in self.by_operation:
            return self.by_operation[operation]
        return self.faults[kind]

    def latency_s(self, kind: str, faults: Faults) -> float:
        # Log-normal through the two given percentiles: median p50, 95th percentile p95.
        p50 = max(faults.latency_p50_ms, 0.0) / 1000
        p95 = max(faults.latency_p95_ms, faults.latency_p50_ms) / 1000
        if p50 <= 0:
            return 0.0
        sigma = math.log(p95 / p50) / 1.6449 if p95 > p50 else 0.0
        return p50 * math.exp(sigma * self.rng[kind].gauss(0.0, 1.0))


def create_fake_app(provider: FakeProvider | None = None) -> FastAPI:
    """Returns the fake provider's ASGI app."""
    fake = provider or FakeProvider()
    app = FastAPI(title="TomeHub fake LLM provider", docs_url=None, redoc_url=None)
    app.state.fake = fake

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        ids = ["fake-embedding", "fake-chat"]
        return {"object": "list", "data": [{"id": i, "object": "model", "owned_by": "tomehub-fake"} for i in ids]}

    @app.post("/v1/embeddings")
    async def embeddings(request: Request) -> Response:
        body = await request.json()
        return await _serve(fake, request, "embeddings", lambda: _embedding_payload(fake, body))

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Response:
        body = await request.json()
        if body.get("stream"):
            return await _serve_stream(fake, request, body)
        faults = fake.faults_for("chat", request.headers.get(OPERATION_HEADER))
        return await _serve(fake, request, "chat", lambda: _chat_payload(body, faults, fake.rng["chat"]))

    @app.get("/control/faults")
    async def get_faults() -> dict[str, Any]:
        return {
            "embeddings": fake.faults["embeddings"].model_dump(),
            "chat": fake.faults["chat"].model_dump(),
            "operations": {k: v.model_dump() for k, v in fake.by_operation.items()},
            "embedding_dim": fake.embedding_dim,
        }

    @app.put("/control/faults")
    async def put_faults(change: FaultUpdate) -> dict[str, Any]:
        fake.update(change)
        return await get_faults()

    @app.get("/control/stats")
    async def stats() -> dict[str, Any]:
        return fake.counters.as_dict()

    @app.post("/control/reset")
    async def reset() -> dict[str, str]:
        fake.reset()
        return {"status": "reset"}

    return app


async def _admit(fake: FakeProvider, request: Request, kind: str) -> tuple[Faults, Response | None, bool]:
    """Applies the faults that decide before any work: capacity, rate limits, errors, hangs.
    Returns the faults, an early response (or None) and whether the call should hang."""
    operation = request.headers.get(OPERATION_HEADER)
    faults = fake.faults_for(kind, operation)
    fake.counters.calls[kind] += 1
    if operation:
        fake.counters.calls[f"{kind}:{operation}"] += 1
    rng = fake.rng[kind]
    now = time.monotonic()
    arrivals = fake.arrivals[kind]
    arrivals.append(now)
    while arrivals and arrivals[0] < now - 1.0:
        arrivals.popleft()
    over_rate = faults.requests_per_s is not None and len(arrivals) > faults.requests_per_s
    over_capacity = faults.max_concurrent is not None and fake.in_flight[kind] >= faults.max_concurrent
    if over_rate or over_capacity or rng.random() < faults.rate_limit_rate:
        fake.counters.outcomes[f"{kind}:429"] += 1
        return faults, _error(429, "rate_limit_exceeded", "Too many requests", retry_after=faults.retry_after_s), False
    if rng.random() < faults.error_rate:
        fake.counters.outcomes[f"{kind}:500"] += 1
        return faults, _error(500, "server_error", "The fake provider failed on purpose"), False
    hang = rng.random() < faults.hang_rate
    return faults, None, hang


async def _serve(fake: FakeProvider, request: Request, kind: str, payload: Any) -> Response:
    faults, early, hang = await _admit(fake, request, kind)
    if early is not None:
        return early
    malformed = fake.rng[kind].random() < faults.malformed_rate
    delay = fake.latency_s(kind, faults)
    fake.in_flight[kind] += 1
    fake.counters.in_flight += 1
    fake.counters.max_in_flight = max(fake.counters.max_in_flight, fake.counters.in_flight)
    try:
        if hang:
            fake.counters.outcomes[f"{kind}:hang"] += 1
            await _hang(request)
        await asyncio.sleep(delay)
        if malformed:
            fake.counters.outcomes[f"{kind}:malformed"] += 1
            return Response('{"data": [{"embedding": [0.1, ', media_type="application/json")
        fake.counters.outcomes[f"{kind}:200"] += 1
        return JSONResponse(payload())
    finally:
        fake.in_flight[kind] -= 1
        fake.counters.in_flight -= 1


async def _serve_stream(fake: FakeProvider, request: Request, body: dict[str, Any]) -> Response:
    faults, early, hang = await _admit(fake, request, "chat")
    if early is not None:
        return early
    text = _reply(body, faults, fake.rng["chat"])
    model = body.get("model", "fake-chat")
    delay = fake.latency_s("chat", faults)

    async def events() -> AsyncIterator[bytes]:
        fake.in_flight["chat"] += 1
        fake.counters.in_flight += 1
        finished = False
        try:
            if hang:
                fake.counters.outcomes["chat:hang"] += 1
                await _hang(request)
            await asyncio.sleep(delay)
            for piece in re.findall(r"\S+\s*", text):
                chunk = {
                    "id": "chatcmpl-fake",
                    "object": "chat.completion.chunk",
                    "model": model,
                    "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}],
                }
                yield f"data: {json.dumps(chunk)}\n\n".encode()
                if faults.token_delay_ms:
                    await asyncio.sleep(faults.token_delay_ms / 1000)
            end = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "model": model,
                   "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}  # fmt: skip
            yield f"data: {json.dumps(end)}\n\ndata: [DONE]\n\n".encode()
            finished = True
            fake.counters.outcomes["chat:stream:200"] += 1
        finally:
            if not finished:
                fake.counters.streams_cut += 1
            fake.in_flight["chat"] -= 1
            fake.counters.in_flight -= 1

    return StreamingResponse(events(), media_type="text/event-stream")


async def _hang(request: Request) -> None:
    """Never answers; returns only when the client has gone (so the server can shut down)."""
    # Polling, because Starlette tells a handler of a disconnect only when it asks.
    while not await request.is_disconnected():  # noqa: ASYNC110
        await asyncio.sleep(0.1)
    raise asyncio.CancelledError


def _error(status: int, code: str, message: str, *, retry_after: float | None = None) -> JSONResponse:
    headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else None
    return JSONResponse(
        {"error": {"message": message, "type": code, "code": code}}, status_code=status, headers=headers
    )


def _embedding_payload(fake: FakeProvider, body: dict[str, Any]) -> dict[str, Any]:
    texts = body.get("input", [])
    if isinstance(texts, str):
        texts = [texts]
    dim = int(body.get("dimensions") or fake.embedding_dim)
    data = [
        {"object": "embedding", "index": i, "embedding": [round(float(x), 6) for x in hashed_bow(str(t), dim)]}
        for i, t in enumerate(texts)
    ]
    tokens = sum(len(str(t).split()) for t in texts)
    return {"object": "list", "data": data, "model": body.get("model", "fake-embedding"),
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}  # fmt: skip


def _chat_payload(body: dict[str, Any], faults: Faults, rng: random.Random) -> dict[str, Any]:
    text, finish = _reply(body, faults, rng), "stop"
    limit = body.get("max_tokens")
    if isinstance(limit, int) and len(pieces := re.findall(r"\S+\s*", text)) > limit:
        # As a real server does: the reply stops at max_tokens (a word is a token here).
        text, finish = "".join(pieces[:limit]).rstrip(), "length"
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "model": body.get("model", "fake-chat"),
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish}],
        "usage": {"prompt_tokens": 0, "completion_tokens": len(text.split()), "total_tokens": len(text.split())},
    }


# ---------------------------------------------------------------- meaningful replies

_PASSAGE = re.compile(r"^\[(\d+)\]\s*(.+)$", re.MULTILINE)
_TASK = re.compile(r"TASK:\s*(\w+)")


def _reply(body: dict[str, Any], faults: Faults, rng: random.Random) -> str:
    """Returns the assistant text for a request, following TomeHub's prompt conventions."""
    messages = body.get("messages", [])
    prompt = "\n".join(str(m.get("content", "")) for m in messages)
    task = _TASK.search(prompt)
    kind = task.group(1).lower() if task else "answer"
    if kind == "judge":
        return _judge(prompt)
    if kind == "expand":
        return _expand(prompt)
    if kind == "condense":
        return _condense(prompt)
    hinted = "A reviewer rejected the previous answer" in prompt
    invent = rng.random() < faults.invent_citation_rate and (faults.ignore_hints or not hinted)
    return _answer(prompt, invent=invent)


def _answer(prompt: str, *, invent: bool) -> str:
    passages = _PASSAGE.findall(prompt.split("QUESTION:", 1)[0])
    if not passages:
        return "The library holds nothing about this question."
    parts = []
    for chunk_id, text in passages[:2]:
        sentence = re.split(r"(?<=[.!?])\s", text.strip(), maxsplit=1)[0]
        parts.append(f"{sentence} [{999_999_999 if invent else chunk_id}]")
    return " ".join(parts)


def _judge(prompt: str) -> str:
    given = set(re.findall(r"^\[(\d+)\]", prompt, re.MULTILINE))
    answer = prompt.rsplit("ANSWER:", 1)[-1]
    cited = set(re.findall(r"\[(\d+)\]", answer))
    accurate = bool(cited) and cited <= given
    verdict = {
        "citation_accuracy": 1.0 if accurate else 0.0,
        "completeness": 0.8 if accurate else 0.3,
        "format": 1.0,
        "verdict": "PASS" if accurate else "REGENERATE",
        "hints": "" if accurate else "Cite only the passage ids you were given, as [id].",
    }
    return json.dumps(verdict)


def _expand(prompt: str) -> str:
    question = prompt.rsplit("QUESTION:", 1)[-1].strip().splitlines()[0] if "QUESTION:" in prompt else prompt[-200:]
    words = re.findall(r"\w+", question)
    variants = [
        " ".join(reversed(words)),
        " ".join(w for w in words if len(w) > 3),
        question.rstrip("?") + " explained",
    ]
    return json.dumps({"queries": [v for v in variants if v.strip()][:3]})


_PRONOUNS = {"he", "she", "him", "her", "they", "them", "it"}
_POSSESSIVES = {"his", "hers", "their", "theirs", "its"}
_NAME = re.compile(r"(?<![.!?]\s)(?<!^)\b([A-ZÇĞİÖŞÜ][\wçğıöşü]+(?:\s+[A-ZÇĞİÖŞÜ][\wçğıöşü]+)*)")


def _condense(prompt: str) -> str:
    """Replaces the message's pronouns by the first name (capitalised words not opening a
    sentence) of the reader's latest turn that has one: "What did he say?" after "What did
    Epictetus teach in Nicopolis?" becomes "What did Epictetus say?". A message without a pronoun,
    or a conversation without a name, comes back as it was."""
    conversation, _, message = prompt.rpartition("MESSAGE:")
    message = message.strip()
    name = None
    for line in conversation.splitlines():
        if line.startswith("Reader:"):
            names = _NAME.findall(line.removeprefix("Reader:").strip())
            name = names[0] if names else name
    if name is None:
        return json.dumps({"query": message})

    def swap(match: re.Match[str]) -> str:
        word = match.group(0).lower()
        if word in _POSSESSIVES:
            return f"{name}'s"
        return name if word in _PRONOUNS else match.group(0)

    return json.dumps({"query": re.sub(r"\b\w+\b", swap, message)})
