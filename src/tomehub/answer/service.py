"""Question answering: retrieve context, let the answerer write (or quote) an answer, cite chunks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from tomehub.answer.base import AnswerContext, Answerer, cited_ids
from tomehub.answer.schemas import AnswerOut, Citation
from tomehub.config import AnswerSettings
from tomehub.resilience.deadline import Deadline
from tomehub.search.schemas import Hit, SearchFilters, SearchOut
from tomehub.search.service import Searcher


@dataclass(frozen=True)
class Sources:
    """The retrieval an answer is built on (sent to clients before the answer's first word)."""

    search: SearchOut
    context: AnswerContext


@dataclass(frozen=True)
class Token:
    text: str


@dataclass(frozen=True)
class Done:
    answer: AnswerOut


AnswerEvent = Sources | Token | Done


class AnswerService:
    """Answers questions from one user's library."""

    def __init__(self, *, searcher: Searcher, answerer: Answerer, settings: AnswerSettings) -> None:
        self.searcher = searcher
        self.answerer = answerer
        self.settings = settings

    async def events(
        self, *, user_id: int, question: str, filters: SearchFilters | None, deadline: Deadline
    ) -> AsyncIterator[AnswerEvent]:
        """Yields the sources, then the answer piece by piece, then the finished answer."""
        retrieval = await self.searcher.search(
            user_id=user_id, query=question, limit=self.settings.context_chunks, filters=filters, deadline=deadline
        )
        context = AnswerContext(
            question=retrieval.result.query, hits=retrieval.result.hits, query_lexemes=retrieval.query_lexemes
        )
        yield Sources(search=retrieval.result, context=context)
        pieces: list[str] = []
        if context.hits:
            async for piece in self.answerer.stream(context, deadline=deadline):
                pieces.append(piece)
                yield Token(piece)
        yield Done(self._finish(retrieval.result, "".join(pieces).strip()))

    async def answer(
        self, *, user_id: int, question: str, filters: SearchFilters | None, deadline: Deadline
    ) -> AnswerOut:
        """Returns the finished answer (the non-streaming form of ``events``)."""
        async for event in self.events(user_id=user_id, question=question, filters=filters, deadline=deadline):
            if isinstance(event, Done):
                return event.answer
        raise RuntimeError("the answer stream ended without its answer")

    def _finish(self, search: SearchOut, text: str) -> AnswerOut:
        by_id = {h.chunk_id: h for h in search.hits}
        citations = [_citation(by_id[i]) for i in cited_ids(text) if i in by_id]
        if not text:
            text = "Nothing in your library matches this question." if not search.hits else ""
        return AnswerOut(
            question=search.query,
            answer=text,
            citations=citations,
            answerer=self.answerer.name,
            tier=search.tier,
            tier_name=search.tier_name,
            sources=search.hits,
        )


def _citation(hit: Hit) -> Citation:
    return Citation(
        chunk_id=hit.chunk_id,
        item_id=hit.item_id,
        title=hit.title,
        author=hit.author,
        page=hit.page,
        chapter=hit.chapter,
    )
