"""The Work AI: an LLM writes the answer from the retrieved chunks, citing them as ``[chunk id]``."""

from __future__ import annotations

from collections.abc import AsyncIterator

from tomehub.answer.base import AnswerContext
from tomehub.llm.gateway import LLMGateway, Operation
from tomehub.llm.prompts import Prompts, answer_messages
from tomehub.resilience.deadline import Deadline


class LLMAnswerer:
    """Streams an answer written by the generation model."""

    name = "llm"

    def __init__(self, *, gateway: LLMGateway, prompts: Prompts) -> None:
        self.gateway = gateway
        self.prompts = prompts

    @property
    def available(self) -> bool:
        return self.gateway.has(Operation.GENERATION)

    @property
    def model(self) -> str:
        route = self.gateway.route(Operation.GENERATION)
        return str(getattr(route.provider, "chat_model", route.provider_name))

    async def stream(
        self, context: AnswerContext, *, deadline: Deadline, first_piece_by: Deadline | None = None, hints: str = ""
    ) -> AsyncIterator[str]:
        """Yields the answer as written; the first piece must come before ``first_piece_by``."""
        passages = [(h.chunk_id, h.text) for h in context.hits]
        history = [(turn.role, turn.content) for turn in context.history]
        messages = answer_messages(self.prompts, context.question, passages, hints, history)
        async for piece in self.gateway.stream(
            Operation.GENERATION, messages, deadline=deadline, first_piece_by=first_piece_by
        ):
            yield piece
