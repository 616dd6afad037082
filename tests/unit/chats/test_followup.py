"""Follow-up pieces without I/O: history within a token budget, titles, renumbered citations, and
the fake provider's condense reply."""

from __future__ import annotations

import json

from tomehub.answer.base import Turn
from tomehub.answer.schemas import Citation
from tomehub.chats.followup import clean_turn, previous_question, recent_turns
from tomehub.chats.service import title_from
from tomehub.llm.fake.server import _condense
from tomehub.llm.prompts import conversation_block
from tomehub.openai.schemas import MessageIn
from tomehub.openai.service import Numbering, conversation, source_refs, sources_block


def words(text: str) -> int:
    return len(text.split())


def test_recent_turns_keep_the_latest_within_the_budget() -> None:
    history = [Turn("user", "one two three"), Turn("assistant", "four five six seven"), Turn("user", "eight nine")]
    assert recent_turns(history, budget_tokens=100, count_tokens=words) == history
    kept = recent_turns(history, budget_tokens=6, count_tokens=words)
    assert [t.content for t in kept] == ["four five six seven", "eight nine"]
    # The turn that crosses the budget keeps its beginning, when enough of it fits to be useful.
    long = [Turn("assistant", " ".join(f"w{n}" for n in range(100))), Turn("user", "short question")]
    kept = recent_turns(long, budget_tokens=20, count_tokens=words)
    assert kept[-1].content == "short question"
    assert kept[0].content.startswith("w0 w1") and kept[0].content.endswith("…")
    assert sum(words(t.content) for t in kept) <= 20


def test_earlier_answers_lose_their_citations_and_sources() -> None:
    turn = Turn("assistant", "Death is nothing terrible [12]. Fear is judgement [3].\n\nSources:\n[1] A book, p. 2")
    assert clean_turn(turn).content == "Death is nothing terrible. Fear is judgement."
    assert clean_turn(Turn("user", "What about [12]?")).content == "What about [12]?"
    assert conversation_block([("user", "Who?"), ("assistant", "Him [4].")]) == "Reader: Who?\nTomeHub: Him."


def test_previous_question_is_the_latest_user_turn() -> None:
    history = [Turn("user", "first"), Turn("assistant", "answer"), Turn("user", "  second  q "), Turn("assistant", "x")]
    assert previous_question(history) == "second q"
    assert previous_question([Turn("assistant", "hello")]) is None


def test_titles_come_from_the_first_sentence() -> None:
    assert title_from("  What is care?  And more. ", max_chars=60) == "What is care?"
    assert title_from("no punctuation at all", max_chars=60) == "no punctuation at all"
    long = title_from("Which passages of my library talk about judgements and things outside control", max_chars=60)
    assert len(long) <= 60 and long.endswith("…") and " " not in long[-2:]


def test_marks_are_renumbered_in_order_of_appearance_across_pieces() -> None:
    numbering = Numbering({12, 345, 7})
    pieces = ["Care [34", "5] unites. Dasein [12", "]", " and [345] again [999]."]
    text = "".join(numbering.feed(p) for p in pieces) + numbering.flush()
    assert text == "Care [1] unites. Dasein [2] and [1] again."
    cites = [
        Citation(chunk_id=12, item_id="00000000-0000-0000-0000-000000000001", title="B", author=None, page=None,
                 chapter=None),
        Citation(chunk_id=345, item_id="00000000-0000-0000-0000-000000000002", title="A", author="Au", page=7,
                 chapter=None),
    ]  # fmt: skip
    refs = source_refs(cites, numbering)
    assert [(r.n, r.chunk_id) for r in refs] == [(1, 345), (2, 12)]
    assert sources_block(refs) == "\n\nSources:\n[1] A — Au, p. 7\n[2] B"
    assert sources_block([]) == ""


def test_the_last_user_message_is_the_question() -> None:
    messages = [
        MessageIn(role="system", content="Be a pirate."),
        MessageIn(role="user", content="Who was Epictetus?"),
        MessageIn(role="assistant", content="A Stoic [1]."),
        MessageIn(role="user", content=[{"type": "text", "text": "And death?"}]),
    ]
    history, question = conversation(messages)
    assert question == "And death?"
    assert [(t.role, t.content) for t in history] == [("user", "Who was Epictetus?"), ("assistant", "A Stoic [1].")]


def test_the_fake_condenses_a_pronoun_into_the_name_last_asked_about() -> None:
    prompt = (
        "TASK: condense\nCONVERSATION:\nReader: What did Epictetus teach in Nicopolis?\nTomeHub: He taught.\n\n"
        "MESSAGE: What did he say about death and his illness?"
    )
    assert json.loads(_condense(prompt)) == {"query": "What did Epictetus say about death and Epictetus's illness?"}
    unchanged = "TASK: condense\nCONVERSATION:\nReader: what is care?\n\nMESSAGE: and it?"
    assert json.loads(_condense(unchanged)) == {"query": "and it?"}
