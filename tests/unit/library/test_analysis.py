"""Language detection and the normalisation shared by documents and queries."""

from __future__ import annotations

from tomehub.library.analysis import FALLBACK_CONFIG, detect_config, normalize


def test_detects_turkish_english_and_german() -> None:
    assert (
        detect_config("Mustafa Kemal Samsun'a çıktığında memleketin durumu çok ağırdı ve ordu dağılmıştı.") == "turkish"
    )
    assert detect_config("Heidegger called the being for whom being is an issue Dasein, a term he kept.") == "english"
    assert detect_config("Die Philosophie beginnt mit dem Staunen über die Welt und ihre Dinge überhaupt.") == "german"


def test_short_text_is_not_guessed() -> None:
    assert detect_config("ok 42") == FALLBACK_CONFIG


def test_turkish_casing_and_circumflexes() -> None:
    assert normalize("IRMAK İstanbul", "turkish") == "ırmak istanbul"
    assert normalize("hâkimiyet millîdir", "turkish") == "hakimiyet millidir"
    # Outside Turkish, I is i and accents stay (the stemmers of those languages expect them).
    assert normalize("Istanbul café", "english") == "istanbul café"
    assert normalize("Heidegger’s", "english") == "heidegger's"
