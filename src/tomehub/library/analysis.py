"""Text analysis for the lexical index: language detection and the normalisation applied before
PostgreSQL's snowball stemmers see the text.

PostgreSQL does the tokenising and stemming (``to_tsvector(config, text)``) for documents and queries
alike; Python only normalises, because the embedded server has no ``unaccent`` and its case mapping
is not Turkish-aware (``lower('I')`` must be ``ı`` in Turkish text, ``i`` elsewhere).
"""

from __future__ import annotations

import threading
import unicodedata

import py3langid

# ISO 639-1 code -> PostgreSQL snowball configuration shipped with every PostgreSQL >= 15.
_CONFIGS = {
    "ar": "arabic",
    "hy": "armenian",
    "eu": "basque",
    "ca": "catalan",
    "da": "danish",
    "nl": "dutch",
    "en": "english",
    "et": "estonian",
    "fi": "finnish",
    "fr": "french",
    "de": "german",
    "el": "greek",
    "hi": "hindi",
    "hu": "hungarian",
    "id": "indonesian",
    "ga": "irish",
    "it": "italian",
    "lt": "lithuanian",
    "ne": "nepali",
    "no": "norwegian",
    "nb": "norwegian",
    "pt": "portuguese",
    "ro": "romanian",
    "ru": "russian",
    "sr": "serbian",
    "es": "spanish",
    "sv": "swedish",
    "ta": "tamil",
    "tr": "turkish",
    "yi": "yiddish",
}
FALLBACK_CONFIG = "simple"
KNOWN_CONFIGS = frozenset(_CONFIGS.values()) | {FALLBACK_CONFIG}

# Below this many letters the language guess is noise; such text is analysed without stemming.
_MIN_LETTERS_FOR_DETECTION = 40
_CIRCUMFLEX = "\u0302"


_model_lock = threading.Lock()
_model_loaded = False


def warm_up() -> None:
    """Loads the language model, once per process (0.3-1.2 s here; a guess then takes ~0.4 ms).
    py3langid loads it lazily without a lock, so every thread that guessed before it was loaded
    loaded a copy of its own: four parsing jobs starting together spent ~5 s of a worker's first
    seconds on it. Callers arriving during the load wait for that one."""
    global _model_loaded
    if _model_loaded:
        return
    with _model_lock:
        if not _model_loaded:
            py3langid.classify("warm up")
            _model_loaded = True


def language_code(text: str) -> str:
    """The ISO 639-1 code of the language ``text`` reads as (py3langid's guess, however short the text)."""
    warm_up()
    code, _score = py3langid.classify(text)
    return str(code)


def detect_config(text: str) -> str:
    """Returns the text-search configuration for the language ``text`` is written in."""
    sample = text[:4000]
    if sum(ch.isalpha() for ch in sample) < _MIN_LETTERS_FOR_DETECTION:
        return FALLBACK_CONFIG
    return _CONFIGS.get(language_code(sample), FALLBACK_CONFIG)


def normalize(text: str, config: str) -> str:
    """Returns ``text`` prepared for ``to_tsvector(config, ...)``: the same rules for documents and queries."""
    text = unicodedata.normalize("NFKC", text)
    if config == "turkish":
        # Turkish casing: dotted and dotless i are different letters.
        text = text.replace("I", "ı").replace("İ", "i")
        # Circumflexes (â, î, û) mark Ottoman-era vowel length and are written inconsistently;
        # drop them, keep ç ğ ı ö ş ü which the stemmer needs.
        decomposed = unicodedata.normalize("NFD", text)
        text = unicodedata.normalize("NFC", decomposed.replace(_CIRCUMFLEX, ""))
    else:
        text = text.replace("İ", "I")
    # Apostrophes split Turkish suffixes and English possessives alike ("Erzurum'a", "Heidegger's").
    text = text.replace("’", "'").replace("‘", "'")
    return text.lower()
