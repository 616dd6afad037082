"""Reading an upload's multipart body: streamed to disk, cut at the size limit and when it stalls.

Starlette's form parser spools each file part to a temporary file (on disk past 1 MB), so memory
stays flat whatever the size; what it does not do is stop reading at a limit or when the client
stops sending. Both are enforced here, on the ASGI ``receive`` the parser reads from: the request
is answered 413 as soon as the bytes received pass the limit (not after the whole body arrived),
and 408 when no bytes come for ``idle_timeout_s`` (a stalled link, or a slowloris holding a worker).
"""

from __future__ import annotations

import asyncio

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.types import Message

from tomehub.errors import BodyTimeout, PayloadTooLarge

# Multipart framing around the file: boundaries, headers and the small form fields.
FORM_OVERHEAD_BYTES = 64 * 1024


async def read_upload_form(request: Request, *, limit: int, idle_timeout_s: float, what: str) -> FormData:
    """Returns the request's form (its file parts spooled to disk), refusing a body over ``limit``
    bytes of content (plus the form's framing) with 413 and a stalled one with 408."""
    allowed = limit + FORM_OVERHEAD_BYTES
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > allowed:
        raise _too_large(what, limit, int(length))
    received = 0
    receive = request.receive

    async def limited_receive() -> Message:
        nonlocal received
        try:
            async with asyncio.timeout(idle_timeout_s):
                message = await receive()
        except TimeoutError:
            raise BodyTimeout(
                f"The upload stopped arriving: nothing came for {idle_timeout_s:.0f} s "
                f"({received / 1e6:.1f} MB had arrived). Check the connection and upload it again."
            ) from None
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > allowed:
                raise _too_large(what, limit, None)
        return message

    return await Request(request.scope, limited_receive).form(max_files=1, max_fields=10)


def _too_large(what: str, limit: int, size: int | None) -> PayloadTooLarge:
    if size is None:
        return PayloadTooLarge(f"{what} is over the limit of {limit / 1e6:.1f} MB; it was cut off there.")
    return PayloadTooLarge(f"{what} is {size / 1e6:.1f} MB; the limit is {limit / 1e6:.1f} MB.")
