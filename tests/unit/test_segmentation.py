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
    lenient_shortfall,
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
    assert "look-alike at offset 32 (line 2)" in damaged
    fullwidth = split_text(f"{B}x{E}ＰＡＩＤend").reason or ""
    assert "look-alike at offset 25 (line 1)" in fullwidth
    # Reasons are public and a look-alike may be paid text: no code point, no fragment.
    assert "U+" not in fullwidth and "FULLWIDTH" not in fullwidth and "paid" not in fullwidth
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


# ------------------------------------------------------------------ marker look-alikes
# Each is a marker a reader (or a lenient CMS) would take for one; none is exact, so the
# region it opens or closes is ambiguous: refused, never published as free text.
LOOK_ALIKES = {
    "zero-width spaces": "##paid\u200b\u200bbegin##",
    "soft hyphen": "##paid\u00adbegin##",
    "bidi controls": "##\u202epaid\u202cbegin##",
    "word joiner": "#\u2060#paidbegin##",
    "NBSP": "##paid\u00a0begin##",
    "ideographic space": "##paid\u3000begin##",
    "line break": "##paid\nbegin##",
    "Cyrillic а": "##p\u0430idbegin##",
    "Cyrillic р and і": "##\u0440a\u0456dbegin##",
    "Greek ο-free mix": "##paidb\u0435gin##",
    "mathematical bold": "##\U0001d429\U0001d41a\U0001d422\U0001d41dbegin##",
    "mathematical sans": "##paid\U0001d5bb\U0001d5be\U0001d5c0\U0001d5c2\U0001d5c7##",
    "full-width hash": "\uff03\uff03paidbegin\uff03\uff03",
    "small hash": "\ufe5f\ufe5fpaidbegin##",
    "combining accent": "##pai\u0301dbegin##",
    "precomposed accent": "##pa\u00eddbegin##",
    "variation selector": "##paid\ufe0fbegin##",
    "tag characters": "##paid\U000e0020begin##",
    "upper case": "##PAIDBEGIN##",
    "Hangul filler": "##paid\u3164begin##",
}


@pytest.mark.parametrize("look_alike", LOOK_ALIKES.values(), ids=LOOK_ALIKES.keys())
def test_begin_look_alikes_are_broken_markers(look_alike: str) -> None:
    text = f"free preview\n{look_alike}paid secret{E}\nafter"
    result = split_text(text)
    assert result.status is Status.BROKEN_MARKER, look_alike
    assert not result.published and result.free == ""
    assert "secret" not in (result.reason or "")


@pytest.mark.parametrize("look_alike", LOOK_ALIKES.values(), ids=LOOK_ALIKES.keys())
def test_end_look_alikes_are_broken_markers(look_alike: str) -> None:
    sans_begin = "\U0001d5bb\U0001d5be\U0001d5c0\U0001d5c2\U0001d5c7"
    end = look_alike.replace("begin", "end").replace(sans_begin, "\U0001d5be\U0001d5c7\U0001d5bd")
    result = split_text(f"free{B}paid secret{end}more paid?")
    assert result.status is Status.BROKEN_MARKER, end


@pytest.mark.parametrize("look_alike", LOOK_ALIKES.values(), ids=LOOK_ALIKES.keys())
def test_lenient_mode_refuses_look_alikes_beyond_case_width_and_space(look_alike: str) -> None:
    result = split_text(f"free\n{look_alike}paid{E}\n", Markers(lenient=True))
    accepted = {"upper case", "full-width hash", "ideographic space"}
    name = next(k for k, v in LOOK_ALIKES.items() if v == look_alike)
    if name in accepted:
        assert result.status is Status.OK and result.paid == "paid"
    else:
        assert result.status is Status.BROKEN_MARKER, name


def test_look_alike_reason_names_the_offset_and_the_line_only() -> None:
    reason = split_text(f"a\nb\n##paid\u200bbegin##秘密{E}").reason or ""
    assert "offset 4 (line 3)" in reason
    # Reasons are public and a look-alike inside a paid region is paid text: neither its
    # code points nor the fragment it spells are named.
    assert "U+" not in reason and "ZERO WIDTH" not in reason and "paid" not in reason
    assert "CJK" not in reason and "秘" not in reason


@pytest.mark.parametrize(
    "look_alike",
    ["ｐａｉｄ ｅｎｄ", "##pаidend##", "##paid\u200dend##", "PAIDBEGIN", "##paidbgein"],
)
def test_a_look_alike_inside_a_paid_region_is_described_by_offset_only(look_alike: str) -> None:
    reason = split_text(f"标题\n免费{B}付费 {look_alike} 秘密{E}尾").reason or ""
    assert "look-alike at offset" in reason, reason
    assert "U+" not in reason and "paid" not in reason.lower() and "秘" not in reason
    assert not any(c in reason for c in look_alike if not c.isascii()), reason


def test_ordinary_text_is_not_a_look_alike() -> None:
    text = f"预付费 paid 开始 begin 结束 end, #话题\n{B}付费内容{E}\n页尾 paid in full"
    assert split_text(text).status is Status.OK


def test_markers_that_look_alike_are_refused() -> None:
    with pytest.raises(ValueError):
        Markers("##paid##", "##PAID##")
    with pytest.raises(ValueError):
        Markers("\u200b", "x")


INVISIBLE = st.sampled_from(
    ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u202a", "\u202c", "\u202e",
     "\u2066", "\u2069", "\u180e", "\u034f", "\ufe00", "\U000e0001", "\u00a0", "\u3000", "\u2009",
     "\u0301", "\u0308"]
)  # fmt: skip
HOMOGLYPH = {
    "p": ["\u0440", "\U0001d429", "\uff50", "\u03c1"],
    "a": ["\u0430", "\U0001d41a", "\uff41", "\u0251"],
    "i": ["\u0456", "\U0001d422", "\uff49", "\u0131"],
    "d": ["\u0501", "\U0001d41d", "\uff44", "\u217e"],
    "b": ["\u042c", "\U0001d41b", "\uff42", "\u13cf"],
    "e": ["\u0435", "\U0001d41e", "\uff45", "\u212e"],
    "g": ["\u0261", "\U0001d420", "\uff47", "\u0581"],
    "n": ["\u0578", "\U0001d427", "\uff4e", "\u057c"],
    "#": ["\uff03", "\ufe5f"],
}


@st.composite
def look_alike_markers(draw: st.DrawFn) -> str:
    """A marker with invisible code points inserted and/or letters swapped for homoglyphs."""
    marker = draw(st.sampled_from([B, E]))
    chars = list(marker)
    changed = False
    for index in range(len(chars)):
        if chars[index] in HOMOGLYPH and draw(st.integers(0, 5)) == 0:
            chars[index] = draw(st.sampled_from(HOMOGLYPH[chars[index]]))
            changed = True
    for _ in range(draw(st.integers(0 if changed else 1, 3))):
        at = draw(st.integers(1, len(chars) - 1))
        chars.insert(at, draw(INVISIBLE))
    return "".join(chars)


@settings(max_examples=500, deadline=None)
@given(look_alike_markers(), free_text, paid_text)
def test_property_look_alike_markers_never_publish(marker: str, free: str, paid: str) -> None:
    for text in (f"{free}{marker}{paid}{E}{free}", f"{free}{B}{paid}{marker}{free}",
                 f"{free}{marker}{paid}"):  # fmt: skip
        result = split_text(text)
        assert result.status is Status.BROKEN_MARKER, (marker, text)
        assert result.free == "" and result.paid == ""


# ---------------------------------------------------------------- leniency never shortens
LENIENT = Markers(lenient=True)


@pytest.mark.parametrize(
    "text",
    [
        f"免费{B}付费 ##PAIDEND## SECRET {B}x{E}尾",  # upper case end inside an exact region
        f"免费{B}付费 ＃＃ｐａｉｄｅｎｄ＃＃ SECRET {E}尾",  # full-width, then the exact end
        f"免费{B}付费 ## paid end ## SECRET {E}尾",  # inner spaces
        f"免费{B}付费 ##paid\u3000end## SECRET {E}尾",  # ideographic space
        f"免费{B}付费 ##PaidEnd##SECRET",  # an unclosed exact region is paid to the end
        f"a{B}b{E}c{B}付费 ##PAIDEND## SECRET {E}d",  # the second region of several
        f"免费{B}付费 ##PAIDEND## SECRET ##PAIDBEGIN## y {E}尾",  # re-opened leniently later
    ],
)
def test_a_lenient_end_inside_an_exact_region_is_refused(text: str) -> None:
    result = split_text(text, LENIENT)
    # Refused: by the shortfall check, or (an exact end after the variant) as unmatched.
    assert result.status in (Status.BROKEN_MARKER, Status.UNMATCHED_END), result.free
    assert not result.published and result.free == ""
    assert "SECRET" not in (result.reason or "")
    if result.status is Status.BROKEN_MARKER:
        assert "never shorten" in (result.reason or "")


@pytest.mark.parametrize(
    ("text", "free"),
    [
        (f"免费##PaidBegin##付费{E}尾", "免费尾"),  # a lenient begin only widens
        (f"免费##PAIDBEGIN##付费 {B} 付费{E}尾", None),  # nested: refused as before
        (f"免费{B}付费{E}尾 ##PAIDBEGIN##更多##PaidEnd##", "免费尾 "),  # lenient-only region
        ("免费##PAIDBEGIN##付费##PAIDEND##尾", "免费尾"),  # no exact marker at all
        (f"免费{B}付费{E}尾", "免费尾"),
    ],
)
def test_lenient_markers_that_cover_every_exact_region_split(text: str, free: str | None) -> None:
    result = split_text(text, LENIENT)
    if free is None:
        assert result.status is Status.NESTED_BEGIN
    else:
        assert (result.status, result.free) == (Status.OK, free), result.reason


def test_lenient_shortfall_is_off_for_strict_markers() -> None:
    assert lenient_shortfall(f"{B}x ##PAIDEND## y{E}", Markers()) is None
    assert lenient_shortfall(f"{B}x ##PAIDEND## y{E}", LENIENT) is not None


# ---------------------------------------------------------------- ordinary words are words
@pytest.mark.parametrize(
    "words",
    [
        "He paid end-to-end costs.",
        "the paid end user",
        "Unpaid begin dates",
        "#paid content",
        "They paid\nend users",
        "the weekend #paid",
        "I paid, begin again",
        "paid begin paid end",
        "# paid subscribers",  # a Markdown heading
        "the #paid.",
    ],
)
def test_ordinary_words_with_a_word_break_are_not_look_alikes(words: str) -> None:
    result = split_text(f"Title\n{words} {B}paid body{E} {words}")
    assert result.status is Status.OK, result.reason


@pytest.mark.parametrize(
    "damaged",
    [
        "paidend",  # solid: no word break
        "PAIDBEGIN",
        "##paid end",  # doubled punctuation
        "paid end##",
        "#paid end#",  # punctuation on both sides
        "#paidcontent",  # the hashtag runs into more letters
        "ｐａｉｄ ｅｎｄ",  # full-width: a disguise even with a space
        "pаid end",  # Cyrillic а
        "paid\u00a0end",  # NBSP
        "paid\u3000begin",  # ideographic space
        "paid\u200b end",  # an invisible inside
    ],
)
def test_damage_and_disguise_stay_look_alikes(damaged: str) -> None:
    result = split_text(f"Title\nfree {damaged} {B}paid body{E} tail")
    assert result.status is Status.BROKEN_MARKER, damaged
