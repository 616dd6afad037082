"""OpenAI-compatible HTTP provider (OpenAI, Ollama, vLLM, llama.cpp server, LM Studio, Gemini's
OpenAI endpoint, the fake provider): embeddings and chat completions, streamed or whole.

Chat goes through the OpenAI SDK, its own retries off (``max_retries=0``): the gateway's policy
decides. Embeddings are one JSON POST sent with aiohttp: every search embeds its query, and through
the SDK (pydantic request options over httpx) that call cost 1.1 ms of CPU in a bare loop, with
aiohttp 0.3 ms; on the real-text benchmark the API's CPU per search fell by ~2 ms of ~7
(docs/performance.md, stop 32). Every request names
the TomeHub operation in ``X-TomeHub-Operation`` (ignored by real providers, used by the fake one to
fail one operation at a time).
"""

from __future__ import annotations

import asyncio
import json
import urllib.request
from collections.abc import AsyncIterator, Mapping
from typing import Any, NoReturn, cast
from urllib.parse import urlsplit

import aiohttp
import numpy as np
import openai

from tomehub.llm.base import (
    LLMError,
    Matrix,
    Message,
    ProviderBadResponse,
    ProviderConnectionError,
    ProviderRateLimited,
    ProviderRejected,
    ProviderServerError,
    ProviderTimeout,
)

OPERATION_HEADER = "X-TomeHub-Operation"


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def translate(exc: BaseException) -> NoReturn:
    """Raises the LLMError that matches an SDK, aiohttp or payload error."""
    if isinstance(exc, LLMError):
        raise exc
    if isinstance(exc, openai.APITimeoutError):
        raise ProviderTimeout("The provider did not answer in time.") from exc
    if isinstance(exc, openai.APIConnectionError):
        raise ProviderConnectionError("The provider cannot be reached.") from exc
    if isinstance(exc, openai.APIStatusError):  # 429 (RateLimitError) included
        try:
            _raise_for_status(exc.status_code, exc.response.headers)
        except LLMError as status_error:
            raise status_error from exc
    if isinstance(exc, TimeoutError):  # aiohttp's timeouts (ServerTimeoutError included)
        raise ProviderTimeout("The provider did not answer in time.") from exc
    if isinstance(exc, aiohttp.ClientConnectionError | aiohttp.ClientPayloadError):
        raise ProviderConnectionError("The provider cannot be reached.") from exc
    if isinstance(
        exc, aiohttp.ClientError | openai.APIResponseValidationError | ValueError | KeyError | IndexError | TypeError
    ):
        raise ProviderBadResponse("The provider's answer could not be read.") from exc
    raise exc


def env_proxy(url: str) -> str | None:
    """The proxy the environment names for ``url`` (``HTTPS_PROXY``/``HTTP_PROXY`` unless ``NO_PROXY``
    covers its host), as the SDK's httpx honours it. Read once: aiohttp's ``trust_env`` reads the
    environment and ``~/.netrc`` in a thread on every request (~7 % of the API's busy samples in a search)."""
    parts = urlsplit(url)
    if urllib.request.proxy_bypass(parts.hostname or ""):
        return None
    return urllib.request.getproxies().get(parts.scheme)


def _raise_for_status(status: int, headers: Mapping[str, str]) -> None:
    """Raises the LLMError of an HTTP error status; returns on success."""
    if status < 400:
        return
    if status == 429:
        raise ProviderRateLimited("The provider rate-limited us (429).", retry_after_s=_retry_after(headers))
    if status >= 500:
        raise ProviderServerError(f"The provider failed ({status}).")
    raise ProviderRejected(f"The provider refused the request ({status}).")


class OpenAICompatProvider:
    """Embeddings and chat over one OpenAI-compatible endpoint."""

    def __init__(
        self,
        *,
        name: str,
        base_url: str,
        api_key: str | None,
        chat_model: str | None = None,
        embedding_model: str | None = None,
        embedding_dim: int | None = None,
        send_dimensions: bool = False,
        dim_setting: str = "TOMEHUB_LLM__EMBEDDING_DIM",
    ) -> None:
        self.name = name
        self.chat_model = chat_model
        self.embedding_model = embedding_model
        self.embedding_dim = embedding_dim
        # Only models that can shorten their vectors accept "dimensions"; most servers reject it.
        self.send_dimensions = send_dimensions
        # Named in the error a wrong dimension raises: the setting a person changes to fix it.
        self.dim_setting = dim_setting
        self.client = openai.AsyncOpenAI(base_url=base_url, api_key=api_key or "not-needed", max_retries=0)
        self._embeddings_url = f"{base_url.rstrip('/')}/embeddings"
        self._headers = {"Authorization": f"Bearer {api_key or 'not-needed'}"}
        self._proxy = env_proxy(self._embeddings_url)
        self._session: aiohttp.ClientSession | None = None
        self._session_loop: asyncio.AbstractEventLoop | None = None

    async def close(self) -> None:
        await self.client.close()
        if self._session is not None and self._session_loop is asyncio.get_running_loop():
            await self._session.close()
        self._session = None

    def _http(self) -> aiohttp.ClientSession:
        """The embeddings' connection pool, made in the running loop (a session belongs to one loop;
        a CLI command may run several). No limit of its own: the gateway caps calls in flight."""
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._session_loop is not loop:
            self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), headers=self._headers)
            self._session_loop = loop
        return self._session

    async def embed(self, texts: list[str], *, timeout_s: float, operation: str, is_query: bool) -> Matrix:
        vectors = await self._embeddings(texts, timeout_s=timeout_s, operation=operation)
        if self.embedding_dim and vectors.shape[1] != self.embedding_dim:
            raise ProviderBadResponse(
                f"the embedding provider answers {vectors.shape[1]}-dimensional vectors but TomeHub expects "
                f"{self.embedding_dim} (set {self.dim_setting}={vectors.shape[1]} and restart)"
            )
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        unit: Matrix = (vectors / np.maximum(norms, 1e-12)).astype(np.float32)
        return unit

    async def measure_dim(self, *, timeout_s: float) -> int:
        """Returns the dimension of the vectors the provider answers with (one short probe, unchecked)."""
        vectors = await self._embeddings(["TomeHub dimension probe"], timeout_s=timeout_s, operation="probe")
        return int(vectors.shape[1])

    async def _embeddings(self, texts: list[str], *, timeout_s: float, operation: str) -> Matrix:
        if not self.embedding_model:
            raise ProviderRejected(f"{self.name}: no embedding model configured")
        extra: dict[str, Any] = {}
        if self.send_dimensions and self.embedding_dim:
            extra["dimensions"] = self.embedding_dim
        # "float", not base64: not every OpenAI-compatible server encodes base64.
        body = {"model": self.embedding_model, "input": texts, "encoding_format": "float", **extra}
        try:
            async with self._http().post(
                self._embeddings_url,
                json=body,
                headers={OPERATION_HEADER: operation},
                timeout=aiohttp.ClientTimeout(total=timeout_s),
                proxy=self._proxy,
            ) as resp:
                _raise_for_status(resp.status, resp.headers)
                content = await resp.read()
            data = sorted(json.loads(content)["data"], key=lambda d: int(d["index"]))
            vectors: Matrix = np.asarray([d["embedding"] for d in data], dtype=np.float32)
        except Exception as exc:
            translate(exc)
        if vectors.ndim != 2 or vectors.shape[0] != len(texts):
            raise ProviderBadResponse(f"{self.name} returned {vectors.shape[0]} vectors for {len(texts)} texts")
        return vectors

    async def complete(
        self,
        messages: list[Message],
        *,
        timeout_s: float,
        operation: str,
        json_mode: bool,
        max_tokens: int | None = None,
    ) -> str:
        if not self.chat_model:
            raise ProviderRejected(f"{self.name}: no chat model configured")
        extra: dict[str, Any] = {"response_format": {"type": "json_object"}} if json_mode else {}
        if max_tokens is not None:
            extra["max_tokens"] = max_tokens
        try:
            resp = await self.client.chat.completions.create(
                model=self.chat_model,
                messages=messages,  # type: ignore[arg-type]
                timeout=timeout_s,
                extra_headers={OPERATION_HEADER: operation},
                **extra,
            )
            content = resp.choices[0].message.content
        except Exception as exc:
            translate(exc)
        if content is None:
            raise ProviderBadResponse(f"{self.name} returned no text")
        if json_mode:
            try:
                json.loads(content)
            except ValueError as exc:
                raise ProviderBadResponse(f"{self.name} returned invalid JSON") from exc
        return str(content)

    async def stream(self, messages: list[Message], *, timeout_s: float, operation: str) -> AsyncIterator[str]:
        if not self.chat_model:
            raise ProviderRejected(f"{self.name}: no chat model configured")
        try:
            stream = cast(
                openai.AsyncStream[Any],
                await self.client.chat.completions.create(
                    model=self.chat_model,
                    messages=messages,  # type: ignore[arg-type]
                    stream=True,
                    timeout=timeout_s,
                    extra_headers={OPERATION_HEADER: operation},
                ),
            )
        except Exception as exc:
            translate(exc)
        try:
            async for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    yield chunk.choices[0].delta.content
        except Exception as exc:
            translate(exc)
        finally:
            # Closing the response tells the provider to stop generating (client went away).
            await stream.close()
