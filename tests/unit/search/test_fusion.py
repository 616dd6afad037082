"""Reciprocal Rank Fusion."""

from __future__ import annotations

import pytest

from tomehub.search.fusion import rrf


def test_rrf_rewards_agreement_between_lists() -> None:
    fused = rrf([["a", "b", "c"], ["b", "d"]], k=60)
    assert fused[0][0] == "b"
    assert fused[0][1] == pytest.approx(1 / 62 + 1 / 61)
    assert {key for key, _ in fused} == {"a", "b", "c", "d"}


def test_rrf_weights_lean_towards_one_list() -> None:
    fused = rrf([["lex"], ["dense"]], k=60, weights=[3.0, 1.0])
    assert [key for key, _ in fused] == ["lex", "dense"]
    with pytest.raises(ValueError, match="one weight per list"):
        rrf([["a"]], weights=[1.0, 2.0])
