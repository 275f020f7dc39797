"""The pipeline's three steps -- plan, process a chunk, publish -- as plain library calls.

The DAG, the CLI and the benchmarks call exactly these functions. What a step hands to the
next is one typed record from :mod:`paywall.model` (references and counts, never article
text), and all state lives in object storage, so any step can run on any worker.

**Each article's outcome is decided once**, in :func:`prepare_article`: published,
quarantined or failed. Counts, the asset event, the catalog, verify and the reader all read
that field; none derives it again.
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import cache, lru_cache
from typing import Any

from paywall import __version__
from paywall.articles import Outputs, RawArticle, SplitOptions, article_id, split_article
from paywall.config import Settings
from paywall.errors import FetchError, NotModified, PipelineError, PreconditionFailed
from paywall.layout import EXTENSIONS, LAYOUT_VERSION, Layout
from paywall.metadata import SCHEMA_VERSION, sha256_hex
from paywall.model import (
    Action,
    ArticleRef,
    ChunkJob,
    ChunkResult,
    CommitMarker,
    Counts,
    Interval,
    ManifestRecord,
    ObjectRef,
    Outcome,
    Override,
    OverrideAction,
    PlanParams,
    PlanRef,
    PrivateHeader,
    Role,
    RunSummary,
    dumps,
)
from paywall.reader import interval_runs
from paywall.s3 import S3Endpoint, make_client
from paywall.segmentation import NoMarkersPolicy, Status
from paywall.sources import Source, build_source
from paywall.storage import ProbeResult, S3Store
from paywall.store import Blob, Store
from paywall.verify import AnonymousProbe

__all__ = [
    "Context",
    "Prepared",
    "apply_prepared",
    "build_context",
    "load_committed",
    "load_overrides",
    "plan_run",
    "prepare_article",
    "process_chunk",
    "publish_run",
    "run_interval",
    "split_fingerprint",
]

log = logging.getLogger("paywall.pipeline")
PROGRESS_EVERY_SECONDS = 10.0
# A plan's header line fits in this (64 offsets at most 1,025 numbers): a chunk reads it first.
PLAN_HEAD_BYTES = 64 * 1024
ARTICLE_ID_META = "article-id"  # x-amz-meta-article-id on every article object


@dataclass
class Context:
    """What a step needs: settings, the store, the layout and the sources.

    ``probe`` GETs an object without credentials (verify's privacy check), when the store's
    server can be asked: the boto3 store's, whichever client carries the data path.
    """

    settings: Settings
    store: Store
    s3_client_for: Callable[[str | None], Any] = field(repr=False)
    probe: AnonymousProbe | None = field(default=None, repr=False)
    layout: Layout = field(init=False)

    def __post_init__(self) -> None:
        storage = self.settings.storage
        self.layout = Layout(
            storage.public_bucket, storage.private_bucket, self.settings.pipeline.name
        )
        if self.probe is None:
            found = getattr(self.store, "anonymous_probe", None)
            self.probe = found if callable(found) else None

    def source(self, name: str) -> Source:
        return build_source(self.settings.source(name), self.s3_client_for)


def build_context(settings: Settings, endpoint_for: Callable[[str], S3Endpoint]) -> Context:
    """A Context whose S3 clients come from ``endpoint_for(connection_id)``.

    The Airflow adapter passes a Connection look-up, the CLI and benchmarks the environment.
    """
    storage = settings.storage
    endpoint = endpoint_for(storage.connection_id)
    # The boto3 store is made when first asked for (bucket set-up, presigning, the anonymous
    # probe, a source on this Connection, a forked child's fallback): on the obstore data
    # path a chunk task needs none of these, and boto3 costs about a second to import.
    boto = cache(lambda: S3Store.connect(endpoint, storage))

    def s3_client_for(connection_id: str | None) -> Any:
        if not connection_id or connection_id == storage.connection_id:
            return boto().client
        return make_client(endpoint_for(connection_id))

    def probe(bucket: str, key: str) -> tuple[ProbeResult, str]:
        return boto().anonymous_probe(bucket, key)

    if storage.client != "fast":
        return Context(settings, boto(), s3_client_for, probe=probe)
    from paywall.fast_store import FastStore

    def presign(bucket: str, key: str, expires: int) -> str:
        return boto().presign_get(bucket, key, expires)

    store = FastStore(endpoint, storage, fallback=boto, presigner=presign)
    return Context(settings, store, s3_client_for, probe=probe)


# --------------------------------------------------------------------------------------- plan


@dataclass(frozen=True, slots=True)
class PlanBody:
    """The stored plan: the interval's articles cut into chunks (private staging object)."""

    interval: Interval
    full: bool
    chunks: tuple[tuple[ArticleRef, ...], ...]

    def to_json(self) -> dict[str, Any]:
        """One document: how 0.1.1 and before stored a plan (still read, see chunk_of)."""
        return {
            "interval": self.interval.to_json(),
            "full": self.full,
            "chunks": [[r.to_json() for r in chunk] for chunk in self.chunks],
        }

    def to_bytes(self) -> bytes:
        """The stored form: a header line, then one line per chunk, so a chunk task reads
        and parses its own line only (each of them parsing the whole plan cost chunks x
        articles). The header's ``offsets`` say where each line starts, counted from the
        first line after the header, and where the last one ends: a chunk reads two byte
        ranges, the header and its line, so its memory does not grow with the plan."""
        lines = [dumps([r.to_json() for r in chunk]) + b"\n" for chunk in self.chunks]
        offsets = [0]
        for line in lines:
            offsets.append(offsets[-1] + len(line))
        head = {
            "interval": self.interval.to_json(),
            "full": self.full,
            "chunks": len(self.chunks),
            "offsets": offsets,
        }
        return dumps(head) + b"\n" + b"".join(lines)

    @staticmethod
    def read_chunk(store: Store, bucket: str, key: str, index: int) -> list[dict[str, Any]] | None:
        """Chunk ``index``'s refs (as stored) from the stored plan, by byte ranges: the
        header (within its first ``PLAN_HEAD_BYTES``), then the chunk's line. A plan without
        offsets (0.1.2 and before) is read whole. None when the plan has no such chunk;
        raises ``PipelineError`` when it is missing, ValueError when it is damaged."""
        head = store.get_range(bucket, key, 0, PLAN_HEAD_BYTES)
        if head is None:
            raise PipelineError(f"plan {key} is missing from the private bucket")
        end = head.find(b"\n")
        header = json.loads(head[:end]) if end >= 0 else None
        offsets = header.get("offsets") if isinstance(header, dict) else None
        if not isinstance(offsets, list):
            raw = head if len(head) < PLAN_HEAD_BYTES else store.get(bucket, key)
            if raw is None:
                raise PipelineError(f"plan {key} is missing from the private bucket")
            return PlanBody.chunk_of(raw, index)
        assert isinstance(header, dict)
        chunks = header["chunks"]
        if not (
            isinstance(chunks, int)
            and len(offsets) == chunks + 1
            and all(isinstance(o, int) for o in offsets)
            and offsets[0] == 0
            and all(a < b for a, b in itertools.pairwise(offsets))
        ):
            raise ValueError("the plan's header has no valid line offsets")
        if not 0 <= index < chunks:
            return None
        start, stop = end + 1 + offsets[index], end + 1 + offsets[index + 1]
        line = head[start:stop] if stop <= len(head) else store.get_range(bucket, key, start, stop)
        if line is None or len(line) != stop - start or not line.endswith(b"\n"):
            raise ValueError(f"chunk line {index} of the plan is not where its header says")
        refs = json.loads(line)
        if not isinstance(refs, list):
            raise ValueError(f"chunk line {index} of the plan is not a list")
        return refs

    @staticmethod
    def chunk_of(raw: bytes, index: int) -> list[dict[str, Any]] | None:
        """Chunk ``index``'s refs (as stored) from a stored plan, or None when it has no
        such chunk. Reads a plan of 0.1.1 and before too (one JSON document)."""
        end = raw.find(b"\n")
        head = json.loads(raw if end < 0 else raw[:end])  # no copy of the (large) rest
        chunks = head["chunks"]
        if isinstance(chunks, list):  # the one-document form
            return list(chunks[index]) if 0 <= index < len(chunks) else None
        if not 0 <= index < int(chunks):
            return None
        if end < 0:
            raise ValueError(f"the plan has fewer than {chunks} chunk lines")
        start = end + 1
        for _ in range(index):
            start = raw.find(b"\n", start) + 1
            if start == 0:
                raise ValueError(f"the plan has fewer than {chunks} chunk lines")
        stop = raw.find(b"\n", start)
        if stop < 0:
            raise ValueError(f"the plan has fewer than {chunks} chunk lines")
        refs = json.loads(raw[start:stop])
        if not isinstance(refs, list):
            raise ValueError(f"chunk line {index} of the plan is not a list")
        return refs


def _plan_body(
    ctx: Context, interval: Interval, params: PlanParams
) -> tuple[PlanBody, dict[str, int]]:
    """The deterministic plan: the same interval and params always give the same body."""
    settings = ctx.settings
    names = list(params.sources or (s.name for s in settings.sources))
    wanted = set(params.article_ids or ())
    refs: list[ArticleRef] = []
    per_source: dict[str, int] = {}
    for name in names:
        listed = ctx.source(name).list(None if wanted else interval)
        if wanted:
            listed = [
                r
                for r in listed
                if r.source_id in wanted or article_id(r.source, r.source_id) in wanted
            ]
        per_source[name] = len(listed)
        refs.extend(listed)
    if params.limit is not None:
        refs = refs[: params.limit]
    full = not wanted and params.limit is None and set(names) == {s.name for s in settings.sources}
    pipeline = settings.pipeline
    size = max(pipeline.chunk_size, math.ceil(len(refs) / pipeline.max_chunks))
    # An empty interval still gets one (empty) chunk, so it commits an empty manifest.
    chunks = tuple(tuple(refs[i : i + size]) for i in range(0, len(refs), size)) or ((),)
    return PlanBody(interval, full, chunks), per_source


def plan_run(
    ctx: Context,
    interval: Interval,
    *,
    sources: Iterable[str] | None = None,
    article_ids: Iterable[str] | None = None,
    limit: int | None = None,
    dry_run: bool = False,
) -> PlanRef:
    """List the interval's articles per source, cut them into chunks, store the plan.

    Returns a small reference to the stored plan (its key and counts), safe for XCom.
    """
    params = PlanParams(
        tuple(sorted(sources)) if sources else None,
        tuple(sorted(article_ids)) if article_ids else None,
        limit,
    )
    body, per_source = _plan_body(ctx, interval, params)
    data = body.to_bytes()
    plan_id = sha256_hex(data)[:16]
    plan_key = ctx.layout.plan(interval.slug, plan_id)
    # The key is content-addressed, so an existing plan already holds these bytes. A dry run
    # writes nothing: its chunks list the sources again instead.
    # A LIST, not a HEAD: a missing bucket must be an error naming it (a HEAD's 404 cannot
    # tell a missing bucket from a missing key, and some servers create buckets on PUT).
    private = ctx.layout.private_bucket
    exists = any(listed.key == plan_key for listed in ctx.store.list(private, plan_key))
    if not dry_run and not exists:
        ctx.store.put(Blob.of(private, plan_key, data, EXTENSIONS["jsonl"]))
    articles = sum(len(c) for c in body.chunks)
    log.info(
        "planned %d article(s) in %d chunk(s) for %s (%s)",
        articles,
        len(body.chunks),
        interval.slug,
        ", ".join(f"{k}={v}" for k, v in per_source.items()) or "no sources",
    )
    return PlanRef(
        plan_key=plan_key,
        plan_id=plan_id,
        interval=interval,
        full=body.full,
        chunks=len(body.chunks),
        articles=articles,
        per_source=per_source,
        dry_run=dry_run,
        params=params,
    )


def _chunk_refs(ctx: Context, plan: PlanRef, chunk: int) -> tuple[ArticleRef, ...]:
    """One chunk's articles from the stored plan (only this chunk's refs are built: every
    chunk task reads the plan, so building all of them would cost chunks x articles)."""
    if plan.dry_run:
        chunks = _plan_body(ctx, plan.interval, plan.params)[0].chunks
        if not 0 <= chunk < len(chunks):
            raise PipelineError(f"chunk {chunk} is not in plan {plan.plan_key}")
        return chunks[chunk]
    try:
        stored = PlanBody.read_chunk(ctx.store, ctx.layout.private_bucket, plan.plan_key, chunk)
    except (ValueError, KeyError, TypeError) as exc:
        raise PipelineError(f"plan {plan.plan_key} is unreadable: {exc}") from exc
    if stored is None:
        raise PipelineError(f"chunk {chunk} is not in plan {plan.plan_key}")
    return tuple(ArticleRef.from_json(r) for r in stored)


def load_committed(
    ctx: Context, interval: Interval, only: set[str] | None = None
) -> dict[str, ManifestRecord]:
    """The interval's latest committed record of each article, with its private line.

    The interval's manifest, overlaid by the partial runs (reprocessed article ids) committed
    after it: a reprocessed article's newer objects are what the next run compares with and
    retracts from. Empty when nothing is committed. A private manifest that does not belong
    to its public one is ignored (its digests cannot be trusted): those records then lack
    private digests, so the next run rewrites the private objects instead of trusting them.
    """
    records: dict[str, ManifestRecord] = {}
    for run in interval_runs(ctx.store, ctx.layout, interval.slug, private=True, only=only):
        if run.private_problem:
            log.warning("ignoring private digests of %s: %s", run.manifest_key, run.private_problem)
        records.update((r.article_id, r) for r in run.records)
    return records


# ------------------------------------------------------------------------------------ process


@dataclass(frozen=True, slots=True)
class Prepared:
    """One article processed in memory: its record, what to write and what to delete.

    Writes are in commit order (paid, then free, then the metadata that points at both), so
    a reader who finds the metadata always finds the halves. Deletes run after the writes.
    """

    record: ManifestRecord
    writes: tuple[Blob, ...] = ()
    deletes: tuple[tuple[str, str], ...] = ()  # (bucket, key)


def _options(ctx: Context, source_name: str, override: Override | None = None) -> SplitOptions:
    settings = ctx.settings
    policy = NoMarkersPolicy(settings.source(source_name).no_markers)
    if override is not None and override.action in (
        OverrideAction.ALL_FREE,
        OverrideAction.ALL_PAID,
    ):
        policy = NoMarkersPolicy(override.action.value)  # an editor resolved this article
    return SplitOptions(
        markers=settings.markers.build(),
        no_markers=policy,
        text_placeholder=settings.output.text_placeholder,
        cut_class=settings.output.cut_class,
    )


def split_fingerprint(options: SplitOptions, raw: RawArticle) -> str:
    """What, besides the input bytes, decides a split's outputs: rules and code version."""
    parts = (
        __version__,
        SCHEMA_VERSION,
        LAYOUT_VERSION,
        options.markers.begin,
        options.markers.end,
        options.markers.lenient,
        options.no_markers.value,
        options.text_placeholder,
        options.cut_class,
        raw.format.value,
        raw.extract,
        raw.body_selector,
        raw.title_selector,
        raw.content_type,
    )
    return _fingerprint(parts)


@lru_cache(maxsize=256)
def _fingerprint(parts: tuple[Any, ...]) -> str:
    # A handful of distinct rule sets per run: every article of a source shares one.
    return sha256_hex(json.dumps(parts))[:16]


def _base(ref: ArticleRef, **fields: Any) -> ManifestRecord:
    return ManifestRecord(
        article_id=article_id(ref.source, ref.source_id),
        source=ref.source,
        source_id=ref.source_id,
        timestamp=ref.timestamp,
        **fields,
    )


def _failed(ref: ArticleRef, previous: ManifestRecord | None, reason: str) -> Prepared:
    """A fetch failure. A previous public (or quarantined) side is kept and still audited:
    its objects, digests and revision are carried into the new record."""
    if previous is not None and previous.objects:
        record = previous.with_changes(
            timestamp=ref.timestamp,
            outcome=Outcome.FAILED,
            action=Action.UNCHANGED,
            status=Status.FETCH_FAILED.value,
            reason=reason,
            warnings=(),
            carried=True,
            origin={},  # the next fetch is unconditional: a 304 must not confirm a failure
        )
        return Prepared(record)
    return Prepared(
        _base(
            ref,
            outcome=Outcome.FAILED,
            action=Action.UNCHANGED,
            status=Status.FETCH_FAILED.value,
            reason=reason,
        )
    )


def _reusable(previous: ManifestRecord | None) -> ManifestRecord | None:
    """A previous record whose stored objects a run may keep as they are."""
    if previous is None or previous.layout != LAYOUT_VERSION or previous.carried:
        return None
    if previous.outcome is Outcome.FAILED:
        return None
    return previous


@dataclass(frozen=True, slots=True)
class Fetched:
    """An article after its fetch: the bytes to split, or a decision that needs no split
    (retracted by an editor, not modified since, could not be fetched)."""

    ref: ArticleRef
    raw: RawArticle | None = None
    decided: Prepared | None = None
    reusable: ManifestRecord | None = None


def fetch_article(
    ctx: Context,
    source: Source,
    ref: ArticleRef,
    previous: ManifestRecord | None,
    *,
    force: bool = False,
    override: Override | None = None,
) -> Fetched:
    """The I/O half of :func:`prepare_article` (safe to run in a thread pool): fetch the
    article, conditionally when its previous objects may be kept. Never raises for a bad
    article: a fetch failure is a ``failed`` decision."""
    if override is not None and override.action is OverrideAction.RETRACT:
        return Fetched(ref, decided=_retracted(ctx, ref, previous, override))
    reusable = None if force else _reusable(previous)
    if reusable is not None and reusable.override != (override.action if override else None):
        reusable = None  # the editor's decision changed since: split again
    try:
        raw = source.fetch(ref, dict(reusable.origin) if reusable is not None else None)
    except NotModified:
        if reusable is None:
            return Fetched(
                ref, decided=_failed(ref, previous, "HTTP 304 to an unconditional request")
            )
        record = reusable.with_changes(timestamp=ref.timestamp, action=Action.UNCHANGED)
        return Fetched(ref, decided=Prepared(record))
    except FetchError as exc:
        return Fetched(ref, decided=_failed(ref, previous, exc.reason))
    return Fetched(ref, raw=raw, reusable=reusable)


def prepare_fetched(
    ctx: Context,
    fetched: Fetched,
    previous: ManifestRecord | None,
    *,
    override: Override | None = None,
) -> Prepared:
    """The CPU half of :func:`prepare_article`: split the fetched bytes and decide the
    outcome. No storage writes happen here. Anything unexpected while splitting quarantines
    the article as ``internal_error``."""
    if fetched.decided is not None:
        return fetched.decided
    ref, raw, reusable = fetched.ref, fetched.raw, fetched.reusable
    assert raw is not None
    options = _options(ctx, ref.source, override)
    fingerprint = split_fingerprint(options, raw)
    input_sha = sha256_hex(raw.data)
    if (
        reusable is not None
        and reusable.split == fingerprint
        and reusable.input_sha256 == input_sha
    ):
        # Same bytes, same rules: the stored outputs are what a split would give again.
        return Prepared(
            reusable.with_changes(
                timestamp=ref.timestamp, action=Action.UNCHANGED, origin=_validators(raw)
            )
        )
    try:
        outputs = split_article(raw, options)
    except Exception as exc:  # a poison pill must not block the chunk: quarantine it
        log.error(
            "internal error splitting %s/%s: %s\n%s",
            ref.source,
            article_id(ref.source, ref.source_id),
            type(exc).__name__,
            "".join(traceback.format_tb(exc.__traceback__)),
        )
        outputs = None
    if outputs is not None and outputs.published:
        prepared = _prepare_published(ctx, ref, raw, outputs, previous, fingerprint, input_sha)
    else:
        prepared = _prepare_quarantined(ctx, ref, raw, outputs, previous, fingerprint, input_sha)
    if override is None:
        return prepared
    return replace(prepared, record=prepared.record.with_changes(override=override.action))


def prepare_article(
    ctx: Context,
    source: Source,
    ref: ArticleRef,
    previous: ManifestRecord | None,
    *,
    force: bool = False,
    override: Override | None = None,
) -> Prepared:
    """Fetch and split one article; decide its outcome. No storage writes happen here.

    Never raises for a bad article: a fetch failure is a ``failed`` outcome, anything
    unexpected while splitting quarantines the article as ``internal_error``. An editor's
    ``override`` resolves an article without markers (all free / all paid), or retracts it:
    nothing public, without even fetching it.
    """
    fetched = fetch_article(ctx, source, ref, previous, force=force, override=override)
    return prepare_fetched(ctx, fetched, previous, override=override)


def _retracted(
    ctx: Context, ref: ArticleRef, previous: ManifestRecord | None, override: Override
) -> Prepared:
    """An editor retracted the article: every object it has goes (public and paid)."""
    record = _base(
        ref,
        outcome=Outcome.QUARANTINED,
        action=Action.RETRACTED,
        status=Status.RETRACTED.value,
        # Who retracted it, and why, stay in the private editor log: a manifest line is
        # read by consumers, and a note could quote anything.
        reason=f"retracted by an editor (override of {override.at})",
        revision=previous.revision if previous is not None else None,
        override=override.action,
    )
    deletes = _stale(ctx, ref, previous, ())
    deletes += _leftovers(ctx, ref, (), deletes)
    if not any(ctx.layout.is_public(key) for _, key in deletes):
        record = record.with_changes(action=Action.UNCHANGED)
    return Prepared(record, (), deletes)


def load_overrides(ctx: Context, refs: Sequence[ArticleRef]) -> dict[str, Override]:
    """Editors' decisions for these articles, by article id: one LIST per source, and a GET
    only for the chunk's own articles that have one."""
    wanted = {(r.source, r.source_id) for r in refs}
    found: dict[str, Override] = {}
    for source in sorted({r.source for r in refs}):
        prefix = ctx.layout.overrides_prefix(source)
        for listed in ctx.store.list(ctx.layout.private_bucket, prefix):
            owner = ctx.layout.owner_of(listed.key)
            if owner is None or owner not in wanted:
                continue
            body = ctx.store.get(ctx.layout.private_bucket, listed.key)
            if body is None:
                continue
            try:
                found[article_id(*owner)] = Override.from_json(json.loads(body))
            except (ValueError, KeyError, TypeError) as exc:
                raise PipelineError(
                    f"override s3://{ctx.layout.private_bucket}/{listed.key} is unreadable "
                    f"({type(exc).__name__}: {exc}); fix or delete it"
                ) from exc
    return found


def _validators(raw: RawArticle) -> dict[str, str]:
    """What a conditional GET needs next time (private: an S3 ETag is the input's MD5)."""
    return {k: str(raw.origin[k]) for k in ("etag", "last_modified") if raw.origin.get(k)}


def _ref_of(role: Role, blob: Blob) -> ObjectRef:
    return ObjectRef(role, blob.key, blob.md5, blob.sha256, blob.size)


def _stale(
    ctx: Context, ref: ArticleRef, previous: ManifestRecord | None, keep: Iterable[ObjectRef]
) -> tuple[tuple[str, str], ...]:
    """Objects the previous record had that the new one does not: deleted after the writes.

    Every key of the current layout lies in its article's own folder, and layout-1 keys
    (no article folder) never equal a current key, so a stale key is this article's own or
    a leftover of the old layout. A stale key that another article owns could only come from
    a damaged manifest: it is kept, never deleted on another article's behalf.
    """
    if previous is None:
        return ()
    kept = {o.key for o in keep}
    layout = ctx.layout
    deletes: list[tuple[str, str]] = []
    for obj in previous.objects:
        if obj.key in kept:
            continue
        owner = layout.owner_of(obj.key)
        if owner is not None and owner != (ref.source, ref.source_id):
            log.warning("not deleting %s: it belongs to %s/%s", obj.key, *owner)
            continue
        deletes.append((layout.public_bucket if obj.public else layout.private_bucket, obj.key))
    return tuple(deletes)


def _leftovers(
    ctx: Context, ref: ArticleRef, keep: Iterable[ObjectRef], known: Iterable[tuple[str, str]]
) -> tuple[tuple[str, str], ...]:
    """Free, meta and paid objects of this article that no record of this interval names.

    An article's objects live in its own folders whatever interval published them: an edit
    can move an article into a later interval, and when it is refused there, what an earlier
    interval published is still public. So a refusal lists the article's folders (three
    LISTs, only for articles refused now) and deletes what is there, besides the stale keys
    its previous record names.
    """
    layout = ctx.layout
    kept = {o.key for o in keep} | {key for _, key in known}
    me = (ref.source, ref.source_id)
    found: list[tuple[str, str]] = []
    probe = layout.free(ref.source, ref.source_id, "txt")
    folder = probe[len("free/") : probe.rindex("/") + 1]  # "<source>/<article folder>/"
    for bucket, prefix in (
        (layout.public_bucket, "free/"),
        (layout.public_bucket, "meta/"),
        (layout.private_bucket, "paid/"),
    ):
        for listed in ctx.store.list(bucket, prefix + folder):
            if listed.key not in kept and layout.owner_of(listed.key) == me:
                found.append((bucket, listed.key))
    return tuple(found)


def _prepare_published(
    ctx: Context,
    ref: ArticleRef,
    raw: RawArticle,
    outputs: Outputs,
    previous: ManifestRecord | None,
    fingerprint: str,
    input_sha: str,
) -> Prepared:
    layout = ctx.layout
    aid = article_id(ref.source, ref.source_id)
    tag = {ARTICLE_ID_META: aid}
    paid = [
        Blob.of(
            layout.private_bucket,
            layout.paid(ref.source, ref.source_id, ext),
            body,
            EXTENSIONS[ext],
            encrypt=True,
            metadata=tag,
        )
        for ext, body in sorted(outputs.paid.items())
    ]
    free = [
        Blob.of(
            layout.public_bucket,
            layout.free(ref.source, ref.source_id, ext),
            body,
            EXTENSIONS[ext],
            metadata=tag,
        )
        for ext, body in sorted(outputs.free.items())
    ]
    meta_key = layout.meta(ref.source, ref.source_id)

    def meta_for(revision: int) -> Blob:
        doc = outputs.record.to_dict() | {
            "keys": {"free": [b.key for b in free], "meta": meta_key},
            "revision": revision,
            "layout": LAYOUT_VERSION,
        }
        return Blob.of(layout.public_bucket, meta_key, dumps(doc), EXTENSIONS["json"], metadata=tag)

    old = {o.key: o.sha256 for o in previous.objects} if previous is not None else {}
    last = previous.revision if previous is not None and previous.revision else 0
    meta = meta_for(max(last, 1))
    same = (
        last > 0
        and previous is not None
        and previous.live
        and all(old.get(b.key) == b.sha256 for b in (*paid, *free, meta))
        and len(old) == len(paid) + len(free) + 1
    )
    revision = last if same else last + 1
    if not same:
        meta = meta_for(revision)
    objects = (
        *(_ref_of(Role.PAID, b) for b in paid),
        *(_ref_of(Role.FREE, b) for b in free),
        _ref_of(Role.META, meta),
    )
    record = _base(
        ref,
        outcome=Outcome.PUBLISHED,
        action=Action.WRITTEN,
        status=outputs.record.status,
        warnings=tuple(outputs.record.warnings),
        title=outputs.record.title,
        url=raw.origin.get("url"),
        revision=revision,
        objects=objects,
        input_sha256=input_sha,
        split=fingerprint,
        origin=_validators(raw),
    )
    return Prepared(record, (*paid, *free, meta), _stale(ctx, ref, previous, objects))


def _prepare_quarantined(
    ctx: Context,
    ref: ArticleRef,
    raw: RawArticle,
    outputs: Outputs | None,
    previous: ManifestRecord | None,
    fingerprint: str,
    input_sha: str,
) -> Prepared:
    layout = ctx.layout
    aid = article_id(ref.source, ref.source_id)
    tag = {ARTICLE_ID_META: aid}
    if outputs is None:
        status = Status.INTERNAL_ERROR.value
        reason = "an unexpected error while splitting (see the task log)"
        reason_doc: dict[str, Any] = {
            "article_id": aid,
            "source": ref.source,
            "source_id": ref.source_id,
            "status": status,
            "reason": reason,
        }
    else:
        status = outputs.record.status
        reason = outputs.record.reason or "refused"
        reason_doc = outputs.record.to_dict()  # no free or paid text, only the reason
    blobs = (
        Blob.of(
            layout.private_bucket,
            layout.quarantine_input(ref.source, ref.source_id),
            raw.data,
            EXTENSIONS["bin"],
            encrypt=True,
            metadata=tag,
        ),
        Blob.of(
            layout.private_bucket,
            layout.quarantine_reason(ref.source, ref.source_id),
            dumps(reason_doc),
            EXTENSIONS["json"],
            encrypt=True,
            metadata=tag,
        ),
    )
    objects = (_ref_of(Role.INPUT, blobs[0]), _ref_of(Role.REASON, blobs[1]))
    deletes = _stale(ctx, ref, previous, objects)
    deletes += _leftovers(ctx, ref, objects, deletes)
    retracts = any(ctx.layout.is_public(key) for _, key in deletes)
    record = _base(
        ref,
        outcome=Outcome.QUARANTINED,
        action=Action.RETRACTED if retracts else Action.WRITTEN,
        status=status,
        reason=reason,
        warnings=tuple(outputs.record.warnings) if outputs is not None else (),
        url=raw.origin.get("url"),
        revision=previous.revision if previous is not None else None,
        objects=objects,
        input_sha256=input_sha,
        split=fingerprint,
        origin=_validators(raw),
    )
    return Prepared(record, blobs, deletes)


@dataclass(frozen=True, slots=True)
class Changes:
    """What one article's run must do to storage: writes in commit order, then deletes."""

    writes: tuple[Blob, ...]
    deletes: tuple[tuple[str, str], ...]

    def __len__(self) -> int:
        return len(self.writes) + len(self.deletes)

    def apply(self, store: Store) -> None:
        for blob in self.writes:  # one after another: paid, free, then the metadata
            store.put(blob)
        by_bucket: dict[str, list[str]] = {}
        for bucket, key in self.deletes:
            by_bucket.setdefault(bucket, []).append(key)
        for bucket, keys in by_bucket.items():
            store.delete(bucket, keys)


def decide_changes(
    prepared: Prepared, previous: ManifestRecord | None, *, force: bool = False
) -> tuple[ManifestRecord, Changes]:
    """What changed since ``previous`` (the final record, its action saying what will be
    done), without touching storage."""
    record = prepared.record
    old = {o.key: o.sha256 for o in previous.objects} if previous is not None else {}
    todo = tuple(b for b in prepared.writes if force or old.get(b.key) != b.sha256)
    changes = Changes(todo, prepared.deletes)
    if record.action is not Action.RETRACTED and record.outcome is not Outcome.FAILED:
        action = Action.WRITTEN if changes else Action.UNCHANGED
        if record.action is not action:
            record = record.with_changes(action=action)
    return record, changes


def apply_prepared(
    ctx: Context,
    prepared: Prepared,
    previous: ManifestRecord | None,
    *,
    force: bool = False,
    dry_run: bool = False,
) -> tuple[ManifestRecord, int]:
    """Write what changed (in order), then delete what is stale. Returns the final record
    (its action says what was done) and the number of requests that changed storage."""
    record, changes = decide_changes(prepared, previous, force=force)
    if not dry_run:
        changes.apply(ctx.store)
    return record, len(changes)


def _concurrent_fetch(source: Source) -> bool:
    """Whether the source's fetches wait on a network (then they overlap in threads). A
    source says otherwise with ``concurrent_fetch = False`` (see :class:`Source`)."""
    return bool(getattr(source, "concurrent_fetch", True))


def _in_order(
    pool: ThreadPoolExecutor,
    fetch: Callable[[ArticleRef], Fetched],
    refs: Sequence[ArticleRef],
    sources: Mapping[str, Source],
    ahead: int,
) -> Iterator[Fetched]:
    """Each ref's fetch, in the refs' order: inline for local sources, else in the pool with
    at most ``ahead`` fetches started and not yet consumed."""
    pending: deque[Future[Fetched]] = deque()
    try:
        for ref in refs:
            if not _concurrent_fetch(sources[ref.source]):
                while pending:  # keep the order: earlier network fetches first
                    yield pending.popleft().result()
                yield fetch(ref)
                continue
            pending.append(pool.submit(fetch, ref))
            while len(pending) > ahead:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        for future in pending:
            future.cancel()


def process_chunk(
    ctx: Context,
    job: ChunkJob,
    *,
    force: bool = False,
    progress_every: float = PROGRESS_EVERY_SECONDS,
) -> ChunkResult:
    """Process one chunk; store its manifest part; return counts.

    Splitting is CPU work and runs in this thread, one article after another (threads would
    only contend for the GIL: measured 2.3x slower with 16). Waiting runs in threads: fetches
    from network sources (bounded look-ahead, in order) and each article's writes (its
    objects in commit order, then its deletes; a bounded number of articles in flight). A
    failed write fails the chunk after the writes in flight have finished; the part is
    stored only when every write succeeded.
    """
    started = time.monotonic()
    plan = job.plan
    refs = _chunk_refs(ctx, plan, job.chunk)
    ids = {article_id(r.source, r.source_id) for r in refs}
    previous = load_committed(ctx, plan.interval, ids)
    overrides = load_overrides(ctx, refs)
    sources = {name: ctx.source(name) for name in {r.source for r in refs}}
    workers = min(ctx.settings.storage.max_concurrency, max(1, len(refs)))

    def fetch(ref: ArticleRef) -> Fetched:
        aid = article_id(ref.source, ref.source_id)
        return fetch_article(
            ctx,
            sources[ref.source],
            ref,
            previous.get(aid),
            force=force,
            override=overrides.get(aid),
        )

    last_log = time.monotonic()
    records: list[ManifestRecord] = []
    writes = 0
    in_flight: deque[Future[None]] = deque()
    with (
        ThreadPoolExecutor(max_workers=workers, thread_name_prefix="paywall-fetch") as fetchers,
        ThreadPoolExecutor(max_workers=workers, thread_name_prefix="paywall-write") as writers,
    ):
        try:
            for fetched in _in_order(fetchers, fetch, refs, sources, workers * 2):
                aid = article_id(fetched.ref.source, fetched.ref.source_id)
                prev = previous.get(aid)
                prepared = prepare_fetched(ctx, fetched, prev, override=overrides.get(aid))
                record, changes = decide_changes(prepared, prev, force=force)
                records.append(record)
                writes += len(changes)
                if changes and not plan.dry_run:
                    while len(in_flight) >= workers * 2:
                        in_flight.popleft().result()  # bounded: bodies wait in memory
                    in_flight.append(writers.submit(changes.apply, ctx.store))
                now = time.monotonic()
                if now - last_log >= progress_every:
                    last_log = now
                    log.info(
                        "chunk %d: %d/%d articles (%.1f/s)",
                        job.chunk,
                        len(records),
                        len(refs),
                        len(records) / max(now - started, 1e-9),
                    )
            while in_flight:
                in_flight.popleft().result()
        finally:
            for future in in_flight:
                future.cancel()

    counts = Counts.of(records)
    # The chunk's public lines, then its private lines: publish joins parts into the two
    # manifests byte for byte (the staging part is in the private bucket).
    public = b"".join(dumps(r.public_json()) + b"\n" for r in records)
    part = public + b"".join(dumps(r.private_json()) + b"\n" for r in records)
    key = ctx.layout.chunk_part(plan.interval.slug, plan.plan_id, job.chunk)
    if not plan.dry_run:
        existing = ctx.store.get(ctx.layout.private_bucket, key)
        if existing != part:
            ctx.store.put(Blob.of(ctx.layout.private_bucket, key, part, EXTENSIONS["jsonl"]))
    elapsed = time.monotonic() - started
    log.info(
        "chunk %d done: %d article(s) in %.1fs; outcomes %s; statuses %s; actions %s",
        job.chunk,
        len(records),
        elapsed,
        dict(counts.outcomes),
        dict(counts.statuses),
        dict(counts.actions),
    )
    return ChunkResult(
        job.chunk,
        key,
        counts,
        writes,
        round(elapsed, 3),
        plan.dry_run,
        part_sha256=sha256_hex(part),
        public_bytes=len(public),
    )


# ------------------------------------------------------------------------------------ publish


def publish_run(ctx: Context, plan: PlanRef, chunks: Sequence[ChunkResult]) -> RunSummary:
    """Write the private then the public manifest, then the commit marker.

    Refuses (nothing committed) when too many articles could not be fetched.
    """
    layout, store = ctx.layout, ctx.store
    interval = plan.interval
    by_index = {c.chunk: c for c in chunks}
    missing = [i for i in range(plan.chunks) if i not in by_index]
    if missing:
        raise PipelineError(f"chunks {missing} of plan {plan.plan_id} did not finish")
    counts = sum((by_index[i].counts for i in range(plan.chunks)), Counts.of(()))
    writes = sum(c.writes for c in chunks)
    total, failed = counts.articles, counts.failed
    limit = ctx.settings.pipeline.max_failure_ratio
    if total and failed / total > limit:
        raise PipelineError(
            f"{failed} of {total} article(s) could not be fetched ({failed / total:.0%}), over "
            f"the configured max_failure_ratio of {limit:.0%}; nothing was committed for "
            f"{interval.slug} (see the task logs for the reasons; a rerun retries them)"
        )
    if plan.dry_run:
        return RunSummary(interval, counts, dry_run=True, committed=False, writes=0)

    publics: list[bytes] = []
    privates: list[bytes] = []
    for index in range(plan.chunks):
        public, private_lines = _read_part(ctx, plan, by_index[index])
        publics.append(public)
        privates.append(private_lines)
    manifest = b"".join(publics)
    manifest_sha = sha256_hex(manifest)
    if plan.full:
        manifest_key = layout.manifest(interval.slug)
    else:  # a partial run (ids, limit, some sources) must not replace the interval's manifest
        manifest_key = layout.partial_manifest(interval.slug, plan.plan_id)
    marker_key = layout.commit_marker(manifest_key)
    private_key = layout.private_manifest(manifest_key)
    private = dumps(PrivateHeader(manifest_sha).to_json()) + b"\n" + b"".join(privates)

    found = store.get_with_etag(layout.public_bucket, manifest_key)
    current, etag = found if found is not None else (None, None)
    marker_body = store.get(layout.public_bucket, marker_key)
    committed = CommitMarker.from_json(json.loads(marker_body)) if marker_body else None
    already = (
        committed is not None
        and current == manifest
        and committed.manifest_sha256 == manifest_sha
        and committed.private_manifest_key == private_key
        and store.get(layout.private_bucket, private_key) == private
    )
    if not already:
        # Private digests first: a committed public manifest always has its private lines.
        store.put(Blob.of(layout.private_bucket, private_key, private, EXTENSIONS["jsonl"]))
        if current != manifest:
            _replace_manifest(ctx, manifest_key, manifest, etag)
        marker = CommitMarker(
            manifest_key=manifest_key,
            manifest_sha256=manifest_sha,
            private_manifest_key=private_key,
            interval=interval,
            counts=counts,
            committed_at=datetime.now(UTC).isoformat(),
        )
        store.put(
            Blob.of(layout.public_bucket, marker_key, dumps(marker.to_json()), EXTENSIONS["json"])
        )
    summary = RunSummary(
        interval,
        counts,
        dry_run=False,
        committed=True,
        manifest_key=manifest_key,
        manifest_sha256=manifest_sha,
        changed=not already,
        writes=writes,
    )
    log.info(
        "committed s3://%s/%s: %d article(s), %s%s",
        layout.public_bucket,
        manifest_key,
        total,
        dict(counts.outcomes),
        " (unchanged since the last commit)" if already else "",
    )
    return summary


def _read_part(ctx: Context, plan: PlanRef, result: ChunkResult) -> tuple[bytes, bytes]:
    """A chunk's stored part as (public lines, private lines), proven to be the part the
    chunk's result describes (its digest), so the counts committed are the records'."""
    index = result.chunk
    key = ctx.layout.chunk_part(plan.interval.slug, plan.plan_id, index)
    body = ctx.store.get(ctx.layout.private_bucket, key)
    if body is None:
        raise PipelineError(f"manifest part {key} is missing; rerun chunk {index}")
    if result.part_sha256 is None or result.public_bytes is None:
        # A result of an earlier release: one document per record, counted again here.
        records = [ManifestRecord.from_json(json.loads(line)) for line in body.splitlines() if line]
        stored = Counts.of(records)
        if (stored.outcomes, stored.statuses) != (result.counts.outcomes, result.counts.statuses):
            raise PipelineError(
                f"manifest part {key} does not match chunk {index}'s counts; rerun chunk {index}"
            )
        return (
            b"".join(dumps(r.public_json()) + b"\n" for r in records),
            b"".join(dumps(r.private_json()) + b"\n" for r in records),
        )
    if sha256_hex(body) != result.part_sha256 or not 0 <= result.public_bytes <= len(body):
        raise PipelineError(
            f"manifest part {key} is not the one chunk {index} wrote (another attempt replaced "
            f"it); rerun chunk {index}"
        )
    public, private = body[: result.public_bytes], body[result.public_bytes :]
    articles = result.counts.articles
    if not all(
        part.count(b"\n") == articles and part[-1:] in (b"", b"\n") for part in (public, private)
    ):
        # The digest proves the bytes; this proves the result's split of them: one whole line
        # per article on each side, so no record is cut in two or moved across.
        raise PipelineError(
            f"manifest part {key} does not split into chunk {index}'s {articles} public and "
            f"private lines; rerun chunk {index}"
        )
    return public, private


def _replace_manifest(ctx: Context, key: str, manifest: bytes, etag: str | None) -> None:
    """Write the manifest only over the version this run read (a conditional write).

    Two runs of one interval at once compute the same bytes; if another run replaced the
    manifest in between, ours is written only when it is the same, otherwise this run fails
    and a rerun reconciles. Servers without conditional writes ignore the headers (README).
    """
    store, bucket = ctx.store, ctx.layout.public_bucket
    blob = Blob.of(bucket, key, manifest, EXTENSIONS["jsonl"])
    try:
        if etag is None:
            store.put(blob, if_none_match=True)
        else:
            store.put(blob, if_match=etag)
    except PreconditionFailed as exc:
        if store.get(bucket, key) != manifest:
            raise PipelineError(
                f"another run committed a different manifest for {key} at the same time; "
                "rerun this interval to reconcile"
            ) from exc


def run_interval(
    ctx: Context,
    interval: Interval,
    *,
    force: bool = False,
    dry_run: bool = False,
    sources: Iterable[str] | None = None,
    article_ids: Iterable[str] | None = None,
    limit: int | None = None,
) -> RunSummary:
    """Plan, process every chunk and publish, in one process (CLI, benchmarks, tests)."""
    plan = plan_run(
        ctx, interval, sources=sources, article_ids=article_ids, limit=limit, dry_run=dry_run
    )
    chunks = [process_chunk(ctx, job, force=force) for job in plan.jobs()]
    return publish_run(ctx, plan, chunks)
