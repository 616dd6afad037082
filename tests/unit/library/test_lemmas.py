"""Exact (folded surface) and lemma (zeyrek) tokens for the extra lexical lists."""

from __future__ import annotations

from tomehub.library import lemmas


def test_exact_folding_ignores_case_and_accents_turkish_aware() -> None:
    assert lemmas.exact_tokens("İstanbul ISTANBUL istanbul Istanbul ıstanbul") == ["istanbul"] * 5
    assert lemmas.exact_tokens("Hâkimiyet Millîdir") == ["hakimiyet", "millidir"]
    assert lemmas.exact_tokens("Çağrı ŞÜKRÜ öğün") == ["cagri", "sukru", "ogun"]
    assert lemmas.exact_tokens("café Heidegger’s 1919 Erzurum'da") == ["cafe", "heidegger", "1919", "erzurum"]


def test_exact_tokens_keep_repeats_as_term_frequency() -> None:
    assert lemmas.exact_tokens("ordu, ordu; Ordu.") == ["ordu", "ordu", "ordu"]


def test_turkish_lemmas() -> None:
    assert lemmas.lemma_tokens("kurtaracaktır", "turkish")[0] in {"kurtar", "kurtarmak"}
    assert lemmas.lemma_tokens("kitaplarımızdan", "turkish") == ["kitap"]
    assert lemmas.lemma_tokens("İstiklâlini", "turkish") == ["istiklal"]
    assert lemmas.lemma_tokens("istiklalini", "turkish") == ["istiklal"]


def test_inflected_forms_meet_their_dictionary_form() -> None:
    assert lemmas.lemma_tokens("kitap kitabı kitabın", "turkish") == ["kitap"] * 3
    assert lemmas.lemma_tokens("hukuk hukuku", "turkish") == ["hukuk"] * 2


def test_proper_nouns_keep_the_part_before_the_apostrophe() -> None:
    assert lemmas.lemma_tokens("Ankara'ya Erzurum’a", "turkish") == ["ankara", "erzurum"]
    assert lemmas.lemma_tokens("Devleti'nin", "turkish") == ["devlet"]


def test_unknown_words_keep_their_folded_form() -> None:
    assert lemmas.lemma_tokens("Xqzwv 1919", "turkish") == ["xqzwv", "1919"]


def test_other_languages_get_no_lemmas() -> None:
    assert lemmas.lemma_tokens("The books were read", "english") == []


def test_ambiguous_words_take_the_longest_root() -> None:
    assert lemmas.lemma_tokens("toplandı yer temin", "turkish") == ["toplamak", "yer", "temin"]


def test_distinct_words_are_analysed_once() -> None:
    lemmas.analyses.cache_clear()
    lemmas.lemma_tokens("ordular ordular ordular", "turkish")
    info = lemmas.analyses.cache_info()
    assert (info.misses, info.hits) == (1, 2)
    lemmas.lemma_tokens("ordular", "turkish")
    assert lemmas.analyses.cache_info().hits == 3


def test_queries_get_lemmas_only_when_they_read_as_turkish() -> None:
    assert lemmas.query_lemma_tokens("Mustafa Kemal Erzurum'a ne zaman vardı?") == [
        "mustafa",
        "kemal",
        "erzurum",
        "ne",
        "zaman",
        "varmak",
    ]
    assert lemmas.query_lemma_tokens("When did the Lisbon earthquake happen?") == []
