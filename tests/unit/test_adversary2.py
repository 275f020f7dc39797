# ruff: noqa: E501  (each attack payload reads best on one line)
"""The second adversary round: attacks on the splitter and the output contract.

Conventions as in ``test_adversary.py``: each test is one attack; a ``xfail(strict=True)``
test is a finding (severity in brackets in its reason) that turns red when the fix lands,
so it must then lose its mark; an unmarked test is an attack the product withstands, kept
as a regression guard.

Ground truth is the CMS's reading: FastAdmin splits the *raw* source at the exact markers,
so "paid" means "between a begin marker and the next end marker of the source", wherever
those markers sit (visible text, comment, attribute value, script). Secrets are ASCII
sentinels (``PAIDTOKEN``, ``PAIDNOTE``) that occur only in a paid region.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from paywall.articles import Outputs, RawArticle, SplitOptions, split_article
from paywall.model import ArticleRef, Interval
from paywall.pipeline import Context, run_interval
from paywall.segmentation import Markers, NoMarkersPolicy, Status
from tests.unit.test_adversary import B, E, assert_not_public, page, split


def never_raises(out: Outputs) -> None:
    assert out.record.status != Status.INTERNAL_ERROR.value, out.record.reason
    assert out.published or out.record.reason


# ================================================= 1. inert marker pairs around markup
# The README's rule for markers the page ignores (comments, attribute values, scripts): the
# CMS honours them, so every region the CMS reads must be one the page reads too, "or bound
# no visible text". That exception assumes a region without visible text holds nothing
# public. But markup is public too: free.html keeps allow-listed attributes (alt, title,
# href, src, class, id, lang, viewport content...) of every element whose start tag lies in
# a free region *of the page's reading*. A CMS region that bounds only markup is free for the
# page and for the attribute policy, and the gate's raw scan drops markup (attribute values
# included), so a paid region without text is protected by nothing. CMS editors put images,
# links and empty anchors between the markers all the time.
INERT_PAIRS_AROUND_MARKUP = {
    "img_between_comment_markers": f"<p>免费导语<!--{B}--><img alt='PAIDTOKEN' title='PAIDNOTE' src='/PAIDTOKEN.png'><!--{E}-->尾{B}付费{E}</p>",
    "img_with_spaces_only": f"<p>免费导语<!--{B}--> <img alt='PAIDTOKEN'> <!--{E}-->尾{B}付费{E}</p>",
    "link_between_attribute_markers": f"<p>免费导语<span title='{B}'></span><a href='/x?k=PAIDTOKEN' title='PAIDNOTE'></a><span title='{E}'></span>尾{B}付费{E}</p>",
    "empty_span_class_id": f"<p>免费导语<!--{B}--><span class='PAIDTOKEN' id='PAIDNOTE'></span><!--{E}-->尾{B}付费{E}</p>",
    "abbr_between_script_markers": f"<p>免费导语<script>'{B}'</script><abbr title='PAIDTOKEN'></abbr><script>'{E}'</script>尾{B}付费{E}</p>",
    # The start tag alone is in the CMS region; its text after the inert end is free.
    "start_tag_inside_the_region": f"<p>免费导语<!--{B}--><a href='/PAIDTOKEN' title='PAIDNOTE'><!--{E}-->尾</a>{B}付费{E}</p>",
    "srcset_datetime_cite": f"<p>免费导语<!--{B}--><img srcset='/PAIDTOKEN.png 2x'><time datetime=PAIDTOKEN></time><q cite=/PAIDNOTE></q><!--{E}-->尾{B}付费{E}</p>",
    # The CMS region lies inside one free start tag: the attributes between the markers.
    # (The gate's raw scan reads that region as text, so only a short one gets through.)
    "inside_one_start_tag": f"<p><a data-a='{B}' href='/dl?PAIDTOKEN' data-b='{E}'>免费导语</a>尾{B}付费{E}</p>",
    # Void elements carry attributes without any text at all.
    "void_elements": f"<p>免费导语<!--{B}--><hr title=PAIDTOKEN><br class=PAIDNOTE><wbr id=PAIDTOKEN><map><area alt=PAIDTOKEN></map><picture><source srcset=/PAIDTOKEN.webp><img src=x></picture><!--{E}-->尾{B}付费{E}</p>",
    # A number is paid data too: a list's start and type.
    "ol_start": f"<p>免费导语<!--{B}--><ol start=47110815 type=A></ol><!--{E}-->尾{B}付费{E}</p>",
}


@pytest.mark.parametrize("name", sorted(INERT_PAIRS_AROUND_MARKUP))
def test_inert_pair_around_markup_keeps_its_attributes_private(name: str) -> None:
    out = split(page(INERT_PAIRS_AROUND_MARKUP[name]))
    never_raises(out)
    assert_not_public(out, "PAIDTOKEN", "PAIDNOTE", "47110815")


def test_all_free_publishes_no_cms_region_around_markup() -> None:
    out = split(
        page(f"<p>免费导语<!--{B}--><img alt=PAIDTOKEN><!--{E}-->尾</p>"),
        policy=NoMarkersPolicy.ALL_FREE,
    )
    never_raises(out)
    assert_not_public(out, "PAIDTOKEN")


def test_all_free_refuses_inert_regions_around_text() -> None:
    for body in (
        f"<p>免费导语<!--{B}-->PAIDTOKEN 付费正文<!--{E}-->尾</p>",
        f"<p>免费导语<i title='{B}'></i>PAIDTOKEN 付费正文<i title='{E}'></i>尾</p>",
        f"<p>免费导语<!--{B}-->PAIDTOKEN 付费正文尾</p>",
        f"<p>免费导语<span hidden>{B}</span>PAIDTOKEN<span hidden>{E}</span>尾</p>",
    ):
        out = split(page(body), policy=NoMarkersPolicy.ALL_FREE)
        never_raises(out)
        assert_not_public(out, "PAIDTOKEN")


# "Visible text" is decided by str.strip(): U+1680 OGHAM SPACE MARK is whitespace to Python
# but a visible dash on the page, so a CMS region of it counts as holding no text and is
# copied into free.html and free.txt.
def test_an_inert_region_of_visible_whitespace_marks_stays_private() -> None:
    out = split(page(f"<p>免费导语<!--{B}-->\u1680\u1680 \u1680<!--{E}-->尾{B}付费{E}</p>"))
    never_raises(out)
    assert_not_public(out, "\u1680")


INERT_PAIRS_AROUND_ROOT_AND_HEAD = {
    "viewport_in_head": page(
        f"<p>免费导语{B}付费正文{E}尾</p>",
        head=f"<!--{B}--><meta name=viewport content='PAIDTOKEN'><!--{E}-->",
    ),
    "html_lang": f"<!DOCTYPE html><!--{B}--><html lang=PAIDTOKEN><head><!--{E}--></head><body><p>免费导语{B}付费正文{E}尾</p></body></html>",
    "body_class": f"<!DOCTYPE html><html><head><!--{B}--></head><body class=PAIDTOKEN><!--{E}--><p>免费导语{B}付费正文{E}尾</p></body></html>",
}


@pytest.mark.parametrize("name", sorted(INERT_PAIRS_AROUND_ROOT_AND_HEAD))
def test_inert_pair_around_root_and_head_tags_keeps_attributes_private(name: str) -> None:
    out = split(INERT_PAIRS_AROUND_ROOT_AND_HEAD[name])
    never_raises(out)
    assert_not_public(out, "PAIDTOKEN")


@pytest.mark.parametrize(
    "head",
    [
        f"<!--{B}--><title>PAIDTOKEN</title><!--{E}-->",
        f"<meta name=x content='{B}'><title>PAIDTOKEN</title><meta name=y content='{E}'>",
        f"<script>var a='{B}'</script><title>PAIDTOKEN</title><style>.x{{color:red}}.y{{color:blue}}.z{{margin:0}}</style><script>var b='{E}'</script>",
    ],
)
def test_a_head_title_between_inert_markers_is_no_public_title(head: str) -> None:
    # Holds today, by the gate: the title is the whole text of the raw region.
    out = split(page(f"<p>免费导语{B}付费正文{E}尾</p>", head=head))
    never_raises(out)
    assert_not_public(out, "PAIDTOKEN")


# The gate protects a paid region shorter than its window whole, so a <title> that is the
# whole text of an inert region is caught (above). Pad the same region with text the page
# never shows -- <noscript> (scripting on), <template>, a second <title> -- and the region
# is long: only runs of 24 are searched, and the 9-letter title becomes the public title
# (record, JSON-LD headline, free.html <title>).
@pytest.mark.parametrize(
    "pad",
    [
        "<noscript>this is more paid text than twenty four letters</noscript>",
        "<template>this is more paid text than twenty four letters</template>",
        "<title>this is more paid text than twenty four letters</title>",
    ],
)
def test_a_padded_head_title_between_inert_markers_is_no_public_title(pad: str) -> None:
    head = f"<!--{B}--><title>PAIDTOKEN</title>{pad}<!--{E}-->"
    out = split(page(f"<p>免费导语{B}付费正文{E}尾</p>", head=head))
    never_raises(out)
    assert_not_public(out, "PAIDTOKEN")


@pytest.mark.parametrize(
    "inner",
    [
        "<svg><text>PAIDTOKEN</text></svg>",
        "<math><mi>PAIDTOKEN</mi></math>",
        "<span hidden>PAIDTOKEN</span>",
        "<noscript>PAIDTOKEN</noscript>",
        "<template>PAIDTOKEN</template>",
        "<select><option>PAIDTOKEN</option></select>",
        "<textarea>PAIDTOKEN</textarea>",
        "<object data=x>PAIDTOKEN</object>",
        "<iframe srcdoc='PAIDTOKEN'></iframe>",
        "<input value=PAIDTOKEN placeholder=PAIDTOKEN>",
        "<data value=PAIDTOKEN></data>",
        "<dialog>PAIDTOKEN</dialog>",
    ],
)
def test_unshown_content_between_inert_markers_stays_out_of_free(inner: str) -> None:
    # Holds: content the free half never carries (hidden, foreign, form values).
    out = split(page(f"<p>免费导语<!--{B}-->{inner}<!--{E}-->尾{B}付费{E}</p>"))
    never_raises(out)
    assert_not_public(out, "PAIDTOKEN")


# ================================================= 2. lenient markers and the CMS's reading
# `markers.lenient: true` accepts case, spacing and full-width variants as markers. The CMS
# honours only the exact markers. A lenient *begin* only widens what is paid, but a lenient
# *end* closes a region the CMS keeps open: the text after it, paid for the CMS up to its
# next exact end, is published.
@pytest.mark.parametrize(
    ("text", "name"),
    [
        (f"标题\n免费导语{B}付费 ##PAIDEND## PAIDTOKEN {B}x{E}尾", "a.txt"),
        (f"标题\n免费导语{B}付费 ＃＃ｐａｉｄｅｎｄ＃＃ PAIDTOKEN {B}x{E}尾", "a.txt"),
        (page(f"<p>免费导语{B}付费 ##PaidEnd## PAIDTOKEN {B}x{E}尾</p>"), "a.html"),
    ],
)
def test_a_lenient_end_never_shortens_a_cms_region(text: str, name: str) -> None:
    out = split(text, name, markers=Markers(B, E, lenient=True))
    never_raises(out)
    assert_not_public(out, "PAIDTOKEN")


def test_lenient_markers_that_only_widen_the_cms_regions_publish() -> None:
    # Control: a lenient begin opens a region the CMS does not see; the product hides more.
    out = split(
        f"标题\n免费导语##PaidBegin##付费 PAIDTOKEN{E}尾",
        "a.txt",
        markers=Markers(B, E, lenient=True),
    )
    assert out.published, out.record.reason
    assert_not_public(out, "PAIDTOKEN", "付费")


# ================================================= 3. the public manifest's reasons
# A quarantined article's reason is public (manifest line, catalog inputs, alerts). The
# look-alike reason names the odd code points that form the look-alike, also when they sit
# inside a paid region: the paid text's characters reach the public manifest by name (here
# four full-width letters of the paid text, and that it spells "paid end").
DAY1 = Interval(datetime(2026, 11, 20, tzinfo=UTC), datetime(2026, 11, 21, tzinfo=UTC))


class _Items:
    name = "desk"

    def __init__(self, items: dict[str, bytes]) -> None:
        self.items = items

    def list(self, interval: Interval | None) -> list[ArticleRef]:
        when = datetime(2026, 11, 20, 8, tzinfo=UTC).isoformat()
        return [ArticleRef(self.name, sid, when, sid) for sid in sorted(self.items)]

    def fetch(self, ref: ArticleRef, previous: Any = None) -> RawArticle:
        return RawArticle(self.name, ref.source_id, self.items[ref.source_id])


def _public_objects(
    make_mem_ctx: Any, monkeypatch: pytest.MonkeyPatch, items: dict[str, bytes]
) -> str:
    ctx: Context = make_mem_ctx(sources=[{"name": "desk", "kind": "local", "path": "/x"}])
    monkeypatch.setattr(ctx, "source", lambda name: _Items(items))
    assert run_interval(ctx, DAY1).committed
    bucket = ctx.layout.public_bucket
    keys = [listed.key for listed in ctx.store.list(bucket, "")]
    assert keys  # the run wrote its manifest at least
    return "\n".join((ctx.store.get(bucket, key) or b"").decode() for key in keys)


def test_a_quarantine_reason_names_no_code_point_of_a_paid_region(
    make_mem_ctx: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = f"标题\n免费导语{B}付费正文 ｐａｉｄ ｅｎｄ{E}尾"
    public = _public_objects(make_mem_ctx, monkeypatch, {"a.txt": text.encode()})
    assert "broken_marker" in public  # quarantined, as it should be ...
    assert "FULLWIDTH" not in public  # ... but the reason describes the paid text


def test_quarantine_reasons_of_structural_refusals_quote_offsets_only(
    make_mem_ctx: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    items = {
        "nested.txt": f"标题\n免费{B}PAIDTOKEN{B}PAIDNOTE{E}尾".encode(),
        "reversed.txt": f"标题\n免费{E}PAIDTOKEN{B}PAIDNOTE".encode(),
        "hidden.html": page(f"<p>免费{B}PAIDTOKEN<span hidden>{E}</span>PAIDNOTE</p>").encode(),
        "foster.html": page(
            f"<table><tr><td>免费{B}x</td></tr>PAIDTOKEN<tr><td>{E}</td></tr></table>"
        ).encode(),
        "cut.html": page(f"<p>免费##paid<b>begin##</b>PAIDTOKEN{E}</p>").encode(),
    }
    public = _public_objects(make_mem_ctx, monkeypatch, items)
    assert public.count('"quarantined"') >= len(items)
    assert "PAIDTOKEN" not in public and "PAIDNOTE" not in public


# ================================================= 4. work and output per input byte
# Round one bounded re-created elements at 8 per source tag. Seven distinct formatting
# elements left open (long names: <strong>, <strike>...) stay under that bound, yet each
# 4-byte "<p>x" is written back as ~110 bytes. Measured on this machine (one run, side by
# side): a 1 MB page of this shape took 104 s and wrote 27 MB (27x its size); a plain 1 MB
# page of "<p>x" took 7 s and wrote 2.5 MB. Linear, but with a factor that makes one article
# cost a worker minutes and its outputs dwarf the input. Asserted on output size only.
_SEVEN = "<div><strong><strike><small><code><nobr><font><big></div>"


def _amplification(doc: str) -> float:
    out = split(doc + f"<p>免费{B}付费{E}</p>")
    if not out.published:
        return 0.0
    written = sum(map(len, out.free.values())) + sum(map(len, out.paid.values()))
    return written / len(doc.encode())


def test_seven_open_formatting_elements_keep_outputs_proportional() -> None:
    assert _amplification(_SEVEN + "<p>x" * 1500) <= 8


def test_a_plain_page_of_many_blocks_stays_proportional() -> None:
    # Control: the same blocks without the open formatting elements.
    assert _amplification("<div></div>" + "<p>x" * 1500) <= 8


# ================================================= 5. regression guards: what holds
@pytest.mark.parametrize(
    "body",
    [
        # An element moved out of a table keeps no attributes; its source position is read
        # in code points (CJK, astral) and its line with lone CRs and CRLFs counted.
        f"<p>{'免费的导语文字' * 30}</p><table><tr><td>免费{B}x</td></tr><img alt=PAIDTOKEN title=PAIDNOTE><tr><td>y{E}</td></tr></table><p>{'尾' * 400}</p>",
        f"<p>{chr(0x1F600) * 100}</p><table><tr><td>免费{B}x</td></tr><img alt=PAIDTOKEN title=PAIDNOTE><tr><td>y{E}</td></tr></table><p>{'尾' * 400}</p>",
        f"<p>免费\r\r\r\r\r\r\r\r</p><table><tr><td>免费{B}x</td></tr><img alt=PAIDTOKEN title=PAIDNOTE><tr><td>y{E}</td></tr></table>\n"
        + "".join(f"<p>free line {i}</p>\n" for i in range(30)),
        # Parser copies and root merges after lone CRs.
        f"<p>免费\r\r\r\r\r\r\r\r{B}付费<a href=/PAIDTOKEN title=PAIDNOTE>x</p><p>y{E}</p>\n<p>free</p>\n"
        * 3,
        f"<p>免费\r\r\r\r\r\r\r\r{B}付费<body class=PAIDTOKEN lang=PAIDNOTE>正文{E}</p>\n<p>free</p>\n<p>free</p>\n",
        # Markers built by references, split by tags, NUL and CR.
        f"<p>免费 &num;&num;paidbegin&num;&num; PAIDTOKEN {E}尾</p>",
        f"<p>免费 &#x23;#paidbegin## PAIDTOKEN {E}尾</p>",
        f"<p>免费 {B} PAIDTOKEN ##paidend&#x23;# 尾 {B}x{E}</p>",
        f"<p>免费 ##paid&NewLine;begin## PAIDTOKEN {E}尾</p>",
        f"<p>免费 ##paid<wbr>begin## PAIDTOKEN {E}尾</p>",
        f"<p>免费 {B} PAIDTOKEN ##paid<!-- x -->end## 尾</p>",
        f"<p>免费 {B} PAIDTOKEN ##paid<br>end## 尾</p>",
        f"<p>免费 ##paid\r\nbegin## PAIDTOKEN {E}尾</p>",
        # An end marker the page does not show.
        f"<p>免费 {B} PAIDTOKEN <textarea>{E}</textarea> 尾",
        f"<p>免费 {B} PAIDTOKEN <title>{E}</title> 尾",
        f"<p>免费 {B} PAIDTOKEN <noembed>{E}</noembed> 尾",
        f"<p>免费 {B} PAIDTOKEN <?{E}> 尾",
        f"<p>免费 {B} PAIDTOKEN </ {E}> 尾",
        f"<p>免费 {B} PAIDTOKEN <![CDATA[{E}]]> 尾",
        f"<p>免费{B}<svg><![CDATA[{E}]]></svg>PAIDTOKEN{E}尾</p>",
        f"<p>免费{B}<svg><a xlink:href=/PAIDTOKEN>{E}<text>尾</text></a></svg></p>",
        f"<p>免费{B}<select><option title=PAIDTOKEN>PAIDTOKEN{E}尾</select>",
        f"<p>免费{B}x<template>PAIDTOKEN{E}尾</template></p>",
        # Foster parenting of elements between markers in cells.
        f"<p>前言</p><table><tr><td>免费{B}{'付费正文' * 10}</td></tr><b>PAIDTOKEN</b><tr><td>{'付费正文' * 10}{E}尾</td></tr></table>",
        f"<table><tr><td>免费{B}x</td></tr></table><table><p>PAIDTOKEN</p><tr><td>y{E}尾</td></tr></table>",
    ],
)
def test_hostile_html_keeps_paid_text_private(body: str) -> None:
    out = split(page(body, head=""))
    never_raises(out)
    assert_not_public(out, "PAIDTOKEN", "PAIDNOTE")


@pytest.mark.parametrize(
    "extra",
    [
        {"extract": True},
        {"extract": True, "body_selector": "#a"},
        {"extract": True, "body_selector": ".a"},
    ],
)
def test_extraction_refuses_regions_that_leave_the_article(extra: dict[str, Any]) -> None:
    doc = page(
        f"<div id=a class=a>免费{B}PAIDTOKEN</div><div class=a>x{E}尾</div><article><p>{B}x{E}</p></article>"
    )
    out = split_article(RawArticle("desk", "a.html", doc.encode(), **extra), SplitOptions())
    never_raises(out)
    assert_not_public(out, "PAIDTOKEN")


def test_extraction_keeps_a_padded_inert_head_title_private() -> None:
    head = f"<!--{B}--><title>PAIDTOKEN</title><noscript>this is more paid text than twenty four letters</noscript><!--{E}-->"
    doc = page(f"<article><p>免费导语很长的一段文字{B}付费{E}尾</p></article>", head=head)
    out = split_article(RawArticle("desk", "a.html", doc.encode(), extract=True), SplitOptions())
    never_raises(out)
    assert_not_public(out, "PAIDTOKEN")


@pytest.mark.parametrize(
    ("data", "name", "content_type"),
    [
        # Declarations that contradict the bytes, and legacy encodings around the markers.
        (f"免费导语{B}PAIDTOKEN{E}尾".encode(), "a.txt", "text/plain; charset=utf-16"),
        (f"免费导语{B}PAIDTOKEN{E}尾".encode(), "a.txt", "text/plain; charset=x-user-defined"),
        (f"免费导语{B}PAIDTOKEN{E}尾".encode(), "a.txt", "text/plain; charset=iso-2022-kr"),
        (
            b'<meta charset="utf-16">' + page(f"<p>free{B}PAIDTOKEN{E}end</p>").encode(),
            "a.html",
            None,
        ),
        (
            ('<meta charset="big5">' + page(f"<p>免费{B}PAIDTOKEN{E}尾</p>")).encode("gb18030"),
            "a.html",
            None,
        ),
        (f"免費導語，這是免費的部分。{B}PAIDTOKEN{E}結尾".encode("big5"), "a.txt", None),
        (f"免费导语{B}PAIDTOKEN{E}尾".encode("utf-16-be"), "a.txt", None),
        (("\ufeff" + f"免费导语{B}PAIDTOKEN{E}尾").encode("utf-32"), "a.txt", None),
        # A GB18030 lead byte that swallows a marker's letter, invalid bytes before markers.
        (b"\xc3\xe2\xb7\xd1##paidbegin##PAIDTOKEN##\x81paidend##\xce\xb2", "a.txt", None),
        (b"\xc3\xe2\xb7\xd1\x81##paidbegin##PAIDTOKEN##paidend##\xce\xb2", "a.txt", None),
        (b"\xe5\x85\x8d##paidbegin##PAIDTOKEN\xe5##paidend##", "a.txt", None),
    ],
)
def test_encoding_conflicts_never_publish_paid_text(
    data: bytes, name: str, content_type: str | None
) -> None:
    out = split_article(RawArticle("desk", name, data, content_type=content_type), SplitOptions())
    never_raises(out)
    assert_not_public(out, "PAIDTOKEN")


@pytest.mark.parametrize(
    "text",
    [
        "标题\n免费##paidbegin##paidend##PAIDTOKEN",  # markers sharing their '##'
        "标题\n免费##paidbegin##x##paidend##paidbegin##PAIDTOKEN##paidend##尾",
        "标题\n免费##paidbegin###paidend##尾PAIDTOKEN",
        f"标题\n免费导语{B}PAIDTOKEN ##paidbegin #{E}尾",  # a damaged nested begin
        f"标题\n{B}{E}{B}PAIDTOKEN{E}\n免费",  # an empty region first, then the title line
    ],
)
def test_text_marker_edge_cases_keep_paid_text_private(text: str) -> None:
    for name in ("a.txt", "a.html"):
        out = split(text, name)
        never_raises(out)
        assert_not_public(out, "PAIDTOKEN")


@pytest.mark.parametrize(
    "doc",
    [
        # A visible begin before <html>: the head tags after it land in the body, the
        # <html>/<body> attributes merge onto the root; none of it may reach the free head.
        f"免费导语{B}<html lang=PAIDTOKEN><head><title>PAIDNOTE</title><link rel=canonical href=/PAIDTOKEN><meta name=viewport content='width=device-width'></head><body class=PAIDTOKEN><p>付费{E}free</p></body></html>",
        f"<!DOCTYPE html>免费导语{B}<head><title>PAIDNOTE</title><link rel=stylesheet href=/PAIDTOKEN.css></head><p>付费{E}free</p>",
        f"<!DOCTYPE html><html><head><title>t</title></head><body><p>免费{B}付费</p></body></html><html lang=PAIDTOKEN><body class=PAIDNOTE>{E}尾",
    ],
)
def test_head_and_root_tags_written_inside_a_visible_region_stay_private(doc: str) -> None:
    out = split(doc)
    never_raises(out)
    assert_not_public(out, "PAIDTOKEN", "PAIDNOTE")


# ================================================= 6. the gate's own reading of the raw source
# The last gate protects the raw text between the source's markers, read by its own small
# tokenizer. That tokenizer takes "<!-->", "<!--->" (abrupt empty comments) and "--!>" for
# the start of a comment running to the next "-->", where a browser ends the comment at once
# and shows the text after it. The paid text there is not protected by the backstop: any
# splitter bug that leaks it would publish. (The splitter itself reads those comments right.)
@pytest.mark.parametrize("opener", ["<!-->", "<!--->", "<!-- a --!>"])
def test_the_gate_protects_visible_text_after_an_abrupt_comment(opener: str) -> None:
    from paywall.gate import raw_paid_regions

    source = f"<p>免费{B}{opener}PAIDTOKEN 付费正文<!-- c -->{E}尾</p>"
    assert any(
        "PAIDTOKEN" in region for region in raw_paid_regions(source, Markers(B, E), markup=True)
    )


def test_the_splitter_reads_abrupt_comments_as_the_browser_does() -> None:
    # Control: the splitter keeps that text in the paid half.
    for opener in ("<!-->", "<!--->", "<!-- a --!>"):
        out = split(page(f"<p>免费{B}{opener}PAIDTOKEN 付费正文<!-- c -->{E}尾</p>"))
        assert out.published, out.record.reason
        assert_not_public(out, "PAIDTOKEN")
        assert "PAIDTOKEN" in out.paid["txt"].decode()


# ================================================= 7. free.html as a page others render
# The free half drops script URLs from href/src (README: "what is committed can be
# trusted"). The filter reads the scheme literally, but a browser's URL parser removes every
# ASCII tab and newline from a URL first: "java<TAB>script:" is a javascript: link.
@pytest.mark.parametrize(
    "href", ["java\tscript:alert(1)", "java&#10;script:alert(1)", "jav&#x0D;ascript:alert(1)"]
)
def test_script_urls_split_by_tabs_or_newlines_are_dropped(href: str) -> None:
    out = split(page(f"<p><a href='{href}'>免费导语</a>{B}付费正文{E}</p>"))
    assert out.published, out.record.reason
    html_out = out.free["html"].decode()
    assert "script:" not in html_out.replace("\t", "").replace("\n", "").replace("\r", "")


def test_plain_script_urls_are_dropped() -> None:
    for href in (
        "javascript:alert(1)",
        " javascript:alert(1)",
        "\x01javascript:x",
        "VBScript:x",
        "jAvAsCrIpT&colon;x",
    ):
        out = split(page(f"<p><a href='{href}'>免费导语</a><img src='{href}'>{B}付费正文{E}</p>"))
        assert out.published, out.record.reason
        assert "script:" not in out.free["html"].decode().lower()


# ================================================= 8. a wrong charset header and no_markers: all_free
# A server that labels GBK bytes "charset=utf-16" (a misconfigured web server or feed): the
# bytes are not UTF-8, so the declaration is trusted and the text decodes as UTF-16, where
# the ASCII markers are gone. With the source's `no_markers: all_free` the whole article is
# published: the paid region in a reversible disguise (re-encode as UTF-16LE, decode as
# GB18030). The CMS, reading its own text, splits at markers the bytes plainly hold.
@pytest.mark.parametrize("charset", ["utf-16", "utf-16le", "utf-16be"])
def test_a_decoding_that_hides_the_bytes_markers_is_ambiguous(charset: str) -> None:
    data = f"标题\n免费导语，这是免费的部分。{B}付费正文PAIDTOKEN是订阅内容。{E}结尾".encode(
        "gb18030"
    )
    raw = RawArticle("desk", "a.txt", data, content_type=f"text/plain; charset={charset}")
    out = split_article(raw, SplitOptions(no_markers=NoMarkersPolicy.ALL_FREE))
    never_raises(out)
    for body in out.free.values():
        text = body.decode("utf-8")
        for codec in ("utf-16-le", "utf-16-be"):
            assert b"PAIDTOKEN" not in text.encode(codec, "surrogatepass"), codec


def test_a_quarantining_source_refuses_the_same_bytes() -> None:
    data = f"标题\n免费导语{B}付费正文PAIDTOKEN{E}结尾".encode("gb18030")
    raw = RawArticle("desk", "a.txt", data, content_type="text/plain; charset=utf-16")
    out = split_article(raw, SplitOptions())
    assert not out.published and out.free == {}


# ================================================= 9. decoding decided by what the reader cannot trust
# Bytes valid in both GB18030 and Big5 are ambiguous; a short GBK article is guessed to be
# Big5 and its free half published as mojibake ("免费...尾" -> "轎煤帣"): committed, wrong.
@pytest.mark.parametrize("name", ["a.txt", "a.html"])
def test_bytes_valid_in_two_chinese_encodings_are_not_guessed(name: str) -> None:
    out = split(f"免费{B}付费{E}尾".encode("gb18030"), name)
    never_raises(out)
    if out.published:
        assert "免费" in out.free["txt"].decode(), out.free["txt"].decode()


# A <meta charset> written inside a paid region decides how the whole article, free half
# included, is decoded, and the public record names it ("encoding": "big5", evidence
# "document"): paid markup changes the public output and a paid attribute value is disclosed.
def test_a_charset_declared_inside_a_paid_region_is_not_honoured() -> None:
    data = f"<p>免费导语{B}<meta charset='big5'>付费{E}尾</p>".encode("gb18030")
    out = split(data)
    never_raises(out)
    if out.published:
        assert out.record.to_dict()["encoding"] != "big5"
        assert "免费导语" in out.free["txt"].decode()


def test_longer_gbk_articles_decode_as_gb18030() -> None:
    out = split(f"标题\n免费导语{B}付费正文{E}结尾".encode("gb18030"), "a.txt")
    assert out.published and out.free["txt"].decode() == "标题\n免费导语结尾"


# ================================================= 10. end to end
def test_inert_region_attributes_never_reach_the_public_bucket(
    make_mem_ctx: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The first finding as a reader of the public bucket sees it: the pipeline adds no
    # protection the splitter lacks.
    doc = page(
        f"<p>免费导语<!--{B}--><img alt='PAIDTOKEN' src='/PAIDTOKEN.png'><!--{E}-->尾{B}付费{E}</p>"
    )
    public = _public_objects(make_mem_ctx, monkeypatch, {"a.html": doc.encode()})
    assert "PAIDTOKEN" not in public


# ================================================= 11. more guards from the brief's list
@pytest.mark.parametrize(
    "body",
    [
        # Raw text elements that a reader does see, holding the end marker.
        f"<p>免费 {B} PAIDTOKEN <plaintext>{E} 尾",
        f"<p>免费 {B} PAIDTOKEN <xmp>{E}</xmp> 尾",
        # <noscript> holds raw text with scripting on: its <p> is no element.
        f"<p>免费{B}x<noscript><p>PAIDTOKEN</noscript>{E}尾",
        # A NUL inside a marker in a long page (not refused as binary).
        "<p>" + "免费的导语。" * 200 + f"##paid\x00begin## PAIDTOKEN {E}尾</p>",
    ],
)
def test_raw_text_and_nul_keep_paid_text_private(body: str) -> None:
    out = split(page(body, head=""))
    never_raises(out)
    assert_not_public(out, "PAIDTOKEN")


def test_an_http_equiv_charset_that_contradicts_the_header_never_leaks() -> None:
    doc = page(
        f"<p>免费导语，这是免费的部分。{B}付费正文PAIDTOKEN{E}结尾</p>",
        head="<meta http-equiv=content-type content='text/html; charset=big5'>",
    )
    raw = RawArticle("desk", "a.html", doc.encode("gb18030"), content_type="text/html; charset=gbk")
    out = split_article(raw, SplitOptions())
    never_raises(out)
    assert_not_public(out, "PAIDTOKEN")


def test_a_placeholder_with_empty_regions_keeps_paid_text_private() -> None:
    out = split(f"标题\n免费{B}{E}{B}PAIDTOKEN{E}{B}{E}尾", "a.txt", text_placeholder="[付费内容]")
    assert out.published, out.record.reason
    assert_not_public(out, "PAIDTOKEN")
    assert out.free["txt"].decode().count("[付费内容]") >= 1


@pytest.mark.parametrize(
    "copy",
    [
        "ＱＵＡＲＴＥＲＬＹ ＲＥＶＥＮＵＥ ＷＡＳ ４２ ＭＩＬＬＩＯＮ ＡＮＤ ＡＳＩＡ",  # full width
        "quarterly revenue was 42 million and asia",  # case
        "Quarterly-Revenue_was.42/Million,and;Asia",  # punctuation
        "Quar\u00adterly re\u00advenue was 42 mil\u00adlion and A\u00adsia",  # soft hyphens
    ],
)
def test_the_gate_sees_paid_text_through_width_case_and_punctuation(copy: str) -> None:
    # The backstop's normalisation: a copy of the paid text in a public output, in another
    # width, case or punctuation, is still a run of the paid text.
    from paywall.gate import find_paid_text

    paid = "Quarterly revenue was 42 million and Asia lost 7 million"
    assert find_paid_text([paid], {"free html": [copy]}) is not None


def test_nesting_past_the_limit_is_a_status() -> None:
    out = split(page("<div>" * 300 + f"免费{B}PAIDTOKEN{E}尾" + "</div>" * 300))
    assert out.record.status == Status.TOO_DEEP.value
    assert_not_public(out, "PAIDTOKEN")


# ================================================= 12. availability: ordinary words taken for markers
# Not a leak, a false alarm: the look-alike scan matches the marker's *words* without any
# '#', so ordinary English around a correct paywall quarantines the article: "paid
# end-to-end", "the paid end user", "unpaid begin dates", a "#paid" hashtag. Neither the
# CMS nor a reader sees a marker there; the whole English-language desk fails closed.
@pytest.mark.parametrize(
    "words",
    ["He paid end-to-end costs.", "the paid end user", "Unpaid begin dates", "#paid content"],
)
def test_ordinary_words_are_not_marker_look_alikes(words: str) -> None:
    out = split(f"Title\nFree lead {B}paid body{E} {words}", "a.txt")
    assert out.published, out.record.reason


def test_marker_shaped_damage_is_still_refused() -> None:
    # Control: with the hashes, the same words are a damaged marker.
    for damaged in ("##paid end##", "##paidend", "paidend##", "## paid begin ##"):
        out = split(f"Title\nFree lead {B}paid body{E} {damaged}", "a.txt")
        assert out.record.status == Status.BROKEN_MARKER.value, damaged
