"""Question answering: retrieve, let the Work AI write (or the extractive answerer quote), let the
Judge AI review, and say which of them produced the answer and what the review concluded.

Events, in order: ``Sources`` (before the first word), ``Token``… (the answer as it is written),
possibly ``Reset`` (discard the words so far: a regenerated or replaced answer follows), ``Done``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from tomehub.answer.base import AnswerContext, Turn, cited_ids
from tomehub.answer.extractive import ExtractiveAnswerer
from tomehub.answer.judge import Assessment, Judge, Verdict
from tomehub.answer.schemas import AnswerOut, Citation, Review, Versions
from tomehub.answer.work import LLMAnswerer
from tomehub.config import AnswerSettings
from tomehub.errors import DeadlineExceeded, Unavailable
from tomehub.llm.base import LLMError
from tomehub.metrics import ANSWERS
from tomehub.resilience.deadline import Deadline
from tomehub.search.schemas import Hit, SearchFilters, SearchOut
from tomehub.search.service import Retrieval, Searcher, SupportingQuery
from tomehub.store.cache import Cache, cache_key

_log = logging.getLogger(__name__)

NOTHING_FOUND = "Nothing in your library matches this question."


@dataclass(frozen=True)
class Sources:
    """The retrieval an answer is built on (sent to clients before the answer's first word)."""

    search: SearchOut
    context: AnswerContext


@dataclass(frozen=True)
class Token:
    text: str


@dataclass(frozen=True)
class Reset:
    """Discard the text streamed so far; another answer follows."""

    reason: str


@dataclass(frozen=True)
class Done:
    answer: AnswerOut


AnswerEvent = Sources | Token | Reset | Done
_DEGRADED = (LLMError, Unavailable, DeadlineExceeded)
# The writer's first piece (a stream) or whole answer (JSON) is due this long before the request's
# deadline: time to quote instead, serialise and send, and for the client's clock, which started
# before ours (queues, transport). Using the whole budget had answers land just after the client
# gave up, as 504s (scenario 5 of the stress suite).
_ANSWER_MARGIN_S = 0.8


class AnswerService:
    """Answers questions from one user's library."""

    def __init__(
        self,
        *,
        searcher: Searcher,
        extractive: ExtractiveAnswerer,
        settings: AnswerSettings,
        prompt_hash: str,
        cache: Cache | None = None,
        work: LLMAnswerer | None = None,
        judge: Judge | None = None,
    ) -> None:
        self.cache = cache
        self.searcher = searcher
        self.extractive = extractive
        self.work = work if work is not None and work.available else None
        self.judge = judge
        self.settings = settings
        self.prompt_hash = prompt_hash

    async def events(
        self,
        *,
        user_id: int,
        question: str,
        filters: SearchFilters | None,
        deadline: Deadline,
        streaming: bool = True,
        search_query: str | None = None,
        supporting: SupportingQuery | None = None,
        history: Sequence[Turn] = (),
    ) -> AsyncIterator[AnswerEvent]:
        """Yields the sources, then the answer piece by piece, then the finished answer. A streamed
        answer must start within ``deadline`` and may then run longer; a whole (JSON) answer must
        be complete within it, quotes filling in for a writer or judge too slow to finish.

        A follow-up in a conversation is searched as ``search_query`` (a standalone rewrite) or
        with a ``supporting`` keyword query, and its writer sees the earlier turns ``history``."""
        search_by = deadline.sooner(self.settings.writer_reserve_s)
        retrieval = await self.searcher.search(
            user_id=user_id,
            query=search_query if search_query is not None else question,
            limit=self.settings.context_chunks,
            filters=filters,
            deadline=search_by,
            route="search",
            supporting=supporting,
        )
        context = AnswerContext(
            question=retrieval.result.query if search_query is None else question.strip(),
            hits=retrieval.result.hits,
            query_lexemes=retrieval.query_lexemes,
            history=tuple(history),
        )
        yield Sources(search=retrieval.result, context=context)
        if not context.hits:
            yield self._done(retrieval, context, NOTHING_FOUND, "extractive", Review.QUOTED)
            return
        if self.work is None:
            async for event in self._quote(retrieval, context, deadline, Review.QUOTED, reason=None):
                yield event
            return
        # A reviewed answer to the same question from the same passages, by the same model under the
        # same prompts, is served again: any change of those is another key.
        key = self._cache_key(context)
        cached = await self.cache.get(key) if self.cache is not None else None
        if cached is not None:
            remembered = AnswerOut.model_validate_json(cached)
            for piece in re.findall(r"\S+\s*", remembered.answer):
                yield Token(piece)
            search = retrieval.result
            remembered.sources, remembered.tier, remembered.tier_name = search.hits, search.tier, search.tier_name
            remembered.cached = True
            ANSWERS.labels(remembered.answerer, remembered.review.value).inc()
            yield Done(remembered)
            return
        # The writer must start (a stream) or finish (a whole answer) this early, so that quoting
        # instead still fits in the request's deadline.
        due = deadline.sooner(_ANSWER_MARGIN_S)
        if streaming:
            stream_deadline = Deadline.after(self.settings.stream_deadline_s, enforce=deadline.enforce)
        else:
            stream_deadline = due
        pieces: list[str] = []
        try:
            async for piece in self.work.stream(context, deadline=stream_deadline, first_piece_by=due):
                pieces.append(piece)
                yield Token(piece)
        except _DEGRADED as exc:
            if pieces:
                yield Reset("the writer failed mid-answer")
            reason = f"generation unavailable ({exc.__class__.__name__})"
            async for event in self._quote(retrieval, context, deadline, Review.QUOTED, reason=reason):
                yield event
            return
        answer = "".join(pieces).strip()
        if self._fast_track(context, answer):
            yield await self._remember(key, self._done(retrieval, context, answer, "llm", Review.FAST_TRACK))
            return
        assessment = await self._assess(context, answer, retrieval, stream_deadline)
        if assessment is None or not assessment.reviewed:
            yield self._done(retrieval, context, answer, "llm", Review.UNREVIEWED, assessment)
            return
        if assessment.verdict is Verdict.PASS:
            yield await self._remember(key, self._done(retrieval, context, answer, "llm", Review.PASSED, assessment))
            return
        if assessment.verdict is Verdict.REGENERATE and stream_deadline.remaining() >= self.settings.regenerate_min_s:
            yield Reset("the judge asked for a better answer")
            pieces = []
            try:
                async for piece in self.work.stream(
                    context, deadline=stream_deadline, hints=assessment.hints, first_piece_by=stream_deadline
                ):
                    pieces.append(piece)
                    yield Token(piece)
                answer = "".join(pieces).strip()
                second = await self._assess(context, answer, retrieval, stream_deadline)
            except _DEGRADED:
                second = None
            if second is not None and second.reviewed and second.verdict is Verdict.PASS:
                yield await self._remember(
                    key, self._done(retrieval, context, answer, "llm", Review.REGENERATED, second)
                )
                return
            if second is not None and not second.reviewed:
                yield self._done(retrieval, context, answer, "llm", Review.UNREVIEWED, second)
                return
            assessment = second or assessment
        yield Reset("the judge declined the answer")
        async for event in self._quote(
            retrieval, context, deadline, Review.DECLINED, reason="declined by the judge", assessment=assessment
        ):
            yield event

    async def answer(
        self, *, user_id: int, question: str, filters: SearchFilters | None, deadline: Deadline
    ) -> AnswerOut:
        """Returns the finished answer (the non-streaming form of ``events``)."""
        async for event in self.events(
            user_id=user_id, question=question, filters=filters, deadline=deadline, streaming=False
        ):
            if isinstance(event, Done):
                return event.answer
        raise RuntimeError("the answer stream ended without its answer")

    async def _quote(
        self,
        retrieval: Retrieval,
        context: AnswerContext,
        deadline: Deadline,
        review: Review,
        *,
        reason: str | None,
        assessment: Assessment | None = None,
    ) -> AsyncIterator[AnswerEvent]:
        pieces: list[str] = []
        async for piece in self.extractive.stream(context, deadline=deadline):
            pieces.append(piece)
            yield Token(piece)
        yield self._done(retrieval, context, "".join(pieces).strip(), "extractive", review, assessment, reason)

    def _cache_key(self, context: AnswerContext) -> str:
        # The writer of a follow-up also read the conversation: it is part of what the answer depends on.
        conversation = [[(t.role, t.content) for t in context.history]] if context.history else []
        return cache_key(
            "answer",
            context.question,
            [h.chunk_id for h in context.hits],
            self.work.model if self.work is not None else None,
            self.prompt_hash,
            self.searcher.embedder.model,
            self.searcher.embedder.version,
            *conversation,
        )

    async def _remember(self, key: str, done: Done) -> Done:
        # Only reviewed LLM answers are worth keeping (quotes are cheap; unreviewed ones unvetted).
        if self.cache is not None:
            await self.cache.set(key, done.answer.model_dump_json(exclude={"sources"}).encode())
        return done

    async def _assess(
        self, context: AnswerContext, answer: str, retrieval: Retrieval, deadline: Deadline
    ) -> Assessment | None:
        if self.judge is None:
            return None
        return await self.judge.assess(context, answer, query_vector=retrieval.query_vector, deadline=deadline)

    def _fast_track(self, context: AnswerContext, answer: str) -> bool:
        """A short question whose best chunk both lists ranked first, answered citing only given
        chunks including that one, needs no judge."""
        if not self.settings.fast_track or len(context.question.split()) > self.settings.fast_track_max_words:
            return False
        top = context.hits[0]
        cited = cited_ids(answer)
        given = {h.chunk_id for h in context.hits}
        return top.lexical_rank == 1 and top.dense_rank == 1 and top.chunk_id in cited and set(cited) <= given

    def _done(
        self,
        retrieval: Retrieval,
        context: AnswerContext,
        text: str,
        answerer: str,
        review: Review,
        assessment: Assessment | None = None,
        reason: str | None = None,
    ) -> Done:
        search = retrieval.result
        by_id = {h.chunk_id: h for h in search.hits}
        citations = [_citation(by_id[i]) for i in cited_ids(text) if i in by_id]
        ANSWERS.labels(answerer, review.value).inc()
        answer = AnswerOut(
            question=context.question,
            answer=text or NOTHING_FOUND,
            citations=citations,
            answerer=answerer,
            review=review,
            scores=assessment.scores if assessment else {},
            fallback_reason=reason,
            tier=search.tier,
            tier_name=search.tier_name,
            versions=Versions(
                embedding_model=f"{self.searcher.embedder.model}@{self.searcher.embedder.version}",
                chat_model=self.work.model if self.work is not None else None,
                prompt_hash=self.prompt_hash,
            ),
            sources=search.hits,
        )
        _log.info(
            "answer",
            extra={"answerer": answerer, "review": review.value, "tier": int(search.tier), "prompt": self.prompt_hash},
        )
        return Done(answer)


def _citation(hit: Hit) -> Citation:
    return Citation(
        chunk_id=hit.chunk_id,
        item_id=hit.item_id,
        title=hit.title,
        author=hit.author,
        page=hit.page,
        chapter=hit.chapter,
    )
