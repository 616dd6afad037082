"""The extractive answerer quotes the sentences that cover the question and cites their chunks."""

from __future__ import annotations

import uuid

from tomehub.answer.base import AnswerContext, cited_ids
from tomehub.answer.extractive import ExtractiveAnswerer, split_sentences
from tomehub.config import AnswerSettings
from tomehub.search.schemas import Hit


def hit(chunk_id: int, text: str) -> Hit:
    return Hit(
        chunk_id=chunk_id, item_id=uuid.uuid4(), title="T", author=None, item_type="BOOK", tags=[],
        content_type="BODY", chunk_index=0, text=text, page=None, chapter=None, score=1.0,
        lexical_rank=None, lexical_score=None, dense_rank=None, dense_similarity=None,
    )  # fmt: skip


def test_sentence_splitting() -> None:
    assert split_sentences("One sentence here. Another one! And a third? Yes.") == [
        "One sentence here.",
        "Another one!",
        "And a third?",
        "Yes.",
    ]
    assert split_sentences("Dr. who? no split before lower case. Next") == [
        "Dr. who? no split before lower case.",
        "Next",
    ]


def test_quotes_covering_sentences_most_relevant_first() -> None:
    hits = [
        hit(7, "Dasein is the being for whom being is an issue. The weather was fine that day in Freiburg."),
        hit(9, "Heidegger wrote Being and Time in 1927. It describes Dasein as being-in-the-world."),
    ]
    answerer = ExtractiveAnswerer(AnswerSettings(max_sentences=2))
    answer = answerer.compose(AnswerContext("What is Dasein?", hits, ["dasein"]))
    assert answer.startswith("Dasein is the being for whom being is an issue. [7]")
    assert "being-in-the-world. [9]" in answer
    assert "weather" not in answer
    assert cited_ids(answer) == [7, 9]


def test_fragments_cut_by_chunk_boundaries_give_way_to_whole_sentences() -> None:
    hits = [
        hit(1, "in his compressed formula, Dasein is ahead of itself, already in a world, alongside"),
        hit(2, "Dasein is Heidegger's name for the being we ourselves are."),
    ]
    answer = ExtractiveAnswerer(AnswerSettings(max_sentences=1)).compose(AnswerContext("dasein", hits, ["dasein"]))
    assert answer == "Dasein is Heidegger's name for the being we ourselves are. [2]"


def test_duplicate_sentences_from_overlapping_chunks_are_quoted_once() -> None:
    shared = "Care is the being of Dasein according to the analytic."
    hits = [hit(1, shared + " More text follows here."), hit(2, shared + " Other text follows here.")]
    answer = ExtractiveAnswerer(AnswerSettings()).compose(AnswerContext("care dasein", hits, ["care", "dasein"]))
    assert answer.count(shared) == 1


def test_falls_back_to_the_top_chunk_when_only_fragments_match() -> None:
    answer = ExtractiveAnswerer(AnswerSettings()).compose(AnswerContext("x", [hit(3, "Short. Bits.")], ["x"]))
    assert answer == "Short. Bits. [3]"
