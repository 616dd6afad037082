"""The library's MCP tools. Each calls the services the HTTP routes call (never HTTP to itself),
with a deadline from config, as the user the transport identified; a TomehubError becomes a tool
error the model can read (``is_error`` with the message), never a crashed session.

The transport decides who the caller is (``CallerOf``): the API key given to ``tomehub mcp``, or
the principal the auth middleware verified for an HTTP request.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated
from uuid import UUID

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import BaseModel, Field, ValidationError

from tomehub import __version__
from tomehub.answer.schemas import Citation, Review
from tomehub.answer.service import AnswerService
from tomehub.config import Settings
from tomehub.errors import TomehubError
from tomehub.ingest import service as ingest_service
from tomehub.ingest.schemas import AddItemIn
from tomehub.ingest.service import IngestQueue
from tomehub.library import service as library_service
from tomehub.library.schemas import ChunkOut, ItemOut, ItemType
from tomehub.llm.base import Embedder
from tomehub.resilience.deadline import Deadline
from tomehub.search.schemas import Hit, SearchFilters
from tomehub.search.service import Searcher
from tomehub.store.db import Database

SERVER_NAME = "tomehub"
INSTRUCTIONS = (
    "TomeHub is the user's personal library (books, articles, notes, highlights). Use search_library to "
    "find passages, ask_library for an answer citing them as [chunk id], get_passages to read cited "
    "chunks in full, list_items to browse, add_note to keep something."
)


@dataclass(frozen=True)
class LibraryServices:
    """The services the tools call: the same objects the HTTP routes use."""

    settings: Settings
    db: Database
    searcher: Searcher
    answers: AnswerService
    queue: IngestQueue
    embedder: Embedder


@dataclass(frozen=True)
class Caller:
    """Whose library a tool call works on, and with which services."""

    services: LibraryServices
    user_id: int


# Resolves the caller of one tool call (raises Unauthorized when there is none).
CallerOf = Callable[[Context], Awaitable[Caller]]


class Passage(BaseModel):
    """A chunk of an item: what to quote and how to cite it."""

    chunk_id: int = Field(description="Cite as [chunk_id]; get_passages reads it again.")
    item_id: UUID
    title: str
    author: str | None
    item_type: ItemType
    page: int | None
    chapter: str | None
    text: str
    score: float | None = Field(default=None, description="Search score (Reciprocal Rank Fusion); higher is better.")


class SearchResult(BaseModel):
    query: str
    tier_name: str = Field(description="hybrid (keywords + meaning), keyword (meaning unavailable) or cached.")
    degraded: str | None = Field(description="Why the search fell back to keywords, if it did.")
    passages: list[Passage] = Field(description="Best first.")


class AskResult(BaseModel):
    question: str
    answer: str = Field(description="The answer; [n] cites the passage whose chunk_id is n.")
    citations: list[Citation]
    answerer: str = Field(description="llm (written by the model) or extractive (quotes from the passages).")
    review: Review = Field(description="What the judge model concluded about the answer.")
    tier_name: str
    fallback_reason: str | None = Field(description="Why the answer quotes instead of being written, if so.")


class PassagesResult(BaseModel):
    passages: list[Passage] = Field(description="In the order asked for.")
    missing: list[int] = Field(description="Ids that do not exist or are not in this library.")


class ItemsResult(BaseModel):
    items: list[ItemOut]
    next_cursor: str | None = Field(description="Pass as cursor for the next page; null at the end.")


def _from_hit(hit: Hit) -> Passage:
    return Passage(
        chunk_id=hit.chunk_id,
        item_id=hit.item_id,
        title=hit.title,
        author=hit.author,
        item_type=hit.item_type,
        page=hit.page,
        chapter=hit.chapter,
        text=hit.text,
        score=hit.score,
    )


def _from_chunk(chunk: ChunkOut) -> Passage:
    return Passage(
        chunk_id=chunk.id,
        item_id=chunk.item_id,
        title=chunk.item_title,
        author=chunk.item_author,
        item_type=chunk.item_type,
        page=chunk.page,
        chapter=chunk.chapter,
        text=chunk.text,
    )


def tool_error_message(exc: TomehubError) -> str:
    """Returns what the model reads when a tool fails: the API's message and its stable code."""
    message = f"{exc.message} ({exc.code})"
    if exc.retry_after_s is not None:
        message += f" Retry after {max(1, round(exc.retry_after_s))} s."
    return message


@asynccontextmanager
async def _as_tool_errors() -> AsyncIterator[None]:
    try:
        yield
    except TomehubError as exc:
        raise ToolError(tool_error_message(exc)) from exc
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'input'}: {e['msg']}" for e in exc.errors())
        raise ToolError(f"Invalid input: {problems} (bad_input)") from exc


_READ_ONLY = ToolAnnotations(read_only_hint=True, open_world_hint=False)


def build_server(caller_of: CallerOf) -> MCPServer:
    """Returns the MCP server with the library's tools, acting for whoever ``caller_of`` names."""
    server: MCPServer = MCPServer(SERVER_NAME, instructions=INSTRUCTIONS, version=__version__, log_level="WARNING")

    @server.tool(annotations=_READ_ONLY, structured_output=True)
    async def search_library(
        query: Annotated[str, Field(description="What to look for, in any words or language.")],
        ctx: Context,
        item_types: Annotated[
            list[ItemType] | None, Field(description="Only items of these types, e.g. BOOK, PERSONAL_NOTE.")
        ] = None,
        tags: Annotated[list[str] | None, Field(description="Only items carrying one of these tags.")] = None,
        item_ids: Annotated[list[UUID] | None, Field(description="Only these items (ids from list_items).")] = None,
        limit: Annotated[int, Field(ge=1, le=100, description="Passages to return.")] = 10,
    ) -> SearchResult:
        """Searches the library (keywords + meaning) and returns the best passages with where they are
        from (item, page, chapter) and their chunk ids."""
        async with _as_tool_errors():
            caller = await caller_of(ctx)
            services = caller.services
            filters = SearchFilters(item_ids=item_ids, item_types=item_types, tags=tags)
            retrieval = await services.searcher.search(
                user_id=caller.user_id,
                query=query,
                limit=limit,
                filters=filters,
                deadline=Deadline.after(services.settings.mcp.tool_deadline_s),
                route="mcp",
            )
        result = retrieval.result
        return SearchResult(
            query=result.query,
            tier_name=result.tier_name,
            degraded=result.degraded,
            passages=[_from_hit(h) for h in result.hits],
        )

    @server.tool(annotations=_READ_ONLY, structured_output=True)
    async def ask_library(
        question: Annotated[str, Field(description="A question answered only from the library.")],
        ctx: Context,
        item_ids: Annotated[list[UUID] | None, Field(description="Answer only from these items.")] = None,
    ) -> AskResult:
        """Answers a question from the library, citing passages as [chunk id]; says who wrote the answer
        (a model, or quotes) and whether a judge model passed it."""
        async with _as_tool_errors():
            caller = await caller_of(ctx)
            services = caller.services
            answer = await services.answers.answer(
                user_id=caller.user_id,
                question=question,
                filters=SearchFilters(item_ids=item_ids) if item_ids else None,
                deadline=Deadline.after(services.settings.mcp.ask_deadline_s),
            )
        return AskResult(
            question=answer.question,
            answer=answer.answer,
            citations=answer.citations,
            answerer=answer.answerer,
            review=answer.review,
            tier_name=answer.tier_name,
            fallback_reason=answer.fallback_reason,
        )

    @server.tool(annotations=_READ_ONLY, structured_output=True)
    async def get_passages(
        chunk_ids: Annotated[
            list[Annotated[int, Field(ge=1, lt=2**63)]],
            Field(min_length=1, description="Chunk ids, e.g. the [n] of an answer's citations."),
        ],
        ctx: Context,
    ) -> PassagesResult:
        """Reads passages by chunk id, in full, with their item, page and chapter."""
        async with _as_tool_errors():
            caller = await caller_of(ctx)
            services = caller.services
            limit = services.settings.mcp.max_passage_ids
            if len(chunk_ids) > limit:
                raise ToolError(f"At most {limit} chunk ids per call; split the list. (bad_input)")
            batch = await library_service.get_content(
                db=services.db,
                user_id=caller.user_id,
                ids=chunk_ids,
                deadline=Deadline.after(services.settings.mcp.tool_deadline_s),
            )
        return PassagesResult(passages=[_from_chunk(c) for c in batch.chunks], missing=batch.missing)

    @server.tool(annotations=_READ_ONLY, structured_output=True)
    async def list_items(
        ctx: Context,
        item_type: Annotated[ItemType | None, Field(description="Only items of this type.")] = None,
        tag: Annotated[str | None, Field(max_length=64, description="Only items carrying this tag.")] = None,
        q: Annotated[
            str | None, Field(max_length=200, description="Text to find in titles and authors (any case).")
        ] = None,
        limit: Annotated[int, Field(ge=1, description="Items per page.")] = 20,
        cursor: Annotated[str | None, Field(description="next_cursor of the previous page.")] = None,
    ) -> ItemsResult:
        """Lists the library's items, newest first, a page at a time."""
        async with _as_tool_errors():
            caller = await caller_of(ctx)
            services = caller.services
            most = services.settings.mcp.max_list_limit
            if limit > most:
                raise ToolError(f"'limit' can be at most {most}. (bad_input)")
            page = await library_service.list_items(
                db=services.db,
                user_id=caller.user_id,
                limit=limit,
                cursor=cursor,
                item_type=item_type.value if item_type else None,
                tag=tag.strip().lower() if tag and tag.strip() else None,
                query=q.strip() if q and q.strip() else None,
                deadline=Deadline.after(services.settings.mcp.tool_deadline_s),
            )
        return ItemsResult(items=page.items, next_cursor=page.next_cursor)

    @server.tool(annotations=ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=False))
    async def add_note(
        text: Annotated[str, Field(description="The note itself.")],
        ctx: Context,
        title: Annotated[str | None, Field(description="A title (default: the note's first words).")] = None,
        tags: Annotated[list[str] | None, Field(description="Tags to file the note under.")] = None,
    ) -> ItemOut:
        """Adds a personal note to the library; it is found by keyword at once and by meaning once
        embedded."""
        async with _as_tool_errors():
            caller = await caller_of(ctx)
            services = caller.services
            body = AddItemIn(item_type=ItemType.PERSONAL_NOTE, text=text, title=title, tags=tags or [])
            return await ingest_service.add_text_item(
                db=services.db,
                queue=services.queue,
                embedder=services.embedder,
                settings=services.settings,
                user_id=caller.user_id,
                body=body,
                deadline=Deadline.after(services.settings.mcp.tool_deadline_s),
            )

    return server
