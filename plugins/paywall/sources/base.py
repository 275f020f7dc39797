"""Types shared by every source kind."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from paywall.articles import RawArticle


class SourceError(RuntimeError):
    """The source as a whole cannot be read (its index, folder or bucket): fail the task."""


class FetchError(RuntimeError):
    """One article could not be fetched; ``reason`` is short and specific."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class NotModified(Exception):
    """The article is unchanged since the previous fetch (HTTP 304)."""


@dataclass(frozen=True, slots=True, order=True)
class Interval:
    """A data interval ``[start, end)`` in UTC."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("interval bounds must be timezone-aware")
        if self.end <= self.start:
            raise ValueError(f"empty interval: {self.start.isoformat()} .. {self.end.isoformat()}")

    def contains(self, moment: datetime) -> bool:
        return self.start <= moment < self.end

    @property
    def slug(self) -> str:
        fmt = "%Y%m%dT%H%M%SZ"
        return (
            f"{self.start.astimezone(UTC).strftime(fmt)}_{self.end.astimezone(UTC).strftime(fmt)}"
        )

    def to_dict(self) -> dict[str, str]:
        return {"start": self.start.isoformat(), "end": self.end.isoformat()}

    @classmethod
    def from_dict(cls, data: dict[str, str]) -> Interval:
        return cls(datetime.fromisoformat(data["start"]), datetime.fromisoformat(data["end"]))


@dataclass(frozen=True, slots=True)
class ArticleRef:
    """A listed article: enough to fetch it later, on any worker (no local state)."""

    source: str
    source_id: str
    timestamp: str  # ISO 8601, UTC
    locator: str  # path, key or URL
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "source_id": self.source_id,
            "timestamp": self.timestamp,
            "locator": self.locator,
            "extra": self.extra,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ArticleRef:
        return cls(
            data["source"],
            data["source_id"],
            data["timestamp"],
            data["locator"],
            dict(data.get("extra") or {}),
        )


class Source(Protocol):
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
