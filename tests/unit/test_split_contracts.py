"""Contracts of split options nobody tested before: lenient markers and the all_paid policy
in HTML, the web-source selectors, and the Atom and JSON Feed index parsers."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from paywall.articles import Format, Outputs, RawArticle, SplitOptions, split_article
from paywall.feeds import IndexParseError, parse_index
from paywall.segmentation import Markers, NoMarkersPolicy

PAID = "PAID-SENTINEL-订阅正文"


def _split(page: str, **options: Any) -> Outputs:
    names = ("extract", "body_selector", "title_selector")
    raw_options = {k: v for k, v in options.items() if k in names}
    split_options = {k: v for k, v in options.items() if k not in names}
    raw = RawArticle("web", "a.html", page.encode(), Format.HTML, **raw_options)
    return split_article(raw, SplitOptions(**split_options))


def _public(outputs: Outputs) -> str:
    free = b"".join(outputs.free.values()).decode()
    return free + json.dumps(outputs.record.to_dict(), ensure_ascii=False)


@pytest.mark.parametrize(
    "begin",
    ["##PaidBegin##", "## paidbegin ##", "＃＃paidbegin＃＃", "##PAIDBEGIN##"],
)
def test_lenient_markers_split_html_and_strict_ones_refuse(begin: str) -> None:
    page = f"<html><body><p>免费导语</p><p>{begin}{PAID}##paidend##</p><p>结尾</p></body></html>"
    lenient = _split(page, markers=Markers(lenient=True))
    assert lenient.published, lenient.record.reason
    assert PAID not in _public(lenient)
    assert PAID in lenient.paid["txt"].decode()
    strict = _split(page)
    assert not strict.published
    assert strict.record.status == "broken_marker"
    assert strict.free == {}


def test_all_paid_policy_in_html_publishes_no_article_text() -> None:
    page = f"<html><head><title>公开标题</title></head><body><p>{PAID}</p></body></html>"
    out = _split(page, no_markers=NoMarkersPolicy.ALL_PAID)
    assert out.published and out.record.status == "no_markers"
    assert PAID not in _public(out)
    assert PAID in out.paid["txt"].decode()
    assert out.free["txt"].decode().strip() in ("", "公开标题")
    quarantined = _split(page)
    assert not quarantined.published


def test_body_selector_splits_only_the_article_and_title_selector_names_it() -> None:
    page = (
        "<html><head><title>站点标题 - 网站</title></head><body>"
        "<nav>首页 导航</nav>"
        "<div class='story'><h2 class='headline'>真正的标题</h2><p>免费段落</p>"
        f"<p>##paidbegin##{PAID}##paidend##</p><p>免费结尾</p></div>"
        "<footer>版权所有</footer></body></html>"
    )
    out = _split(page, extract=True, body_selector="div.story", title_selector=".headline")
    assert out.published, out.record.reason
    free = out.free["txt"].decode()
    assert "免费段落" in free and "免费结尾" in free
    assert "首页" not in free and "版权所有" not in free  # the chrome is dropped
    assert out.record.title == "真正的标题"
    assert PAID not in _public(out)
    # A marker outside the extracted article could bound a region the split cannot see (a
    # paid region opened in the chrome and closed in the article): fail closed.
    stray = page.replace("<nav>首页 导航</nav>", "<nav>首页 ##paidbegin## 导航</nav>")
    assert not _split(stray, extract=True, body_selector="div.story").published
    missing = _split(page, extract=True, body_selector="article.none")
    assert not missing.published
    assert "article.none" in (missing.record.reason or "")


def test_a_title_selector_inside_the_paid_region_is_never_the_title() -> None:
    page = (
        "<html><head><title>页面</title></head><body><article><p>免费</p>"
        f"<p>##paidbegin##<span class='headline'>{PAID}</span>##paidend##</p>"
        "</article></body></html>"
    )
    out = _split(page, extract=True, title_selector=".headline")
    assert out.published
    assert PAID not in (out.record.title or "")
    assert PAID not in _public(out)


ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title>Desk</title>
  <entry><title>A</title><link rel="alternate" href="https://news.example/a"/>
    <link rel="edit" href="https://news.example/edit/a"/>
    <updated>2026-11-20T08:00:00Z</updated></entry>
  <entry><title>B</title><link href="https://news.example/b"/>
    <published>2026-11-20T09:30:00+08:00</published></entry>
  <entry><title>undated</title><link href="https://news.example/c"/></entry>
  <entry><title>no link</title><updated>2026-11-20T08:00:00Z</updated></entry>
</feed>"""


def test_atom_entries_take_the_alternate_link_and_updated_or_published() -> None:
    index = parse_index(ATOM, "atom")
    assert [(e.url, e.timestamp) for e in index.entries] == [
        ("https://news.example/a", datetime(2026, 11, 20, 8, tzinfo=UTC)),
        ("https://news.example/b", datetime(2026, 11, 20, 1, 30, tzinfo=UTC)),
        ("https://news.example/c", None),  # listed, never placed in an interval
    ]
    with pytest.raises(IndexParseError, match="expected an Atom <feed>"):
        parse_index(b"<rss version='2.0'><channel/></rss>", "atom")
    with pytest.raises(IndexParseError, match="malformed XML"):
        parse_index(ATOM[:-20], "atom")


def test_json_feed_items_take_date_modified_or_published() -> None:
    feed = {
        "version": "https://jsonfeed.org/version/1.1",
        "items": [
            {"id": "1", "url": "https://news.example/1", "date_published": "2026-11-20T08:00:00Z"},
            {"id": "2", "url": "https://news.example/2", "date_published": "2026-11-19T00:00:00Z",
             "date_modified": "2026-11-20T10:00:00+02:00"},
            {"id": "3", "url": "https://news.example/3"},
            {"id": "4"},
            "not an object",
        ],
    }  # fmt: skip
    index = parse_index(json.dumps(feed).encode(), "json")
    assert [(e.url, e.timestamp) for e in index.entries] == [
        ("https://news.example/1", datetime(2026, 11, 20, 8, tzinfo=UTC)),
        ("https://news.example/2", datetime(2026, 11, 20, 8, tzinfo=UTC)),
        ("https://news.example/3", None),
    ]
    with pytest.raises(IndexParseError, match="not a JSON Feed"):
        parse_index(b'{"items": 3}', "json")
    with pytest.raises(IndexParseError, match="not a JSON Feed"):
        parse_index(b"[", "json")
