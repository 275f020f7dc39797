"""Text splitting: every status, the user's sample, and the invariants as properties."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from paywall.segmentation import (
    Markers,
    NoMarkersPolicy,
    Status,
    find_markers,
    rebuild,
    split_text,
)
from tests.conftest import USER_SAMPLE

B, E = "##paidbegin##", "##paidend##"


def test_user_sample_splits_into_preview_and_region() -> None:
    text = USER_SAMPLE.read_text(encoding="utf-8")
    result = split_text(text)
    begin, end = text.index(B), text.index(E)
    assert result.status is Status.OK
    assert result.free == text[:begin] + text[end + len(E) :]  # the trailing "\n" is free
    assert text[end + len(E) :] == "\n"
    assert result.paid == text[begin + len(B) : end]
    assert len(text[:begin]) == 709 and len(result.paid) == 3161
    assert result.free.startswith("Xx区委书记在全市县域经济发展座谈会上的经验交流发言\n")
    assert "突出创新务入脑入心之实" in result.paid and "突出创新务入脑入心之实" not in result.free


@pytest.mark.parametrize(
    ("text", "status", "free", "paid"),
    [
        (f"a{B}p{E}b", Status.OK, "ab", "p"),
        (f"a{B}p{E}b{B}q{E}c", Status.OK, "abc", "pq"),
        (f"{B}p{E}", Status.OK, "", "p"),
        (f"a{B}{E}b", Status.OK, "ab", ""),
        (f"a{B}p", Status.UNCLOSED, "a", "p"),
        (f"a{B}p{E}b{B}q", Status.UNCLOSED, "ab", "pq"),
        ("plain text", Status.NO_MARKERS, "", ""),
        (f"a{E}b", Status.UNMATCHED_END, "", ""),
        (f"a{E}p{B}b", Status.UNMATCHED_END, "", ""),  # reversed
        (f"a{B}p{E}b{E}c", Status.UNMATCHED_END, "", ""),
        (f"a{B}p{B}q{E}b", Status.NESTED_BEGIN, "", ""),
        ("a##paidbegin p##paidend##", Status.BROKEN_MARKER, "", ""),
        ("a paidbegin## p", Status.BROKEN_MARKER, "", ""),
        (f"a{B}p #paidend# b", Status.BROKEN_MARKER, "", ""),
        ("a ##PaidBegin## p ##paidend##", Status.BROKEN_MARKER, "", ""),
        ("a ＃＃paidbegin＃＃ p ##paidend##", Status.BROKEN_MARKER, "", ""),
        ("", Status.EMPTY, "", ""),
        ("  \n\t", Status.EMPTY, "", ""),
    ],
)
def test_status_table(text: str, status: Status, free: str, paid: str) -> None:
    result = split_text(text)
    assert result.status is status
    assert (result.free, result.paid) == (free, paid)
    refused = status in {
        Status.NO_MARKERS,
        Status.UNMATCHED_END,
        Status.NESTED_BEGIN,
        Status.BROKEN_MARKER,
        Status.EMPTY,
    }
    assert result.published is not refused
    assert (result.reason is not None) is refused


def test_unclosed_is_published_with_a_warning() -> None:
    result = split_text(f"free{B}secret")
    assert result.published and result.warnings
    assert "no end marker" in result.warnings[0]


def test_no_markers_policies() -> None:
    assert split_text("x", no_markers=NoMarkersPolicy.ALL_FREE).free == "x"
    all_paid = split_text("x", no_markers=NoMarkersPolicy.ALL_PAID)
    assert (all_paid.free, all_paid.paid, all_paid.published) == ("", "x", True)


def test_reasons_name_the_offset() -> None:
    assert "offset 1 (line 1)" in (split_text(f"a{E}").reason or "")
    # A damaged marker after valid ones is located in the original text.
    damaged = split_text(f"ab{B}cd{E}\nef##paid x").reason or ""
    assert "'#paid' at offset 32 (line 2)" in damaged
    assert "'ＰＡＩＤ" in (split_text(f"{B}x{E}ＰＡＩＤend").reason or "")
    nested = split_text(f"a\nb{B}{B}{E}").reason or ""
    assert "offset 16 (line 2) inside the region opened at offset 3 (line 2)" in nested


def test_lenient_mode_accepts_variants() -> None:
    lenient = Markers(lenient=True)
    result = split_text("a ＃＃PAID begin＃＃ p ##Paid End## b", lenient)
    assert result.status is Status.OK
    assert result.paid == " p " and result.free == "a  b"


def test_custom_markers() -> None:
    markers = Markers("[[pay]]", "[[/pay]]")
    assert split_text("a[[pay]]b[[/pay]]c", markers).paid == "b"


@pytest.mark.parametrize(("begin", "end"), [("", "x"), ("x", "x"), ("  ", "x"), ("#a#", "#a#b")])
def test_bad_marker_pairs_are_refused(begin: str, end: str) -> None:
    with pytest.raises(ValueError):
        Markers(begin, end)


def test_crlf_is_preserved() -> None:
    result = split_text(f"t\r\nfree\r\n{B}paid\r\n{E}\r\n")
    assert result.free == "t\r\nfree\r\n\r\n" and result.paid == "paid\r\n"


def test_placeholder_marks_each_cut_and_rebuild_skips_it() -> None:
    text = f"a{B}p{E}b{B}q{E}c"
    result = split_text(text, placeholder="[…]")
    assert result.free == "a[…]b[…]c"
    assert rebuild(result.free, result.paid, result.segments, "[…]") == "apbqc"


# ---------------------------------------------------------------------------- properties
# Free and paid text come from disjoint alphabets, so any leak is a visible character.
FREE_CHARS = st.sampled_from(list("abc 公开文章\n\r。"))
PAID_CHARS = st.sampled_from(list("XYZ付费内容秘密"))
free_text = st.text(FREE_CHARS, max_size=30)
paid_text = st.text(PAID_CHARS, max_size=30)


@st.composite
def articles(draw: st.DrawFn) -> tuple[str, list[str]]:
    """A well-formed article: free, (begin, paid, end, free)*, maybe a final unclosed region."""
    parts = [draw(free_text)]
    regions = []
    for _ in range(draw(st.integers(0, 4))):
        paid = draw(paid_text)
        regions.append(paid)
        parts += [B, paid, E, draw(free_text)]
    if draw(st.booleans()):
        paid = draw(paid_text)
        regions.append(paid)
        parts += [B, paid]
    return "".join(parts), regions


@settings(max_examples=400, deadline=None)
@given(articles())
def test_property_no_paid_char_in_free_and_exact_rebuild(case: tuple[str, list[str]]) -> None:
    text, regions = case
    result = split_text(text)
    if not regions:
        assert result.status in (Status.NO_MARKERS, Status.EMPTY) and not result.published
        return
    assert result.published
    assert not set(result.free) & set("XYZ付费内容秘密")
    assert result.paid == "".join(regions)
    clean = text.replace(B, "").replace(E, "")
    assert rebuild(result.free, result.paid, result.segments) == clean
    # Splitting an output again finds no markers.
    assert find_markers(result.free, Markers()) == ([], None)
    assert find_markers(result.paid, Markers()) == ([], None)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(free_text, paid_text, st.sampled_from([B, E, "##paid", "end##"]))))
def test_property_any_input_is_either_clean_or_refused(pieces: list[str]) -> None:
    """Random marker soup: a published split never shows a marker word or loses a byte."""
    text = "".join(pieces)
    result = split_text(text)
    if result.published:
        assert "paid" not in result.free and "paid" not in result.paid
        clean = text.replace(B, "").replace(E, "")
        assert rebuild(result.free, result.paid, result.segments) == clean
    else:
        assert result.free == "" and result.paid == "" and result.reason
