"""Parse source indexes: sitemaps (and sitemap indexes, news sitemaps), RSS, Atom, JSON Feed.

XML is parsed with BeautifulSoup in lxml's XML mode. Every entry becomes (url, timestamp);
entries without a usable date are returned with ``None`` and never placed in an interval.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from bs4 import BeautifulSoup, Tag, XMLParsedAsHTMLWarning
from lxml import etree


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


def parse_index(body: bytes, kind: str) -> Index:
    """Parse an index document of the configured kind; raise IndexParseError when malformed."""
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
        etree.fromstring(body, parser)
    except etree.XMLSyntaxError as exc:
        raise IndexParseError(f"malformed XML: {exc}") from None
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
    if kind == "rss":
        if name != "rss":
            raise IndexParseError(f"expected <rss>, found <{root.name}>")
        return Index(
            [
                Entry(link, parse_date(_text(item.find("pubDate"))))
                for item in root.find_all("item")
                if (link := _text(item.find("link")))
            ],
            [],
        )
    if kind == "atom":
        if name != "feed":
            raise IndexParseError(f"expected an Atom <feed>, found <{root.name}>")
        entries = []
        for entry in root.find_all("entry"):
            anchor = entry.find("link", attrs={"rel": "alternate"}) or entry.find("link")
            href = anchor.get("href") if isinstance(anchor, Tag) else None
            if href:
                when = _text(entry.find("updated")) or _text(entry.find("published"))
                entries.append(Entry(str(href), parse_date(when)))
        return Index(entries, [])
    raise IndexParseError(f"unknown index type {kind!r}")
