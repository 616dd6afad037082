"""Retry-After, enforced: a client that comes back before it is held until it has passed.

A refusal (503 + Retry-After) is cheap only for clients that wait as asked. One that asks again at
once (the reference report's retry storm) turns every fast refusal into a new request: 500 such
clients offered 1,400-1,600 requests a second to two cores, the refusals themselves kept the worker
late, and the refusals' p99 grew to seconds (docs/stress-results.md, stop 26). Refusing them faster
only brings them back sooner; what slows a client that does not wait is making it wait.

So each worker remembers, per credential (the Authorization header, else the Cookie header; a
request without either is never held), until when its last refusal asked that client to stay away.
A request arriving before then waits out the rest of it in the outermost layer (no auth, no body, no
slot: a sleeping coroutine) and is then judged like any other: served if there is room, refused
again otherwise. A client that honours Retry-After never meets the hold, except for its requests
already on their way side by side when one of them was refused: the server knows the credential, not
which of its requests the client had seen answered, so those are held too (and then served or
refused, as a client waiting out the Retry-After would have been). Each worker sees only its
own refusals (a client's keep-alive connection stays with one worker); no shared store is asked, as
this runs before any I/O.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from cachetools import TTLCache
from starlette.types import Scope

from tomehub.resilience.deadline import requested_deadline

# A refusal never asks a client to wait longer than this (so no entry needs to live longer).
MAX_RETRY_AFTER_S = 10.0
# Leaves a held request this much of its client's deadline to be judged and answered in (on a
# late loop its answer may take a few hundred milliseconds to reach the client).
_ANSWER_MARGIN_S = 0.5
_CREDENTIALS = (b"authorization", b"cookie")


def client_key(scope: Scope) -> int | None:
    """The credential a request carries, hashed (the worker keeps no token), or None."""
    headers = dict(scope.get("headers") or ())
    for name in _CREDENTIALS:
        value = headers.get(name)
        if value:
            return hash((name, value))
    return None


class Tarpit:
    """Remembers until when each client was asked to stay away; ``max_clients`` bounds the memory
    (the oldest entries go first)."""

    def __init__(self, max_clients: int = 100_000, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._not_before: TTLCache[int, float] = TTLCache(max_clients, MAX_RETRY_AFTER_S, timer=clock)

    def refused(self, scope: Scope, retry_after_s: float) -> None:
        """Notes that this request's client was just asked to wait ``retry_after_s``."""
        key = client_key(scope)
        if key is not None:
            self._not_before[key] = self.clock() + min(retry_after_s, MAX_RETRY_AFTER_S)

    def hold_s(self, scope: Scope, now: float, budget_s: float) -> float:
        """How long a request arriving ``now`` is held: the rest of its client's Retry-After, but
        never past its deadline (``budget_s``, the server's, shortened by the client's own headers)
        less the time to answer it. The deadline is read only for a request to be held: this runs
        for every API request."""
        key = client_key(scope)
        if key is None:
            return 0.0
        not_before: float | None = self._not_before.get(key)
        if not_before is None or not_before <= now:
            return 0.0
        return max(0.0, min(not_before - now, requested_deadline(scope, budget_s) - _ANSWER_MARGIN_S))
