"""The skeleton: one mapping, three code paths (table, ASCII fast path, per-character)."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from paywall.skeleton import skeleton, skeleton_of, table, vanishes, word_stream


@settings(max_examples=300, deadline=None)
@given(st.text(st.characters(max_codepoint=0x7F)))
def test_ascii_fast_path_equals_the_table(text: str) -> None:
    assert skeleton(text) == text.translate(table())


@settings(max_examples=300, deadline=None)
@given(st.text(st.characters(blacklist_categories=("Cs",))))
def test_per_character_skeleton_equals_the_table(text: str) -> None:
    # The table holds the planes it builds (0-1, 14's start and the compatibility
    # ideographs); unassigned code points of the others fold by one character class.
    by_table = "".join(c for c in text.translate(table()) if not _far_unassigned(c))
    assert skeleton_of(text) == skeleton(text) == by_table


def _far_unassigned(char: str) -> bool:
    cp = ord(char)
    return (
        cp >= 0x20000
        and unicodedata.category(char) == "Cn"
        and cp & 0xFFFE != 0xFFFE
        and not 0xE0000 <= cp <= 0xE0FFF
    )


# Invisible by property, not by list: the next unseen one folds too.
@pytest.mark.parametrize(
    "invisible",
    [
        "\U0001d159",  # MUSICAL SYMBOL NULL NOTEHEAD (So): its name says it
        "\u2800",  # BRAILLE PATTERN BLANK
        "\u3164",  # HANGUL FILLER (Lo)
        "\ua8f9",  # DEVANAGARI GAP FILLER (Po)
        "\u2064",  # INVISIBLE PLUS (Cf)
        "\U0001d173",  # MUSICAL SYMBOL BEGIN BEAM (Cf)
        "\U000e0001",  # LANGUAGE TAG
        "\u0378",  # unassigned in the BMP: a later version may make it a format character
        "\U0001fb93",  # unassigned in plane 1 (Unicode 14)
        "\U0002a6e0",  # unassigned between the CJK extensions
        "\U00050000",  # an empty plane
        "\U000e1000",  # plane 14 past the tags and selectors
    ],
)
def test_every_invisible_code_point_vanishes(invisible: str) -> None:
    assert vanishes(invisible) or ord(invisible) >= 0x20000
    assert skeleton(f"pa{invisible}id") == "paid" == skeleton_of(f"pa{invisible}id")
    assert word_stream(f"付{invisible}费") == "付费"


def test_noncharacters_and_private_use_do_not_vanish() -> None:
    # The gate separates its parts with U+FFFE/U+FFFF; private use is a font's business.
    for kept in ("\ufffe", "\uffff", "\ufdd0", "\U0001fffe", "\ue000", "\U000f0000"):
        assert not vanishes(kept)
        assert skeleton(f"a{kept}b") == f"a{kept}b"


def test_what_vanishes_and_what_folds() -> None:
    assert skeleton("##P\u0430i\u200bd\u00ad \u3000b\U0001d41egin##") == "##paidbegin##"
    assert skeleton("ＡＢＣ①") == "abcl"  # ① is 1, and 1 is confusable with l
    assert skeleton("中文不变") == "中文不变"
    assert word_stream("付费，内容！ Paid-Text_x") == "付费内容paidtextx"
