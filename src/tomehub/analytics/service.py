"""Concordance and term distribution over one user's library.

Both start from the BM25 postings: the term is stemmed with each text-search configuration the
library uses (so "kitap" meets the Turkish stem of "kitaplarımızdan"), and the postings name the
chunks holding it — no scan of the library's text. The distribution is the postings' term
frequencies summed per item and per page/chapter.

The concordance lines are cut in Python from only the chunks of the page being returned: their
words are found with a regular expression, those that can be forms of the term (beginning as one of
its stems does) are stemmed by PostgreSQL in one statement (the same stemmer and normalisation that
built the postings, so a word is an occurrence exactly when the index says so), and every matching
word becomes a line with its exact place in the original text.
``ts_headline`` was the other way: it returns fragments chosen by its own cover density (several
occurrences in one fragment, or some left out), works on the raw text rather than the normalised
text the postings came from (Turkish dotted and dotless i, circumflexes), and marks matches with
strings that may occur in the text itself; neither one line per occurrence nor a count equal to
the distribution's would follow from it.
"""

from __future__ import annotations

import base64
import functools
import json
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from tomehub.analytics import repo
from tomehub.analytics.schemas import (
    ConcordanceLine,
    ConcordanceOut,
    DistributionOut,
    ItemDistribution,
    SectionCount,
)
from tomehub.config import AnalyticsSettings
from tomehub.errors import BadInput, NotFound
from tomehub.library import repo as library_repo
from tomehub.library.analysis import normalize
from tomehub.library.schemas import ItemType
from tomehub.resilience.deadline import Deadline
from tomehub.store.db import Connection, Database

# A word as PostgreSQL's parser sees one: letters and digits (with combining accents); an
# apostrophe, a hyphen or an underscore ends it, as they do for the parser.
_WORD = re.compile(r"(?:[^\W_]|[\u0300-\u036f])+")
_SPACE = re.compile(r"\s+")
# The snowball stemmers of these configurations change a word's ending, its case and its accents, never
# its beginning: a word can stem to a lexeme only if both begin alike once folded, so the other words of
# a chunk need not be stemmed at all (a page's chunks hold thousands of distinct words, the term's
# forms a handful). The stemmers of the other configurations strip prefixes (Arabic, Indonesian,
# Irish, Yiddish), transliterate (Serbian) or are not known to keep beginnings: all their words are
# stemmed.
_SUFFIX_STEMMERS = frozenset(
    {
        "armenian", "basque", "catalan", "danish", "dutch", "english", "estonian", "finnish", "french",
        "german", "hungarian", "italian", "lithuanian", "norwegian", "portuguese", "romanian", "russian",
        "simple", "spanish", "swedish", "turkish",
    }
)  # fmt: skip
_HEAD_CHARS = 2
_FOLD_LETTERS = str.maketrans({"ı": "i", "y": "i"})
# Whole words only: no letter, digit or combining accent right before or after (as _WORD cuts them).
_NOT_AFTER_WORD = r"(?<![^\W_])(?<![\u0300-\u036f])"
_NOT_BEFORE_WORD = r"(?![^\W_])(?![\u0300-\u036f])"


def clean_term(term: str, settings: AnalyticsSettings) -> str:
    """Returns the term trimmed, or raises BadInput when it is not one word of a sensible length."""
    term = term.strip()
    if not term:
        raise BadInput("Give a term: one word to look up, e.g. term=kitap.")
    if len(term) > settings.max_term_chars:
        raise BadInput(f"The term is longer than {settings.max_term_chars} characters; look up one word.")
    if _WORD.fullmatch(term) is None:
        raise BadInput("Look up one word: letters and digits only, without spaces or punctuation.")
    return term


async def concordance(
    *,
    db: Database,
    settings: AnalyticsSettings,
    user_id: int,
    term: str,
    item_id: UUID | None,
    limit: int | None,
    cursor: str | None,
    deadline: Deadline,
) -> ConcordanceOut:
    """Returns a page of keyword-in-context lines for the term, by item title and reading order."""
    term = clean_term(term, settings)
    n = _resolve_limit(limit, settings)
    start = _decode_cursor(cursor) if cursor else None
    async with db.search(deadline) as conn:
        lexemes = await _lexemes(conn, user_id=user_id, term=term, item_id=item_id)
        if not lexemes:
            return ConcordanceOut(term=term, lexemes={}, lines=[], next_cursor=None)
        # One chunk more than lines wanted: every chunk holds at least one occurrence, so the extra
        # one tells whether another page follows.
        rows = await repo.concordance_chunks(
            conn,
            user_id=user_id,
            lexemes=lexemes,
            item_id=item_id,
            after=start.key if start else None,
            limit=n + 1,
        )
        page = _Page(limit=n, start=start, context_chars=settings.context_chars)
        for batch in _batches(rows, page, start):
            occurrences = _occurrence_patterns(await _occurring_words(conn, batch, lexemes))
            for row in batch:
                pattern = occurrences.get(str(row["ts_config"]))
                page.add(row, list(pattern.finditer(row["text"])) if pattern is not None else [])
                if page.next_cursor is not None:
                    break
            if page.next_cursor is not None:
                break
        if page.next_cursor is None and len(rows) > n and page.last is not None:
            # Every chunk was read without a line left over, yet more chunks follow (a word the
            # index holds but the tokeniser split otherwise): go on after the last one.
            page.next_cursor = _encode_cursor(*page.last)
    return ConcordanceOut(term=term, lexemes=lexemes, lines=page.lines, next_cursor=page.next_cursor)


async def distribution(
    *,
    db: Database,
    settings: AnalyticsSettings,
    user_id: int,
    term: str,
    item_id: UUID | None,
    deadline: Deadline,
) -> DistributionOut:
    """Returns the term's occurrences per item and per page/chapter of each, most occurrences first."""
    term = clean_term(term, settings)
    async with db.search(deadline) as conn:
        lexemes = await _lexemes(conn, user_id=user_id, term=term, item_id=item_id)
        rows = await repo.distribution_rows(conn, user_id=user_id, lexemes=lexemes, item_id=item_id) if lexemes else []
    items: dict[UUID, ItemDistribution] = {}
    for r in rows:
        item = items.get(r["item_id"])
        if item is None:
            item = items[r["item_id"]] = ItemDistribution(
                item_id=r["item_id"],
                title=r["title"],
                author=r["author"],
                item_type=ItemType(r["item_type"]),
                count=0,
                chunks=0,
                sections=[],
            )
        section = SectionCount(page=r["page"], chapter=r["chapter"], count=int(r["count"]), chunks=int(r["chunks"]))
        item.sections.append(section)
        item.count += section.count
        item.chunks += section.chunks
    ranked = sorted(items.values(), key=lambda i: (-i.count, i.title.lower(), str(i.item_id)))
    for item in ranked:
        item.sections.sort(key=lambda s: (s.page is None, s.page or 0, s.chapter or ""))
    listed = ranked[: settings.distribution_max_items]
    return DistributionOut(
        term=term,
        lexemes=lexemes,
        total_count=sum(i.count for i in ranked),
        total_chunks=sum(i.chunks for i in ranked),
        total_items=len(ranked),
        items=listed,
        truncated=len(ranked) > len(listed),
    )


async def _lexemes(conn: Connection, *, user_id: int, term: str, item_id: UUID | None) -> dict[str, list[str]]:
    if item_id is not None and await library_repo.get_item(conn, user_id=user_id, item_id=item_id) is None:
        raise NotFound(f"No item {item_id} in your library.")
    return await repo.term_lexemes(
        conn, user_id=user_id, q_tr=normalize(term, "turkish"), q_std=normalize(term, "simple")
    )


def _resolve_limit(limit: int | None, settings: AnalyticsSettings) -> int:
    if limit is None:
        return settings.concordance_default_limit
    if not 1 <= limit <= settings.concordance_max_limit:
        raise BadInput(f"'limit' must be between 1 and {settings.concordance_max_limit}.")
    return limit


@dataclass(frozen=True)
class _Start:
    """Where a page starts: the chunk key (item title lower-cased, item id, chunk index) and how many
    of that chunk's occurrences the previous page showed already."""

    key: tuple[str, UUID, int]
    skip: int


@dataclass
class _Page:
    limit: int
    start: _Start | None
    context_chars: int
    lines: list[ConcordanceLine] = field(default_factory=list)
    next_cursor: str | None = None
    # The last chunk read and how many occurrences it had.
    last: tuple[tuple[str, UUID, int], int] | None = None

    def add(self, row: dict[str, Any], matches: list[re.Match[str]]) -> None:
        """Adds the lines of one chunk; sets ``next_cursor`` once a line is left over."""
        key = _key(row)
        skip = self.start.skip if self.start is not None and self.start.key == key else 0
        self.last = (key, max(skip, len(matches)))
        for n, m in enumerate(matches[skip:], start=skip):
            if len(self.lines) == self.limit:
                self.next_cursor = _encode_cursor(key, n)
                return
            self.lines.append(_line(row, m, self.context_chars))


def _batches(rows: list[dict[str, Any]], page: _Page, start: _Start | None) -> Iterator[list[dict[str, Any]]]:
    """Yields the rows in batches just large enough, by the postings' term frequencies, to fill the
    page and find one line more: only those chunks are tokenised and stemmed."""
    i = 0
    while i < len(rows):
        wanted = page.limit + 1 - len(page.lines)
        j = i
        while j < len(rows) and wanted > 0:
            skip = start.skip if start is not None and start.key == _key(rows[j]) else 0
            wanted -= max(1, int(rows[j]["tf"]) - skip)
            j += 1
        yield rows[i:j]
        i = j


def _key(row: dict[str, Any]) -> tuple[str, UUID, int]:
    return (str(row["sort_title"]), row["item_id"], int(row["chunk_index"]))


async def _occurring_words(
    conn: Connection, rows: list[dict[str, Any]], lexemes: dict[str, list[str]]
) -> set[tuple[str, str]]:
    """Returns the (configuration, word as written) pairs of the chunks' words that stem to one of the
    term's lexemes. Of a language whose stemmer keeps beginnings, only the words beginning as one of the
    lexemes does are normalised and sent to PostgreSQL."""
    heads = {cfg: {_fold(lexeme)[:_HEAD_CHARS] for lexeme in stems} for cfg, stems in lexemes.items()}
    texts: dict[str, list[str]] = {}
    for row in rows:
        texts.setdefault(str(row["ts_config"]), []).append(row["text"])
    candidates: dict[tuple[str, str], str] = {}
    for cfg, chunk_texts in texts.items():
        # One pass over the batch's text of each language; every distinct word is looked at once.
        words = set(_WORD.findall("\n".join(chunk_texts)))
        if cfg in _SUFFIX_STEMMERS:
            starts = tuple(heads.get(cfg, ()))
            words = {w for w in words if _folded_head(w[: _HEAD_CHARS + 1]).startswith(starts)}
        for word in words:
            candidates[(cfg, word)] = normalize(word, cfg)
    stems = await repo.stem_words(conn, words=sorted({(cfg, norm) for (cfg, _), norm in candidates.items()}))
    return {
        (cfg, word)
        for (cfg, word), norm in candidates.items()
        if not set(stems.get((cfg, norm), ())).isdisjoint(lexemes.get(cfg, ()))
    }


def _fold(text: str) -> str:
    """Returns ``text`` case-folded without accents, dotless i and y as i: how stems and words compare
    (English stems "dying" as "die")."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).translate(_FOLD_LETTERS)


@functools.lru_cache(maxsize=65_536)
def _folded_head(head: str) -> str:
    # A language has a few thousand word beginnings: folding each once keeps the filter a lookup.
    return _fold(head)


def _occurrence_patterns(words: set[tuple[str, str]]) -> dict[str, re.Pattern[str]]:
    """Returns, per configuration, a pattern finding the given words (as written) as whole words."""
    by_cfg: dict[str, list[str]] = {}
    for cfg, word in words:
        by_cfg.setdefault(cfg, []).append(word)
    return {
        cfg: re.compile(
            rf"{_NOT_AFTER_WORD}(?:{'|'.join(re.escape(w) for w in sorted(forms, key=len, reverse=True))})"
            rf"{_NOT_BEFORE_WORD}"
        )
        for cfg, forms in by_cfg.items()
    }


def _line(row: dict[str, Any], m: re.Match[str], width: int) -> ConcordanceLine:
    text: str = row["text"]
    return ConcordanceLine(
        item_id=row["item_id"],
        title=row["title"],
        author=row["author"],
        chunk_id=int(row["chunk_id"]),
        chunk_index=int(row["chunk_index"]),
        page=row["page"],
        chapter=row["chapter"],
        left=_left(text, m.start(), width),
        match=m.group(),
        right=_right(text, m.end(), width),
        offset=m.start(),
    )


def _left(text: str, start: int, width: int) -> str:
    begin = max(0, start - width)
    piece = text[begin:start]
    if begin > 0 and not text[begin - 1].isspace():
        # The cut fell inside a word: start at the next whole one.
        space = _SPACE.search(piece)
        piece = piece[space.start() :] if space else ""
    return _SPACE.sub(" ", piece).lstrip()


def _right(text: str, end: int, width: int) -> str:
    stop = min(len(text), end + width)
    piece = text[end:stop]
    if stop < len(text) and not text[stop].isspace():
        spaces = list(_SPACE.finditer(piece))
        piece = piece[: spaces[-1].start()] if spaces else ""
    return _SPACE.sub(" ", piece).rstrip()


def _encode_cursor(key: tuple[str, UUID, int], skip: int) -> str:
    title, item_id, index = key
    body = {"t": title, "i": str(item_id), "x": index, "s": skip}
    return base64.urlsafe_b64encode(json.dumps(body, separators=(",", ":")).encode()).decode()


def _decode_cursor(cursor: str) -> _Start:
    try:
        body = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        title, item_id, index, skip = body["t"], UUID(str(body["i"])), body["x"], body["s"]
        if not isinstance(title, str) or not isinstance(index, int) or not isinstance(skip, int) or skip < 0:
            raise ValueError("bad cursor fields")
    except (ValueError, TypeError, KeyError, UnicodeDecodeError) as exc:
        # A tampered cursor must fail here (422), not as a type error inside PostgreSQL (500).
        raise BadInput("The cursor is not one this API returned; start again without it.") from exc
    return _Start(key=(title, item_id, index), skip=skip)
