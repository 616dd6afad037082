"""A streamed answer over a real connection: when the client goes away, generation stops."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from tests.integration.test_llm_resilience import DIM, llm_settings
from tests.support.servers import serve_in_thread
from tomehub.auth.tokens import issue_local_token
from tomehub.llm.fake.embedding import HashingEmbedder
from tomehub.llm.fake.server import FakeProvider, FaultUpdate, create_fake_app
from tomehub.main import create_app


async def test_generation_is_cancelled_when_the_client_disconnects(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    fake = FakeProvider(seed=5, embedding_dim=DIM)
    with serve_in_thread(create_fake_app(fake)) as fake_url:
        settings = llm_settings(database_url, tmp_path_factory.mktemp("stream"), fake_url)
        app = create_app(settings, local_embedder=HashingEmbedder(dim=DIM))
        with serve_in_thread(app) as base:
            token = issue_local_token(settings.auth, settings.local_signing_key_path, "streamer")
            h = {"Authorization": f"Bearer {token}"}
            async with httpx.AsyncClient(base_url=base, timeout=30) as client:
                for text in ("The keeper trimmed the lamp before every storm.", "Storms came from the west."):
                    assert (await client.post("/api/add-item", headers=h, json={"text": text})).status_code == 201
                await asyncio.sleep(0.5)
                fake.update(FaultUpdate(chat={"token_delay_ms": 300}))
                headers = {**h, "Accept": "text/event-stream"}
                got_token = False
                async with client.stream(
                    "POST", "/api/search", headers=headers, json={"question": "What did the keeper do?"}
                ) as resp:
                    assert resp.status_code == 200
                    async for line in resp.aiter_lines():
                        if line.startswith("event: token"):
                            got_token = True
                            break  # the reader closes the tab
                assert got_token
            deadline = time.monotonic() + 10
            while fake.counters.streams_cut < 1:
                assert time.monotonic() < deadline, fake.counters.as_dict()
                await asyncio.sleep(0.05)
            # The generation was stopped mid-answer, not run to its end for nobody.
            assert fake.counters.outcomes.get("chat:stream:200", 0) == 0
            assert fake.counters.in_flight == 0
