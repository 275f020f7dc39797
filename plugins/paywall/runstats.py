"""What a committed run did, per source: the numbers metrics and alerts are made of.

Counted from the typed manifest records of the run and the records the interval had before
it was committed (what the run compared against), so nothing here needs the pipeline's
internals: an article is ``unchanged`` when its objects (keys and digests, public and
private) are exactly the ones committed before, ``written`` otherwise, ``retracted`` when a
public side went away. Bytes written are the sizes of the objects that are new or changed.

Only names and numbers: source names, outcome and status names (a closed vocabulary), and a
fetch failure's *kind* (``fetch.fetch_kind``: ``http_401``, ``timeout``...), never a reason's
text, a title or anything else an article holds.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from paywall.fetch import FETCH_KINDS, fetch_kind
from paywall.model import ManifestRecord, Outcome
from paywall.segmentation import Status

_STATUSES = frozenset(s.value for s in Status)


def status_label(status: str) -> str:
    """A status from the closed vocabulary, or ``other`` (a record is data, not a label)."""
    return status if status in _STATUSES else "other"


__all__ = ["RunStats", "SourceStats", "run_stats", "status_label"]


@dataclass
class SourceStats:
    published: int = 0
    quarantined: Counter[str] = field(default_factory=Counter)  # by status
    failed: Counter[str] = field(default_factory=Counter)  # by fetch kind
    written: int = 0
    unchanged: int = 0
    retracted: int = 0
    bytes_written: int = 0

    @property
    def articles(self) -> int:
        return self.published + sum(self.quarantined.values()) + sum(self.failed.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "articles": self.articles,
            "published": self.published,
            "quarantined": dict(sorted(self.quarantined.items())),
            "failed": dict(sorted(self.failed.items())),
            "written": self.written,
            "unchanged": self.unchanged,
            "retracted": self.retracted,
            "bytes_written": self.bytes_written,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SourceStats:
        return cls(
            published=int(data.get("published") or 0),
            quarantined=_labelled(data.get("quarantined"), status_label),
            failed=_labelled(data.get("failed"), fetch_kind_label),
            written=int(data.get("written") or 0),
            unchanged=int(data.get("unchanged") or 0),
            retracted=int(data.get("retracted") or 0),
            bytes_written=int(data.get("bytes_written") or 0),
        )


@dataclass
class RunStats:
    sources: dict[str, SourceStats] = field(default_factory=dict)

    @property
    def articles(self) -> int:
        return sum(s.articles for s in self.sources.values())

    @property
    def quarantined(self) -> int:
        return sum(sum(s.quarantined.values()) for s in self.sources.values())

    @property
    def failed(self) -> int:
        return sum(sum(s.failed.values()) for s in self.sources.values())

    @property
    def bytes_written(self) -> int:
        return sum(s.bytes_written for s in self.sources.values())

    def to_json(self) -> dict[str, Any]:
        return {"sources": {name: s.to_json() for name, s in sorted(self.sources.items())}}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunStats:
        return cls({k: SourceStats.from_json(v) for k, v in (data.get("sources") or {}).items()})


def _labelled(value: Any, label: Any) -> Counter[str]:
    counts: Counter[str] = Counter()
    for key, count in (value or {}).items():
        counts[label(str(key))] += int(count)
    return counts


def fetch_kind_label(kind: str) -> str:
    known = {k for _, k in FETCH_KINDS} | {"other"}
    if kind in known or (kind.startswith("http_") and kind[5:].isdigit() and len(kind) == 8):
        return kind
    return "other"


def _objects(record: ManifestRecord | None) -> dict[str, tuple[str, int]]:
    if record is None:
        return {}
    return {o.key: (o.sha256, o.size) for o in record.objects}


def run_stats(
    records: Iterable[ManifestRecord],
    before: Mapping[str, ManifestRecord],
    *,
    force: bool = False,
) -> RunStats:
    """Per-source counts of a run's records against the interval's records before it."""
    stats = RunStats()
    for record in records:
        source = stats.sources.setdefault(record.source, SourceStats())
        previous = before.get(record.article_id)
        if record.outcome is Outcome.PUBLISHED:
            source.published += 1
        elif record.outcome is Outcome.QUARANTINED:
            source.quarantined[status_label(record.status)] += 1
        else:
            source.failed[fetch_kind(record.reason)] += 1
        if record.outcome is Outcome.FAILED:
            continue  # nothing fetched, nothing written: the previous objects are carried
        now, then = _objects(record), _objects(previous)
        changed = {
            key: size
            for key, (sha, size) in now.items()
            if force or then.get(key, (None,))[0] != sha
        }
        if previous is not None and previous.live and not record.live:
            source.retracted += 1
        elif changed or set(then) - set(now):
            source.written += 1
        else:
            source.unchanged += 1
        source.bytes_written += sum(changed.values())
    return stats
