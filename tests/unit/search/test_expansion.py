from tomehub.search.expansion import _clean


def test_rephrasings_without_a_word_objects_and_the_question_itself_are_dropped() -> None:
    # What a 135M model answered to the expansion prompt (docs/retrieval.md, "LLM query expansion").
    reply = ["...", "Ali Galip Sivas propaganda", {"query1": {"title": "x"}}, "ali galip neden?", "  ", 42]
    assert _clean("Ali Galip neden?", reply, 3) == ["Ali Galip Sivas propaganda"]


def test_rephrasings_are_trimmed_deduplicated_and_capped() -> None:
    reply = ["  owls   at night ", "owls at night", "nocturnal birds", "barn owl", "raptors"]
    assert _clean("night owls", reply, 3) == ["owls at night", "nocturnal birds", "barn owl"]
    assert _clean("night owls", "not a list", 3) == []
