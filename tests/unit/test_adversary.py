# ruff: noqa: E501  (each attack payload reads best on one line)
"""The adversary's tests: attacks on the splitter and the output contract.

Each test is one attack. A ``xfail(strict=True)`` test is a finding: the product breaks its
promise today and the reason names how (severity in brackets); when the fix lands the test
passes and strict mode turns it red, so it must then lose its mark. An unmarked test is an
attack the product already withstands, kept as a regression guard.

The promise under attack (README "Splitting semantics" and "Output contract"): no character
of a paid region reaches a public output -- free halves, the public record, the manifest
line, the catalog -- ambiguity is quarantined, no public digest of paid or original text,
no crash, no hang, time linear in the input, and keys that are injective and never the
folder of another key.

Where the ground truth matters it is the CMS's reading: FastAdmin splits the *raw* text at
the markers, so "paid" below means "between a begin marker and the next end marker of the
source". Secrets are ASCII sentinels (``PAIDTOKEN``...) that occur only in a paid region.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from paywall.articles import Outputs, RawArticle, SplitOptions, article_id, split_article
from paywall.catalog import build_catalog
from paywall.decoding import decode
from paywall.gate import WINDOW
from paywall.layout import Layout, article_folder, article_key, decode_article_key
from paywall.metadata import sha256_hex
from paywall.model import ArticleRef, Interval
from paywall.pipeline import Context, run_interval
from paywall.reader import presign_paid
from paywall.segmentation import Markers, NoMarkersPolicy, Status, split_text
from paywall.sources.http import source_id_for
from paywall.verify import verify_run

B, E = "##paidbegin##", "##paidend##"


def public_text(out: Outputs) -> str:
    """Everything ``split_article`` makes public: the free files and the public record."""
    files = [body.decode("utf-8") for body in out.free.values()]
    return "\n".join([*files, json.dumps(out.record.to_dict(), ensure_ascii=False)])


def assert_not_public(out: Outputs, *secrets: str) -> None:
    text = public_text(out)
    for secret in secrets:
        assert secret not in text, (secret, out.record.status, text[:2000])
    if not out.published:
        assert out.free == {} and out.record.title is None


def split(
    data: str | bytes,
    name: str = "a.html",
    *,
    policy: NoMarkersPolicy = NoMarkersPolicy.QUARANTINE,
    **options: Any,
) -> Outputs:
    raw = data.encode("utf-8") if isinstance(data, str) else data
    return split_article(RawArticle("desk", name, raw), SplitOptions(no_markers=policy, **options))


def page(body: str, head: str = "<title>标题</title>") -> str:
    return f"<!DOCTYPE html><html><head>{head}</head><body>{body}</body></html>"


# ================================================= 1. paid-region markup copied into free.html
# The free half keeps a start tag's allow-listed attributes (title, href, id...) when the
# element is opened in a free region. But the HTML parser itself *creates* elements after
# the end marker that are copies of elements written inside the paid region: the
# "reconstruct the active formatting elements" step re-opens an unclosed <a>, <b>, <font>...
# in the next block, and the adoption agency algorithm clones a misnested one. Those clones
# are opened in the free region, so they pass as free markup with every attribute the paid
# author wrote. An unclosed link in a paid paragraph is ordinary sloppy CMS HTML.
CLONED_ATTRIBUTES = [
    # reconstruction: the unclosed <a> of a paid paragraph reopens in the free one.
    f'<p>免费导语{B}付费正文<a href="/report.pdf?sig=PAIDTOKEN" title="PAIDNOTE">报告</p>'
    f"<p>付费第二段{E}</p><p>免费结尾</p>",
    # the same with <font>: title is a tooltip a reader sees, id a fragment target.
    f'<p>免费导语{B}付费<font title="PAIDNOTE" id="PAIDTOKEN">正文</p><p>付费{E}</p><p>免费结尾</p>',
    # adoption agency: </a> misnested around a block, the block gets a clone of the <a>.
    f'<div>免费导语{B}<a href="/dl?key=PAIDTOKEN" title="PAIDNOTE">付费下载{E}<div>免费</a>结尾'
    "</div></div>",
]


@pytest.mark.parametrize("body", CLONED_ATTRIBUTES)
def test_parser_clones_of_paid_elements_carry_no_paid_attributes_into_free(body: str) -> None:
    out = split(page(body))
    assert_not_public(out, "PAIDTOKEN", "PAIDNOTE")


@pytest.mark.parametrize(
    "body",
    [
        f'<p>免费导语{B}付费<body class="PAIDTOKEN">正文{E}免费结尾</p>',
        f'<p>免费导语{B}付费<html lang="PAIDTOKEN" dir="rtl">正文{E}免费结尾</p>',
    ],
)
def test_root_attributes_merged_from_a_paid_region_stay_out_of_free(body: str) -> None:
    out = split(page(body))
    assert_not_public(out, "PAIDTOKEN")
    if out.published:
        assert 'dir="rtl"' not in out.free["html"].decode()  # paid markup must not restyle free


def test_class_written_inside_a_paid_region_stays_out_of_free() -> None:
    body = f'<p>免费导语{B}付费<span class="PAIDTOKEN-answer-42" lang="PAIDLANG">正文{E}免费</span></p>'
    out = split(page(body))
    assert_not_public(out, "PAIDTOKEN", "PAIDLANG")


def test_closed_paid_elements_and_their_attributes_stay_private() -> None:
    # The shapes the allow-list was made for still hold: closed or crossing elements.
    for body in (
        f'<p>免费{B}<a href="/x?PAIDTOKEN" title="PAIDTOKEN">付费</a>{E}结尾</p>',
        f'<p>免费{B}<img alt="PAIDTOKEN" src="/PAIDTOKEN.png">{E}结尾</p>',
        f'<p>免费{B}<x-y title="PAIDTOKEN">付费{E}结尾</x-y></p>',
        f'<p>免费{B}<body title="PAIDTOKEN" onload="PAIDTOKEN()">付费{E}结尾</p>',
        f'<p>免费{B}<form action="/PAIDTOKEN"><input value="PAIDTOKEN">付费{E}结尾</form></p>',
    ):
        out = split(page(body))
        assert out.published, out.record.reason
        assert_not_public(out, "PAIDTOKEN")


# ================================================= 2. the CMS's reading versus the page's
# A marker in a comment or an attribute value is inert for the splitter (README), while the
# CMS, which splits the raw source, honours it. The last gate's raw scan is the backstop:
# it protects the text between raw markers. It is defeated when the raw region holds text
# the free half does not show (hidden content), which cuts every run below the window, or
# when a lone inert marker makes the raw region longer than the text that leaks.
LONG_PAID = "Quarterly revenue was 42 million and Asia lost 7 million in November"


def _filled(text: str, every: int = WINDOW - 9) -> str:
    hidden = "<span hidden>zz</span>"
    return hidden.join(text[i : i + every] for i in range(0, len(text), every))


def test_inert_markers_around_a_copied_region_are_caught_by_the_raw_scan() -> None:
    # What holds today: the raw region appears whole (or in a long run) in the free half.
    for region in ("SUBSCRIBER ONLY", LONG_PAID):
        out = split(page(f"<p>导语<!--{B}-->{region}<!--{E}-->尾{B}付费正文{E}</p>"))
        # The CMS's reading (comment markers count there) disagrees with the page's:
        # refused as ambiguous before the gate; the gate's raw scan is the backstop.
        assert out.record.status in (Status.HIDDEN_MARKER.value, Status.PAID_TEXT_IN_FREE.value)
        assert_not_public(out, region)


@pytest.mark.parametrize(
    ("body", "policy"),
    [
        (f"<p>导语<!--{B}-->{_filled(LONG_PAID)}<!--{E}-->尾{B}付费正文{E}</p>", "quarantine"),
        (f'<p>导语<img alt="{B}">{_filled(LONG_PAID)}<img alt="{E}">尾</p>', "all_free"),
        (
            f"<p>导语<!--{B}-->PAID<span hidden>q</span>TOKEN<!--{E}-->尾{B}付费{E}</p>",
            "quarantine",
        ),
    ],
)
def test_hidden_filler_does_not_hide_the_cms_paid_text_from_the_gate(
    body: str, policy: str
) -> None:
    out = split(page(body), policy=NoMarkersPolicy(policy))
    assert_not_public(out, LONG_PAID[:20], LONG_PAID[-20:], "PAIDTOKEN")


@pytest.mark.parametrize(
    "body",
    [
        f"<p>导语<!--{B}-->SECRET CODE 4711 {B}付费正文{E}尾</p>",
        f'<p>导语<span title="{B}">SECRET CODE 4711</span> {B}付费正文{E}尾</p>',
    ],
)
def test_a_lone_inert_marker_is_ambiguous(body: str) -> None:
    out = split(page(body))
    assert_not_public(out, "SECRET CODE 4711")


# ================================================= 3. work proportional to the input
# The parser's reconstruction of active formatting elements re-creates every unclosed
# formatting element in each new block: 250 distinct <b id=N> (below the depth limit) then
# <div>x</div> repeated give 250 elements per 12 input bytes; one <b> with a long class gives
# the class again per block. Measured (bench/adversary_shapes.py): a 26 KB page takes
# ~30 s and ~360 MB and writes 7.8 MB of free.html; 105 KB with a 100 KB class takes ~26 s
# and writes 40 MB. Here at a modest size, asserted on output size, never on time.
AMPLIFIERS = {
    "reconstructed_depth": "<div>"
    + "".join(f"<b id={i}>" for i in range(250))
    + "</div>"
    + "<div>x</div>" * 30,
    "reconstructed_attribute": f"<div><b class='{'k' * 4000}'></div>" + "<div>x</div>" * 30,
}


def _amplification(doc: str) -> float:
    out = split(doc + f"<p>免费{B}付费{E}</p>")
    if not out.published:
        return 0.0
    written = sum(map(len, out.free.values())) + sum(map(len, out.paid.values()))
    return written / len(doc.encode())


@pytest.mark.parametrize("shape", sorted(AMPLIFIERS))
def test_outputs_stay_proportional_to_the_input(shape: str) -> None:
    assert _amplification(AMPLIFIERS[shape]) <= 8


def test_noahs_ark_keeps_identical_formatting_elements_bounded() -> None:
    # Identical elements are kept three times at most: this shape stays proportional.
    doc = "<div>" + "<b>" * 300 + "</div>" + "<div>x</div>" * 300
    assert _amplification(doc) <= 8


# ================================================= 4. the pipeline: what stays public
DAY1 = Interval(datetime(2026, 11, 20, tzinfo=UTC), datetime(2026, 11, 21, tzinfo=UTC))
DAY2 = Interval(datetime(2026, 11, 21, tzinfo=UTC), datetime(2026, 11, 22, tzinfo=UTC))


@dataclass
class MovingSource:
    """Articles listed by their current timestamp (an HTTP feed's ``date_modified``, a local
    source with ``timestamp: mtime``): an edited article moves to a later interval."""

    name: str
    items: dict[str, tuple[datetime, bytes]]

    def list(self, interval: Interval | None) -> list[ArticleRef]:
        return [
            ArticleRef(self.name, sid, when.isoformat(), sid)
            for sid, (when, _) in sorted(self.items.items())
            if interval is None or interval.contains(when)
        ]

    def fetch(self, ref: ArticleRef, previous: Mapping[str, Any] | None = None) -> RawArticle:
        return RawArticle(self.name, ref.source_id, self.items[ref.source_id][1])


def _moving_ctx(make_mem_ctx: Any, source: MovingSource) -> Context:
    ctx: Context = make_mem_ctx(sources=[{"name": "desk", "kind": "local", "path": "/x"}])
    ctx.source = lambda name: source  # type: ignore[method-assign]
    return ctx


def test_an_article_that_becomes_ambiguous_in_a_later_interval_is_retracted(
    make_mem_ctx: Any,
) -> None:
    sid = "2026/story.txt"
    first = "标题\n公开导语，免费的部分。\n##paidbegin##付费正文。##paidend##\n"
    # The next edit moves the paywall up and breaks it: the whole text is now ambiguous.
    second = "标题\n公开导语，##paidbegin付费的部分。付费正文。##paidend##\n"
    source = MovingSource("desk", {sid: (datetime(2026, 11, 20, 8, tzinfo=UTC), first.encode())})
    ctx = _moving_ctx(make_mem_ctx, source)
    layout, store = ctx.layout, ctx.store
    assert run_interval(ctx, DAY1).counts.published == 1
    source.items[sid] = (datetime(2026, 11, 21, 8, tzinfo=UTC), second.encode())
    summary = run_interval(ctx, DAY2)
    assert summary.counts.quarantined == 1  # the run knows the article is ambiguous now
    assert sid not in {a["source_id"] for a in build_catalog(store, layout)["articles"]}
    # ... so nothing of it may stay public, and no paid URL may be handed out.
    assert store.get(layout.public_bucket, layout.free("desk", sid, "txt")) is None
    assert store.get(layout.public_bucket, layout.meta("desk", sid)) is None
    with pytest.raises(KeyError):
        presign_paid(store, layout, "desk", sid)
    # The first interval's record is superseded by the later run: its audit does not demand
    # the objects the refusal removed, and the later run's audit passes too.
    for day in (DAY1, DAY2):
        report = verify_run(
            store,
            layout,
            layout.manifest(day.slug),
            markers=ctx.settings.markers.build(),
            probe=ctx.probe,
        )
        assert report.ok, (day.slug, report.problems)
    assert summary.counts.actions == {"retracted": 1}


def test_the_same_interval_retracts_and_verify_sees_only_what_it_names(make_mem_ctx: Any) -> None:
    # Control for the finding above: within one interval the retraction works, and verify
    # of the earlier interval cannot see objects its manifest does not name.
    sid = "2026/story.txt"
    good = "标题\n导语\n##paidbegin##付费正文。##paidend##\n".encode()
    source = MovingSource("desk", {sid: (datetime(2026, 11, 20, 8, tzinfo=UTC), good)})
    ctx = _moving_ctx(make_mem_ctx, source)
    run_interval(ctx, DAY1)
    source.items[sid] = (datetime(2026, 11, 20, 9, tzinfo=UTC), "标题\n导语##paidend##\n".encode())
    summary = run_interval(ctx, DAY1)
    assert summary.counts.actions == {"retracted": 1}
    assert ctx.store.get(ctx.layout.public_bucket, ctx.layout.free("desk", sid, "txt")) is None
    report = verify_run(
        ctx.store,
        ctx.layout,
        ctx.layout.manifest(DAY1.slug),
        markers=ctx.settings.markers.build(),
        probe=ctx.probe,
    )
    assert report.ok, report.problems


# ================================================= 5. ids and keys
def test_distinct_source_ids_get_distinct_article_ids() -> None:
    one, other = "x/\ud800.html", "x/\udced\udca0\udc80.html"
    assert article_key(one) != article_key(other)  # the layout tells them apart ...
    assert article_id("desk", one) != article_id("desk", other)  # ... the article id must too
    # The next variants: escapes that spell valid UTF-8, an escaped backslash, and every
    # tricky id of the layout's test, against each other and across the source boundary.
    names = [*TRICKY_IDS, "\udcc3\udca9", "\u00e9", "\\x41", "\udc41", "a\x00b", "a\\u0000b"]
    ids = {article_id("desk", n) for n in names}
    assert len(ids) == len(set(names))
    assert article_id("a", "b/c") != article_id("a\x00b", "c")
    assert article_id("de\udcffsk", "a") != article_id("de\ufffdsk", "a")
    # Ordinary names keep the ids they always had (existing manifests key on them).
    assert article_id("desk", "2026/11/a.txt") == sha256_hex("desk\x002026/11/a.txt")[:20]


PAGES = [
    "https://news.example/",
    "https://news.example/index",
    "https://news.example/a",
    "https://news.example/a/",
    "https://news.example//a",
    "https://news.example/a?x=1",
    "https://news.example:8443/a",
    "http://news.example:443/a",
    "https://news.example./a",
    "https://[::1]:8080/a",
    "https://[::1]/8080/a",
    "https://news.example/%2F",
    "https://news.example//",
]


def test_distinct_pages_get_distinct_source_ids() -> None:
    ids = [source_id_for(url) for url in PAGES]
    assert len(set(ids)) == len(ids), ids
    # What URL syntax itself equates stays one page: the default port, an empty path, case.
    assert source_id_for("https://News.Example:443") == source_id_for("https://news.example/")
    assert source_id_for("http://news.example:80/a#top") == source_id_for("http://news.example/a")


TRICKY_IDS = [
    "a.txt",
    "A.txt",  # case
    "caf\u00e9.txt",  # NFC
    "cafe\u0301.txt",  # NFD
    "a~.txt",
    "a%7E.txt",
    "a%25.txt",
    "a%.txt",
    "%41.txt",
    "A%41.txt",
    "a",
    "a/",
    "a//",
    "/a",
    "a/~",
    "a/~/b",
    "a//b",
    "~",
    "",
    "/",
    ".",
    "..",
    "./a",
    "a/./b",
    "%2E",
    "a\\b",
    "a\tb",
    "a\u200bb",
    "a\udc80",
    "a\ud800",
    "x" * 200,
    "x" * 201,
    "x" * 202,
    "x" * 64 + "y" * 200,
    "x" * 64 + "z" * 200,
    "x" * 64,
    ("x" * 64 + "/") * 20,
    "中" * 66 + "a",  # 198 bytes plus one
    "中" * 67,  # 201 bytes
    "\U0001f600" * 60,
]


def test_tricky_ids_never_share_a_key_nor_nest_one_in_another() -> None:
    layout = Layout("pub", "priv", "p")
    keys: dict[str, str] = {}
    for sid in TRICKY_IDS:
        key = article_key(sid)
        assert key not in keys, (sid, keys.get(key))
        keys[key] = sid
        assert decode_article_key(key) in (sid, None)
        assert all(0 < len(s.encode()) <= 255 for s in key.split("/")), key
    for sid in TRICKY_IDS:
        obj = layout.free("s", sid, "txt")
        for other in TRICKY_IDS:
            if other != sid:
                folder = f"free/s/{article_folder(other)}/"
                assert not obj.startswith(folder), (sid, other)
                assert not folder.startswith(obj + "/"), (sid, other)


# ================================================= 6. marker look-alikes
def test_a_null_notehead_inside_a_marker_is_a_look_alike() -> None:
    blank = "\U0001d159"
    look_alike = blank.join("##paidbegin##")
    result = split_text(f"免费导语{look_alike}付费正文{E}")
    assert result.status is Status.BROKEN_MARKER


@pytest.mark.parametrize(
    "look_alike",
    [
        "##paid\U0001d159begin##",  # one blank is not enough: "#paid" stays
        "\u266f\u266fpaidbegin\u266f\u266f",  # MUSIC SHARP SIGN for '#': the word stays
        "##p\u0251id\u0185egin##",  # Latin alpha, tone six
        "##paid\u034fbegin##",  # combining grapheme joiner
        "##pai\u0501begin##",  # Cyrillic komi de
        "##paidbeg\u0131n##",  # dotless i
        "##paid\u3164begin##",  # Hangul filler
        "＃＃ｐａｉｄ\u3000ｂｅｇｉｎ＃＃",
    ],
)
def test_look_alikes_the_skeleton_folds_are_refused(look_alike: str) -> None:
    result = split_text(f"免费导语{look_alike}付费正文{E}尾")
    assert result.status in (Status.BROKEN_MARKER, Status.UNMATCHED_END), result.status
    assert not result.published


# ================================================= 7. encodings and byte-order marks
@pytest.mark.parametrize(
    ("data", "name"),
    [
        # A second BOM inside the marker: invisible, so a look-alike.
        (b"\xef\xbb\xbf\xe5\x85\x8d##paid\xef\xbb\xbfbegin##PAIDTOKEN##paidend##", "a.txt"),
        # UTF-16 with and without a BOM.
        ("\ufeff免费##paidbegin##PAIDTOKEN##paidend##尾".encode("utf-16-le"), "a.txt"),
        ("免费导语##paidbegin##PAIDTOKEN##paidend##尾".encode("utf-16-le"), "a.txt"),
        # ISO-2022-JP is 7-bit: decoded as UTF-8, its escape breaks the marker visibly.
        (
            b'<meta charset="iso-2022-jp"><p>free ##paid\x1b(Bbegin## PAIDTOKEN ##paidend##</p>',
            "a.html",
        ),
        # UTF-7 is no WHATWG encoding: the "+ACM-" markers are not markers.
        (b'<meta charset="utf-7"><p>free +ACMAIw-paidbegin+ACMAIw-PAIDTOKEN</p>', "a.html"),
        # A BOM contradicting the document's declaration: the BOM wins, as in browsers.
        (
            b'\xef\xbb\xbf<meta charset="gbk"><p>\xe5\x85\x8d ##paidbegin##PAIDTOKEN##paidend##',
            "a.html",
        ),
        # GB18030 four-byte sequences around the markers.
        ("免费𠀀##paidbegin##PAIDTOKEN𠀀##paidend##尾".encode("gb18030"), "a.txt"),
    ],
)
def test_encoding_tricks_never_publish_paid_text(data: bytes, name: str) -> None:
    out = split(data, name)
    assert_not_public(out, "PAIDTOKEN")
    assert out.record.status != Status.INTERNAL_ERROR.value


def test_a_lone_surrogate_from_a_decoder_never_reaches_a_writer() -> None:
    text = decode("免费##paidbegin##付费##paidend##".encode("utf-16-le")).text
    assert text.encode("utf-8")


# ================================================= 8. HTML parser edge cases that hold
HELD = {
    "plaintext_opened_in_paid": f"<p>免费{B} PAIDTOKEN <plaintext>PAIDTOKEN {E} 尾",
    "plaintext_around_markers": f"<p>免费</p><plaintext>导语 {B} PAIDTOKEN {E} 尾",
    "xmp_around_markers": f"<xmp>免费 {B} PAIDTOKEN {E} 尾</xmp>",
    "xmp_opened_in_paid": f"<p>免费 {B} PAIDTOKEN <xmp></p>{E}<b>x</b></xmp> 尾",
    "listing_leading_newline": f"<listing>\n免费 {B} PAIDTOKEN {E} 尾</listing>",
    "base_in_paid": f"<p>免费 {B}<base href='https://x.invalid/PAIDTOKEN/'>{E} <a href='y'>尾</a></p>",
    "meta_refresh_in_paid": f"<p>免费 {B}<meta http-equiv=refresh content='0;url=/PAIDTOKEN'>{E} 尾</p>",
    "canonical_in_paid": f"<p>免费 {B}<link rel=canonical href='/PAIDTOKEN'>{E} 尾</p>",
    "details_cut_in_summary": f"<details><summary>免费 {B} PAIDTOKEN</summary> x {E} 尾</details>",
    "ruby_in_paid": f"<p>免费 {B}<ruby>PAID<rt>PAIDTOKEN</rt>TOKEN</ruby>{E} 尾</p>",
    "bdo_in_paid": f"<p>免费 {B}<bdo dir=rtl>NEKOTDIAP</bdo>{E} 尾</p>",
    "rlo_in_paid": f"<p>免费 {B}\u202eNEKOTDIAP{E}\u202c 尾</p>",
    "legacy_entities_without_semicolon": f"<p>免费 &amp{B} PAIDTOKEN {E}&lt 尾</p>",
    "entity_shaped_marker": f"<p>免费 &paidbegin; PAIDTOKEN {E} 尾</p>",
    "slot_in_paid": f"<p>免费 {B}<slot name=PAIDTOKEN>PAIDTOKEN</slot>{E} 尾</p>",
    "svg_foreign_object_in_paid": f"<p>免费 {B}<svg><foreignObject><p>PAIDTOKEN</p></foreignObject></svg>{E} 尾</p>",
    "mathml_html_annotation": f"<p>免费 {B}<math><annotation-xml encoding='text/html'><p>PAIDTOKEN</p></annotation-xml></math>{E} 尾</p>",
    "image_alias": f"<p>免费 {B}<image src=/PAIDTOKEN alt=PAIDTOKEN>{E} 尾</p>",
    "nobr_reopened_in_paid": f"<p>免费 {B}<nobr title=PAIDTOKEN>x<nobr>y{E} 尾</p>",
    "frameset_after_the_article": f"<p>免费 {B} PAIDTOKEN {E} 尾</p><frameset><frame src=PAIDTOKEN></frameset>",
    "open_dialog_in_paid": f"<p>免费 {B}<dialog open>PAIDTOKEN</dialog>{E} 尾</p>",
    "caption_cut": f"<table><caption>免费 {B} PAIDTOKEN {E} 尾</caption></table>",
    "cr_line_ends": f"<p>免费 {B}\r\nPAIDTOKEN\r{E}\r 尾</p>",
    "title_only_in_paid": f"<p>免费 {B}<title>PAIDTOKEN</title>x{E} 尾</p>",
    "h1_only_in_paid": f"<p>免费 {B}</p><h1>PAIDTOKEN</h1><p>x{E} 尾</p>",
}


@pytest.mark.parametrize("name", sorted(HELD))
def test_html_edge_cases_keep_paid_text_private(name: str) -> None:
    out = split(page(HELD[name], head=""))
    assert out.record.status != Status.INTERNAL_ERROR.value
    assert_not_public(out, "PAIDTOKEN", "NEKOTDIAP")


def test_title_selector_and_h1_cut_by_the_region_are_no_title() -> None:
    body = f'<h1 class="t">免费标题{B}PAIDTOKEN</h1><p>正文{E}尾</p>'
    for selector in (".t", "h1", "body"):
        out = split_article(
            RawArticle("desk", "a.html", page(body, head="").encode(), title_selector=selector),
            SplitOptions(),
        )
        assert out.published and out.record.title is None, (selector, out.record.title)
        assert_not_public(out, "PAIDTOKEN")


# ================================================= 9. the text path and the public record
def test_text_title_never_comes_from_a_region_that_starts_the_article() -> None:
    for text in (
        f"{B}PAIDTOKEN 标题\n正文{E}\n免费",
        f"\ufeff{B}PAIDTOKEN\n{E}免费",
        f"  \n{B}PAIDTOKEN{E}\n免费",
        f"标题{B}PAIDTOKEN{E}续\n免费",
    ):
        out = split(text, "a.txt")
        assert out.published, out.record.reason
        assert_not_public(out, "PAIDTOKEN")


@pytest.mark.parametrize("placeholder", [B, "#paidbegin#", "[付费内容]"])
def test_a_text_placeholder_never_puts_a_marker_in_free(placeholder: str) -> None:
    # "免费#" and "#尾" are innocent in the source; joined by "#paidbegin#" they spell a marker.
    out = split(f"免费#{B}PAIDTOKEN{E}#尾", "a.txt", text_placeholder=placeholder)
    for body in out.free.values():
        assert "paidbegin" not in body.decode()
    assert_not_public(out, "PAIDTOKEN")
    assert out.published == (placeholder == "[付费内容]"), out.record.reason


def test_reasons_and_warnings_quote_no_paid_text() -> None:
    cases = [
        f"免费{B}PAIDTOKEN\u200b{B}x{E}",  # nested
        f"免费{B}PAIDTOKEN##paid\u0430end##",  # look-alike inside the region
        f"免费{B}PAIDTOKEN",  # unclosed: published with a warning
        f"免费{B}{E}" * 30 + f"{B}PAIDTOKEN{E}",  # many empty regions
        f"免费{E}PAIDTOKEN{B}",  # reversed
    ]
    for text in cases:
        for name in ("a.txt", "a.html"):
            out = split(text, name)
            record = out.record.to_dict()
            assert "PAIDTOKEN" not in json.dumps(
                [record["reason"], record["warnings"], record["title"], record["json_ld"]]
            )
            assert_not_public(out, "PAIDTOKEN")


def test_no_public_digest_confirms_a_guess_of_a_short_region() -> None:
    import hashlib

    out = split(f"标题\n导语{B}4711{E}\n", "a.txt")
    assert out.published
    text = public_text(out)
    for guess in ("4711", f"标题\n导语{B}4711{E}\n", "标题\n导语\n", "标题\n导语4711\n"):
        data = guess.encode()
        for algorithm in ("md5", "sha1", "sha256"):
            digest = hashlib.new(algorithm, data).hexdigest()
            if guess == "标题\n导语\n":
                continue  # the free half's own digest is public by design
            assert digest not in text, (guess, algorithm)


def test_all_paid_publishes_no_article_text_in_either_format() -> None:
    for name, data in (
        ("a.txt", "PAIDTOKEN 标题\n正文 PAIDTOKEN\n"),
        ("a.html", page("<h1>PAIDTOKEN</h1><p>正文 PAIDTOKEN</p>", head="")),
    ):
        out = split(data, name, policy=NoMarkersPolicy.ALL_PAID)
        assert out.published and out.record.status == Status.NO_MARKERS.value
        assert_not_public(out, "PAIDTOKEN")


# ================================================= 10. never raise, never crash a batch
@pytest.mark.parametrize(
    "raw",
    [
        RawArticle(
            "desk",
            "a.html",
            b"<p>" + b"\xff" * 10 + B.encode(),
            content_type="text/html; charset=\x00",
        ),
        RawArticle(
            "desk", "a.html", page(f"<p>免费{B}x{E}</p>").encode(), title_selector=":has(:has(p))"
        ),
        RawArticle(
            "desk",
            "a.html",
            page(f"<p>免费{B}x{E}</p>").encode(),
            title_selector="p:nth-child(n of :not(p))",
        ),
        RawArticle(
            "desk",
            "a.html",
            page(f"<p>免费{B}x{E}</p>").encode(),
            extract=True,
            body_selector="::before",
        ),
        RawArticle(
            "desk",
            "a.html",
            page(f"<p>免费{B}x{E}</p>").encode(),
            extract=True,
            body_selector="*" * 5000,
        ),
        RawArticle(
            "desk",
            "a.html",
            page("<p>" + ":not(" * 10 + "</p>").encode(),
            title_selector=":not(" * 2000 + "p" + ")" * 2000,
        ),
        RawArticle(
            "desk", "\udcff.txt", f"免费{B}x{E}".encode(), content_type="text/plain; charset=utf-7"
        ),
    ],
)
def test_hostile_fields_give_a_status_not_an_exception(raw: RawArticle) -> None:
    out = split_article(raw, SplitOptions())
    assert out.record.status
    assert out.published or out.record.reason
    json.dumps(out.record.to_dict(), ensure_ascii=False).encode("utf-8")


def test_markers_config_refuses_markers_that_are_look_alikes_of_each_other() -> None:
    with pytest.raises(ValueError):
        Markers("##paidbegin##", "##PAIDBEGIN##")
    with pytest.raises(ValueError):
        Markers("##paidbegin##", "##paid\u200bbegin##")
