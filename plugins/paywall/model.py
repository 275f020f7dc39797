"""The typed contract: every record that crosses a boundary of the pipeline.

One frozen dataclass per boundary, each with ``to_json``/``from_json`` (checked against the
JSON Schemas in ``paywall/schemas/`` by the tests):

- :class:`ArticleRef` -- a listed article (source → plan);
- :class:`PlanRef` -- the stored plan's reference (plan task → XCom);
- :class:`ChunkJob` -- what one process task works on (XCom → process task);
- :class:`ManifestRecord` -- what happened to one article: its **outcome** (decided once, where
  the article is processed), its objects and digests; split into a public and a private line;
- :class:`ChunkResult` -- a chunk's counts (process task → XCom → publish);
- :class:`RunSummary` -- a run's counts and commit (publish → XCom, asset event, CLI);
- :class:`CommitMarker` -- the ``_COMMITTED`` object.

Readers never re-derive an outcome from status names: they read ``record.outcome`` and
``record.live`` (whether the article has a public side right now).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from paywall.layout import LAYOUT_VERSION

__all__ = [
    "Action",
    "ArticleRef",
    "ChunkJob",
    "ChunkResult",
    "CommitMarker",
    "Counts",
    "Interval",
    "ManifestRecord",
    "ObjectRef",
    "Outcome",
    "Override",
    "OverrideAction",
    "PlanRef",
    "PrivateHeader",
    "Role",
    "RunSummary",
    "dumps",
]


def dumps(data: Any) -> bytes:
    """Canonical JSON bytes: sorted keys, UTF-8, so equal data gives equal bytes and hashes."""
    return json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


class Outcome(StrEnum):
    """What a run decided for an article. Set once, in ``pipeline.process_article``."""

    PUBLISHED = "published"  # split cleanly; free half and metadata public
    QUARANTINED = "quarantined"  # refused: raw input and reason kept privately, nothing public
    FAILED = "failed"  # could not be fetched this time; a previous public side is kept


class Action(StrEnum):
    """What the run did to storage for the article."""

    WRITTEN = "written"  # at least one object written
    UNCHANGED = "unchanged"  # nothing written: the stored objects are already right
    RETRACTED = "retracted"  # a previous public side was deleted (fail closed)


class Role(StrEnum):
    FREE = "free"
    META = "meta"
    PAID = "paid"
    INPUT = "input"  # quarantined raw input
    REASON = "reason"  # quarantine reason

    @property
    def public(self) -> bool:
        return self in (Role.FREE, Role.META)


# Commit order inside an article: paid, then free, then the metadata that points at both.
_ROLE_ORDER = {Role.PAID: 0, Role.FREE: 1, Role.META: 2, Role.INPUT: 3, Role.REASON: 4}


class OverrideAction(StrEnum):
    """What an editor decided for one article; the next run applies it."""

    ALL_FREE = "all_free"  # an article without markers is free as a whole
    ALL_PAID = "all_paid"  # an article without markers is paid as a whole
    RETRACT = "retract"  # take it off the public side and keep it off


@dataclass(frozen=True, slots=True)
class Override:
    """An editor's decision (``overrides/<source>/<key>.json`` in the private bucket)."""

    action: OverrideAction
    by: str
    at: str  # ISO 8601
    note: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"action": self.action.value, "by": self.by, "at": self.at, "note": self.note}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Override:
        return cls(OverrideAction(data["action"]), str(data["by"]), str(data["at"]),
                   data.get("note"))  # fmt: skip


# ----------------------------------------------------------------------------- intervals


@dataclass(frozen=True, slots=True, order=True)
class Interval:
    """A data interval ``[start, end)``, timezone-aware."""

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
        from paywall.layout import interval_slug

        return interval_slug(self.start, self.end)

    def to_json(self) -> dict[str, str]:
        return {"start": self.start.isoformat(), "end": self.end.isoformat()}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Interval:
        return cls(datetime.fromisoformat(data["start"]), datetime.fromisoformat(data["end"]))

    # Older call sites and stored plans use these names.
    to_dict = to_json
    from_dict = from_json


@dataclass(frozen=True, slots=True)
class ArticleRef:
    """A listed article: enough to fetch it later, on any worker (no local state)."""

    source: str
    source_id: str
    timestamp: str  # ISO 8601, UTC
    locator: str  # path, key or URL
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "source_id": self.source_id,
            "timestamp": self.timestamp,
            "locator": self.locator,
            "extra": dict(self.extra),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ArticleRef:
        return cls(
            data["source"],
            data["source_id"],
            data["timestamp"],
            data["locator"],
            dict(data.get("extra") or {}),
        )

    to_dict = to_json
    from_dict = from_json


# ------------------------------------------------------------------------------- plans


@dataclass(frozen=True, slots=True)
class PlanParams:
    sources: tuple[str, ...] | None = None
    article_ids: tuple[str, ...] | None = None
    limit: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "sources": list(self.sources) if self.sources is not None else None,
            "article_ids": list(self.article_ids) if self.article_ids is not None else None,
            "limit": self.limit,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PlanParams:
        sources, ids = data.get("sources"), data.get("article_ids")
        return cls(
            tuple(sources) if sources is not None else None,
            tuple(ids) if ids is not None else None,
            data.get("limit"),
        )


@dataclass(frozen=True, slots=True)
class PlanRef:
    """A stored plan's reference: small, safe for XCom (no article text, no ids list)."""

    plan_key: str
    plan_id: str
    interval: Interval
    full: bool  # the whole interval over every source: it commits the interval's manifest
    chunks: int
    articles: int
    per_source: Mapping[str, int]
    dry_run: bool
    params: PlanParams

    def to_json(self) -> dict[str, Any]:
        return {
            "plan_key": self.plan_key,
            "plan_id": self.plan_id,
            "interval": self.interval.to_json(),
            "full": self.full,
            "chunks": self.chunks,
            "articles": self.articles,
            "per_source": dict(self.per_source),
            "dry_run": self.dry_run,
            "params": self.params.to_json(),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PlanRef:
        return cls(
            data["plan_key"],
            data["plan_id"],
            Interval.from_json(data["interval"]),
            bool(data["full"]),
            int(data["chunks"]),
            int(data["articles"]),
            dict(data.get("per_source") or {}),
            bool(data["dry_run"]),
            PlanParams.from_json(data.get("params") or {}),
        )

    def jobs(self) -> list[ChunkJob]:
        return [ChunkJob(self, i) for i in range(self.chunks)]


@dataclass(frozen=True, slots=True)
class ChunkJob:
    """One process task's work: a plan and a chunk number."""

    plan: PlanRef
    chunk: int

    def to_json(self) -> dict[str, Any]:
        return {"plan": self.plan.to_json(), "chunk": self.chunk}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ChunkJob:
        return cls(PlanRef.from_json(data["plan"]), int(data["chunk"]))


# ---------------------------------------------------------------------- manifest records


@dataclass(frozen=True, slots=True)
class ObjectRef:
    """One stored object of an article, with the digests the audit checks it against."""

    role: Role
    key: str
    md5: str  # hex: the ETag of a plain PUT, so verify can prove objects by LIST
    sha256: str  # hex
    size: int

    @property
    def public(self) -> bool:
        return self.role.public

    @property
    def ext(self) -> str:
        name = self.key.rsplit("/", 1)[-1]
        return name.rsplit(".", 1)[-1] if "." in name else "bin"

    def to_json(self) -> dict[str, Any]:
        return {
            "role": self.role.value,
            "key": self.key,
            "md5": self.md5,
            "sha256": self.sha256,
            "size": self.size,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ObjectRef:
        return cls(Role(data["role"]), data["key"], data["md5"], data["sha256"], int(data["size"]))


@dataclass(frozen=True, slots=True)
class ManifestRecord:
    """What one run did with one article.

    The **public line** (``public_json``, in the public manifest) holds the outcome, the
    status and reason, the title and the public objects with their digests. The **private
    line** (``private_json``, in the private manifest) holds everything derived from text a
    reader must not be able to confirm: digests of the paid half and the raw input, the
    source's validators (an S3 ETag is the MD5 of the raw input), the split fingerprint.
    """

    article_id: str
    source: str
    source_id: str
    timestamp: str
    outcome: Outcome
    action: Action  # this run's; counted, never stored (see to_json)
    status: str  # the split's status (segmentation.Status), or fetch_failed
    reason: str | None = None  # why quarantined or failed; never article text
    warnings: tuple[str, ...] = ()
    title: str | None = None
    url: str | None = None
    revision: int | None = None  # of the public side, while there is one
    objects: tuple[ObjectRef, ...] = ()  # every object the article has now
    carried: bool = False  # objects kept from the previous run (this run's fetch failed)
    override: OverrideAction | None = None  # an editor's decision this record applied
    layout: int = LAYOUT_VERSION
    # private: never in the public manifest
    input_sha256: str | None = None
    split: str | None = None  # fingerprint of the split rules that made the objects
    origin: Mapping[str, str] = field(default_factory=dict)  # etag, last_modified (validators)

    def __post_init__(self) -> None:
        # One canonical order (commit order, then key), whatever order the lines were read in.
        ordered = tuple(sorted(self.objects, key=lambda o: (_ROLE_ORDER[o.role], o.key)))
        if ordered != self.objects:
            object.__setattr__(self, "objects", ordered)

    @property
    def live(self) -> bool:
        """Whether the article has a public side right now (free half and metadata)."""
        return any(o.public for o in self.objects)

    @property
    def public_objects(self) -> tuple[ObjectRef, ...]:
        return tuple(o for o in self.objects if o.public)

    @property
    def private_objects(self) -> tuple[ObjectRef, ...]:
        return tuple(o for o in self.objects if not o.public)

    def object(self, role: Role, ext: str | None = None) -> ObjectRef | None:
        for obj in self.objects:
            if obj.role is role and (ext is None or obj.ext == ext):
                return obj
        return None

    def with_changes(self, **changes: Any) -> ManifestRecord:
        return replace(self, **changes)

    def public_json(self) -> dict[str, Any]:
        return {
            "layout": self.layout,
            "article_id": self.article_id,
            "source": self.source,
            "source_id": self.source_id,
            "timestamp": self.timestamp,
            "outcome": self.outcome.value,
            "status": self.status,
            "reason": self.reason,
            "warnings": list(self.warnings),
            "title": self.title,
            "url": self.url,
            "revision": self.revision,
            "carried": self.carried,
            "override": self.override.value if self.override is not None else None,
            "objects": [o.to_json() for o in self.public_objects],
        }

    def private_json(self) -> dict[str, Any]:
        return {
            "article_id": self.article_id,
            "objects": [o.to_json() for o in self.private_objects],
            "input_sha256": self.input_sha256,
            "split": self.split,
            "origin": dict(self.origin),
        }

    def to_json(self) -> dict[str, Any]:
        """Both lines in one document: the staging form of a chunk's records (private bucket).

        Neither holds this run's action: records describe state, so a rerun that changes
        nothing stores the same bytes (the action is counted in the chunk's result)."""
        return {"public": self.public_json(), "private": self.private_json()}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ManifestRecord:
        return cls.from_lines(data["public"], data.get("private"))

    @classmethod
    def from_lines(
        cls, public: Mapping[str, Any], private: Mapping[str, Any] | None = None
    ) -> ManifestRecord:
        """A record from its public line and, when the reader may see it, its private line.

        Manifests of layout 1 (before this contract) are read too: the one place where an
        outcome is derived from a status, for records written when none was stored.
        """
        if "outcome" not in public:
            return _legacy_record(public)
        private = private or {}
        objects = [ObjectRef.from_json(o) for o in public.get("objects") or ()]
        objects += [ObjectRef.from_json(o) for o in private.get("objects") or ()]
        return cls(
            article_id=public["article_id"],
            source=public["source"],
            source_id=public["source_id"],
            timestamp=public["timestamp"],
            outcome=Outcome(public["outcome"]),
            action=Action.UNCHANGED,
            status=public["status"],
            reason=public.get("reason"),
            warnings=tuple(public.get("warnings") or ()),
            title=public.get("title"),
            url=public.get("url"),
            revision=public.get("revision"),
            objects=tuple(objects),
            carried=bool(public.get("carried")),
            override=OverrideAction(public["override"]) if public.get("override") else None,
            layout=int(public.get("layout") or LAYOUT_VERSION),
            input_sha256=private.get("input_sha256"),
            split=private.get("split"),
            origin=dict(private.get("origin") or {}),
        )


_LEGACY_PUBLISHED = frozenset({"ok", "unclosed", "no_markers"})


def _legacy_record(data: Mapping[str, Any]) -> ManifestRecord:
    """A layout-1 manifest record (untyped, every digest public) as a typed record."""
    keys = data.get("keys") or {}
    digests = data.get("sha256") or {}
    shas: Mapping[str, str] = digests.get("objects") or {}
    md5s: Mapping[str, str] = data.get("md5") or {}
    roles: dict[str, Role] = {}
    for key in keys.get("free") or ():
        roles[key] = Role.FREE
    for key in keys.get("paid") or ():
        roles[key] = Role.PAID
    if keys.get("meta"):
        roles[keys["meta"]] = Role.META
    quarantine = keys.get("quarantine") or ()
    for key in quarantine:
        roles[key] = Role.REASON if key.endswith("reason.json") else Role.INPUT
    objects = tuple(
        ObjectRef(role, key, md5s.get(key, ""), shas.get(key, ""), -1)
        for key, role in roles.items()
        if key in shas
    )
    status = str(data.get("status"))
    if status == "fetch_failed":
        outcome = Outcome.FAILED
    elif status in _LEGACY_PUBLISHED and keys.get("free"):
        outcome = Outcome.PUBLISHED
    else:
        outcome = Outcome.QUARANTINED
    return ManifestRecord(
        article_id=data["article_id"],
        source=data["source"],
        source_id=data["source_id"],
        timestamp=data["timestamp"],
        outcome=outcome,
        action=Action.UNCHANGED,
        status=status,
        reason=data.get("reason"),
        warnings=tuple(data.get("warnings") or ()),
        title=data.get("title"),
        revision=data.get("revision"),
        objects=objects,
        layout=1,
        input_sha256=digests.get("original"),
        split=data.get("split"),
        origin={k: str(v) for k, v in (data.get("origin") or {}).items() if v},
    )


@dataclass(frozen=True, slots=True)
class PrivateHeader:
    """First line of a private manifest: which public manifest it belongs to."""

    public_manifest_sha256: str
    layout: int = LAYOUT_VERSION

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": "header",
            "layout": self.layout,
            "public_manifest_sha256": self.public_manifest_sha256,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PrivateHeader:
        if data.get("kind") != "header":
            raise ValueError("a private manifest starts with its header line")
        return cls(data["public_manifest_sha256"], int(data["layout"]))


# ------------------------------------------------------------------------------ counts


@dataclass(frozen=True, slots=True)
class Counts:
    """Articles per outcome, per status (reason) and per action."""

    outcomes: Mapping[str, int] = field(default_factory=dict)
    statuses: Mapping[str, int] = field(default_factory=dict)
    actions: Mapping[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, records: Iterable[ManifestRecord]) -> Counts:
        outcomes: Counter[str] = Counter()
        statuses: Counter[str] = Counter()
        actions: Counter[str] = Counter()
        for record in records:
            outcomes[record.outcome.value] += 1
            statuses[record.status] += 1
            actions[record.action.value] += 1
        return cls._make(outcomes, statuses, actions)

    @staticmethod
    def _make(outcomes: Counter[str], statuses: Counter[str], actions: Counter[str]) -> Counts:
        return Counts(
            {o.value: outcomes.get(o.value, 0) for o in Outcome},
            dict(sorted(statuses.items())),
            dict(sorted(actions.items())),
        )

    def __add__(self, other: Counts) -> Counts:
        return self._make(
            Counter(self.outcomes) + Counter(other.outcomes),
            Counter(self.statuses) + Counter(other.statuses),
            Counter(self.actions) + Counter(other.actions),
        )

    @property
    def articles(self) -> int:
        return sum(self.outcomes.values())

    @property
    def published(self) -> int:
        return self.outcomes.get(Outcome.PUBLISHED.value, 0)

    @property
    def quarantined(self) -> int:
        return self.outcomes.get(Outcome.QUARANTINED.value, 0)

    @property
    def failed(self) -> int:
        return self.outcomes.get(Outcome.FAILED.value, 0)

    def to_json(self) -> dict[str, Any]:
        return {
            "outcomes": dict(self.outcomes),
            "statuses": dict(self.statuses),
            "actions": dict(self.actions),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Counts:
        return cls._make(
            Counter(data.get("outcomes") or {}),
            Counter(data.get("statuses") or {}),
            Counter(data.get("actions") or {}),
        )


@dataclass(frozen=True, slots=True)
class ChunkResult:
    """A process task's result: counts and where its records are, never the records."""

    chunk: int
    part_key: str
    counts: Counts
    writes: int
    seconds: float
    dry_run: bool = False
    # The stored part: its sha256, and the length of its public lines (the private lines
    # follow them). Publish joins parts without parsing them, after checking the digest.
    # None in results of releases before 0.1.2, whose parts hold one document per record.
    part_sha256: str | None = None
    public_bytes: int | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "chunk": self.chunk,
            "part_key": self.part_key,
            "counts": self.counts.to_json(),
            "writes": self.writes,
            "seconds": self.seconds,
            "dry_run": self.dry_run,
        }
        if self.part_sha256 is not None:
            data |= {"part_sha256": self.part_sha256, "public_bytes": self.public_bytes}
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ChunkResult:
        public_bytes = data.get("public_bytes")
        return cls(
            int(data["chunk"]),
            data["part_key"],
            Counts.from_json(data["counts"]),
            int(data["writes"]),
            float(data["seconds"]),
            bool(data.get("dry_run")),
            data.get("part_sha256"),
            int(public_bytes) if public_bytes is not None else None,
        )


@dataclass(frozen=True, slots=True)
class CommitMarker:
    """The ``_COMMITTED`` object: a manifest counts only when its marker names its hash."""

    manifest_key: str
    manifest_sha256: str
    private_manifest_key: str
    interval: Interval
    counts: Counts
    committed_at: str
    layout: int = LAYOUT_VERSION

    def to_json(self) -> dict[str, Any]:
        return {
            "layout": self.layout,
            "manifest_key": self.manifest_key,
            "manifest_sha256": self.manifest_sha256,
            "private_manifest_key": self.private_manifest_key,
            "interval": self.interval.to_json(),
            "articles": self.counts.articles,
            "counts": self.counts.to_json(),
            "committed_at": self.committed_at,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CommitMarker:
        if "counts" not in data:  # layout 1: statuses only
            counts = Counts(statuses=dict(data.get("statuses") or {}))
        else:
            counts = Counts.from_json(data["counts"])
        return cls(
            data["manifest_key"],
            data["manifest_sha256"],
            data.get("private_manifest_key") or "",
            Interval.from_json(data["interval"]),
            counts,
            data.get("committed_at") or "",
            int(data.get("layout") or 1),
        )


@dataclass(frozen=True, slots=True)
class RunSummary:
    """What a run did: counts per outcome, status and action, and what it committed."""

    interval: Interval
    counts: Counts
    dry_run: bool
    committed: bool
    manifest_key: str | None = None
    manifest_sha256: str | None = None
    changed: bool = False  # the commit wrote a new manifest (False: same as committed before)
    writes: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "interval": self.interval.to_json(),
            "articles": self.counts.articles,
            "published": self.counts.published,
            "quarantined": self.counts.quarantined,
            "failed": self.counts.failed,
            "counts": self.counts.to_json(),
            "dry_run": self.dry_run,
            "committed": self.committed,
            "manifest_key": self.manifest_key,
            "manifest_sha256": self.manifest_sha256,
            "changed": self.changed,
            "writes": self.writes,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunSummary:
        return cls(
            Interval.from_json(data["interval"]),
            Counts.from_json(data["counts"]),
            bool(data["dry_run"]),
            bool(data["committed"]),
            data.get("manifest_key"),
            data.get("manifest_sha256"),
            bool(data.get("changed")),
            int(data.get("writes") or 0),
        )

    def asset_extra(self) -> dict[str, Any]:
        """The asset event's extra: counts and references only (shown to every UI viewer)."""
        return {
            "interval": self.interval.to_json(),
            "manifest_key": self.manifest_key,
            "articles": self.counts.articles,
            "published": self.counts.published,
            "quarantined": self.counts.quarantined,
            "failed": self.counts.failed,
            "statuses": dict(self.counts.statuses),
            "changed": self.changed,
        }
