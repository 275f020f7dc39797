"""Audit committed outputs: present, untampered, marker-free, and private where they must be.

Depends on the store and the layout only. Every finding is typed; the audit fails closed: an
anonymous probe that does not get a clear refusal (AccessDenied / HTTP 403) is an
*inconclusive* finding that fails verify with its reason, never a pass.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from paywall.articles import marker_problem
from paywall.errors import ErrorCode, VerifyError
from paywall.layout import Layout
from paywall.metadata import sha256_hex
from paywall.model import ObjectRef, Role
from paywall.reader import (
    CommittedRun,
    committed_manifest_keys,
    interval_prefix,
    interval_runs,
    manifest_keys,
    read_committed,
)
from paywall.segmentation import Markers
from paywall.storage import ProbeResult
from paywall.store import Store

__all__ = [
    "AnonymousProbe",
    "Finding",
    "FindingKind",
    "Report",
    "verify_all",
    "verify_run",
]

ANONYMOUS_PROBES = 3  # private objects probed anonymously per manifest
SPOT_CHECKS = 16  # free objects read back and scanned per manifest, whatever their ETag


class FindingKind(StrEnum):
    MANIFEST_MISSING = "manifest_missing"
    NOT_COMMITTED = "not_committed"
    PRIVATE_MANIFEST = "private_manifest"  # missing or not belonging to the manifest
    MISSING = "missing"
    TAMPERED = "tampered"
    MARKER_IN_FREE = "marker_in_free"
    PUBLICLY_READABLE = "publicly_readable"
    PROBE_INCONCLUSIVE = "probe_inconclusive"

    @property
    def deterministic(self) -> bool:
        """Whether running the audit again can change the finding (only a probe can)."""
        return self is not FindingKind.PROBE_INCONCLUSIVE


@dataclass(frozen=True, slots=True)
class Finding:
    kind: FindingKind
    location: str  # s3://bucket/key
    detail: str

    def text(self) -> str:
        return f"[{self.kind.value}] {self.location}: {self.detail}"


@dataclass
class Report:
    manifest_key: str
    objects_checked: int = 0
    anonymous_probes: int = 0
    superseded: int = 0  # records a later committed run of the interval replaced
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    @property
    def problems(self) -> list[str]:
        return [f.text() for f in self.findings]

    def counts(self) -> dict[str, Any]:
        kinds: dict[str, int] = {}
        for finding in self.findings:
            kinds[finding.kind.value] = kinds.get(finding.kind.value, 0) + 1
        return {
            "manifest_key": self.manifest_key,
            "objects_checked": self.objects_checked,
            "anonymous_probes": self.anonymous_probes,
            "superseded": self.superseded,
            "problems": len(self.findings),
            "findings": kinds,
        }

    def text(self) -> str:
        head = (
            f"{self.manifest_key}: {self.objects_checked} object(s) checked, "
            f"{self.anonymous_probes} anonymous probe(s), {len(self.findings)} problem(s)"
        )
        return "\n".join([head, *(f"  - {f.text()}" for f in self.findings)])

    def raise_for_problems(self) -> None:
        if not self.findings:
            return
        deterministic = any(f.kind.deterministic for f in self.findings)
        raise VerifyError(
            self.text(),
            code=ErrorCode.VERIFY if deterministic else ErrorCode.VERIFY_INCONCLUSIVE,
            findings=[f.kind.value for f in self.findings],
        )


class AnonymousProbe(Protocol):
    def __call__(self, bucket: str, key: str) -> tuple[ProbeResult, str]: ...


@dataclass(frozen=True, slots=True)
class _Expected:
    bucket: str
    obj: ObjectRef


def verify_run(
    store: Store,
    layout: Layout,
    manifest_key: str,
    *,
    markers: Markers,
    probe: AnonymousProbe | None,
    spot_checks: int = SPOT_CHECKS,
    max_concurrency: int = 16,
) -> Report:
    """Check every object a committed manifest names; return a report of every finding.

    Presence and integrity come from listings: each object's ETag must be the MD5 the
    manifest recorded, which proves the stored bytes are the ones the pipeline wrote -- and
    free outputs were scanned just before they were written. Objects the listing cannot
    prove (no MD5 recorded, an ETag that is not a plain MD5) are read back and hashed, free
    ones scanned again; so are ``spot_checks`` free objects per run, end to end.
    ``probe`` GETs private objects without credentials (None: no anonymous access exists).
    """
    report = Report(manifest_key)
    public, private = layout.public_bucket, layout.private_bucket
    if store.head(public, manifest_key) is None:
        report.findings.append(
            Finding(FindingKind.MANIFEST_MISSING, f"s3://{public}/{manifest_key}", "missing")
        )
        return report
    run = read_committed(store, layout, manifest_key, private=True)
    if run is None:
        report.findings.append(
            Finding(
                FindingKind.NOT_COMMITTED,
                f"s3://{public}/{layout.commit_marker(manifest_key)}",
                "no commit marker names this manifest's sha256",
            )
        )
        return report
    if run.private_problem:
        report.findings.append(
            Finding(
                FindingKind.PRIVATE_MANIFEST,
                f"s3://{private}/{run.marker.private_manifest_key}",
                run.private_problem,
            )
        )

    superseded = _superseded(store, layout, run)
    report.superseded = sum(1 for r in run.records if r.article_id in superseded)
    expected = [
        _Expected(public if obj.public else private, obj)
        for record in run.records
        if record.article_id not in superseded
        for obj in record.objects
    ]
    listed = _list_etags(store, expected, max_concurrency)
    free_keys = sorted(e.obj.key for e in expected if e.obj.role is Role.FREE)
    # Spread over the run, the same ones every time (reruns audit the same objects).
    step = max(1, len(free_keys) // spot_checks) if spot_checks else 1
    spot = set(free_keys[::step][:spot_checks]) if spot_checks else set()

    def by_listing(item: _Expected) -> list[Finding] | None:
        """What the listing proves of an object; None when it must be read back."""
        etag = listed.get((item.bucket, item.obj.key))
        if etag is None:
            where = f"s3://{item.bucket}/{item.obj.key}"
            return [Finding(FindingKind.MISSING, where, "listed in the manifest, not in storage")]
        if item.obj.md5 and etag == item.obj.md5 and item.obj.key not in spot:
            return []  # the bytes the pipeline wrote (and scanned): proven without a read
        return None

    def by_reading(item: _Expected) -> list[Finding]:
        where = f"s3://{item.bucket}/{item.obj.key}"
        body = store.get(item.bucket, item.obj.key)
        if body is None:
            return [Finding(FindingKind.MISSING, where, "listed, then gone")]
        findings = []
        # A marker in a public object is the worst finding: report it even when tampered.
        if item.obj.role is Role.FREE:
            text = body.decode("utf-8", errors="replace")
            if problem := marker_problem(item.obj.ext, text, markers):
                findings.append(Finding(FindingKind.MARKER_IN_FREE, where, problem))
        if sha256_hex(body) != item.obj.sha256:
            findings.append(
                Finding(
                    FindingKind.TAMPERED, where, "does not match its recorded sha256 (or stale)"
                )
            )
        return findings

    # Most objects are proven by the listing alone: only the rest go to the thread pool
    # (a future per object would cost more than the check). Findings keep manifest order.
    proven = [by_listing(item) for item in expected]
    to_read = [item for item, found in zip(expected, proven, strict=True) if found is None]
    with ThreadPoolExecutor(max_workers=max(1, min(max_concurrency, len(to_read)))) as pool:
        read = pool.map(by_reading, to_read)
        for found in proven:
            report.objects_checked += 1
            report.findings.extend(found if found is not None else next(read))

    if probe is not None:
        targets = _probe_targets(e for e in expected if not e.obj.public)
        for bucket, key in targets:
            report.anonymous_probes += 1
            result, detail = probe(bucket, key)
            where = f"s3://{bucket}/{key}"
            if result is ProbeResult.READABLE:
                report.findings.append(
                    Finding(
                        FindingKind.PUBLICLY_READABLE, where, f"readable anonymously ({detail})"
                    )
                )
            elif result is ProbeResult.INCONCLUSIVE:
                report.findings.append(
                    Finding(
                        FindingKind.PROBE_INCONCLUSIVE,
                        where,
                        f"an anonymous GET was not refused with AccessDenied/403 ({detail}); "
                        "privacy is not proven",
                    )
                )
    return report


def _superseded(store: Store, layout: Layout, run: CommittedRun) -> set[str]:
    """Article ids whose record in this committed run a later committed run replaced: a
    later run of the same interval (a reprocess, a retraction), or any committed run of a
    later interval (an edit moved the article there, and its objects are now that run's to
    prove). A partial run committed before the interval's manifest was replaced by it as a
    whole. Only this run's articles are looked for; the run itself is not read again."""
    manifest_key = run.manifest_key
    ids = {r.article_id for r in run.records}
    prefix = interval_prefix(manifest_key)
    slug = prefix.rstrip("/").rsplit("/", 1)[-1]
    runs = interval_runs(store, layout, slug, only=ids, known=(run,))
    keys = [r.manifest_key for r in runs]
    if manifest_key not in keys:
        found = set(ids) if runs else set()
    else:
        later = runs[keys.index(manifest_key) + 1 :]
        found = {r.article_id for later_run in later for r in later_run.records}
    for key in committed_manifest_keys(store, layout, partial=True):
        if interval_prefix(key) <= prefix:
            continue
        other = read_committed(store, layout, key, only=ids)
        if other is not None:
            found.update(r.article_id for r in other.records)
    return found & ids


def _probe_targets(private: Iterable[_Expected]) -> list[tuple[str, str]]:
    """A few paid objects plus one quarantined input per run."""
    items = list(private)
    paid = [(e.bucket, e.obj.key) for e in items if e.obj.role is Role.PAID][:ANONYMOUS_PROBES]
    quarantined = [(e.bucket, e.obj.key) for e in items if e.obj.role is Role.INPUT][:1]
    return paid + quarantined


_LIST_RANGE = 1000  # keys per listing (one page): ranges are listed in parallel


def _list_etags(
    store: Store, expected: list[_Expected], max_concurrency: int = 16
) -> dict[tuple[str, str], str]:
    """ETags of the expected objects, by LIST: per folder, over the key range the manifest
    names only (a folder may hold other intervals' objects too), cut into ranges of about a
    page each that are listed in parallel. Listing is most of verify's time on a server
    that walks one directory per article (SeaweedFS's filer: about 0.3 ms an object)."""
    by_folder: dict[tuple[str, str], list[str]] = {}
    for item in expected:
        # The folder holding the articles' folders (an article's objects sit in one of its
        # own): one listing covers every article of that folder the manifest names.
        parts = item.obj.key.rsplit("/", 2)
        folder = (parts[0] + "/") if len(parts) == 3 else ""
        by_folder.setdefault((item.bucket, folder), []).append(item.obj.key)
    ranges: list[tuple[str, str, str, str]] = []
    for (bucket, folder), keys in by_folder.items():
        keys.sort()
        for at in range(0, len(keys), _LIST_RANGE):
            ranges.append((bucket, folder, keys[at], keys[min(at + _LIST_RANGE, len(keys)) - 1]))

    def listed(bucket: str, folder: str, first: str, last: str) -> list[tuple[str, str]]:
        found = []
        # StartAfter is exclusive: a proper prefix of the first key sorts just before it.
        for obj in store.list(bucket, folder, start_after=first[:-1]):
            if obj.key > last:
                break
            found.append((obj.key, obj.etag))
        return found

    etags: dict[tuple[str, str], str] = {}
    workers = max(1, min(max_concurrency, len(ranges)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="paywall-list") as pool:
        for (bucket, *_), found in zip(ranges, pool.map(lambda r: listed(*r), ranges), strict=True):
            etags.update(((bucket, key), etag) for key, etag in found)
    return etags


def verify_all(
    store: Store,
    layout: Layout,
    *,
    markers: Markers,
    probe: AnonymousProbe | None,
) -> list[Report]:
    """Verify every committed manifest of the pipeline (the ``paywall verify`` command),
    interval manifests and partial ones."""
    return [
        verify_run(store, layout, key, markers=markers, probe=probe)
        for key in manifest_keys(store, layout)
    ]
