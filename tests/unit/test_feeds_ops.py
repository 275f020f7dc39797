"""Index formats people have: gzip sitemaps (bounded), RSS 1.0/RDF, and feedparser's dialects."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime

import pytest

from paywall.feeds import IndexParseError, gunzip_bounded, parse_index

SITEMAP = (
    b'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
    b"<url><loc>https://news.example/a.html</loc><lastmod>2026-11-20T08:00:00Z</lastmod></url>"
    b"</urlset>"
)
RDF = b"""<?xml version="1.0" encoding="utf-8"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"
         xmlns="http://purl.org/rss/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/">
  <channel rdf:about="https://news.example/"><title>t</title><link>https://news.example/</link>
    <items><rdf:Seq><rdf:li resource="https://news.example/a.html"/></rdf:Seq></items>
  </channel>
  <item rdf:about="https://news.example/a.html"><title>A</title>
    <link>https://news.example/a.html</link><dc:date>2026-11-20T08:00:00+08:00</dc:date></item>
  <item rdf:about="https://news.example/b.html"><title>B</title>
    <link>https://news.example/b.html</link></item>
</rdf:RDF>"""


def test_gzip_sitemap_is_decompressed_whatever_the_url_says() -> None:
    index = parse_index(gzip.compress(SITEMAP), "sitemap")
    assert [(e.url, e.timestamp) for e in index.entries] == [
        ("https://news.example/a.html", datetime(2026, 11, 20, 8, tzinfo=UTC))
    ]


def test_concatenated_gzip_members_are_one_document() -> None:
    half = len(SITEMAP) // 2
    data = gzip.compress(SITEMAP[:half]) + gzip.compress(SITEMAP[half:])
    assert gunzip_bounded(data, 10_000) == SITEMAP


def test_a_gzip_bomb_is_refused_by_the_cap_on_decompressed_bytes() -> None:
    bomb = gzip.compress(b"<" + b" " * 50_000_000, compresslevel=9)
    assert len(bomb) < 100_000
    with pytest.raises(IndexParseError, match="too large: over 1000000 bytes after decompression"):
        parse_index(bomb, "sitemap", max_bytes=1_000_000)


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (gzip.compress(SITEMAP)[:-12], "truncated|not valid gzip"),
        (b"\x1f\x8b" + b"garbage" * 10, "not valid gzip"),
        (gzip.compress(gzip.compress(SITEMAP)), "compressed more than once"),
    ],
)
def test_broken_gzip_fails_loudly(data: bytes, match: str) -> None:
    with pytest.raises(IndexParseError, match=match):
        parse_index(data, "sitemap")


def test_gzip_exactly_at_the_cap_is_accepted_one_byte_more_is_not() -> None:
    assert gunzip_bounded(gzip.compress(b"x" * 100), 100) == b"x" * 100
    with pytest.raises(IndexParseError, match="too large"):
        gunzip_bounded(gzip.compress(b"x" * 101), 100)


def test_rss_1_0_rdf_feed_with_dc_dates() -> None:
    index = parse_index(RDF, "rss")
    assert [(e.url, e.timestamp) for e in index.entries] == [
        ("https://news.example/a.html", datetime(2026, 11, 20, 0, tzinfo=UTC)),
        ("https://news.example/b.html", None),  # undated: never placed in an interval
    ]


def test_rss_0_91_and_2_0_and_atom_through_the_kept_parser() -> None:
    rss = (
        b'<?xml version="1.0"?><rss version="0.91"><channel><item><link>https://n.example/x'
        b"</link><pubDate>Fri, 20 Nov 2026 08:00:00 +0800</pubDate></item></channel></rss>"
    )
    (entry,) = parse_index(rss, "rss").entries
    assert entry.timestamp == datetime(2026, 11, 20, 0, tzinfo=UTC)
    atom = (
        b'<feed xmlns="http://www.w3.org/2005/Atom"><entry><link rel="alternate" '
        b'href="https://n.example/y"/><link rel="edit" href="https://n.example/edit"/>'
        b"<updated>2026-11-20T08:00:00Z</updated></entry></feed>"
    )
    (entry,) = parse_index(atom, "atom").entries
    assert (entry.url, entry.timestamp) == (
        "https://n.example/y",
        datetime(2026, 11, 20, 8, tzinfo=UTC),
    )


@pytest.mark.parametrize(
    "body",
    [
        b"/etc/passwd",  # feedparser opens a file name given as a string: never handed one
        b"https://evil.example/feed.xml",
        b'<?xml version="1.0"?><rss><channel><item><link>x</link></item></channel>',  # cut
    ],
)
def test_feeds_are_parsed_from_bytes_only_and_must_be_well_formed(body: bytes) -> None:
    with pytest.raises(IndexParseError, match="malformed XML"):
        parse_index(body, "rss")


def test_external_entities_are_never_resolved(tmp_path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET")
    body = (
        f'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY x SYSTEM "file://{secret}">]>'
        '<rss version="2.0"><channel><item><link>https://n.example/&x;</link>'
        "</item></channel></rss>"
    ).encode()
    try:
        entries = parse_index(body, "rss").entries
    except IndexParseError:
        return
    assert all("TOPSECRET" not in e.url for e in entries)


def test_the_wrong_kind_of_feed_is_refused() -> None:
    with pytest.raises(IndexParseError, match="expected an Atom"):
        parse_index(RDF, "atom")
    with pytest.raises(IndexParseError, match="expected <rss> or <rdf:RDF>"):
        parse_index(SITEMAP, "rss")
