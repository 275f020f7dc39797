"""Reading committed outputs: what consumers, verify, the catalog and the next run rely on.

A manifest counts only when its commit marker names its sha256. Its private counterpart (the
digests of paid and quarantined objects, in the private bucket) counts only when its header
names the committed public manifest's sha256. Objects are fetched by the keys a record lists
and checked against the recorded digest, so a reader never takes a half-published or
newer-than-committed object for the committed one.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from paywall.errors import PaywallError
from paywall.layout import Layout
from paywall.metadata import sha256_hex
from paywall.model import CommitMarker, ManifestRecord, PrivateHeader, Role
from paywall.store import Store

__all__ = [
    "MAX_PRESIGN_SECONDS",
    "CommittedRun",
    "StaleObject",
    "committed_manifest_keys",
    "committed_runs",
    "interval_prefix",
    "interval_runs",
    "manifest_keys",
    "presign_paid",
    "read_committed",
    "read_public",
]

MAX_PRESIGN_SECONDS = 3600


class StaleObject(PaywallError):
    """The stored object no longer matches the committed manifest (a newer run is writing)."""


@dataclass(frozen=True, slots=True)
class CommittedRun:
    manifest_key: str
    manifest_sha256: str
    marker: CommitMarker
    records: list[ManifestRecord]
    # Whether the private lines were read and belong to this manifest (only asked for by
    # readers with access to the private bucket: the next run, verify, presign).
    private: bool = False
    private_problem: str | None = None


# Lines are canonical JSON (sorted keys), so ``article_id`` comes first in each.
_ID_PREFIX = b'{"article_id":"'
_ID_AT = slice(len(_ID_PREFIX), len(_ID_PREFIX) + 20)
_ID_CLOSE = len(_ID_PREFIX) + 20
_ID_KEY = b'"article_id"'


def _lines(body: bytes, only: set[str] | None) -> Iterator[dict[str, Any]]:
    """The parsed lines of a manifest; with ``only``, just those articles' lines.

    A canonical line is picked by its leading id without parsing it (a chunk reads the
    interval's manifest for its own records). Any other line -- an older layout, one whose
    id key appears twice (a parser keeps the last), or one holding any escape, which could
    spell the key again -- is parsed and picked by the id a parser reads, so the picking
    never disagrees with the record."""
    lines = (line for line in body.splitlines() if line and not line.isspace())
    if only is None:
        yield from map(json.loads, lines)
        return
    wanted = {i.encode("ascii", "replace") for i in only}
    for line in lines:
        if (
            line.startswith(_ID_PREFIX)
            and line[_ID_CLOSE : _ID_CLOSE + 1] == b'"'
            and line.find(_ID_KEY, _ID_CLOSE) < 0
            and line.find(b"\\", _ID_CLOSE) < 0  # no escape could spell the key again
        ):
            if line[_ID_AT] in wanted:
                yield json.loads(line)
            continue
        data = json.loads(line)
        found = data.get("article_id") if isinstance(data, dict) else None
        if isinstance(found, str) and found in only:
            yield data


def read_committed(
    store: Store,
    layout: Layout,
    manifest_key: str,
    *,
    private: bool = False,
    only: set[str] | None = None,
) -> CommittedRun | None:
    """The committed run of a manifest key, or None when it is not committed (yet).

    ``private`` joins the private lines (digests of private objects); ``only`` keeps just
    those article ids, so a chunk holds its own records, not the interval's.
    """
    marker_body = store.get(layout.public_bucket, layout.commit_marker(manifest_key))
    if marker_body is None:
        return None
    manifest = store.get(layout.public_bucket, manifest_key)
    if manifest is None:
        return None
    marker = CommitMarker.from_json(json.loads(marker_body))
    manifest_sha = sha256_hex(manifest)
    if marker.manifest_sha256 != manifest_sha:
        return None  # a manifest being replaced right now: not committed until its marker lands
    publics = list(_lines(manifest, only))
    privates: dict[str, dict[str, Any]] = {}
    problem = None
    if private and marker.private_manifest_key:
        body = store.get(layout.private_bucket, marker.private_manifest_key)
        if body is None:
            problem = f"private manifest {marker.private_manifest_key} is missing"
        else:
            head, _, rest = body.partition(b"\n")
            try:
                header = PrivateHeader.from_json(json.loads(head))
            except (ValueError, KeyError) as exc:
                problem = f"private manifest {marker.private_manifest_key} is unreadable: {exc}"
            else:
                if header.public_manifest_sha256 != manifest_sha:
                    problem = (
                        f"private manifest {marker.private_manifest_key} belongs to another "
                        "version of the manifest"
                    )
                else:
                    privates = {str(p["article_id"]): p for p in _lines(rest, only)}
    records = [ManifestRecord.from_lines(p, privates.get(str(p["article_id"]))) for p in publics]
    ok = private and problem is None and bool(marker.private_manifest_key)
    return CommittedRun(manifest_key, manifest_sha, marker, records, ok, problem)


def committed_manifest_keys(store: Store, layout: Layout, *, partial: bool = False) -> list[str]:
    """Manifest keys that have a commit marker, oldest interval first (by key).

    Interval manifests only, unless ``partial`` (runs over some ids) is asked for too.
    """
    keys = []
    for listed in store.list(layout.public_bucket, layout.runs_prefix()):
        manifest = layout.manifest_of(listed.key)
        if manifest is None:
            continue
        if not partial and "/partial/" in manifest:
            continue
        keys.append(manifest)
    return sorted(keys)


def manifest_keys(store: Store, layout: Layout) -> list[str]:
    """Every manifest key of the pipeline, committed or not (interval and partial ones)."""
    return sorted(
        listed.key
        for listed in store.list(layout.public_bucket, layout.runs_prefix())
        if listed.key.endswith(".jsonl")
    )


def committed_runs(
    store: Store, layout: Layout, *, private: bool = False, partial: bool = False
) -> Iterator[CommittedRun]:
    """Every committed run of the pipeline, oldest interval first; within an interval, in
    the order they were committed (so a later run's record of an article wins)."""
    by_interval: dict[str, list[CommittedRun]] = {}
    for key in committed_manifest_keys(store, layout, partial=partial):
        run = read_committed(store, layout, key, private=private)
        if run is not None:
            by_interval.setdefault(interval_prefix(key), []).append(run)
    for prefix in sorted(by_interval):
        yield from sorted(
            by_interval[prefix], key=lambda r: (r.marker.committed_at, r.manifest_key)
        )


def interval_prefix(manifest_key: str) -> str:
    """``runs/<pipeline>/<interval>/`` of an interval's manifest or of a partial one."""
    head, _, _ = manifest_key.partition("/partial/")
    return head.rsplit("/", 1)[0] + "/" if head == manifest_key else head + "/"


def interval_runs(
    store: Store,
    layout: Layout,
    slug: str,
    *,
    private: bool = False,
    only: set[str] | None = None,
    known: Sequence[CommittedRun] = (),
) -> list[CommittedRun]:
    """The committed runs of one interval: its manifest and the partial runs (over some
    article ids) committed after it, oldest first.

    ``known`` are runs the caller has just read (with at least the lines and private
    digests asked for): they are used as they are instead of being read again."""
    partial_keys = sorted(
        manifest
        for listed in store.list(layout.public_bucket, layout.run_prefix(slug) + "partial/")
        if (manifest := layout.manifest_of(listed.key)) is not None
    )
    keys = [layout.manifest(slug), *partial_keys]
    reuse = {run.manifest_key: run for run in known}

    def read(key: str) -> CommittedRun | None:
        return reuse.get(key) or read_committed(store, layout, key, private=private, only=only)

    runs = [run for key in keys if (run := read(key)) is not None]
    full = [r for r in runs if r.manifest_key == layout.manifest(slug)]
    since = full[0].marker.committed_at if full else ""
    partials = sorted(
        (
            r
            for r in runs
            if r.manifest_key != layout.manifest(slug) and r.marker.committed_at >= since
        ),
        key=lambda r: (r.marker.committed_at, r.manifest_key),
    )
    return full + partials


def read_public(store: Store, layout: Layout, record: ManifestRecord, ext: str = "txt") -> bytes:
    """The free half of a committed record, checked against the committed sha256."""
    obj = record.object(Role.FREE, ext)
    if obj is None:
        raise KeyError(f"{record.source}/{record.source_id} has no free .{ext} output")
    body = store.get(layout.public_bucket, obj.key)
    if body is None or sha256_hex(body) != obj.sha256:
        raise StaleObject(
            f"{obj.key} changed since its manifest was committed; re-read the manifest"
        )
    return body


def presign_paid(
    store: Store,
    layout: Layout,
    source: str,
    source_id: str,
    *,
    ext: str = "txt",
    expires: int = 300,
) -> str:
    """A short-lived GET URL for a paid half: what an entitlement service hands a subscriber.

    The key comes from the layout (injective: one article, one key) and must exist, so a
    subscriber is never handed a URL for another article or for nothing.
    """
    if not 1 <= expires <= MAX_PRESIGN_SECONDS:
        raise ValueError(f"expires must be between 1 and {MAX_PRESIGN_SECONDS} seconds")
    key = layout.paid(source, source_id, ext)
    if store.head(layout.private_bucket, key) is None:
        raise KeyError(f"no paid .{ext} half for {source}/{source_id} (s3://…/{key})")
    return store.presign_get(layout.private_bucket, key, expires)
