"""The pipeline's three steps -- plan, process a chunk, publish -- as plain library calls.

The DAG, the CLI and the benchmarks call exactly these functions. Everything a step hands to
the next is a small JSON-able dict (references and counts, never article text), and all state
lives in object storage, so any step can run on any worker.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

from paywall import __version__
from paywall.articles import Outputs, RawArticle, SplitOptions, article_id, split_article
from paywall.config import Settings
from paywall.metadata import SCHEMA_VERSION, sha256_hex
from paywall.s3 import S3Endpoint, make_client
from paywall.segmentation import NoMarkersPolicy, Status
from paywall.sources import ArticleRef, FetchError, Interval, Source, build_source
from paywall.sources.base import NotModified
from paywall.storage import Layout, ObjectStore, StorageError, dumps, key_for
from paywall.webhook import send_records

log = logging.getLogger("paywall.pipeline")
PROGRESS_EVERY_SECONDS = 10.0
_ARTICLE_ID = re.compile(rb'"article_id":"([0-9a-f]{20})"')


class PipelineError(RuntimeError):
    """A step cannot complete; the message says which run, chunk or threshold."""


@dataclass
class Context:
    """What a step needs: settings, storage, and a way to get S3 clients for sources."""

    settings: Settings
    store: ObjectStore
    s3_client_for: Callable[[str | None], Any]

    @cached_property
    def layout(self) -> Layout:
        return Layout.from_settings(self.settings.storage, self.settings.pipeline.name)

    def source(self, name: str) -> Source:
        return build_source(self.settings.source(name), self.s3_client_for)


def build_context(settings: Settings, endpoint_for: Callable[[str], S3Endpoint]) -> Context:
    """A Context whose S3 clients come from ``endpoint_for(connection_id)``.

    The Airflow adapter passes a Connection look-up, the CLI and benchmarks the environment.
    """
    storage = settings.storage
    endpoint = endpoint_for(storage.connection_id)
    client = make_client(endpoint, max_pool=max(10, storage.max_concurrency * 2))

    def s3_client_for(connection_id: str | None) -> Any:
        if not connection_id or connection_id == storage.connection_id:
            return client
        return make_client(endpoint_for(connection_id))

    return Context(settings, ObjectStore(client, storage, endpoint.describe()), s3_client_for)


# --------------------------------------------------------------------------------------- plan


def _plan_body(
    ctx: Context,
    interval: Interval,
    sources: list[str] | None,
    article_ids: list[str] | None,
    limit: int | None,
) -> tuple[dict[str, Any], dict[str, int]]:
    """The deterministic plan: the same interval and params always give the same body."""
    settings = ctx.settings
    names = sources or [s.name for s in settings.sources]
    wanted = set(article_ids or ())
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
    if limit is not None:
        refs = refs[:limit]
    full = not wanted and limit is None and set(names) == {s.name for s in settings.sources}
    pipeline = settings.pipeline
    size = max(pipeline.chunk_size, math.ceil(len(refs) / pipeline.max_chunks))
    # An empty interval still gets one (empty) chunk, so it commits an empty manifest.
    chunks = [[r.to_dict() for r in refs[i : i + size]] for i in range(0, len(refs), size)] or [[]]
    return {"interval": interval.to_dict(), "full": full, "chunks": chunks}, per_source


def plan_run(
    ctx: Context,
    interval: Interval,
    *,
    sources: Iterable[str] | None = None,
    article_ids: Iterable[str] | None = None,
    limit: int | None = None,
    dry_run: bool = False,
) -> dict[str, Any]:
    """List the interval's articles per source, cut them into chunks, store the plan.

    Returns a small reference to the stored plan (its key and counts), safe for XCom.
    """
    params = {
        "sources": sorted(sources) if sources else None,
        "article_ids": sorted(article_ids) if article_ids else None,
        "limit": limit,
    }
    body, per_source = _plan_body(ctx, interval, **params)
    plan_id = sha256_hex(dumps(body))[:16]
    plan_key = ctx.layout.staging(interval.slug, f"plans/{plan_id}.json")
    # The key is content-addressed, so an existing plan already holds these bytes. A dry run
    # writes nothing: its chunks list the sources again instead.
    if not dry_run and ctx.store.get(ctx.layout.private_bucket, plan_key) is None:
        ctx.store.put_json(ctx.layout.private_bucket, plan_key, body | {"plan_id": plan_id})
    articles = sum(len(c) for c in body["chunks"])
    log.info(
        "planned %d article(s) in %d chunk(s) for %s (%s)",
        articles,
        len(body["chunks"]),
        interval.slug,
        ", ".join(f"{k}={v}" for k, v in per_source.items()) or "no sources",
    )
    return {
        "plan_key": plan_key,
        "plan_id": plan_id,
        "interval": interval.to_dict(),
        "full": body["full"],
        "chunks": len(body["chunks"]),
        "articles": articles,
        "per_source": per_source,
        "dry_run": dry_run,
        "params": params,
    }


def chunk_jobs(plan: dict[str, Any]) -> list[dict[str, Any]]:
    """What the process step is mapped over: a plan reference and a chunk number each."""
    ref = {k: plan[k] for k in ("plan_key", "plan_id", "interval", "chunks", "dry_run", "params")}
    return [ref | {"chunk": i} for i in range(plan["chunks"])]


def _load_plan(ctx: Context, plan: dict[str, Any]) -> dict[str, Any]:
    if plan.get("dry_run"):
        body, _ = _plan_body(ctx, Interval.from_dict(plan["interval"]), **plan["params"])
        return body
    raw = ctx.store.get(ctx.layout.private_bucket, plan["plan_key"])
    if raw is None:
        raise PipelineError(f"plan {plan['plan_key']} is missing from the private bucket")
    return json.loads(raw)


def load_committed(
    ctx: Context, interval: Interval, only: set[str] | None = None
) -> dict[str, dict[str, Any]]:
    """The last committed manifest of an interval, by article id (empty when none).

    ``only`` keeps just those article ids, so a chunk holds its own records, not the
    interval's: memory stays bounded by the chunk size.
    """
    layout = ctx.layout
    marker = ctx.store.get(layout.public_bucket, layout.commit_marker(interval.slug))
    manifest = ctx.store.get(layout.public_bucket, layout.manifest(interval.slug))
    if marker is None or manifest is None:
        return {}
    if json.loads(marker).get("manifest_sha256") != sha256_hex(manifest):
        return {}  # a manifest without its commit is not trusted
    out: dict[str, dict[str, Any]] = {}
    for line in manifest.splitlines():
        if not line.strip():
            continue
        if only is not None:
            found = _ARTICLE_ID.search(line)
            if found is None or found.group(1).decode() not in only:
                continue  # another chunk's record: skip it without parsing it
        record = json.loads(line)
        out[record["article_id"]] = record
    return out


# ------------------------------------------------------------------------------------ process


@dataclass(frozen=True, slots=True)
class ArticleOutcome:
    record: dict[str, Any]  # the manifest record
    action: str  # written | unchanged | quarantined | failed | retracted
    writes: int


def _options(ctx: Context, source_name: str) -> SplitOptions:
    settings = ctx.settings
    return SplitOptions(
        markers=settings.markers.build(),
        no_markers=NoMarkersPolicy(settings.source(source_name).no_markers),
        text_placeholder=settings.output.text_placeholder,
        cut_class=settings.output.cut_class,
    )


def split_fingerprint(options: SplitOptions, raw: RawArticle) -> str:
    """What, besides the input bytes, decides a split's outputs: rules and code version."""
    parts = (
        __version__,
        SCHEMA_VERSION,
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
    return sha256_hex(json.dumps(parts))[:16]


def _manifest_record(ref: ArticleRef, **fields: Any) -> dict[str, Any]:
    return {
        "article_id": article_id(ref.source, ref.source_id),
        "source": ref.source,
        "source_id": ref.source_id,
        "timestamp": ref.timestamp,
    } | fields


def process_article(
    ctx: Context,
    source: Source,
    ref: ArticleRef,
    previous: dict[str, Any] | None,
    *,
    force: bool = False,
    dry_run: bool = False,
) -> ArticleOutcome:
    """Fetch, split and store one article. Never raises for a bad article: it records it."""
    try:
        raw = source.fetch(ref, (previous or {}).get("origin"))
    except NotModified:
        if previous is not None:
            return ArticleOutcome(previous, "unchanged", 0)
        raise PipelineError(f"{ref.source}/{ref.source_id}: 304 without a previous fetch") from None
    except FetchError as exc:
        record = _manifest_record(ref, status=Status.FETCH_FAILED.value, reason=exc.reason)
        return ArticleOutcome(record, "failed", 0)
    options = _options(ctx, ref.source)
    fingerprint = split_fingerprint(options, raw)
    if (
        not force
        and previous is not None
        and previous.get("split") == fingerprint
        and (previous.get("sha256") or {}).get("original") == sha256_hex(raw.data)
    ):
        # Same bytes, same rules: the stored outputs are what a split would give again.
        return ArticleOutcome(previous | {"timestamp": ref.timestamp}, "unchanged", 0)
    outputs = split_article(raw, options)
    if outputs.published:
        outcome = _store_published(ctx, ref, raw, outputs, previous, force=force, dry_run=dry_run)
    else:
        outcome = _store_quarantined(ctx, ref, raw, outputs, previous, force=force, dry_run=dry_run)
    outcome.record["split"] = fingerprint
    return outcome


def _md5s(bodies: dict[str, bytes]) -> dict[str, str]:
    """Each object's MD5: the ETag S3 reports for a plain PUT, so verify can audit by LIST."""
    return {
        key: hashlib.md5(body, usedforsecurity=False).hexdigest() for key, body in bodies.items()
    }


def _store_published(
    ctx: Context,
    ref: ArticleRef,
    raw: RawArticle,
    outputs: Outputs,
    previous: dict[str, Any] | None,
    *,
    force: bool,
    dry_run: bool,
) -> ArticleOutcome:
    layout, store = ctx.layout, ctx.store
    key = key_for(ref.source_id)
    paid = {layout.paid(ref.source, key, ext): body for ext, body in outputs.paid.items()}
    free = {layout.free(ref.source, key, ext): body for ext, body in outputs.free.items()}
    meta_key = layout.meta(ref.source, key)
    keys = {"free": sorted(free), "paid": sorted(paid), "meta": meta_key}

    prev_sha = (previous or {}).get("sha256") or {}
    revision = int((previous or {}).get("revision") or 1)

    def meta_for(rev: int) -> bytes:
        doc = outputs.record.to_dict() | {
            "keys": {"free": keys["free"], "meta": meta_key},
            "revision": rev,
        }
        return dumps(doc)

    meta = meta_for(revision)
    shas = {k: sha256_hex(v) for k, v in (paid | free).items()} | {meta_key: sha256_hex(meta)}
    unchanged = previous is not None and prev_sha.get("objects") == shas
    if not unchanged and previous is not None and previous.get("status") is not None:
        meta = meta_for(revision + 1)
        revision += 1
        shas[meta_key] = sha256_hex(meta)
    bodies = paid | free | {meta_key: meta}
    record = _manifest_record(
        ref,
        status=outputs.record.status,
        reason=None,
        warnings=list(outputs.record.warnings),
        title=outputs.record.title,
        keys=keys,
        sha256={
            "original": outputs.record.sha256["original"],
            "free": outputs.record.sha256["free"],
            "paid": outputs.record.sha256["paid"],
            "objects": shas,
        },
        md5=_md5s(bodies),
        revision=revision,
        origin=raw.origin,
    )
    if unchanged and not force:
        return ArticleOutcome(record, "unchanged", 0)
    if dry_run:
        return ArticleOutcome(record, "written", 0)

    writes = 0
    old = prev_sha.get("objects") or {}
    # Commit order inside an article: paid first, then free, then the metadata that points
    # at both -- a reader who finds the metadata always finds the halves.
    for object_key, body in paid.items():
        if force or old.get(object_key) != shas[object_key]:
            store.put(
                layout.private_bucket, object_key, body, object_key.rsplit(".", 1)[1], encrypt=True
            )
            writes += 1
    for object_key, body in free.items():
        if force or old.get(object_key) != shas[object_key]:
            store.put(layout.public_bucket, object_key, body, object_key.rsplit(".", 1)[1])
            writes += 1
    if force or old.get(meta_key) != shas[meta_key]:
        store.put(layout.public_bucket, meta_key, meta, "json")
        writes += 1
    return ArticleOutcome(record, "written" if writes else "unchanged", writes)


def _store_quarantined(
    ctx: Context,
    ref: ArticleRef,
    raw: RawArticle,
    outputs: Outputs,
    previous: dict[str, Any] | None,
    *,
    force: bool,
    dry_run: bool,
) -> ArticleOutcome:
    layout, store = ctx.layout, ctx.store
    key = key_for(ref.source_id)
    input_key, reason_key = layout.quarantine(ref.source, key)
    reason_doc = dumps(outputs.record.to_dict())  # no free or paid text, only the reason
    shas = {input_key: sha256_hex(raw.data), reason_key: sha256_hex(reason_doc)}
    record = _manifest_record(
        ref,
        status=outputs.record.status,
        reason=outputs.record.reason,
        keys={"quarantine": [input_key, reason_key]},
        sha256={"original": sha256_hex(raw.data), "objects": shas},
        md5=_md5s({input_key: raw.data, reason_key: reason_doc}),
        origin=raw.origin,
    )
    old = ((previous or {}).get("sha256") or {}).get("objects") or {}
    if dry_run:
        return ArticleOutcome(record, "quarantined", 0)
    writes = 0
    if force or old.get(input_key) != shas[input_key]:
        store.put(layout.private_bucket, input_key, raw.data, "bin", encrypt=True)
        writes += 1
    if force or old.get(reason_key) != shas[reason_key]:
        store.put(layout.private_bucket, reason_key, reason_doc, "json")
        writes += 1
    # Fail closed: an article that was published and is now ambiguous leaves the public side.
    stale = (previous or {}).get("keys") or {}
    public = [*stale.get("free", []), stale["meta"]] if stale.get("meta") else []
    if public:
        store.delete(layout.public_bucket, public)
        writes += len(public)
        return ArticleOutcome(record, "retracted", writes)
    return ArticleOutcome(record, "quarantined", writes)


def part_key(ctx: Context, plan: dict[str, Any], index: int) -> str:
    slug = Interval.from_dict(plan["interval"]).slug
    return ctx.layout.staging(slug, f"parts/{plan['plan_id']}/{index:05d}.jsonl")


def process_chunk(
    ctx: Context,
    plan: dict[str, Any],
    index: int | None = None,
    *,
    force: bool = False,
    dry_run: bool = False,
    progress_every: float = PROGRESS_EVERY_SECONDS,
) -> dict[str, Any]:
    """Process one chunk with a bounded thread pool; store its manifest part; return counts."""
    index = plan["chunk"] if index is None else index
    body = _load_plan(ctx, plan)
    if not 0 <= index < len(body["chunks"]):
        raise PipelineError(f"chunk {index} is not in plan {plan['plan_key']}")
    refs = [ArticleRef.from_dict(r) for r in body["chunks"][index]]
    interval = Interval.from_dict(body["interval"])
    ids = {article_id(r.source, r.source_id) for r in refs}
    previous = {} if force else load_committed(ctx, interval, ids)
    sources = {name: ctx.source(name) for name in {r.source for r in refs}}

    def one(ref: ArticleRef) -> ArticleOutcome:
        prev = previous.get(article_id(ref.source, ref.source_id))
        return process_article(ctx, sources[ref.source], ref, prev, force=force, dry_run=dry_run)

    started = last_log = time.monotonic()
    outcomes: list[ArticleOutcome] = []
    workers = min(ctx.settings.storage.max_concurrency, max(1, len(refs)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="paywall") as pool:
        for outcome in pool.map(one, refs):
            outcomes.append(outcome)
            now = time.monotonic()
            if now - last_log >= progress_every:
                last_log = now
                done = len(outcomes)
                log.info(
                    "chunk %d: %d/%d articles (%.1f/s)",
                    index,
                    done,
                    len(refs),
                    done / max(now - started, 1e-9),
                )

    statuses = Counter(o.record["status"] for o in outcomes)
    actions = Counter(o.action for o in outcomes)
    part = b"".join(dumps(o.record) + b"\n" for o in outcomes)
    key = part_key(ctx, plan, index)
    if not dry_run:
        existing = ctx.store.get(ctx.layout.private_bucket, key)
        if existing != part:
            ctx.store.put(ctx.layout.private_bucket, key, part, "jsonl")
    elapsed = time.monotonic() - started
    result = {
        "chunk": index,
        "part_key": key,
        "articles": len(outcomes),
        "statuses": dict(sorted(statuses.items())),
        "actions": dict(sorted(actions.items())),
        "writes": sum(o.writes for o in outcomes),
        "seconds": round(elapsed, 3),
        "dry_run": dry_run,
    }
    log.info(
        "chunk %d done: %d article(s) in %.1fs; statuses %s; actions %s",
        index,
        len(outcomes),
        elapsed,
        result["statuses"],
        result["actions"],
    )
    if dry_run:
        result["_records"] = [o.record for o in outcomes]
    return result


# ------------------------------------------------------------------------------------ publish


def publish_run(ctx: Context, plan: dict[str, Any], chunks: list[dict[str, Any]]) -> dict[str, Any]:
    """Write the run manifest, then the commit marker; refuse when too many fetches failed."""
    layout, store = ctx.layout, ctx.store
    interval = Interval.from_dict(plan["interval"])
    by_index = {c["chunk"]: c for c in chunks}
    missing = [i for i in range(plan["chunks"]) if i not in by_index]
    if missing:
        raise PipelineError(f"chunks {missing} of plan {plan['plan_id']} did not finish")

    statuses: Counter[str] = Counter()
    actions: Counter[str] = Counter()
    for chunk in chunks:
        statuses.update(chunk["statuses"])
        actions.update(chunk["actions"])
    total = sum(statuses.values())
    failed = statuses.get(Status.FETCH_FAILED.value, 0)
    limit = ctx.settings.pipeline.max_failure_ratio
    if total and failed / total > limit:
        raise PipelineError(
            f"{failed} of {total} article(s) could not be fetched ({failed / total:.0%}), over "
            f"the configured max_failure_ratio of {limit:.0%}; nothing was committed for "
            f"{interval.slug} (see the task logs for the reasons; a rerun retries them)"
        )
    published = sum(n for s, n in statuses.items() if s in ("ok", "unclosed", "no_markers"))
    summary: dict[str, Any] = {
        "interval": plan["interval"],
        "articles": total,
        "statuses": dict(sorted(statuses.items())),
        "actions": dict(sorted(actions.items())),
        "published": published,
        "quarantined": total - published - failed,
        "failed": failed,
        "dry_run": bool(plan.get("dry_run")),
    }
    if plan.get("dry_run"):
        return summary | {"manifest_key": None, "committed": False}

    parts = []
    for index in range(plan["chunks"]):
        key = part_key(ctx, plan, index)
        body = store.get(layout.private_bucket, key)
        if body is None:
            raise PipelineError(f"manifest part {key} is missing; rerun chunk {index}")
        parts.append(body)
    manifest = b"".join(parts)
    manifest_sha = sha256_hex(manifest)
    if plan.get("full"):
        manifest_key = layout.manifest(interval.slug)
    else:  # a partial run (ids, limit, some sources) must not replace the interval's manifest
        manifest_key = layout.partial_manifest(interval.slug, plan["plan_id"])
    marker_key = layout.marker_for(manifest_key)

    marker = store.get(layout.public_bucket, marker_key)
    found = store.get_with_etag(layout.public_bucket, manifest_key)
    current, etag = found if found is not None else (None, None)
    already = (
        marker is not None
        and current == manifest
        and json.loads(marker).get("manifest_sha256") == manifest_sha
    )
    if not already:
        if current != manifest:
            _replace_manifest(ctx, manifest_key, manifest, etag)
        store.put_json(
            layout.public_bucket,
            marker_key,
            {
                "manifest_key": manifest_key,
                "manifest_sha256": manifest_sha,
                "interval": plan["interval"],
                "articles": total,
                "statuses": summary["statuses"],
                "committed_at": datetime.now(UTC).isoformat(),
            },
        )
    if ctx.settings.webhook.url:
        records = [json.loads(line) for line in manifest.splitlines() if line.strip()]
        summary["webhook"] = send_records(
            ctx.settings.webhook, records, manifest_key=manifest_key, manifest_sha256=manifest_sha
        )
    summary |= {
        "manifest_key": manifest_key,
        "manifest_url": f"s3://{layout.public_bucket}/{manifest_key}",
        "manifest_sha256": manifest_sha,
        "committed": True,
        "changed": not already,
    }
    log.info(
        "committed %s: %d article(s), %s%s",
        summary["manifest_url"],
        total,
        summary["statuses"],
        " (unchanged since the last commit)" if already else "",
    )
    return summary


def _replace_manifest(ctx: Context, key: str, manifest: bytes, etag: str | None) -> None:
    """Write the manifest only over the version this run read (a conditional write).

    Two runs of one interval at once compute the same bytes; if another run replaced the
    manifest in between, ours is written only when it is the same, otherwise this run fails
    and a rerun reconciles. Servers without conditional writes ignore the headers (README).
    """
    store, bucket = ctx.store, ctx.layout.public_bucket
    try:
        if etag is None:
            store.put(bucket, key, manifest, "jsonl", if_none_match=True)
        else:
            store.put(bucket, key, manifest, "jsonl", if_match=etag)
    except StorageError as exc:
        if "PreconditionFailed" not in str(exc) and "412" not in str(exc):
            raise
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
    **plan_args: Any,
) -> dict[str, Any]:
    """Plan, process every chunk and publish, in one process (CLI, benchmarks, tests)."""
    plan = plan_run(ctx, interval, dry_run=dry_run, **plan_args)
    chunks = [process_chunk(ctx, job, force=force, dry_run=dry_run) for job in chunk_jobs(plan)]
    return publish_run(ctx, plan, chunks)
