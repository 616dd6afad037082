"""A synthetic but natural-looking corpus: word-bigram models trained on real text on disk.

English is trained on the demo library (Markdown, plain text, HTML through the product's own parser)
and the Markdown sources of the PDF and EPUB demo books; Turkish on volume 1 of Nutuk and the two
Turkish demo texts. Sampling walks a bigram chain sentence by sentence, so term frequencies follow the
sources' Zipf-like curve while every chunk is a new text. Each document has a topic: most of its
sentences come from the bigram model of one source text (chosen in proportion to its size), the rest
from the model of the whole language, so topical words cluster in documents as they do in a real
library instead of spreading evenly. Documents are generated deterministically from (seed, user,
document number): any process can regenerate any document.
"""

from __future__ import annotations

import json
import random
import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tomehub.ingest.chunking import chunk_sections, content_hash
from tomehub.ingest.parsers import parse_document
from tomehub.ingest.parsers.base import Section
from tomehub.library.repo import NewChunk, NewPassage, vector_literal
from tomehub.llm.fake.embedding import HashingEmbedder, hashed_bow

REPO = Path(__file__).resolve().parents[2]
DEMO_LIBRARY = REPO / "src" / "tomehub" / "demo" / "library"
DEMO_SOURCES = REPO / "scripts" / "demo_sources"
NUTUK = Path("/work/shared/datasets/nutuk/NUTUK_1.txt")
NUTUK_QA = Path("/work/shared/datasets/nutuk/qa-dev.json")
DEMO_EN_QA = REPO / "benchmarks" / "datasets" / "demo-en" / "qa.json"

ENGLISH_FILES = (
    "being-and-time-guide.md",
    "lisbon-1755-earthquake.md",
    "memory-and-spaced-repetition.md",
    "reading-journal.txt",
    "printing-press-history.html",
)
TURKISH_FILES = ("osmanlidan-cumhuriyete.md", "yunus-emre-notlari.txt")
ENGLISH_SHARE = 0.7
# Share of a document's sentences drawn from its topic's (source text's) model.
TOPIC_SHARE = 0.8
CHUNK_WORDS = (150, 250)
QUERY_WORDS = (4, 10)
# Tags with Zipf-like popularity; each document takes 1-3 of them.
TAGS = (
    "history",
    "philosophy",
    "notes",
    "politics",
    "science",
    "memoir",
    "ethics",
    "war",
    "religion",
    "economics",
    "poetry",
    "law",
)
ITEM_TYPES = ("BOOK", "BOOK", "BOOK", "ARTICLE", "ARTICLE", "WEBSITE", "PERSONAL_NOTE")

_SENTENCE_BREAK = re.compile(r"(?<=[.!?])\s+|\n+")
_EDGE_PUNCTUATION = ".,;:!?\"'()[]«»“”‘’…-"


class BigramModel:
    """A word-bigram chain over whitespace tokens (punctuation stays on its word)."""

    def __init__(self, texts: list[str]) -> None:
        successors: dict[str, list[str | None]] = defaultdict(list)
        starts: list[str] = []
        tokens = 0
        for text in texts:
            for words in _sentences(text):
                starts.append(words[0])
                tokens += len(words)
                for current, following in zip(words, [*words[1:], None], strict=True):
                    successors[current].append(following)
        self.starts = tuple(starts)
        self.successors = {word: tuple(nexts) for word, nexts in successors.items()}
        self.training_tokens = tokens

    @property
    def vocabulary(self) -> int:
        return len(self.successors)

    def sentence(self, rng: random.Random, limit: int) -> list[str]:
        """Returns one sampled sentence of at most ``limit`` words."""
        words: list[str] = []
        word: str | None = rng.choice(self.starts)
        while word is not None and len(words) < limit:
            words.append(word)
            word = rng.choice(self.successors[word])
        return words


class TopicModel:
    """Sentences from a document's topic model, with the language's general model mixed in."""

    def __init__(self, topic: BigramModel, general: BigramModel, share: float) -> None:
        self.topic = topic
        self.general = general
        self.share = share

    def sentence(self, rng: random.Random, limit: int) -> list[str]:
        model = self.topic if rng.random() < self.share else self.general
        return model.sentence(rng, limit)

    def passage(self, rng: random.Random, n_words: int) -> str:
        """Returns about ``n_words`` words of whole sentences (the last one is cut at ``n_words``)."""
        words: list[str] = []
        while len(words) < n_words:
            words.extend(self.sentence(rng, n_words - len(words)))
        return " ".join(words)


def _sentences(text: str) -> Iterator[list[str]]:
    for piece in _SENTENCE_BREAK.split(text):
        words = piece.split()
        if len(words) >= 3:
            yield words


def _parsed_text(path: Path) -> str:
    doc = parse_document(path.read_bytes(), path.name)
    return "\n".join(section.text for section in doc.sections)


def english_texts() -> list[str]:
    texts = [_parsed_text(DEMO_LIBRARY / name) for name in ENGLISH_FILES]
    texts += [_parsed_text(path) for path in sorted(DEMO_SOURCES.glob("*.md"))]
    return texts


def turkish_texts() -> list[str]:
    return [_parsed_text(NUTUK)] + [_parsed_text(DEMO_LIBRARY / name) for name in TURKISH_FILES]


@dataclass(frozen=True)
class Language:
    code: str
    ts_config: str
    model: BigramModel
    topics: tuple[BigramModel, ...]

    @classmethod
    def train(cls, code: str, ts_config: str, texts: list[str]) -> Language:
        return cls(code, ts_config, BigramModel(texts), tuple(BigramModel([t]) for t in texts))

    def topic(self, rng: random.Random) -> TopicModel:
        weights = [t.training_tokens for t in self.topics]
        return TopicModel(rng.choices(self.topics, weights=weights)[0], self.model, TOPIC_SHARE)


@dataclass(frozen=True)
class Document:
    """One generated library item with its chunks (vectors precomputed as pgvector literals)."""

    user: str
    number: int
    title: str
    item_type: str
    tags: tuple[str, ...]
    language: str
    ts_config: str
    chunks: tuple[NewChunk, ...]

    @property
    def file_sha256(self) -> str:
        return content_hash(f"{self.user}/{self.number}")


class Corpus:
    """Deterministic documents and queries from the two bigram models. Chunks are cut into passages
    by the product's own chunker (``passage_tokens`` tokens of the benchmark's embedder, whose
    tokens are words), and each passage carries its vector."""

    def __init__(self, *, seed: int, dim: int, passage_tokens: int) -> None:
        self.seed = seed
        self.dim = dim
        self.passage_tokens = passage_tokens
        self._count_tokens = HashingEmbedder(dim=dim).count_tokens
        self.english = Language.train("en", "english", english_texts())
        self.turkish = Language.train("tr", "turkish", turkish_texts())

    def language_of(self, user: str, number: int) -> Language:
        rng = random.Random(f"{self.seed}:lang:{user}:{number}")
        return self.english if rng.random() < ENGLISH_SHARE else self.turkish

    def document(self, user: str, number: int, n_chunks: int) -> Document:
        rng = random.Random(f"{self.seed}:doc:{user}:{number}")
        language = self.language_of(user, number)
        topic = language.topic(rng)
        chunks = tuple(self._chunk(rng, topic, language.ts_config, index) for index in range(n_chunks))
        title_words = topic.sentence(rng, rng.randint(3, 8))
        return Document(
            user=user,
            number=number,
            title=" ".join(title_words).strip(_EDGE_PUNCTUATION)[:200] or f"Document {number}",
            item_type=rng.choice(ITEM_TYPES),
            tags=tuple(sorted(set(rng.choices(TAGS, weights=_zipf_weights(len(TAGS)), k=rng.randint(1, 3))))),
            language=language.code,
            ts_config=language.ts_config,
            chunks=chunks,
        )

    def _chunk(self, rng: random.Random, topic: TopicModel, ts_config: str, index: int) -> NewChunk:
        text = topic.passage(rng, rng.randint(*CHUNK_WORDS))
        return NewChunk(
            chunk_index=index,
            text=text,
            content_type="BODY",
            ts_config=ts_config,
            content_hash=content_hash(text),
            page=index // 2 + 1,
            passages=tuple(self._passage(p) for p in self.split(text)),
        )

    def split(self, text: str) -> tuple[str, ...]:
        """The chunk's passages, as ``chunk_sections`` cuts them."""
        [chunk] = chunk_sections(
            [Section(text=text)],
            chunk_tokens=10**6,
            overlap_ratio=0.0,
            count_tokens=self._count_tokens,
            passage_tokens=self.passage_tokens,
        )
        return chunk.passages

    def _passage(self, text: str) -> NewPassage:
        vector = vector_literal(hashed_bow(text, self.dim).tolist())
        return NewPassage(text=text, content_hash=content_hash(text), embedding=vector)

    def generated_queries(self, n: int) -> list[tuple[str, str]]:
        """Returns ``n`` short (4-10 word) queries as (source, text), 70% English."""
        rng = random.Random(f"{self.seed}:queries")
        out: list[tuple[str, str]] = []
        seen: set[str] = set()
        while len(out) < n:
            language = self.english if rng.random() < ENGLISH_SHARE else self.turkish
            words = [w.strip(_EDGE_PUNCTUATION) for w in language.model.sentence(rng, rng.randint(*QUERY_WORDS))]
            text = " ".join(w for w in words if w)
            if len(text.split()) >= QUERY_WORDS[0] and text.lower() not in seen:
                seen.add(text.lower())
                out.append((f"generated-{language.code}", text))
        return out


def _zipf_weights(n: int) -> list[float]:
    return [1.0 / rank for rank in range(1, n + 1)]


def real_questions() -> list[tuple[str, str]]:
    """Returns the real questions on disk as (source, text): demo-en (English) and Nutuk (Turkish)."""
    english = [("qa-en", str(q["question"])) for q in json.loads(DEMO_EN_QA.read_text())]
    turkish = [("qa-tr", str(q["question"])) for q in json.loads(NUTUK_QA.read_text())]
    return english + turkish


def _distinct(queries: list[tuple[str, str]]) -> list[tuple[str, str]]:
    seen: set[str] = set()
    out = []
    for source, text in queries:
        if text.lower() not in seen:
            seen.add(text.lower())
            out.append((source, text))
    return out


def query_set(corpus: Corpus, n: int, warmup: int) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Returns (``n`` measured queries, ``warmup`` other ones). Measured: every demo-en question, a
    third Nutuk questions, the rest generated; the warm-up queries are generated and never measured
    (the app caches results, so a warm-up query asked again would be a cache hit)."""
    rng = random.Random(f"{corpus.seed}:query-mix")
    real = real_questions()
    english = _distinct([q for q in real if q[0] == "qa-en"])[: n // 3]
    turkish = _distinct([q for q in real if q[0] == "qa-tr"])
    turkish = rng.sample(turkish, min(len(turkish), n // 3))
    taken = {text.lower() for _, text in english + turkish}
    generated = [q for q in corpus.generated_queries(n + warmup) if q[1].lower() not in taken]
    needed = n - len(english) - len(turkish)
    measured_generated, warm = generated[:needed], generated[needed : needed + warmup]
    queries = english + turkish + measured_generated
    rng.shuffle(queries)
    return queries, warm


# The generator process (spawned) keeps one corpus; documents travel back pickled.
_worker_corpus: Corpus | None = None


def init_worker(seed: int, dim: int, passage_tokens: int) -> None:
    global _worker_corpus
    _worker_corpus = Corpus(seed=seed, dim=dim, passage_tokens=passage_tokens)


def generate_documents(user: str, numbers: list[int], n_chunks: int) -> list[Document]:
    assert _worker_corpus is not None, "init_worker was not called"
    return [_worker_corpus.document(user, number, n_chunks) for number in numbers]
