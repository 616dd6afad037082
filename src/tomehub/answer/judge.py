"""The Judge AI: a rubric for answers written by the Work AI.

Two of the rubric's checks need no model and always run: citation accuracy (every cited id was in
the context, none invented, at least one cited) and relevance (embedding similarity of question and
answer, against the similarity of the question and its best passage). When a judge model is
configured it adds completeness and format and its own citation check; when that model cannot be
reached the answer is returned marked ``unreviewed`` — never silently passed.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np

from tomehub.answer.base import AnswerContext, cited_ids
from tomehub.config import AnswerSettings
from tomehub.errors import DeadlineExceeded, Unavailable
from tomehub.llm.base import Embedder, LLMError
from tomehub.llm.gateway import LLMGateway, Operation
from tomehub.llm.prompts import Prompts, judge_messages
from tomehub.resilience.deadline import Deadline

_log = logging.getLogger(__name__)


class Verdict(StrEnum):
    PASS = "PASS"
    REGENERATE = "REGENERATE"
    DECLINE = "DECLINE"


@dataclass
class Assessment:
    """The judge's scores and verdict; ``reviewed`` is False when the judge model was unreachable."""

    verdict: Verdict
    scores: dict[str, float] = field(default_factory=dict)
    hints: str = ""
    reviewed: bool = True


class Judge:
    def __init__(self, *, gateway: LLMGateway, embedder: Embedder, prompts: Prompts, settings: AnswerSettings) -> None:
        self.gateway = gateway
        self.embedder = embedder
        self.prompts = prompts
        self.settings = settings

    @property
    def uses_model(self) -> bool:
        return self.gateway.has(Operation.JUDGE)

    async def assess(
        self, context: AnswerContext, answer: str, *, query_vector: list[float] | None, deadline: Deadline
    ) -> Assessment:
        """Scores ``answer`` against its context and returns the verdict."""
        given = {h.chunk_id for h in context.hits}
        cited = cited_ids(answer)
        invented = [c for c in cited if c not in given]
        scores = {"citation_accuracy": (len(cited) - len(invented)) / len(cited) if cited else 0.0}
        relevance = await self._relevance(context, answer, query_vector, deadline)
        if relevance is not None:
            scores["relevance"] = relevance
        hints = ""
        if invented:
            hints = f"Ids {invented} were not among the passages; cite only the ids given."
        elif not cited:
            hints = "Cite the passage each sentence comes from as [id]."
        reviewed = True
        model_verdict: Verdict | None = None
        if self.uses_model:
            try:
                reply = await self.gateway.complete(
                    Operation.JUDGE,
                    judge_messages(
                        self.prompts, context.question, [(h.chunk_id, h.text) for h in context.hits], answer
                    ),
                    deadline=deadline,
                    json_mode=True,
                )
                verdict_data = json.loads(reply)
                for name in ("completeness", "format"):
                    scores[name] = _unit(verdict_data.get(name))
                scores["citation_accuracy"] = min(
                    scores["citation_accuracy"], _unit(verdict_data.get("citation_accuracy", 1.0))
                )
                hints = hints or str(verdict_data.get("hints") or "")[:300]
                model_verdict = Verdict(str(verdict_data.get("verdict", "")).upper())
            except (LLMError, Unavailable, DeadlineExceeded, ValueError, AttributeError) as exc:
                _log.warning("judge unavailable (%s); answer left unreviewed", exc.__class__.__name__)
                reviewed = False
        score = float(np.mean(list(scores.values())))
        scores["overall"] = round(score, 4)
        if score < self.settings.decline_score:
            verdict = Verdict.DECLINE
        elif invented or score < self.settings.pass_score:
            verdict = Verdict.REGENERATE
        else:
            verdict = Verdict.PASS
        # The judge model may be stricter than the scores, never more lenient.
        if model_verdict is not None and _SEVERITY[model_verdict] > _SEVERITY[verdict]:
            verdict = model_verdict
        return Assessment(verdict=verdict, scores={k: round(v, 4) for k, v in scores.items()}, hints=hints,
                          reviewed=reviewed)  # fmt: skip

    async def _relevance(
        self, context: AnswerContext, answer: str, query_vector: list[float] | None, deadline: Deadline
    ) -> float | None:
        """Returns how close the answer is to the question, relative to the best passage (0..1)."""
        if query_vector is None or not context.hits:
            return None
        best = max((h.dense_similarity for h in context.hits if h.dense_similarity is not None), default=None)
        if best is None or best <= 0:
            return None
        try:
            vector = await self.embedder.embed_query(_strip_citations(answer), deadline=deadline)
        except (LLMError, Unavailable, DeadlineExceeded):
            return None
        similarity = float(np.dot(np.asarray(query_vector, dtype=np.float32), vector))
        return max(0.0, min(1.0, similarity / best))


_SEVERITY = {Verdict.PASS: 0, Verdict.REGENERATE: 1, Verdict.DECLINE: 2}


def _strip_citations(answer: str) -> str:
    return re.sub(r"\s*\[\d+\]", "", answer)


def _unit(value: object) -> float:
    try:
        return max(0.0, min(1.0, float(value)))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0.0
