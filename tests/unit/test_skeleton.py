"""The skeleton: one mapping, three code paths (table, ASCII fast path, per-character)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from paywall.skeleton import skeleton, skeleton_of, table, word_stream


@settings(max_examples=300, deadline=None)
@given(st.text(st.characters(max_codepoint=0x7F)))
def test_ascii_fast_path_equals_the_table(text: str) -> None:
    assert skeleton(text) == text.translate(table())


@settings(max_examples=300, deadline=None)
@given(st.text(st.characters(blacklist_categories=("Cs",))))
def test_per_character_skeleton_equals_the_table(text: str) -> None:
    assert skeleton_of(text) == skeleton(text) == text.translate(table())


def test_what_vanishes_and_what_folds() -> None:
    assert skeleton("##P\u0430i\u200bd\u00ad \u3000b\U0001d41egin##") == "##paidbegin##"
    assert skeleton("ＡＢＣ①") == "abcl"  # ① is 1, and 1 is confusable with l
    assert skeleton("中文不变") == "中文不变"
    assert word_stream("付费，内容！ Paid-Text_x") == "付费内容paidtextx"
