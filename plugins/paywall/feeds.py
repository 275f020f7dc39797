"""Parse source indexes: sitemaps (and sitemap indexes, news sitemaps), RSS, Atom, JSON Feed.

Every XML index is first checked for well-formedness by lxml without entities, DTDs or network
(a truncated index fails loudly instead of being repaired into a shorter one). Sitemaps are
then read with BeautifulSoup in lxml's XML mode; feeds -- RSS 0.9x, RSS 1.0/RDF, RSS 2.0 and
Atom -- with feedparser, a kept parser that knows every dialect and date format, always fed
the bytes the guarded fetcher got (as a stream: feedparser opens URLs and file names given as
strings). gzip-compressed indexes (``.xml.gz``) are decompressed here, bounded by the size cap
on the *decompressed* bytes, so a gzip bomb is refused. Every entry becomes (url, timestamp);
entries without a usable date are returned with ``None`` and never placed in an interval.
"""

from __future__ import annotations

import calendar
import io
import json
import time
import warnings
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import feedparser
from bs4 import BeautifulSoup, Tag, XMLParsedAsHTMLWarning
from lxml import etree

__all__ = ["GZIP_MAGIC", "Entry", "Index", "IndexParseError", "gunzip_bounded", "parse_index"]

GZIP_MAGIC = b"\x1f\x8b"


class IndexParseError(ValueError):
    """The index document cannot be parsed."""


@dataclass(frozen=True, slots=True)
class Entry:
    url: str
    timestamp: datetime | None


@dataclass(frozen=True, slots=True)
class Index:
    entries: list[Entry]
    children: list[str]  # sitemap index: more sitemaps to read


def parse_date(value: str | None) -> datetime | None:
    if not value or not value.strip():
        return None
    value = value.strip()
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        try:
            moment = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _text(node) -> str | None:  # type: ignore[no-untyped-def]
    return node.get_text(strip=True) if node is not None else None


def gunzip_bounded(body: bytes, limit: int) -> bytes:
    """Decompress gzip data (every member) without ever holding more than ``limit`` bytes of
    output: a gzip bomb raises IndexParseError instead of filling memory."""
    out: list[bytes] = []
    size = 0
    data = body
    while data:
        inflater = zlib.decompressobj(wbits=31)
        try:
            chunk = inflater.decompress(data, limit - size + 1)
            while True:
                size += len(chunk)
                if size > limit:
                    raise IndexParseError(f"too large: over {limit} bytes after decompression")
                out.append(chunk)
                if inflater.eof or not inflater.unconsumed_tail:
                    break
                chunk = inflater.decompress(inflater.unconsumed_tail, limit - size + 1)
        except zlib.error as exc:
            raise IndexParseError(f"not valid gzip data: {exc}") from None
        if not inflater.eof:
            raise IndexParseError("not valid gzip data: truncated")
        data = inflater.unused_data.lstrip(b"\x00")  # concatenated members; padding
    result = b"".join(out)
    if result.startswith(GZIP_MAGIC):
        raise IndexParseError("compressed more than once")  # no legitimate index is
    return result


def _struct_time(entry: Any, *names: str) -> datetime | None:
    for name in names:
        value = entry.get(name)
        if isinstance(value, time.struct_time):
            return datetime.fromtimestamp(calendar.timegm(value), UTC)
    return None


def _feed(body: bytes, kind: str, root: str) -> Index:
    """RSS (0.9x, 1.0/RDF, 2.0) or Atom through feedparser, from bytes (never a URL)."""
    rss_roots = ("rss", "RDF", "rdf", "channel")
    if kind == "rss" and root not in rss_roots:
        raise IndexParseError(f"expected <rss> or <rdf:RDF>, found <{root}>")
    if kind == "atom" and root != "feed":
        raise IndexParseError(f"expected an Atom <feed>, found <{root}>")
    parsed = feedparser.parse(io.BytesIO(body), resolve_relative_uris=False, sanitize_html=False)
    order = ("published_parsed", "updated_parsed")
    if kind == "atom":
        order = ("updated_parsed", "published_parsed")
    entries = []
    for entry in parsed.entries:
        link = entry.get("link")
        if not link:
            alternates = [x for x in entry.get("links") or () if x.get("href")]
            link = alternates[0]["href"] if alternates else None
        if isinstance(link, str) and link.strip():
            entries.append(Entry(link.strip(), _struct_time(entry, *order)))
    return Index(entries, [])


DEFAULT_MAX_BYTES = 10_000_000


def parse_index(body: bytes, kind: str, max_bytes: int = DEFAULT_MAX_BYTES) -> Index:
    """Parse an index document of the configured kind; raise IndexParseError when malformed.

    gzip data (recognised by its magic bytes, whatever the URL or content type say) is
    decompressed first, to at most ``max_bytes``."""
    if body.startswith(GZIP_MAGIC):
        body = gunzip_bounded(body, max_bytes)
    if kind == "json":
        try:
            feed = json.loads(body)
            items = feed["items"]
        except (ValueError, KeyError, TypeError) as exc:
            raise IndexParseError(f"not a JSON Feed: {exc}") from None
        if not isinstance(items, list):
            raise IndexParseError(f"not a JSON Feed: items is a {type(items).__name__}")
        return Index(
            [
                Entry(i["url"], parse_date(i.get("date_modified") or i.get("date_published")))
                for i in items
                if isinstance(i, dict) and isinstance(i.get("url"), str)
            ],
            [],
        )
    if not body.strip():
        raise IndexParseError("the index is empty")
    # bs4's XML mode repairs broken documents silently; a truncated sitemap must fail loudly
    # instead, so check well-formedness first (without entities or network: no XXE, no bombs).
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    try:
        document = etree.fromstring(body, parser)
    except etree.XMLSyntaxError as exc:
        raise IndexParseError(f"malformed XML: {exc}") from None
    if document is None:
        raise IndexParseError("malformed XML: no root element")
    if kind in ("rss", "atom"):
        return _feed(body, kind, etree.QName(document).localname)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", XMLParsedAsHTMLWarning)
        soup = BeautifulSoup(body, "xml")
    root = next((c for c in soup.children if isinstance(c, Tag)), None)
    if root is None:
        raise IndexParseError("malformed XML: no root element")
    name = root.name.split(":")[-1]
    if kind == "sitemap":
        if name == "sitemapindex":
            return Index([], [_text(s.find("loc")) or "" for s in root.find_all("sitemap")])
        if name != "urlset":
            raise IndexParseError(f"expected <urlset> or <sitemapindex>, found <{root.name}>")
        entries = []
        for url in root.find_all("url"):
            loc = _text(url.find("loc"))
            if not loc:
                continue
            when = _text(url.find("lastmod")) or _text(url.find("publication_date"))
            entries.append(Entry(loc, parse_date(when)))
        return Index(entries, [])
    raise IndexParseError(f"unknown index type {kind!r}")
