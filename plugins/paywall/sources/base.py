"""Types shared by every source kind."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any, Protocol

from paywall.articles import RawArticle
from paywall.errors import FetchError, NotModified, SourceError
from paywall.model import ArticleRef, Interval

__all__ = [
    "ArticleRef",
    "FetchError",
    "Interval",
    "NotModified",
    "Source",
    "SourceError",
    "date_from_text",
    "iso",
    "sort_refs",
]


class Source(Protocol):
    """Where articles come from.

    A source whose fetch does not wait on a network (a local folder) sets the class
    attribute ``concurrent_fetch = False``: a chunk then reads its articles inline, where
    threads would only contend for the GIL with the splitting. Without it, fetches overlap
    in a thread pool (HTTP, an S3 inbox, anything unknown).
    """

    name: str

    def list(self, interval: Interval | None) -> list[ArticleRef]:
        """Articles whose timestamp falls in the interval (all of them for None), sorted."""
        ...

    def fetch(self, ref: ArticleRef, previous: dict[str, Any] | None = None) -> RawArticle:
        """The article's bytes; ``previous`` is the last published origin (ETag etc.)."""
        ...


def date_from_text(text: str, pattern: re.Pattern[str]) -> datetime | None:
    """The first date the pattern finds in a path or key, as UTC midnight."""
    match = pattern.search(text)
    if not match:
        return None
    try:
        return datetime(
            int(match.group("year")),
            int(match.group("month")),
            int(match.group("day")),
            tzinfo=UTC,
        )
    except ValueError:
        return None


def sort_refs(refs: list[ArticleRef]) -> list[ArticleRef]:
    return sorted(refs, key=lambda r: (r.timestamp, r.source_id))


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
