"""The catalog: an incremental, partitioned index of the published articles (issue 17).

Consumers read it instead of every manifest ever committed. An update applies only the
manifests committed since the last one -- those the pipeline's asset events name, plus a
short listing of the newest interval onwards; a full listing only when the catalog is new,
when an event cannot be used, when asked, or every ``rescan_every_hours`` -- so its cost
follows the work of the day, not the age of the pipeline.

Objects (``paywall.layout``), all in the public bucket, none anonymously readable::

    catalog/<p>/catalog.json                    root index: months, their keys and sha256s
    catalog/<p>/months/<YYYY-MM>/<sha256>.json  month index: its day partitions (key, sha256,
                                                counts) and the manifests applied for intervals
                                                starting that month (key, sha256, commit time)
    catalog/<p>/days/<YYYY-MM-DD>/<sha256>.json day partition: the articles whose timestamp
                                                falls on that UTC day, and the ones that left
    catalog/<p>/locators/<id[:2]>/<id>.json     the days whose partitions ever held an article

Months and days are content-addressed (never rewritten in place); the root index is the one
mutable object and the commit point, replaced by a conditional PUT. A reader that follows
root -> month -> day and checks each sha256 always sees one committed state.

**Semantics** (the same as rebuilding from every committed manifest, :func:`build_catalog`):

- *Order.* A record's order is ``(interval, committed_at, manifest key)``: a later interval
  wins, and inside an interval a later commit (a partial run after the full one, or a rerun)
  wins. A partial run committed before the interval's full manifest is superseded by it, as
  :func:`paywall.reader.interval_runs` says.
- *State.* A ``published`` record, or a ``failed`` one that carries the previous public side,
  lists the article (``live``); ``quarantined`` removes it (retractions are quarantines). A
  claim's rank comes before its order: a ``failed`` record without a public side (rank 1)
  never outranks a published or quarantined one (rank 2), so a fetch failure never
  unpublishes; when a rerun's full manifest no longer has an article an older version of
  it had, that claim is withdrawn (``dropped``, rank 0) and the next best claim, if any
  (another interval's), is listed again.
- *Exactly once.* Each applied manifest is recorded by key and sha256 (and its marker's
  ETag) in its month index: a replayed or out-of-order event changes nothing, a manifest
  replaced by a rerun (new sha256) is applied again and supersedes the older version for its
  articles. What is listed is a maximum over a total order, so any order of events lists
  the same articles (and leaves the same bytes, unless a partial run older than its full
  manifest was applied before it: its withdrawn claims stay as ``dropped`` traces).
- *Moves.* Each day partition keeps the best claim it has seen for each article; only the
  best claim of all days is listed, the others point at its day (``moved_to``). So an
  article re-published on a later day leaves its old day's list, and comes back to it if
  the later claim is withdrawn. The locator object finds the other days without a scan:
  one conditional PUT per article new to a day.
- *Withdrawn now.* An editor's retract-now (:func:`withdraw`) replaces the article's listed
  claims by quarantined ones of the same intervals, ordered at that moment: older manifests
  replayed cannot list it again; the next manifest of that interval (the retraction's run)
  or a later one decides, as for any claim.
- *Fail closed.* A record whose public objects are not under ``free/<source>/`` and
  ``meta/<source>/``, or that lacks either, is ``invalid``: never listed. An event naming
  a key outside this pipeline's runs, an uncommitted manifest, or one whose sha256 does not
  match its marker, is not applied.

The Iceberg tables (:mod:`paywall.iceberg`) receive the same changes through
:class:`TableSink`, one batch per manifest, before the catalog commits it: a crash between
the two replays the batch, which the sink recognises by the manifest's sha256.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from paywall.config import CatalogSettings
from paywall.errors import CatalogError, ErrorCode, PaywallError, PreconditionFailed
from paywall.layout import EXTENSIONS, Layout
from paywall.metadata import sha256_hex
from paywall.model import CommitMarker, Interval, ManifestRecord, Outcome, Role, dumps
from paywall.reader import committed_manifest_keys, interval_runs
from paywall.store import Blob, Store

__all__ = [
    "FORMAT",
    "ArticleRow",
    "CatalogResult",
    "Entry",
    "Order",
    "State",
    "TableBatch",
    "TableSink",
    "build_catalog",
    "manifest_keys_of_events",
    "read_catalog",
    "read_day",
    "refresh",
    "update_catalog",
    "withdraw",
]

log = logging.getLogger("paywall.catalog")

FORMAT = 2
_SLUG = r"\d{8}T\d{6}Z_\d{8}T\d{6}Z"
_ARTICLE_ID = re.compile(r"^[0-9a-f]{20}$")
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_READ_RETRIES = 5


# ------------------------------------------------------------------------------ order


def canonical_time(value: str | None) -> str:
    """An ISO 8601 time as fixed-width UTC (``2026-11-20T08:00:00.000000Z``), comparable as
    a string; ``""`` for a missing one (sorts first) and for one that does not parse."""
    if not value:
        return ""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return ""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


@dataclass(frozen=True, slots=True, order=True)
class Order:
    """Where a record stands: ``(interval slug, commit time, manifest key)``."""

    interval: str
    committed_at: str  # canonical_time
    manifest: str


class State(StrEnum):
    LIVE = "live"  # listed: a public side the record vouches for
    QUARANTINED = "quarantined"  # refused or retracted
    FAILED = "failed"  # could not be fetched and has no public side (never overrides)
    DROPPED = "dropped"  # its interval's rerun no longer has it: no claim at all
    INVALID = "invalid"  # the record breaks the contract: never listed

    @property
    def rank(self) -> int:
        """Claims of higher rank win whatever their order: a failure without a public side
        never outranks what is known, and a drop withdraws a claim without making one."""
        return {State.DROPPED: 0, State.FAILED: 1}.get(self, 2)


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    key: str
    sha256: str
    size: int

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "sha256": self.sha256, "size": self.size}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ObjectInfo:
        return cls(str(data["key"]), str(data["sha256"]), int(data["size"]))


@dataclass(frozen=True, slots=True)
class Entry:
    """One article in one day partition: listed (``live``) or a record of why it is not."""

    article_id: str
    source: str
    source_id: str
    timestamp: str
    state: State
    order: Order
    outcome: str
    status: str
    reason: str | None = None
    title: str | None = None
    url: str | None = None
    revision: int | None = None
    carried: bool = False
    override: str | None = None
    free: tuple[ObjectInfo, ...] = ()
    meta: ObjectInfo | None = None
    moved_to: str | None = None

    @property
    def key(self) -> tuple[int, Order]:
        """What decides between two claims on one article: rank first, then order."""
        return (self.state.rank, self.order)

    @property
    def listed(self) -> bool:
        return self.state is State.LIVE and self.moved_to is None

    def to_json(self) -> dict[str, Any]:
        return {
            "article_id": self.article_id,
            "source": self.source,
            "source_id": self.source_id,
            "timestamp": self.timestamp,
            "state": self.state.value,
            "outcome": self.outcome,
            "status": self.status,
            "reason": self.reason,
            "title": self.title,
            "url": self.url,
            "revision": self.revision,
            "carried": self.carried,
            "override": self.override,
            "free": [o.to_json() for o in self.free],
            "meta": self.meta.to_json() if self.meta is not None else None,
            "interval": self.order.interval,
            "committed_at": self.order.committed_at,
            "manifest": self.order.manifest,
            "moved_to": self.moved_to,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Entry:
        meta = data.get("meta")
        return cls(
            article_id=str(data["article_id"]),
            source=str(data["source"]),
            source_id=str(data["source_id"]),
            timestamp=str(data["timestamp"]),
            state=State(data["state"]),
            order=Order(str(data["interval"]), str(data["committed_at"]), str(data["manifest"])),
            outcome=str(data["outcome"]),
            status=str(data["status"]),
            reason=data.get("reason"),
            title=data.get("title"),
            url=data.get("url"),
            revision=data.get("revision"),
            carried=bool(data.get("carried")),
            override=data.get("override"),
            free=tuple(ObjectInfo.from_json(o) for o in data.get("free") or ()),
            meta=ObjectInfo.from_json(meta) if meta else None,
            moved_to=data.get("moved_to"),
        )

    def same_as(self, other: Entry) -> bool:
        """Whether two claims say the same about the article (whatever their order)."""
        return replace(self, order=NO_ORDER, moved_to=None) == replace(
            other, order=NO_ORDER, moved_to=None
        )

    def dropped(self, order: Order) -> Entry:
        """A claim withdrawn: the interval's rerun (``order``) no longer has the article."""
        return Entry(
            article_id=self.article_id,
            source=self.source,
            source_id=self.source_id,
            timestamp=self.timestamp,
            state=State.DROPPED,
            order=order,
            outcome="dropped",
            status="not_listed",
            reason=f"no longer in {order.manifest}",
            moved_to=self.moved_to,
        )


NO_ORDER = Order("", "", "")


def _day_of(timestamp: str) -> str | None:
    moment = _parse_time(timestamp)
    return moment.strftime("%Y-%m-%d") if moment is not None else None


def _interval_of_slug(slug: str) -> Interval:
    start, _, end = slug.partition("_")
    fmt = "%Y%m%dT%H%M%SZ"
    return Interval(
        datetime.strptime(start, fmt).replace(tzinfo=UTC),
        datetime.strptime(end, fmt).replace(tzinfo=UTC),
    )


def entry_of(record: ManifestRecord, order: Order, layout: Layout) -> tuple[str, Entry]:
    """The day partition a record belongs to and the entry it asks for (fail closed)."""
    day = _day_of(record.timestamp)
    base = Entry(
        article_id=record.article_id,
        source=record.source,
        source_id=record.source_id,
        timestamp=record.timestamp,
        state=State.INVALID,
        order=order,
        outcome=record.outcome.value,
        status=record.status,
    )
    if day is None:
        interval_day = _interval_of_slug(order.interval).start.strftime("%Y-%m-%d")
        return interval_day, replace(base, reason=f"timestamp {record.timestamp!r} is unreadable")
    if not _ARTICLE_ID.match(record.article_id):
        return day, replace(base, reason="the article id is not 20 hex digits")
    publics = [o for o in record.objects if o.role.public]
    if record.outcome is Outcome.QUARANTINED:
        return day, replace(
            base,
            state=State.QUARANTINED,
            reason=record.reason,
            revision=record.revision,
            override=_override(record),
        )
    if record.outcome is Outcome.FAILED and not publics:
        return day, replace(base, state=State.FAILED, reason=record.reason)
    # Published, or failed carrying the previous public side: listed only when the record
    # vouches for free halves and one metadata object of its own source, and nothing else.
    free = [o for o in publics if o.role is Role.FREE]
    metas = [o for o in publics if o.role is Role.META]
    free_prefix, meta_prefix = f"free/{record.source}/", f"meta/{record.source}/"
    problem = None
    if not free or len(metas) != 1:
        problem = "a listed record needs a free half and one metadata object"
    elif any(not o.role.public for o in record.objects):
        problem = "the public manifest line names a private object"
    elif not all(o.key.startswith(free_prefix) and o.ext in ("txt", "html") for o in free):
        problem = f"a free object outside {free_prefix}"
    elif not (metas[0].key.startswith(meta_prefix) and metas[0].key.endswith(".json")):
        problem = f"the metadata object is outside {meta_prefix}"
    elif any(len(o.sha256) != 64 for o in publics):
        problem = "a public object without a sha256"
    if problem is not None:
        return day, replace(base, reason=problem)
    return day, replace(
        base,
        state=State.LIVE,
        reason=record.reason,
        title=record.title,
        url=record.url,
        revision=record.revision,
        carried=record.carried,
        override=_override(record),
        free=tuple(ObjectInfo(o.key, o.sha256, o.size) for o in free),
        meta=ObjectInfo(metas[0].key, metas[0].sha256, metas[0].size),
    )


def _override(record: ManifestRecord) -> str | None:
    return record.override.value if record.override is not None else None


# --------------------------------------------------------------------------- objects


@dataclass
class Partition:
    """One day's entries, by article id."""

    day: str
    entries: dict[str, Entry] = field(default_factory=dict)

    def to_bytes(self, pipeline: str) -> bytes:
        live = sorted(
            (e for e in self.entries.values() if e.listed),
            key=lambda e: (e.timestamp, e.article_id),
        )
        rest = sorted(
            (e for e in self.entries.values() if not e.listed), key=lambda e: e.article_id
        )
        return dumps(
            {
                "format": FORMAT,
                "pipeline": pipeline,
                "day": self.day,
                "articles": [e.to_json() for e in live],
                "unlisted": [e.to_json() for e in rest],
            }
        )

    @classmethod
    def from_bytes(cls, day: str, body: bytes) -> Partition:
        data = json.loads(body)
        if data.get("format") != FORMAT or data.get("day") != day:
            raise CatalogError(f"catalog partition for {day} has another format or day")
        entries = {}
        for item in (*data.get("articles", ()), *data.get("unlisted", ())):
            entry = Entry.from_json(item)
            entries[entry.article_id] = entry
        return cls(day, entries)

    @property
    def live(self) -> int:
        return sum(e.listed for e in self.entries.values())


@dataclass(frozen=True, slots=True)
class DayRef:
    key: str
    sha256: str
    articles: int
    unlisted: int
    size: int

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "sha256": self.sha256, "articles": self.articles,
                "unlisted": self.unlisted, "size": self.size}  # fmt: skip

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DayRef:
        return cls(data["key"], data["sha256"], int(data["articles"]), int(data["unlisted"]),
                   int(data["size"]))  # fmt: skip


@dataclass(frozen=True, slots=True)
class ManifestRef:
    """An applied manifest: which version (sha256, marker ETag), when and where it went."""

    sha256: str
    marker_etag: str
    interval: str
    committed_at: str
    full: bool
    days: tuple[str, ...]
    records: int
    superseded: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "sha256": self.sha256,
            "marker_etag": self.marker_etag,
            "interval": self.interval,
            "committed_at": self.committed_at,
            "full": self.full,
            "days": list(self.days),
            "records": self.records,
            "superseded": self.superseded,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ManifestRef:
        return cls(
            data["sha256"], data["marker_etag"], data["interval"], data["committed_at"],
            bool(data["full"]), tuple(data["days"]), int(data["records"]),
            bool(data.get("superseded")),
        )  # fmt: skip


@dataclass
class MonthIndex:
    month: str
    days: dict[str, DayRef] = field(default_factory=dict)
    manifests: dict[str, ManifestRef] = field(default_factory=dict)

    def to_bytes(self, pipeline: str) -> bytes:
        return dumps(
            {
                "format": FORMAT,
                "pipeline": pipeline,
                "month": self.month,
                "days": {d: r.to_json() for d, r in sorted(self.days.items())},
                "manifests": {k: r.to_json() for k, r in sorted(self.manifests.items())},
            }
        )

    @classmethod
    def from_bytes(cls, month: str, body: bytes) -> MonthIndex:
        data = json.loads(body)
        if data.get("format") != FORMAT or data.get("month") != month:
            raise CatalogError(f"catalog month index {month} has another format or month")
        return cls(
            month,
            {d: DayRef.from_json(r) for d, r in data["days"].items()},
            {k: ManifestRef.from_json(r) for k, r in data["manifests"].items()},
        )


@dataclass(frozen=True, slots=True)
class MonthRef:
    key: str
    sha256: str
    articles: int
    unlisted: int
    days: int

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "sha256": self.sha256, "articles": self.articles,
                "unlisted": self.unlisted, "days": self.days}  # fmt: skip

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> MonthRef:
        return cls(data["key"], data["sha256"], int(data["articles"]), int(data["unlisted"]),
                   int(data["days"]))  # fmt: skip


@dataclass
class RootIndex:
    pipeline: str
    generation: int = 0
    updated_at: str = ""
    rescanned_at: str = ""
    newest_interval: str = ""
    months: dict[str, MonthRef] = field(default_factory=dict)

    def to_bytes(self) -> bytes:
        return dumps(
            {
                "format": FORMAT,
                "pipeline": self.pipeline,
                "generation": self.generation,
                "updated_at": self.updated_at,
                "rescanned_at": self.rescanned_at,
                "newest_interval": self.newest_interval,
                "articles": sum(m.articles for m in self.months.values()),
                "unlisted": sum(m.unlisted for m in self.months.values()),
                "months": {m: r.to_json() for m, r in sorted(self.months.items())},
            }
        )

    @classmethod
    def from_bytes(cls, pipeline: str, body: bytes) -> RootIndex:
        try:
            data = json.loads(body)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise CatalogError(
                f"the catalog root of {pipeline} is not a JSON object; move it away to rebuild "
                "the catalog",
                code=ErrorCode.CATALOG,
            )
        if data.get("format") != FORMAT or data.get("pipeline") != pipeline:
            raise CatalogError(
                f"the catalog root of {pipeline} is of another format or pipeline "
                f"(format {data.get('format')!r}); move it away to rebuild the catalog",
                code=ErrorCode.CATALOG,
            )
        return cls(
            pipeline,
            int(data["generation"]),
            str(data.get("updated_at") or ""),
            str(data.get("rescanned_at") or ""),
            str(data.get("newest_interval") or ""),
            {m: MonthRef.from_json(r) for m, r in data["months"].items()},
        )


# ------------------------------------------------------------------------ table rows


@dataclass(frozen=True, slots=True)
class ArticleRow:
    """One change of one article, as the Iceberg tables store it: metadata only.

    Built from the public manifest line and the public metadata object (for the character
    counts): never from private lines, never any text of the article.
    """

    article_id: str
    source: str
    source_id: str
    published_at: datetime  # the article's timestamp (its interval's start when unreadable)
    timestamp: str  # as the manifest gave it
    title: str | None
    url: str | None
    outcome: str  # published, quarantined, failed; or dropped
    state: str  # the catalog's state after this change (State)
    status: str
    reason: str | None
    revision: int | None
    carried: bool
    override: str | None
    free_chars: int | None
    paid_chars: int | None
    free_key: str | None
    free_sha256: str | None
    free_html_key: str | None
    free_html_sha256: str | None
    meta_key: str | None
    meta_sha256: str | None
    manifest_key: str
    manifest_sha256: str
    interval: str
    interval_start: datetime
    interval_end: datetime
    committed_at: datetime | None
    catalog_generation: int  # the catalog commit that applied it: latest = highest

    def to_json(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}


@dataclass(frozen=True, slots=True)
class TableBatch:
    """The changes one manifest brought: rows to append, and per article the days whose
    latest row the new one replaces (the latest table is partitioned by day too)."""

    manifest_key: str
    manifest_sha256: str
    interval: str
    rows: tuple[ArticleRow, ...]
    replaces: Mapping[str, tuple[str, ...]]
    superseded: bool = False  # a partial run older than its interval's full manifest


class TableSink(Protocol):
    """Where the changes go besides the JSON catalog (the Iceberg tables)."""

    def write(self, batch: TableBatch) -> bool:
        """Apply the batch once: False when this manifest's sha256 was already applied."""
        ...


# --------------------------------------------------------------------- the update


@dataclass(frozen=True, slots=True)
class CatalogResult:
    """What an update did: references and counts only (an asset event's extra)."""

    catalog_key: str
    generation: int
    scan: str  # events, tail, full
    applied: tuple[str, ...]
    replayed: int  # named again but already applied (same sha256)
    superseded: int  # partial runs older than their interval's full manifest
    refused: tuple[str, ...]  # keys not applied, with why
    changes: int
    invalid: int
    articles: int
    unlisted: int
    table_rows: int

    @property
    def changed(self) -> bool:
        return self.changes > 0 or bool(self.applied)

    def asset_extra(self) -> dict[str, Any]:
        """The catalog asset event's extra: counts and at most 20 manifest keys (an event's
        extra is stored in Airflow's database and shown to every viewer)."""
        return {
            "catalog_key": self.catalog_key,
            "generation": self.generation,
            "scan": self.scan,
            "applied": len(self.applied),
            "manifest_keys": list(self.applied[:20]),
            "refused": len(self.refused),
            "changes": self.changes,
            "articles": self.articles,
            "changed": self.changed,
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "catalog_key": self.catalog_key,
            "generation": self.generation,
            "scan": self.scan,
            "applied": list(self.applied),
            "replayed": self.replayed,
            "superseded": self.superseded,
            "refused": list(self.refused),
            "changes": self.changes,
            "invalid": self.invalid,
            "articles": self.articles,
            "unlisted": self.unlisted,
            "table_rows": self.table_rows,
            "changed": self.changed,
        }


@dataclass(frozen=True, slots=True)
class _Candidate:
    key: str
    sha256: str
    marker_etag: str
    marker: CommitMarker

    @property
    def order(self) -> Order:
        return Order(self.marker.interval.slug, canonical_time(self.marker.committed_at), self.key)

    @property
    def full(self) -> bool:
        return "/partial/" not in self.key


def manifest_keys_of_events(extras: Iterable[Mapping[str, Any] | None]) -> list[str]:
    """Manifest keys named by asset events' extras, in order, each once (unchecked)."""
    keys: list[str] = []
    for extra in extras:
        key = (extra or {}).get("manifest_key")
        if isinstance(key, str) and key not in keys:
            keys.append(key)
    return keys


class _Update:
    """One update under the lease: loaded objects, what changed, and the commit."""

    def __init__(
        self,
        store: Store,
        layout: Layout,
        *,
        track_moves: bool,
        max_object_bytes: int,
        sink: TableSink | None,
        workers: int,
        now: Callable[[], datetime],
    ) -> None:
        self.store, self.layout = store, layout
        self.bucket = layout.public_bucket
        self.track_moves = track_moves
        self.max_object_bytes = max_object_bytes
        self.sink = sink
        self.workers = max(1, workers)
        self.now = now
        found = store.get_with_etag(self.bucket, layout.catalog())
        if found is None:
            self.root, self.root_etag = RootIndex(layout.pipeline), None
        else:
            self.root, self.root_etag = RootIndex.from_bytes(layout.pipeline, found[0]), found[1]
        self.months: dict[str, MonthIndex] = {}
        self.days: dict[str, Partition] = {}
        self.dirty_days: set[str] = set()
        self.dirty_months: set[str] = set()
        self.garbage: list[str] = []
        self.changes = self.invalid = self.table_rows = 0

    @property
    def new(self) -> bool:
        return self.root_etag is None

    # ------------------------------------------------------------------ loading

    def _verified(self, key: str, sha256: str, what: str) -> bytes:
        body = self.store.get(self.bucket, key)
        if body is None or sha256_hex(body) != sha256:
            raise CatalogError(
                f"catalog {what} s3://{self.bucket}/{key} is missing or does not match the "
                "sha256 its index records; a rescan cannot repair a broken chain: move "
                f"{self.layout.catalog()} away to rebuild the catalog from the manifests"
            )
        return body

    def month(self, month: str) -> MonthIndex:
        if month not in self.months:
            ref = self.root.months.get(month)
            if ref is None:
                self.months[month] = MonthIndex(month)
            else:
                body = self._verified(ref.key, ref.sha256, "month index")
                self.months[month] = MonthIndex.from_bytes(month, body)
        return self.months[month]

    def day(self, day: str) -> Partition:
        if day not in self.days:
            ref = self.month(day[:7]).days.get(day)
            if ref is None:
                self.days[day] = Partition(day)
            else:
                body = self._verified(ref.key, ref.sha256, "day partition")
                self.days[day] = Partition.from_bytes(day, body)
        return self.days[day]

    def applied(self, key: str) -> ManifestRef | None:
        slug = _slug_of(key, self.layout)
        if slug is None:
            return None
        return self.month(_month_of_slug(slug)).manifests.get(key)

    # ---------------------------------------------------------------- candidates

    def candidate(self, key: str, listed_etag: str | None = None) -> _Candidate | str | None:
        """The committed version of a manifest, None when it is applied already, or a
        string saying why it cannot be applied (fail closed)."""
        slug = _slug_of(key, self.layout)
        if slug is None:
            return f"{key}: not a manifest key of pipeline {self.layout.pipeline}"
        done = self.applied(key)
        if done is not None and listed_etag is not None and done.marker_etag == listed_etag:
            return None  # the marker has not changed since: nothing to read
        found = self.store.get_with_etag(self.bucket, self.layout.commit_marker(key))
        if found is None:
            return f"{key}: not committed"
        body, etag = found
        try:
            marker = CommitMarker.from_json(json.loads(body))
        except (ValueError, KeyError, TypeError) as exc:
            return f"{key}: unreadable commit marker ({type(exc).__name__})"
        if marker.manifest_key != key or marker.interval.slug != slug:
            return f"{key}: its commit marker names another manifest or interval"
        if done is not None and done.sha256 == marker.manifest_sha256:
            return None
        return _Candidate(key, marker.manifest_sha256, etag, marker)

    def records(self, candidate: _Candidate) -> list[ManifestRecord] | str:
        body = self.store.get(self.bucket, candidate.key)
        if body is None or sha256_hex(body) != candidate.sha256:
            return f"{candidate.key}: being replaced (its sha256 is not the committed one)"
        records: list[ManifestRecord] = []
        for number, line in enumerate(body.splitlines(), 1):
            if not line.strip():
                continue
            try:
                records.append(ManifestRecord.from_lines(json.loads(line)))
            except (ValueError, KeyError, TypeError) as exc:
                return f"{candidate.key}: line {number} is unreadable ({type(exc).__name__})"
        return records

    # ------------------------------------------------------------------ applying

    def apply(self, candidate: _Candidate, records: Sequence[ManifestRecord]) -> TableBatch:
        order = candidate.order
        slug = order.interval
        month = self.month(_month_of_slug(slug))
        full_key = self.layout.manifest(slug)
        full = month.manifests.get(full_key)
        touched: list[tuple[str, Entry | None, str, Entry]] = []  # old day, old, new day, new
        if not candidate.full and full is not None and full.committed_at > order.committed_at:
            month.manifests[candidate.key] = ManifestRef(
                candidate.sha256, candidate.marker_etag, slug, order.committed_at, False, (),
                len(records), superseded=True,
            )  # fmt: skip
            self.dirty_months.add(month.month)
            return TableBatch(candidate.key, candidate.sha256, slug, (), {}, superseded=True)

        wanted: dict[str, tuple[str, Entry]] = {}
        for record in records:
            day, entry = entry_of(record, order, self.layout)
            if entry.article_id in wanted and wanted[entry.article_id] != (day, entry):
                entry = replace(entry, state=State.INVALID, reason="listed twice in a manifest",
                                free=(), meta=None, title=None, url=None)  # fmt: skip
            wanted[entry.article_id] = (day, entry)
        self.invalid += sum(e.state is State.INVALID for _, e in wanted.values())
        days = sorted({day for day, _ in wanted.values()})
        for day in days:
            self.day(day)
        others = self._other_days(wanted)
        for aid, (day, entry) in sorted(wanted.items()):
            change = self._resolve(
                aid, day, entry, others.get(aid, ()), order if candidate.full else None
            )
            if change is not None:
                touched.append(change)
        if candidate.full:
            touched += self._drop_missing(month, slug, order, set(wanted))
            for key, ref in list(month.manifests.items()):
                if ref.interval == slug and not ref.full and ref.committed_at < order.committed_at:
                    month.manifests[key] = replace(ref, superseded=True, days=())
        month.manifests[candidate.key] = ManifestRef(
            candidate.sha256, candidate.marker_etag, slug, order.committed_at, candidate.full,
            tuple(days), len(records),
        )  # fmt: skip
        self.dirty_months.add(month.month)
        if slug > self.root.newest_interval:
            self.root.newest_interval = slug
        self.changes += len(touched)
        return self._batch(candidate, touched)

    def _other_days(self, wanted: Mapping[str, tuple[str, Entry]]) -> dict[str, tuple[str, ...]]:
        """For articles new to their day, or listed in another one: the other days whose
        partitions hold them, from their locators (written before any partition is)."""
        if not self.track_moves:
            return {}
        need = [
            (aid, day)
            for aid, (day, entry) in wanted.items()
            if _ARTICLE_ID.match(aid)
            and ((held := self.days[day].entries.get(aid)) is None or held.moved_to is not None)
        ]
        if not need:
            return {}
        with ThreadPoolExecutor(max_workers=min(self.workers, len(need))) as pool:
            found = list(pool.map(lambda item: self._locate(*item), need))
        others = {aid: days for (aid, _), days in zip(need, found, strict=True) if days}
        for day in sorted({d for days in others.values() for d in days}):
            self.day(day)
        return others

    def _days_of(self, article_id: str) -> tuple[str, ...]:
        """Every day the locator names for a known article (loaded): where a claim that
        outranks a withdrawn one may be."""
        if not self.track_moves or not _ARTICLE_ID.match(article_id):
            return ()
        body = self.store.get(self.bucket, self.layout.catalog_locator(article_id))
        days = [str(d) for d in json.loads(body).get("days", ())] if body else []
        days = [d for d in days if _DAY.match(d)]
        for day in days:
            self.day(day)
        return tuple(days)

    def _locate(self, article_id: str, day: str) -> tuple[str, ...]:
        key = self.layout.catalog_locator(article_id)
        for _ in range(5):
            blob = Blob.of(self.bucket, key, dumps({"days": [day]}), EXTENSIONS["json"])
            try:
                self.store.put(blob, if_none_match=True)
                return ()  # first time anywhere
            except PreconditionFailed:
                pass
            found = self.store.get_with_etag(self.bucket, key)
            if found is None:
                continue  # deleted in between: try to create it again
            days = [str(d) for d in json.loads(found[0]).get("days", ())]
            if day not in days:
                body = dumps({"days": sorted({*days, day})})
                try:
                    self.store.put(
                        Blob.of(self.bucket, key, body, EXTENSIONS["json"]), if_match=found[1]
                    )
                except PreconditionFailed:
                    continue
            return tuple(d for d in days if d != day and _DAY.match(d))
        raise CatalogError(f"locator {key} keeps changing under the lease; retry the update")

    def _listed(self, aid: str, days: Iterable[str]) -> tuple[str, Entry] | None:
        """The article's listed claim among these days (the one not pointing elsewhere)."""
        claims = [(d, self.days[d].entries[aid]) for d in days if aid in self.days[d].entries]
        primaries = [c for c in claims if c[1].moved_to is None]
        return max(primaries or claims, key=lambda c: (c[1].key, c[0]), default=None)

    def _settle(self, aid: str, days: Iterable[str]) -> tuple[str, Entry] | None:
        """The best claim of these days becomes the article's one (``moved_to`` None); every
        other day keeps its own best claim, pointing at the winner's day (``moved_to``). A
        function of the claims alone: any order of events leaves the same bytes."""
        claims = [(d, self.days[d].entries[aid]) for d in sorted(set(days))
                  if aid in self.days[d].entries]  # fmt: skip
        if not claims:
            return None
        best_day, _ = max(claims, key=lambda c: (c[1].key, c[0]))
        for day, claim in claims:
            want = None if day == best_day else best_day
            if claim.moved_to != want:
                self.days[day].entries[aid] = replace(claim, moved_to=want)
                self.dirty_days.add(day)
        return best_day, self.days[best_day].entries[aid]

    def _resolve(
        self,
        aid: str,
        day: str,
        entry: Entry,
        other_days: Sequence[str],
        full: Order | None,
    ) -> tuple[str, Entry | None, str, Entry] | None:
        """Record the entry as its day's claim when it beats the day's current one (rank,
        then order); a full manifest (``full``) also withdraws every older claim of its own
        interval, in any day. Then the best claim of all days is the listed one. Returns the
        change of the listed claim, if any (a row for the tables)."""
        holders = [d for d in dict.fromkeys((day, *other_days)) if aid in self.days[d].entries]
        before = self._listed(aid, holders)

        def superseded(claim: Entry) -> bool:
            return (
                full is not None
                and claim.state is not State.DROPPED
                and claim.order.interval == full.interval
                and claim.order < full
            )

        for d in holders:
            claim = self.days[d].entries[aid]
            if d != day and full is not None and superseded(claim):
                self.days[d].entries[aid] = claim.dropped(full)
                self.dirty_days.add(d)
        held = self.days[day].entries.get(aid)
        if held is None or entry.key > held.key or (full is not None and superseded(held)):
            self.days[day].entries[aid] = replace(entry, moved_to=held.moved_to if held else None)
            self.dirty_days.add(day)
        days = {day, *holders}
        if (
            before is not None
            and before[0] == day
            and not other_days
            and self.days[day].entries[aid].key < before[1].key
        ):  # the listed claim here lost rank: a claim in another day may now be the best
            days |= set(self._days_of(aid))
        after = self._settle(aid, days)
        assert after is not None
        if before is not None and before[0] == after[0] and before[1].same_as(after[1]):
            return None  # unchanged (a rerun that found it as it was): no new row
        return (before[0] if before else after[0], before[1] if before else None, *after)

    def _drop_missing(
        self, month: MonthIndex, slug: str, order: Order, present: set[str]
    ) -> list[tuple[str, Entry | None, str, Entry]]:
        """A rerun's full manifest without an article an older version of this interval
        had: that claim is withdrawn (``dropped``); a claim of another interval may then be
        the best one again (found through the locator)."""
        days = sorted({d for ref in month.manifests.values() if ref.interval == slug
                       for d in ref.days})  # fmt: skip
        changes: list[tuple[str, Entry | None, str, Entry]] = []
        for day in days:
            partition = self.day(day)
            for aid, held in sorted(partition.entries.items()):
                if (
                    aid in present
                    or held.state is State.DROPPED
                    or held.order.interval != slug
                    or not held.order < order
                ):
                    continue
                partition.entries[aid] = held.dropped(order)
                self.dirty_days.add(day)
                if held.moved_to is not None:
                    continue  # it was not the listed claim: nothing listed changes
                after = self._settle(aid, {day, *self._days_of(aid)})
                assert after is not None
                changes.append((day, held, *after))
        return changes

    # --------------------------------------------------------------------- rows

    def _batch(
        self, candidate: _Candidate, touched: Sequence[tuple[str, Entry | None, str, Entry]]
    ) -> TableBatch:
        if self.sink is None:
            return TableBatch(candidate.key, candidate.sha256, candidate.order.interval, (), {})
        metas = [new.meta for _, _, _, new in touched if new.meta is not None]
        with ThreadPoolExecutor(max_workers=max(1, min(self.workers, len(metas) or 1))) as pool:
            counts = dict(zip(metas, pool.map(self._char_counts, metas), strict=True))
        interval = candidate.marker.interval
        generation = self.root.generation + 1
        rows = []
        replaces: dict[str, tuple[str, ...]] = {}
        for old_day, _old, new_day, new in touched:
            free_chars, paid_chars = (
                counts.get(new.meta, (None, None)) if new.meta else (None, None)
            )
            txt = next((o for o in new.free if o.key.endswith(".txt")), None)
            html = next((o for o in new.free if o.key.endswith(".html")), None)
            published = _parse_time(new.timestamp) or interval.start
            rows.append(
                ArticleRow(
                    article_id=new.article_id,
                    source=new.source,
                    source_id=new.source_id,
                    published_at=published,
                    timestamp=new.timestamp,
                    title=new.title,
                    url=new.url,
                    outcome=new.outcome,
                    state=new.state.value,
                    status=new.status,
                    reason=new.reason,
                    revision=new.revision,
                    carried=new.carried,
                    override=new.override,
                    free_chars=free_chars,
                    paid_chars=paid_chars,
                    free_key=txt.key if txt else None,
                    free_sha256=txt.sha256 if txt else None,
                    free_html_key=html.key if html else None,
                    free_html_sha256=html.sha256 if html else None,
                    meta_key=new.meta.key if new.meta else None,
                    meta_sha256=new.meta.sha256 if new.meta else None,
                    manifest_key=candidate.key,
                    manifest_sha256=candidate.sha256,
                    interval=interval.slug,
                    interval_start=interval.start,
                    interval_end=interval.end,
                    committed_at=_parse_time(candidate.marker.committed_at),
                    catalog_generation=generation,
                )
            )
            replaces[new.article_id] = tuple(sorted({old_day, new_day}))
        return TableBatch(candidate.key, candidate.sha256, interval.slug, tuple(rows), replaces)

    def _char_counts(self, meta: ObjectInfo) -> tuple[int | None, int | None]:
        """Free and paid character counts from the public metadata object, when it is still
        the version the manifest committed (else unknown: never another revision's)."""
        body = self.store.get(self.bucket, meta.key)
        if body is None or sha256_hex(body) != meta.sha256:
            return None, None
        try:
            stats = json.loads(body).get("stats") or {}
            free, paid = stats.get("free") or {}, stats.get("paid") or {}
            return _count(free.get("chars")), _count(paid.get("chars"))
        except (ValueError, AttributeError):
            return None, None

    # -------------------------------------------------------------------- commit

    def commit(self, rescanned: bool) -> None:
        """Write changed partitions and months under new keys, then the root (the commit
        point, replaced only over the version this update read), then delete what the new
        root no longer references."""
        pipeline = self.layout.pipeline
        for day in sorted(self.dirty_days):
            partition = self.days[day]
            body = self._bounded(partition.to_bytes(pipeline), f"day partition {day}")
            sha = sha256_hex(body)
            month = self.month(day[:7])
            old = month.days.get(day)
            if old is None or old.sha256 != sha:
                key = self.layout.catalog_day(day, sha)
                self.store.put(Blob.of(self.bucket, key, body, EXTENSIONS["json"]))
                if old is not None and old.key != key:
                    self.garbage.append(old.key)
                live = partition.live
                month.days[day] = DayRef(key, sha, live, len(partition.entries) - live, len(body))
                self.dirty_months.add(month.month)
        for name in sorted(self.dirty_months):
            month = self.months[name]
            body = self._bounded(month.to_bytes(pipeline), f"month index {name}")
            sha = sha256_hex(body)
            old_ref = self.root.months.get(name)
            if old_ref is not None and old_ref.sha256 == sha:
                continue
            key = self.layout.catalog_month(name, sha)
            self.store.put(Blob.of(self.bucket, key, body, EXTENSIONS["json"]))
            if old_ref is not None and old_ref.key != key:
                self.garbage.append(old_ref.key)
            self.root.months[name] = MonthRef(
                key, sha, sum(d.articles for d in month.days.values()),
                sum(d.unlisted for d in month.days.values()), len(month.days),
            )  # fmt: skip
        stamp = self.now().astimezone(UTC).isoformat()
        self.root.generation += 1
        self.root.updated_at = stamp
        if rescanned:
            self.root.rescanned_at = stamp
        blob = Blob.of(self.bucket, self.layout.catalog(), self.root.to_bytes(), EXTENSIONS["json"])
        try:
            if self.root_etag is None:
                self.root_etag = self.store.put(blob, if_none_match=True)
            else:
                self.root_etag = self.store.put(blob, if_match=self.root_etag)
        except PreconditionFailed as exc:
            raise CatalogError(
                f"another updater committed {self.layout.catalog()} meanwhile; this update "
                "wrote nothing it references and is retried",
                code=ErrorCode.CATALOG_BUSY,
            ) from exc
        self.dirty_days.clear()
        self.dirty_months.clear()
        if self.garbage:
            self.store.delete(self.bucket, sorted(set(self.garbage)))
            self.garbage.clear()

    def _bounded(self, body: bytes, what: str) -> bytes:
        if len(body) > self.max_object_bytes:
            raise CatalogError(
                f"catalog {what} would be {len(body):,} bytes, over max_object_bytes "
                f"({self.max_object_bytes:,}); nothing was committed"
            )
        return body

    def sweep(self) -> int:
        """Delete partition and month objects no committed root references (left by an
        update that failed after writing them). Only under the lease, during a rescan."""
        referenced = {ref.key for ref in self.root.months.values()}
        for name in self.root.months:
            referenced |= {ref.key for ref in self.month(name).days.values()}
        stale = [
            listed.key
            for prefix in ("days/", "months/")
            for listed in self.store.list(self.bucket, self.layout.catalog_prefix() + prefix)
            if listed.key not in referenced
        ]
        if stale:
            self.store.delete(self.bucket, stale)
        return len(stale)


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _slug_of(key: str, layout: Layout) -> str | None:
    """The interval of a manifest key of this pipeline, or None for any other key."""
    prefix = re.escape(layout.runs_prefix())
    found = re.fullmatch(
        rf"{prefix}({_SLUG})/(?:manifest\.jsonl|partial/[A-Za-z0-9_.-]{{1,200}}\.jsonl)", key
    )
    return found.group(1) if found else None


def _month_of_slug(slug: str) -> str:
    return f"{slug[0:4]}-{slug[4:6]}"


# ---------------------------------------------------------------------------- lease


class _Lease:
    """One updater at a time: an object created only when absent (If-None-Match), taken
    over only when expired and only over the version read (If-Match)."""

    def __init__(self, store: Store, layout: Layout, minutes: int, now: Callable[[], datetime]):
        self.store, self.bucket, self.key = store, layout.public_bucket, layout.catalog_lease()
        self.minutes, self.now = minutes, now
        self.token = secrets.token_hex(16)

    def __enter__(self) -> _Lease:
        moment = self.now().astimezone(UTC)
        body = dumps(
            {
                "owner": self.token,
                "expires_at": (moment + timedelta(minutes=self.minutes)).isoformat(),
            }
        )
        blob = Blob.of(self.bucket, self.key, body, EXTENSIONS["json"])
        try:
            self.store.put(blob, if_none_match=True)
            return self
        except PreconditionFailed:
            pass
        found = self.store.get_with_etag(self.bucket, self.key)
        if found is not None:
            try:
                expires = _parse_time(json.loads(found[0]).get("expires_at"))
            except ValueError:
                expires = None
            if expires is not None and expires > moment:
                raise CatalogError(
                    f"another update holds s3://{self.bucket}/{self.key} until "
                    f"{expires.isoformat()}; retry later",
                    code=ErrorCode.CATALOG_BUSY,
                )
        try:
            if found is None:
                self.store.put(blob, if_none_match=True)
            else:
                self.store.put(blob, if_match=found[1])
        except PreconditionFailed as exc:
            raise CatalogError(
                f"another update took s3://{self.bucket}/{self.key} first; retry later",
                code=ErrorCode.CATALOG_BUSY,
            ) from exc
        return self

    def __exit__(self, *exc: object) -> None:
        """Release the lease if it is still ours (a failure here must not hide the update's
        own error: an unreleased lease simply expires)."""
        try:
            found = self.store.get(self.bucket, self.key)
            if found is not None and json.loads(found).get("owner") == self.token:
                self.store.delete(self.bucket, [self.key])
        except (PaywallError, ValueError, AttributeError) as error:
            log.warning("catalog lease %s not released (%s); it expires", self.key, error)


# ----------------------------------------------------------------------------- API


def refresh(
    store: Store,
    layout: Layout,
    manifest_keys: Iterable[str] = (),
    *,
    settings: CatalogSettings | None = None,
    rescan: bool = False,
    sink: TableSink | None = None,
    workers: int = 8,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> CatalogResult:
    """Apply the manifests committed since the last update; return what was done.

    ``manifest_keys`` are the keys the triggering asset events named. Besides them, the
    newest applied interval onwards is listed (one short LIST), so a missed event for a new
    interval is caught on the next update. Every committed manifest is listed when the
    catalog is new, when an event names an unusable key, when ``rescan`` is asked, or when
    the last full listing is older than ``settings.rescan_every_hours`` (0: never on a
    timer). Each manifest is committed on its own, oldest first: the sink's batch, then the
    catalog's objects, then the root.
    """
    cfg = settings or CatalogSettings()
    refused: list[str] = []
    applied: list[str] = []
    replayed = superseded = 0
    with _Lease(store, layout, cfg.lease_minutes, now):
        update = _Update(
            store, layout, track_moves=cfg.track_moves, max_object_bytes=cfg.max_object_bytes,
            sink=sink, workers=workers, now=now,
        )  # fmt: skip
        keys = list(dict.fromkeys(manifest_keys))
        bad = [k for k in keys if _slug_of(k, layout) is None]
        refused += [f"{k}: not a manifest key of pipeline {layout.pipeline}" for k in bad]
        due = False
        if cfg.rescan_every_hours and not update.new:
            last = _parse_time(update.root.rescanned_at)
            due = last is None or now() - last >= timedelta(hours=cfg.rescan_every_hours)
        full = rescan or update.new or bool(bad) or due
        listed: dict[str, str | None] = {k: None for k in keys if k not in bad}
        newest = update.root.newest_interval
        start = layout.run_prefix(newest)[:-1] if newest and not full else ""
        for item in store.list(layout.public_bucket, layout.runs_prefix(), start_after=start):
            manifest = layout.manifest_of(item.key)
            if manifest is not None:
                listed[manifest] = item.etag
        candidates: list[_Candidate] = []
        for key, etag in listed.items():
            found = update.candidate(key, etag)
            if isinstance(found, _Candidate):
                candidates.append(found)
            elif isinstance(found, str):
                refused.append(found)
            elif key in keys:
                replayed += 1
        for candidate in sorted(candidates, key=lambda c: c.order):
            records = update.records(candidate)
            if isinstance(records, str):
                refused.append(records)
                continue
            batch = update.apply(candidate, records)
            superseded += batch.superseded
            if sink is not None and batch.rows:
                sink.write(batch)  # before the catalog commits: a replay is recognised
                update.table_rows += len(batch.rows)
            update.commit(rescanned=False)
            applied.append(candidate.key)
        if full:
            update.sweep()
            update.commit(rescanned=True)
    for reason in refused:
        log.warning("catalog: not applied: %s", reason)
    return CatalogResult(
        catalog_key=layout.catalog(),
        generation=update.root.generation,
        scan="full" if full else "tail",
        applied=tuple(applied),
        replayed=replayed,
        superseded=superseded,
        refused=tuple(refused),
        changes=update.changes,
        invalid=update.invalid,
        articles=sum(m.articles for m in update.root.months.values()),
        unlisted=sum(m.unlisted for m in update.root.months.values()),
        table_rows=update.table_rows,
    )


def update_catalog(
    store: Store, layout: Layout, manifest_keys: Iterable[str] = (), **options: Any
) -> dict[str, Any]:
    """:func:`refresh`, as the JSON of its result (``articles``: how many are listed)."""
    return refresh(store, layout, manifest_keys, **options).to_json()


WITHDRAWN = "~withdrawn"  # the order's manifest part: after every runs/... key of its time


def withdraw(
    store: Store,
    layout: Layout,
    article_id: str,
    timestamp: str,
    *,
    reason: str = "retracted by an editor; the next run records it",
    settings: CatalogSettings | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> str:
    """Take an article out of the catalog now, before any manifest says so (an editor's
    retract-now, :func:`paywall.editor.retract_now`). Returns ``removed``, ``absent`` (no
    catalog yet), ``unchanged`` (not listed) or ``not updated: <why>``; never raises for a
    busy or unreadable catalog (the run the editor triggers records the retraction).

    Every listed claim of the article (the day of ``timestamp`` and the days its locator
    names) is replaced by a quarantined one of the same interval, ordered at ``now`` (and
    after any manifest committed at that instant): a replay or rescan of older manifests
    cannot list it again, and the next manifest of that interval or a later one decides,
    as for any claim. The Iceberg tables receive it with that manifest.
    """
    cfg = settings or CatalogSettings()
    if not _ARTICLE_ID.match(article_id):
        return "not updated: the article id is not 20 hex digits"
    try:
        if store.get(layout.public_bucket, layout.catalog()) is None:
            return "absent"
        with _Lease(store, layout, cfg.lease_minutes, now):
            update = _Update(
                store, layout, track_moves=cfg.track_moves,
                max_object_bytes=cfg.max_object_bytes, sink=None, workers=1, now=now,
            )  # fmt: skip
            if update.new:
                return "absent"
            days = set(update._days_of(article_id))
            day = _day_of(timestamp)
            if day is not None:
                days.add(day)
            stamp = canonical_time(now().isoformat())
            removed = 0
            for name in sorted(days):
                claim = update.day(name).entries.get(article_id)
                if claim is None or claim.state is not State.LIVE:
                    continue
                order = Order(claim.order.interval, max(stamp, claim.order.committed_at),
                              WITHDRAWN)  # fmt: skip
                update.days[name].entries[article_id] = Entry(
                    article_id=article_id, source=claim.source, source_id=claim.source_id,
                    timestamp=claim.timestamp, state=State.QUARANTINED, order=order,
                    outcome=Outcome.QUARANTINED.value, status="retracted", reason=reason,
                    revision=claim.revision, override="retract", moved_to=claim.moved_to,
                )  # fmt: skip
                update.dirty_days.add(name)
                removed += claim.moved_to is None
            if not update.dirty_days:
                return "unchanged"
            if cfg.track_moves:
                update._settle(article_id, days)
            update.changes += 1
            update.commit(rescanned=False)
            return "removed" if removed else "unchanged"
    except CatalogError as error:
        return f"not updated: {error.code.value}: {error}"


# --------------------------------------------------------------------------- reading


def _read_verified(store: Store, bucket: str, key: str, sha256: str) -> bytes | None:
    body = store.get(bucket, key)
    return body if body is not None and sha256_hex(body) == sha256 else None


def _snapshot(store: Store, layout: Layout) -> dict[str, tuple[str, str]] | None:
    """Every day partition's (key, sha256) of one committed root, or None when an update
    replaced an object meanwhile (read again)."""
    body = store.get(layout.public_bucket, layout.catalog())
    if body is None:
        return {}
    root = RootIndex.from_bytes(layout.pipeline, body)
    days: dict[str, tuple[str, str]] = {}
    for name, ref in sorted(root.months.items()):
        month_body = _read_verified(store, layout.public_bucket, ref.key, ref.sha256)
        if month_body is None:
            return None
        month = MonthIndex.from_bytes(name, month_body)
        days |= {d: (r.key, r.sha256) for d, r in month.days.items()}
    return days


def read_day(store: Store, layout: Layout, day: str) -> list[dict[str, Any]]:
    """The listed articles of one day partition, as committed (checked by sha256)."""
    for _ in range(_READ_RETRIES):
        days = _snapshot(store, layout)
        if days is None:
            continue
        if day not in days:
            return []
        body = _read_verified(store, layout.public_bucket, *days[day])
        if body is not None:
            return list(json.loads(body)["articles"])
    raise CatalogError(f"the catalog kept changing while day {day} was read; read again")


def read_catalog(store: Store, layout: Layout) -> Iterator[dict[str, Any]]:
    """Every listed article of one committed catalog state, day by day (checked by sha256;
    an update that lands meanwhile makes it start again, up to a few times)."""
    for _ in range(_READ_RETRIES):
        days = _snapshot(store, layout)
        if days is None:
            continue
        bodies = []
        for key, sha in days.values():
            body = _read_verified(store, layout.public_bucket, key, sha)
            if body is None:
                break
            bodies.append(body)
        else:
            for body in bodies:
                yield from json.loads(body)["articles"]
            return
    raise CatalogError("the catalog kept changing while it was read; read again")


def build_catalog(store: Store, layout: Layout) -> dict[str, Any]:
    """The reference: the catalog rebuilt from every committed manifest, in memory.

    Per interval the manifest and the partial runs committed after it (the reader's rule);
    across intervals the later wins; a ``failed`` record without a public side never
    overrides. Tests compare the incremental catalog with this.
    """
    best: dict[str, Entry] = {}
    runs = 0
    slugs = sorted(
        {s for k in committed_manifest_keys(store, layout, partial=True)
         if (s := _slug_of(k, layout)) is not None}
    )  # fmt: skip
    for slug in slugs:
        for run in interval_runs(store, layout, slug):
            runs += 1
            order = Order(slug, canonical_time(run.marker.committed_at), run.manifest_key)
            for record in run.records:
                _, entry = entry_of(record, order, layout)
                held = best.get(entry.article_id)
                if held is None or entry.key > held.key:
                    best[entry.article_id] = entry
    listed = sorted(
        (e.to_json() for e in best.values() if e.state is State.LIVE),
        key=lambda a: (a["timestamp"], a["article_id"]),
    )
    return {"pipeline": layout.pipeline, "runs": runs, "articles": listed}
