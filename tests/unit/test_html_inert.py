# ruff: noqa: E501  (each attack payload reads best on one line)
"""Regions the CMS reads between inert markers (comments, attribute values, code).

The CMS splits the raw source: a region between two markers the page does not show is
paid all the same. Such a region is allowed only when nothing written in it reaches a
public output: no visible text (HTML whitespace only), no attribute of a start tag that
overlaps it, no head element, no title. Variants beyond adversary round 2's (F1, F2, F9).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from paywall.articles import Outputs, RawArticle, SplitOptions, split_article
from paywall.htmlsplit import split_html
from paywall.segmentation import Markers, NoMarkersPolicy, Status

B, E = "##paidbegin##", "##paidend##"
SECRET = "PAIDTOKEN"


def page(body: str, head: str = "<title>标题</title>") -> str:
    return f"<!DOCTYPE html><html><head>{head}</head><body>{body}</body></html>"


def public(out: Outputs) -> str:
    files = [body.decode("utf-8") for body in out.free.values()]
    return "\n".join([*files, json.dumps(out.record.to_dict(), ensure_ascii=False)])


def split(doc: str, **options: Any) -> Outputs:
    raw = RawArticle("desk", "a.html", doc.encode("utf-8"))
    return split_article(raw, SplitOptions(**options))


TAGS_IN_INERT_REGIONS = {
    # The region's end marker sits inside the start tag; its start tag began in the region.
    "end_inside_the_tag": f"<p>免费导语<!--{B}--><a href=/PAIDTOKEN title='{E}'>尾</a>{B}付费{E}</p>",
    # The region begins inside a tag after its href: the CMS calls the href free, the tag
    # overlaps the region all the same.
    "begin_inside_the_tag": f"<p>免费导语<a title='x' data-b='{B}' href=/PAIDTOKEN>x</a><!--{E}-->尾{B}付费{E}</p>",
    # A '>' inside a quoted value before the region: the tag ends later than its first '>'.
    "quoted_gt_before_the_region": f"<p>免费导语<a title='x>y' data-a='{B}' href='/dl?PAIDTOKEN' data-b='{E}'>免费</a>尾{B}付费{E}</p>",
    # Line ends of every kind before the region: offsets are counted as the parser counts.
    "crlf_and_cr_before": "<p>免费\r\n导语\r\r\n</p>"
    + f"<p>免费<!--{B}--><img alt=PAIDTOKEN><!--{E}-->尾{B}付费{E}</p>",
    # A later <body> written in an inert region merges its attributes onto the root.
    "merged_body_attributes": f"<p>免费导语</p><!--{B}--><body class=PAIDTOKEN lang=PAIDTOKEN><!--{E}--><p>尾{B}付费{E}</p>",
    "style_markers_around_img": f"<p>免费导语<style>/*{B}*/</style><img alt=PAIDTOKEN><style>/*{E}*/</style>尾{B}付费{E}</p>",
    "table_cell_attributes": f"<table><tr><td>免费导语</td><!--{B}--><td title=PAIDTOKEN abbr=PAIDTOKEN></td><!--{E}--></tr></table><p>尾{B}付费{E}</p>",
}


@pytest.mark.parametrize("name", sorted(TAGS_IN_INERT_REGIONS))
def test_a_start_tag_overlapping_an_inert_region_keeps_no_attribute(name: str) -> None:
    out = split(page(TAGS_IN_INERT_REGIONS[name]))
    assert out.record.status != Status.INTERNAL_ERROR.value
    assert SECRET not in public(out), public(out)


HEADS = {
    "canonical_link": f"<!--{B}--><link rel=canonical href=/PAIDTOKEN><!--{E}--><title>标题</title>",
    "stylesheet_link": f"<!--{B}--><link rel=stylesheet href=/PAIDTOKEN.css><!--{E}--><title>标题</title>",
    "title_in_meta_markers": f"<meta name=a content='{B}'><title>PAIDTOKEN</title><template>more paid text than twenty four letters here</template><meta name=b content='{E}'>",
    # The title's start tag alone in the region (its text after the inert end).
    "title_start_tag_in_region": f"<!--{B}--><title><!--{E}-->PAIDTOKEN</title>",
}


@pytest.mark.parametrize("name", sorted(HEADS))
@pytest.mark.parametrize("extract", [False, True])
def test_head_elements_written_in_an_inert_region_stay_private(name: str, extract: bool) -> None:
    doc = page(f"<article><p>免费导语很长的一段文字{B}付费{E}尾</p></article>", head=HEADS[name])
    raw = RawArticle("desk", "a.html", doc.encode(), extract=extract)
    out = split_article(raw, SplitOptions())
    assert out.record.status != Status.INTERNAL_ERROR.value
    assert SECRET not in public(out), public(out)


def test_a_free_title_and_free_attributes_stay() -> None:
    # Control: outside every region, the title, the link and the attributes are kept.
    doc = page(
        f"<p>免费导语<a href=/free title=free>链接</a><!--{B}--><img alt=PAIDTOKEN><!--{E}-->尾{B}付费{E}</p>",
        head="<title>公开标题</title><link rel=canonical href=/canon>",
    )
    out = split(doc)
    assert out.published, out.record.reason
    text = public(out)
    assert SECRET not in text
    assert out.record.title == "公开标题"
    assert 'href="/free"' in text and 'href="/canon"' in text
    assert "<img>" in out.free["html"].decode()


@pytest.mark.parametrize(
    "space",
    ["\u1680", "\u3000", "\u00a0", "\u2003", "\u205f", "\u180e", "\u2028", "\x0b", "\x1c"],
)
def test_an_inert_region_of_unicode_spaces_is_refused(space: str) -> None:
    # Only HTML's own whitespace (space, tab, LF, FF, CR) counts as holding nothing.
    result = split_html(page(f"<p>免费导语<!--{B}-->{space}<!--{E}-->尾{B}付费{E}</p>"))
    assert not result.published
    assert result.status is Status.HIDDEN_MARKER


def test_an_inert_region_of_html_whitespace_is_allowed() -> None:
    result = split_html(page(f"<p>免费导语<!--{B}--> \t\n\r\f <!--{E}-->尾{B}付费{E}</p>"))
    assert result.published, result.reason


@pytest.mark.parametrize(
    "policy", [NoMarkersPolicy.ALL_FREE, NoMarkersPolicy.QUARANTINE, NoMarkersPolicy.ALL_PAID]
)
def test_no_markers_policies_never_publish_an_inert_region(policy: NoMarkersPolicy) -> None:
    doc = page(
        f"<p>免费导语<i title='{B}'></i><a href=/PAIDTOKEN><img src=/PAIDTOKEN.png></a><i title='{E}'></i>尾</p>",
        head=f"<!--{B}--><link rel=canonical href=/PAIDTOKEN><!--{E}--><title>标题</title>",
    )
    out = split(doc, no_markers=policy)
    assert out.record.status != Status.INTERNAL_ERROR.value
    assert SECRET not in public(out)


def test_lenient_markers_honour_the_exact_inert_regions() -> None:
    doc = page(f"<p>免费导语<!--{B}--><img alt=PAIDTOKEN><!--{E}-->尾##PaidBegin##付费{E}</p>")
    out = split(doc, markers=Markers(B, E, lenient=True))
    assert out.record.status != Status.INTERNAL_ERROR.value
    assert SECRET not in public(out)


# Any carrier of an inert marker, any markup between, anywhere on the page: nothing of a
# region the CMS reads is published (PAIDTOKEN is written only inside such regions).
_CARRIERS = [
    ("<!--{m}-->", "comment"),
    ("<i title='{m}'></i>", "attribute"),
    ("<script>var s='{m}'</script>", "script"),
    ("<style>/*{m}*/</style>", "style"),
    ("<img alt='{m}'>", "void attribute"),
]
_MARKUP = [
    "<img alt=PAIDTOKEN src=/PAIDTOKEN.png>",
    "<a href=/PAIDTOKEN title=PAIDTOKEN></a>",
    "<span class=PAIDTOKEN id=PAIDTOKEN lang=PAIDTOKEN></span>",
    "<br class=PAIDTOKEN>",
    "<ol start=9 reversed type=PAIDTOKEN><li value=PAIDTOKEN></li></ol>",
    "<table><tr><td abbr=PAIDTOKEN headers=PAIDTOKEN></td></tr></table>",
    "<picture><source srcset=/PAIDTOKEN.webp media=PAIDTOKEN><img src=x></picture>",
    "<time datetime=PAIDTOKEN></time><q cite=/PAIDTOKEN></q>",
    " ",
    "\n",
]


@settings(max_examples=150, deadline=None)
@given(
    begin=st.sampled_from(_CARRIERS),
    end=st.sampled_from(_CARRIERS),
    inner=st.lists(st.sampled_from(_MARKUP), min_size=1, max_size=3),
    visible=st.booleans(),
    where=st.sampled_from(["body", "head", "root"]),
    policy=st.sampled_from(list(NoMarkersPolicy)),
)
def test_no_inert_region_is_ever_published(
    begin: tuple[str, str],
    end: tuple[str, str],
    inner: list[str],
    visible: bool,
    where: str,
    policy: NoMarkersPolicy,
) -> None:
    region = begin[0].format(m=B) + "".join(inner) + end[0].format(m=E)
    paid = f"{B}付费正文{E}" if visible else ""
    if where == "body":
        doc = page(f"<p>免费导语{region}尾{paid}</p>")
    elif where == "head":
        doc = page(f"<p>免费导语{paid}尾</p>", head=f"<title>标题</title>{region}")
    else:
        doc = f"<!DOCTYPE html>{region}<html lang=zh><head><title>标题</title></head><body><p>免费导语{paid}尾</p></body></html>"
    out = split(doc, no_markers=policy)
    assert out.record.status != Status.INTERNAL_ERROR.value, out.record.reason
    assert SECRET not in public(out), public(out)
