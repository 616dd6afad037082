"""Language detection and the normalisation shared by documents and queries."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import py3langid.langid
import pytest

from tomehub.library import analysis
from tomehub.library.analysis import FALLBACK_CONFIG, detect_config, normalize


def test_detects_turkish_english_and_german() -> None:
    assert (
        detect_config("Mustafa Kemal Samsun'a çıktığında memleketin durumu çok ağırdı ve ordu dağılmıştı.") == "turkish"
    )
    assert detect_config("Heidegger called the being for whom being is an issue Dasein, a term he kept.") == "english"
    assert detect_config("Die Philosophie beginnt mit dem Staunen über die Welt und ihre Dinge überhaupt.") == "german"


def test_threads_guessing_before_the_model_is_loaded_load_it_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # A process whose language model is not loaded yet, and a load slow enough for threads to meet in it.
    monkeypatch.setattr(analysis, "_model_loaded", False)
    monkeypatch.setattr(py3langid.langid, "IDENTIFIER", None)
    load = py3langid.langid._load_identifier
    loads = []

    def slow_load(*args: Any, **kwargs: Any) -> Any:
        loads.append(threading.get_ident())
        time.sleep(0.2)
        return load(*args, **kwargs)

    monkeypatch.setattr(py3langid.langid, "_load_identifier", slow_load)
    text = "Heidegger called the being for whom being is an issue Dasein, a term he kept."
    with ThreadPoolExecutor(4) as pool:
        configs = list(pool.map(lambda _: detect_config(text), range(4)))
    assert configs == ["english"] * 4
    assert len(loads) == 1


def test_short_text_is_not_guessed() -> None:
    assert detect_config("ok 42") == FALLBACK_CONFIG


def test_turkish_casing_and_circumflexes() -> None:
    assert normalize("IRMAK İstanbul", "turkish") == "ırmak istanbul"
    assert normalize("hâkimiyet millîdir", "turkish") == "hakimiyet millidir"
    # Outside Turkish, I is i and accents stay (the stemmers of those languages expect them).
    assert normalize("Istanbul café", "english") == "istanbul café"
    assert normalize("Heidegger’s", "english") == "heidegger's"
