"""What the Paywall page shows, read from the object store: Airflow-free and template-free.

Two tiers, kept apart by type: :func:`public_article` reads only what the public side and the
public manifests hold (any reader of the DAG may see it); :func:`private_article` reads paid
halves, raw quarantined input and overrides, and is called only for users with the edit
permission (``paywall_ui.app`` checks it). Nothing here decides who may see what.

Reads are proven like a consumer's (:mod:`paywall.reader`): manifests count only when their
commit marker names their sha256, and every object is checked against the digest its record
holds; a mismatch is shown as a problem, never as the article's content.
"""

from __future__ import annotations

import bisect
import itertools
import json
import re
import threading
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from paywall.decoding import DecodeError, decode
from paywall.editor import EditorAction, EditorLog, read_override
from paywall.errors import PaywallError
from paywall.layout import Layout
from paywall.metadata import sha256_hex
from paywall.model import CommitMarker, Interval, ManifestRecord, ObjectRef, Outcome, Override, Role
from paywall.reader import CommittedRun, read_committed
from paywall.segmentation import Markers, compile_scanner, find_markers
from paywall.skeleton import table
from paywall.store import Listed, Store

__all__ = [
    "MAX_SHOWN_CHARS",
    "ArticleState",
    "Highlight",
    "Index",
    "Piece",
    "PrivateArticle",
    "PublicArticle",
    "RunRow",
    "Snapshot",
    "cut_pieces",
    "full_record",
    "locate_problems",
    "private_article",
    "public_article",
]

MAX_SHOWN_CHARS = 200_000  # of a raw input: a window around the first problem beyond this
_SLUG = re.compile(r"^(\d{8}T\d{6}Z)_(\d{8}T\d{6}Z)$")
_OFFSET = re.compile(r"\boffset (\d+)\b")


def interval_of(slug: str) -> Interval | None:
    found = _SLUG.match(slug)
    if found is None:
        return None
    fmt = "%Y%m%dT%H%M%S%z"
    try:
        start = datetime.strptime(found.group(1).replace("Z", "+0000"), fmt)
        end = datetime.strptime(found.group(2).replace("Z", "+0000"), fmt)
        return Interval(start, end)
    except ValueError:
        return None


# ------------------------------------------------------------------------------ the index


@dataclass(frozen=True, slots=True)
class RunRow:
    """One manifest of the pipeline: an interval's, or a partial run's (reprocessed ids)."""

    slug: str
    manifest_key: str
    partial: bool
    committed: bool
    problem: str | None = None  # why it does not count (no marker, replaced meanwhile...)
    marker: CommitMarker | None = None

    @property
    def interval(self) -> Interval | None:
        return interval_of(self.slug)


@dataclass(frozen=True, slots=True)
class ArticleState:
    """An article as the committed manifests tell it: its latest record and its history."""

    record: ManifestRecord  # public line only
    manifest_key: str
    committed_at: str
    history: tuple[tuple[str, str, ManifestRecord], ...]  # (committed_at, manifest, record)
    quarantined_since: str | None = None  # first commit of the current quarantine

    @property
    def slug(self) -> str:
        return self.manifest_key.split("/")[2]


@dataclass(frozen=True, slots=True)
class Snapshot:
    runs: tuple[RunRow, ...]  # every manifest, newest interval first
    articles: Mapping[str, ArticleState]

    def quarantine(
        self, *, reason: str | None = None, source: str | None = None
    ) -> list[ArticleState]:
        """Quarantined articles of the committed runs, oldest quarantine first."""
        rows = [
            a
            for a in self.articles.values()
            if a.record.outcome is Outcome.QUARANTINED
            and (reason is None or a.record.status == reason)
            and (source is None or a.record.source == source)
        ]
        return sorted(rows, key=lambda a: (a.quarantined_since or "", a.record.article_id))

    def quarantine_facets(self) -> tuple[list[str], list[str]]:
        """The reasons (statuses) and sources present in the quarantine, for the filters."""
        rows = self.quarantine()
        return sorted({a.record.status for a in rows}), sorted({a.record.source for a in rows})

    def runs_of(self, slug: str) -> list[RunRow]:
        return [r for r in self.runs if r.slug == slug]


class Index:
    """Committed runs, read incrementally: one LIST of ``runs/<pipeline>/`` per refresh and a
    GET only for manifests (and markers) whose ETag changed since the last refresh."""

    def __init__(self, store: Store, layout: Layout) -> None:
        self.store, self.layout = store, layout
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[tuple[str, str], CommittedRun | None]] = {}
        self.editor_log = EditorLog(store, layout)

    def snapshot(self) -> Snapshot:
        layout = self.layout
        manifests: dict[str, Listed] = {}
        markers: dict[str, Listed] = {}
        for listed in self.store.list(layout.public_bucket, layout.runs_prefix()):
            if layout.is_commit_marker(listed.key):
                target = layout.manifest_of(listed.key)
                if target is not None:
                    markers[target] = listed
            elif listed.key.endswith(".jsonl"):
                manifests[listed.key] = listed
        rows: list[RunRow] = []
        committed: list[CommittedRun] = []
        with self._lock:
            for key, listed in manifests.items():
                marker = markers.get(key)
                run = self._read(key, listed, marker)
                slug = key.removeprefix(layout.runs_prefix()).split("/", 1)[0]
                partial = "/partial/" in key
                if run is not None:
                    committed.append(run)
                    rows.append(RunRow(slug, key, partial, True, None, run.marker))
                else:
                    problem = (
                        "no commit marker: the run did not commit (failed, or still running)"
                        if marker is None
                        else "the manifest does not match its commit marker (being replaced)"
                    )
                    rows.append(RunRow(slug, key, partial, False, problem))
            for stale in set(self._cache) - set(manifests):
                del self._cache[stale]
        rows.sort(key=lambda r: (r.slug, not r.partial, r.manifest_key), reverse=True)
        return Snapshot(tuple(rows), _articles(committed, layout))

    def _read(self, key: str, listed: Listed, marker: Listed | None) -> CommittedRun | None:
        if marker is None:
            self._cache.pop(key, None)
            return None
        version = (listed.etag, marker.etag)
        cached = self._cache.get(key)
        if cached is not None and cached[0] == version:
            return cached[1]
        run = read_committed(self.store, self.layout, key)
        self._cache[key] = (version, run)
        return run


def _articles(runs: Iterable[CommittedRun], layout: Layout) -> dict[str, ArticleState]:
    """Each article's latest record: per interval, its manifest overlaid by the partial runs
    committed after it (as the next run reads it, ``reader.interval_runs``); across
    intervals, the latest commit wins."""
    by_interval: dict[str, list[CommittedRun]] = {}
    for run in runs:
        slug = run.manifest_key.removeprefix(layout.runs_prefix()).split("/", 1)[0]
        by_interval.setdefault(slug, []).append(run)
    history: dict[str, list[tuple[str, str, ManifestRecord]]] = {}
    latest: dict[str, tuple[str, str, ManifestRecord]] = {}
    for slug, group in by_interval.items():
        full = [r for r in group if r.manifest_key == layout.manifest(slug)]
        full_at = full[0].marker.committed_at if full else ""
        partials = sorted(
            (r for r in group if r.manifest_key != layout.manifest(slug)),
            key=lambda r: (r.marker.committed_at, r.manifest_key),
        )
        current: dict[str, tuple[str, str, ManifestRecord]] = {}
        for run in full + [p for p in partials if p.marker.committed_at >= full_at]:
            for record in run.records:
                current[record.article_id] = (run.marker.committed_at, run.manifest_key, record)
        for run in group:
            for record in run.records:
                history.setdefault(record.article_id, []).append(
                    (run.marker.committed_at, run.manifest_key, record)
                )
        for aid, entry in current.items():
            if aid not in latest or entry[0] >= latest[aid][0]:
                latest[aid] = entry
    states: dict[str, ArticleState] = {}
    for aid, (at, key, record) in latest.items():
        past = tuple(sorted(history.get(aid, ()), key=lambda h: (h[0], h[1])))
        since: str | None = None
        if record.outcome is Outcome.QUARANTINED:
            for when, _key, old in past:  # the start of the current quarantine streak
                quarantined = old.outcome is Outcome.QUARANTINED
                since = (since or when) if quarantined else None
            since = since or at
        states[aid] = ArticleState(record, key, at, past, since)
    return states


# ----------------------------------------------------------------------------- an article


@dataclass(frozen=True, slots=True)
class Piece:
    """A run of text in a half, or the place where a paid region was cut out of it."""

    kind: str  # "text" | "cut" | "paid"
    text: str = ""
    region: int = 0  # 1-based paid region number (cut and paid pieces)
    length: int = 0  # characters of that region


def cut_pieces(
    free: str, paid: str | None, segments: Sequence[Mapping[str, Any]], placeholder: str | None
) -> tuple[list[Piece], list[Piece]] | None:
    """The free half with each cut marked, and (for editors) the paid half by region.

    From the public metadata's segment offsets; None when they do not add up to the halves
    (then the page shows the halves without marks rather than marks in the wrong place)."""
    skip = len(placeholder or "")
    free_pieces: list[Piece] = []
    paid_pieces: list[Piece] = []
    free_at = paid_at = 0
    region = 0
    for seg in segments:
        try:
            kind, length = str(seg["kind"]), int(seg["end"]) - int(seg["start"])
        except (KeyError, TypeError, ValueError):
            return None
        if length < 0:
            return None
        if kind == "free":
            if free_at + length > len(free):
                return None
            free_pieces.append(Piece("text", free[free_at : free_at + length]))
            free_at += length
        elif kind == "paid":
            region += 1
            if skip:
                if free[free_at : free_at + skip] != placeholder:
                    return None
                free_at += skip
            free_pieces.append(Piece("cut", region=region, length=length))
            if paid is not None:
                if paid_at + length > len(paid):
                    return None
                paid_pieces.append(Piece("paid", paid[paid_at : paid_at + length], region, length))
                paid_at += length
        else:
            return None
    if free_at != len(free) or (paid is not None and paid_at != len(paid)):
        return None
    return free_pieces, paid_pieces


@dataclass(frozen=True, slots=True)
class PublicArticle:
    """What a reader of the DAG may see: the public line, the public objects, the history."""

    state: ArticleState
    meta: dict[str, Any] | None
    free_txt: str | None
    free_html: str | None
    problems: tuple[str, ...] = ()

    @property
    def record(self) -> ManifestRecord:
        return self.state.record

    @property
    def segments(self) -> list[Mapping[str, Any]]:
        segs = (self.meta or {}).get("segments") or []
        return [s for s in segs if isinstance(s, Mapping)]

    @property
    def json_ld(self) -> Any:
        return (self.meta or {}).get("json_ld")


def _checked(store: Store, bucket: str, obj: ObjectRef, problems: list[str]) -> bytes | None:
    body = store.get(bucket, obj.key)
    if body is None:
        problems.append(f"{obj.role.value} object {obj.key} is missing")
        return None
    if sha256_hex(body) != obj.sha256:
        problems.append(
            f"{obj.role.value} object {obj.key} does not match its committed sha256 "
            "(changed since, or being rewritten): not shown"
        )
        return None
    return body


def _text(body: bytes | None) -> str | None:
    return None if body is None else body.decode("utf-8", errors="replace")


def public_article(store: Store, layout: Layout, state: ArticleState) -> PublicArticle:
    record = state.record
    problems: list[str] = []
    meta = free_txt = free_html = None
    for obj in record.public_objects:
        body = _checked(store, layout.public_bucket, obj, problems)
        if obj.role is Role.META and body is not None:
            try:
                loaded = json.loads(body)
                meta = loaded if isinstance(loaded, dict) else None
            except ValueError:
                problems.append(f"metadata {obj.key} is not JSON")
        elif obj.role is Role.FREE and obj.ext == "txt":
            free_txt = _text(body)
        elif obj.role is Role.FREE and obj.ext == "html":
            free_html = _text(body)
    return PublicArticle(state, meta, free_txt, free_html, tuple(problems))


@dataclass(frozen=True, slots=True)
class Highlight:
    """A span of a raw input worth an editor's eye: a marker, or a damaged one."""

    start: int
    end: int
    kind: str  # "begin" | "end" | "damaged" | "problem"


@dataclass(frozen=True, slots=True)
class PrivateArticle:
    """What only an editor sees: paid halves, the raw quarantined input, the override, the
    editor log."""

    paid_txt: str | None
    paid_html: str | None
    raw_text: str | None  # the quarantined input, decoded (a window of it when huge)
    raw_offset: int  # where raw_text starts in the decoded input
    raw_note: str | None  # how it was decoded, or why it could not be
    highlights: tuple[Highlight, ...]
    quarantine_reason: dict[str, Any] | None
    override: Override | None
    override_problem: str | None
    actions: tuple[EditorAction, ...]
    problems: tuple[str, ...] = ()


def _merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def locate_problems(text: str, markers: Markers, reason: str | None) -> list[Highlight]:
    """Every marker, every damaged marker fragment, and the offset the reason names.

    Markers are scanned leniently (any case, width or inner spacing), so a variant the strict
    splitter refused is highlighted too. The reason's offsets are in the text the splitter
    scanned (for HTML, its visible text): that spot is marked as ``problem`` only for text
    inputs, where the two coincide."""
    lenient = Markers(markers.begin, markers.end, lenient=True)
    hits, _damage = find_markers(text, lenient)
    found = [Highlight(h.start, h.end, h.kind) for h in hits]
    # Look-alikes and damaged markers live in runs of code points whose skeleton can spell
    # marker text (segmentation.Scanner): each stretch of a run whose skeleton is a marker
    # fragment is highlighted (overlapping fragments merged), unless a valid marker covers it.
    scanner = compile_scanner(lenient)
    mapping = table()
    punctuation = {c for c in markers.begin + markers.end if not c.isalnum() and not c.isspace()}
    taken = [(h.start, h.end) for h in hits]
    for run in scanner.runs.finditer(text):
        pieces = [char.translate(mapping) for char in run.group()]
        shape = "".join(pieces)
        if not any(fragment in shape for fragment in scanner.fragments):
            continue
        ends = list(itertools.accumulate(len(piece) for piece in pieces))
        spans: list[tuple[int, int]] = []
        for fragment in scanner.fragments:
            at = shape.find(fragment)
            while at >= 0:
                first = bisect.bisect_right(ends, at)
                last = bisect.bisect_left(ends, at + len(fragment))
                spans.append((run.start() + first, run.start() + last + 1))
                at = shape.find(fragment, at + 1)
        for start, end in _merged(spans):
            # Grow over the marker's punctuation ("#" or a look-alike of it) on both sides.
            while start > run.start() and text[start - 1].translate(mapping) in punctuation:
                start -= 1
            while end < run.end() and text[end].translate(mapping) in punctuation:
                end += 1
            if not any(s < end and start < e for s, e in taken):
                found.append(Highlight(start, end, "damaged"))
                taken.append((start, end))
    if reason:
        for match in _OFFSET.finditer(reason):
            at = int(match.group(1))
            if 0 <= at < len(text) and not any(h.start <= at < h.end for h in found):
                found.append(Highlight(at, at + 1, "problem"))
    return sorted(found, key=lambda h: (h.start, h.end))


def _letters(text: str) -> str:
    return "".join(ch for ch in unicodedata.normalize("NFKC", text).lower() if ch.isalnum())


def _window(text: str, highlights: list[Highlight]) -> tuple[str, int]:
    if len(text) <= MAX_SHOWN_CHARS:
        return text, 0
    first = highlights[0].start if highlights else 0
    start = max(0, min(first - MAX_SHOWN_CHARS // 2, len(text) - MAX_SHOWN_CHARS))
    return text[start : start + MAX_SHOWN_CHARS], start


def full_record(
    store: Store, layout: Layout, state: ArticleState, run: CommittedRun | None = None
) -> ManifestRecord | None:
    """The article's committed record with its private line (digests of its private
    objects), or None when the manifest changed or its private line cannot be trusted."""
    aid = state.record.article_id
    if run is None:
        run = read_committed(store, layout, state.manifest_key, private=True, only={aid})
    if run is None or not run.private:
        return None
    return next((r for r in run.records if r.article_id == aid), None)


def private_article(
    store: Store,
    layout: Layout,
    state: ArticleState,
    markers: Markers,
    editor_log: EditorLog | None = None,
) -> PrivateArticle:
    """The editor's tier. Reads the record's private line (digests of private objects) from
    its committed private manifest and checks every private object against it."""
    record = state.record
    problems: list[str] = []
    run = read_committed(store, layout, state.manifest_key, private=True, only={record.article_id})
    found = full_record(store, layout, state, run)
    if run is None:
        problems.append("the manifest changed since this page was built: reload")
    elif run.private_problem:
        problems.append(
            f"private digests unavailable, nothing private shown: {run.private_problem}"
        )
    elif found is None:
        problems.append("the article is no longer in its manifest: reload")
    full = found or record  # without its private line: no private object is read
    paid_txt = paid_html = raw_text = None
    raw_note = None
    reason_doc: dict[str, Any] | None = None
    highlights: list[Highlight] = []
    raw_offset = 0
    for obj in full.private_objects:
        body = _checked(store, layout.private_bucket, obj, problems)
        if body is None:
            continue
        if obj.role is Role.PAID and obj.ext == "txt":
            paid_txt = _text(body)
        elif obj.role is Role.PAID and obj.ext == "html":
            paid_html = _text(body)
        elif obj.role is Role.REASON:
            try:
                loaded = json.loads(body)
                reason_doc = loaded if isinstance(loaded, dict) else None
            except ValueError:
                problems.append(f"quarantine reason {obj.key} is not JSON")
        elif obj.role is Role.INPUT:
            try:
                decoded = decode(body)
            except (DecodeError, PaywallError) as exc:
                raw_note = f"not shown as text ({exc}); {len(body)} bytes"
                continue
            raw_note = f"{len(body)} bytes, decoded as {decoded.encoding} ({decoded.evidence})"
            located = locate_problems(decoded.text, markers, record.reason)
            raw_text, raw_offset = _window(decoded.text, located)
            end = raw_offset + len(raw_text)
            highlights = [
                Highlight(h.start - raw_offset, h.end - raw_offset, h.kind)
                for h in located
                if raw_offset <= h.start and h.end <= end
            ]
    override = None
    override_problem = None
    try:
        override = read_override(store, layout, record.source, record.source_id)
    except PaywallError as exc:
        override_problem = str(exc)
    actions = tuple(editor_log.actions(record.article_id)) if editor_log is not None else ()
    return PrivateArticle(
        paid_txt,
        paid_html,
        raw_text,
        raw_offset,
        raw_note,
        tuple(highlights),
        reason_doc,
        override,
        override_problem,
        actions,
        tuple(problems),
    )


@dataclass(frozen=True, slots=True)
class Segment:
    """A piece of a raw input for the template: plain, or highlighted."""

    text: str
    kind: str | None = None


def highlighted(text: str, highlights: Sequence[Highlight]) -> list[Segment]:
    """The raw text cut at its highlights (overlaps merged into the first)."""
    out: list[Segment] = []
    at = 0
    for h in highlights:
        if h.start < at:
            continue
        if h.start > at:
            out.append(Segment(text[at : h.start]))
        out.append(Segment(text[h.start : h.end], h.kind))
        at = h.end
    if at < len(text):
        out.append(Segment(text[at:]))
    return out


@dataclass(frozen=True, slots=True)
class History:
    committed_at: str
    manifest_key: str
    partial: bool
    record: ManifestRecord
    extra: Mapping[str, Any] = field(default_factory=dict)


def history_of(state: ArticleState) -> list[History]:
    """The article's records in every committed manifest, newest first."""
    return [
        History(at, key, "/partial/" in key, record) for at, key, record in reversed(state.history)
    ]
