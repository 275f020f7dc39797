"""The pipeline's logic on the in-memory store: outcomes, counts, keys, idempotency, revisions,
retraction, fetch-failure carry-over, migration, commit, catalog and verify findings.

Each of the five integrity findings of the output-contract issue has a regression test here
(``test_finding_*``); they failed on the contract before it was typed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar

import jsonschema
import pytest

from paywall import pipeline
from paywall.articles import RawArticle, article_id
from paywall.catalog import build_catalog, update_catalog
from paywall.errors import (
    ErrorCode,
    FetchError,
    NotModified,
    PipelineError,
    VerifyError,
    WebhookError,
)
from paywall.layout import EXTENSIONS, Layout
from paywall.memstore import MemoryStore
from paywall.metadata import load_schema, sha256_hex
from paywall.model import (
    Action,
    ArticleRef,
    Interval,
    ManifestRecord,
    Outcome,
    Role,
    dumps,
)
from paywall.pipeline import Context, run_interval
from paywall.reader import StaleObject, committed_runs, presign_paid, read_committed, read_public
from paywall.storage import ProbeResult
from paywall.store import Blob
from paywall.verify import FindingKind, verify_run
from paywall.webhook import notify_run

DAY = Interval(datetime(2026, 11, 20, tzinfo=UTC), datetime(2026, 11, 21, tzinfo=UTC))
STAMP = "2026-11-20T08:00:00Z"


def article(n: int | str, paid: str | None = None) -> bytes:
    paid = paid if paid is not None else f"PAID-SENTINEL-{n} 付费正文第{n}段。"
    return f"标题{n}\n公开导语{n}。\n##paidbegin##{paid}##paidend##\n结尾{n}。\n".encode()


@dataclass
class DictSource:
    """A source over a dict of id -> bytes; ``failing`` ids raise a fetch error, and ids in
    ``etags`` answer a conditional fetch with 304 when the validator matches."""

    name: str
    items: dict[str, bytes]
    failing: set[str] = field(default_factory=set)
    etags: dict[str, str] = field(default_factory=dict)
    fetches: list[str] = field(default_factory=list)

    def list(self, interval: Interval | None) -> list[ArticleRef]:
        return [ArticleRef(self.name, i, STAMP, i) for i in sorted(self.items)]

    def fetch(self, ref: ArticleRef, previous: Mapping[str, Any] | None = None) -> RawArticle:
        self.fetches.append(ref.source_id)
        if ref.source_id in self.failing:
            raise FetchError("HTTP 503", f"http://site/{ref.source_id}")
        etag = self.etags.get(ref.source_id)
        if etag and previous and previous.get("etag") == etag:
            raise NotModified(ref.source_id)
        origin = {"etag": etag} if etag else {}
        return RawArticle(
            self.name, ref.source_id, self.items[ref.source_id], published_at=STAMP, origin=origin
        )


def with_source(ctx: Context, source: DictSource) -> Context:
    ctx.source = lambda name: source  # type: ignore[method-assign]
    return ctx


@pytest.fixture
def desk(make_mem_ctx) -> tuple[Context, DictSource]:
    source = DictSource("desk", {f"2026/11/20/a{n}.txt": article(n) for n in range(3)})
    ctx = make_mem_ctx(
        pipeline={"name": "desk_pipeline", "max_failure_ratio": 0.5},
        sources=[{"name": "desk", "kind": "local", "path": "/nonexistent"}],
    )
    return with_source(ctx, source), source


def store_of(ctx: Context) -> MemoryStore:
    assert isinstance(ctx.store, MemoryStore)
    return ctx.store


def manifest_records(ctx: Context) -> list[ManifestRecord]:
    run = read_committed(ctx.store, ctx.layout, ctx.layout.manifest(DAY.slug), private=True)
    assert run is not None
    return run.records


def audit(ctx: Context, **kwargs: Any) -> Any:
    return verify_run(
        ctx.store,
        ctx.layout,
        ctx.layout.manifest(DAY.slug),
        markers=ctx.settings.markers.build(),
        probe=ctx.probe,
        **kwargs,
    )


# --------------------------------------------------------------------- the five findings


def test_finding_1_no_marker_articles_are_quarantined_in_every_count_and_the_catalog_builds(
    make_mem_ctx,
) -> None:
    items = {f"2026/11/20/good-{n:02d}.txt": article(n) for n in range(20)}
    items |= {f"2026/11/20/bare-{n}.txt": f"标题{n}\n没有标记的文章。\n".encode() for n in range(2)}
    ctx = with_source(
        make_mem_ctx(sources=[{"name": "desk", "kind": "local", "path": "/x"}]),
        DictSource("desk", items),
    )
    summary = run_interval(ctx, DAY)
    assert (summary.counts.published, summary.counts.quarantined, summary.counts.failed) == (
        20,
        2,
        0,
    )
    extra = summary.asset_extra()
    jsonschema.validate(extra, load_schema("asset-extra"))
    assert (extra["published"], extra["quarantined"]) == (20, 2)
    records = manifest_records(ctx)
    by_outcome = {o: sum(r.outcome is o for r in records) for o in Outcome}
    assert by_outcome == {Outcome.PUBLISHED: 20, Outcome.QUARANTINED: 2, Outcome.FAILED: 0}
    catalog = build_catalog(ctx.store, ctx.layout)  # raised KeyError: 'free' before
    assert len(catalog["articles"]) == 20
    assert update_catalog(ctx.store, ctx.layout)["articles"] == 20


def test_finding_1_all_free_policy_publishes_no_marker_articles(make_mem_ctx) -> None:
    source = DictSource("desk", {"2026/11/20/bare.txt": "标题\n没有标记。\n".encode()})
    ctx = with_source(
        make_mem_ctx(
            sources=[{"name": "desk", "kind": "local", "path": "/x", "no_markers": "all_free"}]
        ),
        source,
    )
    summary = run_interval(ctx, DAY)
    assert summary.counts.published == 1 and summary.counts.statuses == {"no_markers": 1}
    assert len(build_catalog(ctx.store, ctx.layout)["articles"]) == 1


COLLIDING = [
    ("2026/11/20/a.txt", "2026/11/20/a.html"),
    ("x/a//b.txt", "x/a/b.txt"),
    ("../etc/p.txt", "etc/p.txt"),
    ("site/2026/11/a.html", "site/2026/11/a"),
]


@pytest.mark.parametrize(("one", "other"), COLLIDING)
def test_finding_2_two_articles_never_share_an_object(make_mem_ctx, one: str, other: str) -> None:
    source = DictSource("desk", {one: article("one"), other: article("other")})
    ctx = with_source(make_mem_ctx(sources=[{"name": "desk", "kind": "local", "path": "/x"}]),
                      source)  # fmt: skip
    summary = run_interval(ctx, DAY)
    assert summary.counts.published == 2
    records = manifest_records(ctx)
    keys = [o.key for r in records for o in r.objects]
    assert len(keys) == len(set(keys))
    assert all({o.role for o in r.objects} == {Role.PAID, Role.FREE, Role.META} for r in records)
    assert audit(ctx).ok
    # Each paid half is the article's own: what presign hands a subscriber is not the other's.
    store = store_of(ctx)
    for source_id, tag in ((one, "one"), (other, "other")):
        url = presign_paid(store, ctx.layout, "desk", source_id)
        key = url.removeprefix(f"memory://{ctx.layout.private_bucket}/").split("?")[0]
        assert (
            store.get(ctx.layout.private_bucket, key)
            == f"PAID-SENTINEL-{tag} 付费正文第{tag}段。".encode()
        )
    # A rerun finds everything as it left it: no tampering reported, nothing rewritten.
    again = run_interval(ctx, DAY)
    assert again.writes == 0 and not again.changed


def test_finding_3_a_fetch_failure_keeps_the_published_article(desk) -> None:
    ctx, source = desk
    first = run_interval(ctx, DAY)
    assert first.counts.published == 3
    before = {r.article_id: r for r in manifest_records(ctx)}
    source.failing.add("2026/11/20/a1.txt")
    second = run_interval(ctx, DAY)
    assert (second.counts.published, second.counts.failed) == (2, 1)
    assert second.counts.statuses == {"fetch_failed": 1, "ok": 2}
    failed = next(r for r in manifest_records(ctx) if r.outcome is Outcome.FAILED)
    kept = before[failed.article_id]
    assert failed.carried and failed.reason == "HTTP 503" and failed.status == "fetch_failed"
    assert (failed.objects, failed.revision, failed.title) == (
        kept.objects,
        kept.revision,
        kept.title,
    )
    assert failed.live  # its free half and metadata stay public and on record
    report = audit(ctx)
    assert report.ok and report.objects_checked == 3 * 3  # verify still audits its objects
    catalog = build_catalog(ctx.store, ctx.layout)
    assert failed.article_id in {a["article_id"] for a in catalog["articles"]}
    # Its objects are still proven: deleting one is found.
    free = failed.object(Role.FREE)
    assert free is not None
    ctx.store.delete(ctx.layout.public_bucket, [free.key])
    assert [f.kind for f in audit(ctx).findings] == [FindingKind.MISSING]
    # Back online and unchanged: published again, same revision, nothing but the gap rewritten
    # only with force (a rerun trusts the committed manifest; verify reported the gap).
    source.failing.clear()
    third = run_interval(ctx, DAY)
    assert third.counts.published == 3
    back = next(r for r in manifest_records(ctx) if r.article_id == failed.article_id)
    assert back.outcome is Outcome.PUBLISHED and not back.carried
    assert back.revision == kept.revision


def test_finding_4_a_dead_webhook_never_blocks_the_commit(make_mem_ctx) -> None:
    ctx = with_source(
        make_mem_ctx(
            sources=[{"name": "desk", "kind": "local", "path": "/x"}],
            webhook={"url": "http://127.0.0.1:9/hook", "retries": 0, "timeout_seconds": 1},
        ),
        DictSource("desk", {"a.txt": article(1)}),
    )
    summary = run_interval(ctx, DAY)  # publish does not call the webhook any more
    assert summary.committed and summary.manifest_key
    assert read_committed(ctx.store, ctx.layout, summary.manifest_key) is not None
    assert audit(ctx).ok
    with pytest.raises(WebhookError) as error:  # the notify task fails on its own
        notify_run(ctx.store, ctx.layout, ctx.settings.webhook, summary.manifest_key)
    assert error.value.code is ErrorCode.WEBHOOK and "retry of the notify task" in str(error.value)


@pytest.mark.parametrize(
    ("answer", "kind", "code"),
    [
        ((ProbeResult.INCONCLUSIVE, "ReadTimeout"), FindingKind.PROBE_INCONCLUSIVE,
         ErrorCode.VERIFY_INCONCLUSIVE),
        ((ProbeResult.INCONCLUSIVE, "NoSuchKey (HTTP 404)"), FindingKind.PROBE_INCONCLUSIVE,
         ErrorCode.VERIFY_INCONCLUSIVE),
        ((ProbeResult.READABLE, "HTTP 200"), FindingKind.PUBLICLY_READABLE, ErrorCode.VERIFY),
    ],
)  # fmt: skip
def test_finding_5_verify_fails_closed_on_anything_but_a_refusal(
    desk, answer: tuple[ProbeResult, str], kind: FindingKind, code: ErrorCode
) -> None:
    ctx, _ = desk
    run_interval(ctx, DAY)
    report = verify_run(
        ctx.store,
        ctx.layout,
        ctx.layout.manifest(DAY.slug),
        markers=ctx.settings.markers.build(),
        probe=lambda bucket, key: answer,
    )
    assert report.anonymous_probes >= 1
    assert {f.kind for f in report.findings} == {kind}
    with pytest.raises(VerifyError) as error:
        report.raise_for_problems()
    assert error.value.code is code


# --------------------------------------------------------------------------- the logic


def test_rerun_writes_nothing_commits_the_same_bytes_and_force_rewrites(desk) -> None:
    ctx, source = desk
    first = run_interval(ctx, DAY)
    assert first.counts.actions == {"written": 3} and first.changed
    snapshot = store_of(ctx).snapshot()
    manifest = ctx.store.get(ctx.layout.public_bucket, first.manifest_key or "")
    source.fetches.clear()
    second = run_interval(ctx, DAY)
    assert second.counts.actions == {"unchanged": 3} and not second.changed
    assert second.writes == 0 and store_of(ctx).snapshot() == snapshot
    assert ctx.store.get(ctx.layout.public_bucket, second.manifest_key or "") == manifest
    forced = run_interval(ctx, DAY, force=True)
    assert forced.counts.actions == {"written": 3} and forced.writes == 3 * 3


def test_counts_equal_the_manifests_outcomes(desk) -> None:
    ctx, source = desk
    source.items["2026/11/20/broken.txt"] = "标题\n##paidbegin 坏了\n".encode()
    source.items["2026/11/20/gone.txt"] = article(9)
    source.failing.add("2026/11/20/gone.txt")
    summary = run_interval(ctx, DAY)
    records = manifest_records(ctx)
    assert summary.counts.articles == len(records) == 5
    for outcome in Outcome:
        assert summary.counts.outcomes[outcome.value] == sum(r.outcome is outcome for r in records)
    marker = json.loads(
        ctx.store.get(
            ctx.layout.public_bucket, ctx.layout.commit_marker(summary.manifest_key or "")
        )
        or b""
    )
    jsonschema.validate(marker, load_schema("commit"))
    assert marker["counts"] == summary.counts.to_json()


def test_a_changed_article_gets_a_new_revision_and_an_ambiguous_one_is_retracted(desk) -> None:
    ctx, source = desk
    run_interval(ctx, DAY)
    sid = "2026/11/20/a1.txt"
    layout, store = ctx.layout, ctx.store
    meta_key = layout.meta("desk", sid)
    first = json.loads(store.get(layout.public_bucket, meta_key) or b"")
    source.items[sid] = article(1, paid="改过的付费内容")
    summary = run_interval(ctx, DAY)
    assert summary.counts.actions == {"unchanged": 2, "written": 1}
    second = json.loads(store.get(layout.public_bucket, meta_key) or b"")
    assert (first["revision"], second["revision"]) == (1, 2)
    assert (
        store.get(layout.private_bucket, layout.paid("desk", sid, "txt"))
        == "改过的付费内容".encode()
    )

    source.items[sid] = "标题\n免费##paidend##付费\n".encode()  # now ambiguous
    summary = run_interval(ctx, DAY)
    assert summary.counts.actions == {"retracted": 1, "unchanged": 2}
    assert store.get(layout.public_bucket, meta_key) is None
    assert store.get(layout.public_bucket, layout.free("desk", sid, "txt")) is None
    assert store.get(layout.private_bucket, layout.paid("desk", sid, "txt")) is None
    record = next(r for r in manifest_records(ctx) if r.source_id == sid)
    assert record.outcome is Outcome.QUARANTINED and record.status == "unmatched_end"
    assert not record.live and audit(ctx).ok
    assert sid not in {a["source_id"] for a in build_catalog(store, layout)["articles"]}

    source.items[sid] = article(1, paid="第三版")  # fixed: published again, revision 3
    run_interval(ctx, DAY)
    third = json.loads(store.get(layout.public_bucket, meta_key) or b"")
    assert third["revision"] == 3


def test_not_modified_keeps_the_record_and_costs_no_split(desk) -> None:
    ctx, source = desk
    source.etags["2026/11/20/a0.txt"] = '"v1"'
    run_interval(ctx, DAY)
    calls: list[str] = []
    real = pipeline.split_article

    def counting(raw: RawArticle, options: Any) -> Any:
        calls.append(raw.source_id)
        return real(raw, options)

    pipeline.split_article = counting  # type: ignore[assignment]
    try:
        summary = run_interval(ctx, DAY)
    finally:
        pipeline.split_article = real  # type: ignore[assignment]
    assert calls == [] and summary.counts.actions == {"unchanged": 3}


def test_the_validators_stay_private(desk) -> None:
    ctx, source = desk
    source.etags["2026/11/20/a0.txt"] = '"5d41402abc4b2a76b9719d911017c592"'  # an MD5 ETag
    run_interval(ctx, DAY)
    public = b"".join(
        ctx.store.get(ctx.layout.public_bucket, k) or b""
        for k in store_of(ctx).keys(ctx.layout.public_bucket)
    )
    assert b"5d41402abc4b2a76b9719d911017c592" not in public
    record = next(r for r in manifest_records(ctx) if r.source_id.endswith("a0.txt"))
    assert record.origin == {"etag": '"5d41402abc4b2a76b9719d911017c592"'}


def test_no_public_object_carries_a_digest_of_paid_or_raw_text(desk) -> None:
    ctx, _ = desk
    run_interval(ctx, DAY)
    store = store_of(ctx)
    secrets: set[str] = set()
    for key in store.keys(ctx.layout.private_bucket):
        body = store.get(ctx.layout.private_bucket, key) or b""
        if key.startswith(("paid/", "quarantine/")):
            import hashlib

            secrets |= {sha256_hex(body), hashlib.md5(body, usedforsecurity=False).hexdigest()}
    for _sid, raw in DictSource(
        "x", {f"2026/11/20/a{n}.txt": article(n) for n in range(3)}
    ).items.items():
        secrets.add(sha256_hex(raw))
    assert secrets
    for key in store.keys(ctx.layout.public_bucket):
        body = (store.get(ctx.layout.public_bucket, key) or b"").decode()
        found = [s for s in secrets if s in body]
        assert not found, f"{key} carries a digest of private text"


def test_one_poison_pill_quarantines_itself_and_the_chunk_goes_on(desk, monkeypatch) -> None:
    ctx, _ = desk
    real = pipeline.split_article

    def explode(raw: RawArticle, options: Any) -> Any:
        if raw.source_id.endswith("a1.txt"):
            raise RecursionError("PAID-SENTINEL-1 would be in this message")
        return real(raw, options)

    monkeypatch.setattr(pipeline, "split_article", explode)
    summary = run_interval(ctx, DAY)
    assert (summary.counts.published, summary.counts.quarantined) == (2, 1)
    assert summary.counts.statuses == {"internal_error": 1, "ok": 2}
    record = next(r for r in manifest_records(ctx) if r.status == "internal_error")
    assert "PAID-SENTINEL" not in json.dumps(record.public_json())


def test_too_many_fetch_failures_commit_nothing(desk) -> None:
    ctx, source = desk  # max_failure_ratio 0.5: two of three is over it
    source.failing |= {"2026/11/20/a0.txt", "2026/11/20/a1.txt"}
    with pytest.raises(PipelineError, match="max_failure_ratio"):
        run_interval(ctx, DAY)
    assert not [k for k in store_of(ctx).keys(ctx.layout.public_bucket) if k.startswith("runs/")]


def test_a_dry_run_writes_nothing(desk) -> None:
    ctx, _ = desk
    before = store_of(ctx).snapshot()
    summary = run_interval(ctx, DAY, dry_run=True)
    assert summary.dry_run and not summary.committed and summary.counts.published == 3
    assert store_of(ctx).snapshot() == before


def test_a_partial_run_never_replaces_the_interval_manifest(desk) -> None:
    ctx, _ = desk
    full = run_interval(ctx, DAY)
    partial = run_interval(ctx, DAY, article_ids=["2026/11/20/a2.txt"], force=True)
    assert partial.manifest_key and "/partial/" in partial.manifest_key
    assert partial.counts.articles == 1
    assert read_committed(ctx.store, ctx.layout, full.manifest_key or "") is not None
    keys = [r.manifest_key for r in committed_runs(ctx.store, ctx.layout, partial=True)]
    assert keys == sorted([full.manifest_key, partial.manifest_key])


def test_another_runs_manifest_is_never_overwritten(desk) -> None:
    ctx, source = desk
    run_interval(ctx, DAY)
    store = store_of(ctx)
    key = ctx.layout.manifest(DAY.slug)
    other = b'{"another":"run"}\n'
    swapped: list[str] = []

    def race(operation: str, bucket: str, object_key: str) -> None:
        # Another run commits between this run's read of the manifest and its write.
        if operation == "PUT" and object_key == key and not swapped:
            swapped.append(object_key)
            store.buckets[bucket][key] = store.buckets[bucket][key].__class__(
                other, "f" * 32, EXTENSIONS["jsonl"], {}, datetime.now(UTC), False
            )
        return None

    source.items["2026/11/20/a0.txt"] = article(0, paid="新的")
    store.fail = race
    with pytest.raises(PipelineError, match="another run committed a different manifest"):
        run_interval(ctx, DAY)
    assert swapped and store.get(ctx.layout.public_bucket, key) == other  # not overwritten
    # The same bytes committed by a concurrent twin are fine.
    store.fail = None
    store.delete(ctx.layout.public_bucket, [key])
    first = run_interval(ctx, DAY)
    twin = ctx.store.get(ctx.layout.public_bucket, key)
    assert twin is not None and first.committed
    store.fail = race
    swapped.clear()
    other = twin
    assert run_interval(ctx, DAY, force=True).committed


def test_layout_one_outputs_are_migrated_and_nothing_stale_stays_public(desk) -> None:
    ctx, source = desk
    layout, store = ctx.layout, store_of(ctx)

    def legacy_keys(stem: str) -> dict[str, str]:  # layout 1 dropped the extension
        return {"free": f"free/desk/2026/11/20/{stem}.txt",
                "meta": f"meta/desk/2026/11/20/{stem}.json",
                "paid": f"paid/desk/2026/11/20/{stem}.txt"}  # fmt: skip

    legacy_lines = []
    for sid, stem in (("2026/11/20/a0.txt", "a0"), ("2026/11/20/a1.txt", "a1")):
        old = legacy_keys(stem)
        for role, key in old.items():
            bucket = layout.private_bucket if role == "paid" else layout.public_bucket
            store.put(Blob.of(bucket, key, b"old " + role.encode(), EXTENSIONS["txt"]))
            assert layout.owner_of(key) is None  # layout 2 never writes a layout-1 key
        legacy_lines.append(
            dumps(
                {
                    "article_id": article_id("desk", sid),
                    "source": "desk",
                    "source_id": sid,
                    "timestamp": STAMP,
                    "status": "ok",
                    "keys": {"free": [old["free"]], "paid": [old["paid"]], "meta": old["meta"]},
                    "sha256": {"original": "0" * 64,
                               "objects": dict.fromkeys(old.values(), "0" * 64)},
                    "revision": 4,
                }
            )
        )  # fmt: skip
    # The id "2026/11/20/a0" (no extension) had a0.txt's very keys under layout 1.
    source.items["2026/11/20/a0"] = article("bare-id")
    manifest = b"\n".join(legacy_lines) + b"\n"
    store.put(Blob.of(layout.public_bucket, layout.manifest(DAY.slug), manifest, "x"))
    marker = {"manifest_key": layout.manifest(DAY.slug), "manifest_sha256": sha256_hex(manifest),
              "interval": DAY.to_json(), "articles": 2, "statuses": {"ok": 2},
              "committed_at": "t"}  # fmt: skip
    store.put(
        Blob.of(layout.public_bucket, layout.commit_marker(layout.manifest(DAY.slug)),
                dumps(marker), "x")
    )  # fmt: skip

    summary = run_interval(ctx, DAY)
    assert summary.counts.published == 4
    records = {r.source_id: r for r in manifest_records(ctx)}
    assert all(r.layout == 2 for r in records.values())
    assert records["2026/11/20/a1.txt"].revision == 5  # the move is a new public version
    for stem in ("a0", "a1"):  # every layout-1 key is gone, public and private
        for role, key in legacy_keys(stem).items():
            bucket = layout.private_bucket if role == "paid" else layout.public_bucket
            assert store.get(bucket, key) is None, key
    for sid in ("2026/11/20/a0.txt", "2026/11/20/a0"):  # each in its own article folder
        body = store.get(layout.public_bucket, layout.free("desk", sid, "txt")) or b""
        assert body.startswith("标题".encode())
    bare = store.get(layout.public_bucket, layout.free("desk", "2026/11/20/a0", "txt")) or b""
    assert b"bare-id" in bare
    assert audit(ctx).ok
    assert run_interval(ctx, DAY).writes == 0  # and the next run finds nothing to do


def test_a_stale_key_of_another_article_is_never_deleted(desk) -> None:
    ctx, source = desk
    run_interval(ctx, DAY)
    layout = ctx.layout
    # A damaged manifest naming another article's object among a0's: a0's quarantine must
    # not delete a1's free half on a0's behalf.
    records = {r.source_id: r for r in manifest_records(ctx)}
    a0, a1 = records["2026/11/20/a0.txt"], records["2026/11/20/a1.txt"]
    foreign = a1.object(Role.FREE)
    assert foreign is not None
    tampered = a0.with_changes(objects=(*a0.objects, foreign))
    source.items["2026/11/20/a0.txt"] = "标题\n免费##paidend##付费\n".encode()
    ref = ArticleRef("desk", a0.source_id, STAMP, a0.source_id)
    prepared = pipeline.prepare_article(ctx, source, ref, tampered)
    deleted = {key for _, key in prepared.deletes}
    assert foreign.key not in deleted
    assert layout.free("desk", a0.source_id, "txt") in deleted


def test_reader_refuses_stale_objects_and_presign_refuses_unknown_articles(desk) -> None:
    ctx, _ = desk
    run_interval(ctx, DAY)
    record = next(r for r in manifest_records(ctx) if r.outcome is Outcome.PUBLISHED)
    assert read_public(ctx.store, ctx.layout, record).startswith("标题".encode())
    free = record.object(Role.FREE, "txt")
    assert free is not None
    ctx.store.put(Blob.of(ctx.layout.public_bucket, free.key, b"newer", EXTENSIONS["txt"]))
    with pytest.raises(StaleObject):
        read_public(ctx.store, ctx.layout, record)
    with pytest.raises(KeyError, match="no paid"):
        presign_paid(ctx.store, ctx.layout, "desk", "never-published.txt")
    with pytest.raises(ValueError, match="expires"):
        presign_paid(ctx.store, ctx.layout, "desk", record.source_id, expires=86_400)


def test_verify_reports_missing_tampered_marked_and_foreign_private_manifests(desk) -> None:
    ctx, _ = desk
    run_interval(ctx, DAY)
    layout, store = ctx.layout, store_of(ctx)
    records = manifest_records(ctx)
    first, second, third = records
    paid = first.object(Role.PAID)
    free2 = second.object(Role.FREE)
    free3 = third.object(Role.FREE)
    assert paid and free2 and free3
    store.put(Blob.of(layout.private_bucket, paid.key, b"tampered", EXTENSIONS["txt"]))
    store.delete(layout.public_bucket, [free2.key])
    store.put(Blob.of(layout.public_bucket, free3.key, b"x ##paidbegin## y", EXTENSIONS["txt"]))
    report = audit(ctx)
    kinds = [f.kind.value for f in report.findings]
    # In manifest order, whether the listing or a read back found it.
    assert kinds == ["tampered", "missing", "marker_in_free", "tampered"], report.text()
    with pytest.raises(VerifyError) as error:
        report.raise_for_problems()
    assert error.value.code is ErrorCode.VERIFY  # deterministic: no Airflow retry
    # A private manifest that belongs to another version of the public one is not trusted.
    key = layout.private_manifest(layout.manifest(DAY.slug))
    body = store.get(layout.private_bucket, key) or b""
    store.put(Blob.of(layout.private_bucket, key, body.replace(b'"public_manifest_sha256":"',
                                                              b'"public_manifest_sha256":"0'),
                      EXTENSIONS["jsonl"]))  # fmt: skip
    assert FindingKind.PRIVATE_MANIFEST in {f.kind for f in audit(ctx).findings}


def test_verify_proves_by_listing_and_reads_only_spot_checks(desk) -> None:
    ctx, _ = desk
    run_interval(ctx, DAY)
    store = store_of(ctx)
    store.calls.clear()
    report = audit(ctx, spot_checks=0)
    assert report.ok and report.objects_checked == 9
    reads = [k for op, _, k in store.calls if op == "GET" and not k.startswith("runs/")]
    assert reads == []
    # The manifest is read once: its existence is a HEAD, and the superseded check reuses
    # the run verify has just read (at 10,000 articles each extra read parsed 10,000 lines).
    manifest = ctx.layout.manifest(DAY.slug)
    assert [op for op, _, k in store.calls if k == manifest] == ["HEAD", "GET"]
    store.calls.clear()
    assert audit(ctx, spot_checks=2).ok
    reads = [k for op, _, k in store.calls if op == "GET" and not k.startswith("runs/")]
    assert len(reads) == 2 and all(k.startswith("free/") for k in reads)


@pytest.mark.parametrize("per_range", [1, 2, 1000])
def test_verify_lists_in_ranges_and_proves_the_same(desk, monkeypatch, per_range: int) -> None:
    """Listing is cut into ranges listed in parallel: however they fall (one key each, pairs,
    one range), every object is proven or reported, never skipped at a range's edge."""
    from paywall import verify

    monkeypatch.setattr(verify, "_LIST_RANGE", per_range)
    ctx, _ = desk
    run_interval(ctx, DAY)
    store = store_of(ctx)
    report = audit(ctx, spot_checks=0)
    assert report.ok and report.objects_checked == 9
    lists = [op for op, _, _ in store.calls if op == "LIST"]
    store.calls.clear()
    first, _, third = manifest_records(ctx)
    gone = [o.key for r in (first, third) for o in r.objects if o.role is Role.META]
    store.delete(ctx.layout.public_bucket, gone)
    report = audit(ctx, spot_checks=0)
    bucket = ctx.layout.public_bucket
    assert sorted(f.location for f in report.findings) == sorted(f"s3://{bucket}/{k}" for k in gone)
    assert {f.kind for f in report.findings} == {FindingKind.MISSING}
    if per_range == 1:
        assert len(lists) >= 9  # a listing per object
    assert not [op for op, _, k in store.calls if op == "GET" and not k.startswith("runs/")]


def test_layout_owns_every_key_the_pipeline_writes(desk) -> None:
    ctx, source = desk
    source.items["2026/11/20/broken.txt"] = "标题\n##paidbegin 坏了\n".encode()
    run_interval(ctx, DAY)
    layout: Layout = ctx.layout
    for bucket in (layout.public_bucket, layout.private_bucket):
        for key in store_of(ctx).keys(bucket):
            assert layout.owner_of(key) is not None or key.startswith(
                (layout.runs_prefix(), f"staging/{layout.pipeline}/")
            ), key
            assert layout.is_public(key) == (bucket == layout.public_bucket) or key.startswith(
                ("runs/", "staging/")
            )
    assert Action.RETRACTED.value == "retracted"


# ----------------------------------------------------------------------- editors' overrides


def put_override(ctx: Context, source_id: str, action: str, note: str | None = None) -> None:
    body = dumps({"action": action, "by": "editor-1", "at": "2026-11-21T09:00:00Z", "note": note})
    key = ctx.layout.override("desk", source_id)
    ctx.store.put(Blob.of(ctx.layout.private_bucket, key, body, EXTENSIONS["json"]))


@pytest.mark.parametrize(("action", "free_has_text"), [("all_free", True), ("all_paid", False)])
def test_an_override_resolves_a_no_marker_article_on_the_next_run(
    desk, action: str, free_has_text: bool
) -> None:
    ctx, source = desk
    sid = "2026/11/20/bare.txt"
    source.items[sid] = "标题\n没有标记的文章正文。\n".encode()
    run_interval(ctx, DAY)
    bare = next(r for r in manifest_records(ctx) if r.source_id == sid)
    assert bare.outcome is Outcome.QUARANTINED and bare.status == "no_markers"
    put_override(ctx, sid, action)
    summary = run_interval(ctx, DAY)
    record = next(r for r in manifest_records(ctx) if r.source_id == sid)
    assert record.outcome is Outcome.PUBLISHED and record.override is not None
    assert record.override.value == action  # the manifest says an editor decided
    assert summary.counts.published == 4
    free = ctx.store.get(ctx.layout.public_bucket, ctx.layout.free("desk", sid, "txt")) or b""
    assert ("没有标记的文章正文" in free.decode()) is free_has_text
    assert run_interval(ctx, DAY).writes == 0  # and then it is stable


def test_a_retract_override_takes_the_article_off_and_keeps_it_off(desk) -> None:
    ctx, source = desk
    run_interval(ctx, DAY)
    sid = "2026/11/20/a1.txt"
    layout, store = ctx.layout, ctx.store
    put_override(ctx, sid, "retract", note="legal hold")
    source.fetches.clear()
    summary = run_interval(ctx, DAY)
    assert summary.counts.actions["retracted"] == 1
    record = next(r for r in manifest_records(ctx) if r.source_id == sid)
    assert (record.outcome, record.status, record.objects) == (Outcome.QUARANTINED, "retracted", ())
    assert record.reason == "retracted by an editor (override of 2026-11-21T09:00:00Z)"
    assert "legal hold" not in json.dumps(record.public_json())  # notes stay private
    for key in (layout.free("desk", sid, "txt"), layout.meta("desk", sid)):
        assert store.get(layout.public_bucket, key) is None
    assert store.get(layout.private_bucket, layout.paid("desk", sid, "txt")) is None
    assert sid not in source.fetches  # retracting needs no fetch
    again = run_interval(ctx, DAY)
    assert again.counts.actions.get("retracted", 0) == 0 and again.writes == 0
    assert sid not in {a["source_id"] for a in build_catalog(store, layout)["articles"]}


def test_an_unreadable_override_fails_the_chunk_naming_it(desk) -> None:
    ctx, _ = desk
    key = ctx.layout.override("desk", "2026/11/20/a0.txt")
    ctx.store.put(Blob.of(ctx.layout.private_bucket, key, b"{not json", EXTENSIONS["json"]))
    with pytest.raises(PipelineError, match=r"override .*a0\.txt~/override\.json is unreadable"):
        run_interval(ctx, DAY)


def test_a_reprocessed_article_is_what_the_next_full_run_compares_with(desk) -> None:
    ctx, source = desk
    run_interval(ctx, DAY)
    sid = "2026/11/20/a2.txt"
    source.items[sid] = article(2, paid="改版的付费正文")
    partial = run_interval(ctx, DAY, article_ids=[sid], force=True)
    assert partial.manifest_key and "/partial/" in partial.manifest_key
    meta = json.loads(ctx.store.get(ctx.layout.public_bucket, ctx.layout.meta("desk", sid)) or b"")
    assert meta["revision"] == 2
    full = run_interval(ctx, DAY)  # previous = the partial run's record, not the stale one
    assert full.writes == 0 and dict(full.counts.actions) == {"unchanged": 3}
    record = next(r for r in manifest_records(ctx) if r.source_id == sid)
    assert record.revision == 2 and audit(ctx).ok


def test_verify_audits_each_article_against_its_latest_committed_run(desk) -> None:
    ctx, _ = desk
    run_interval(ctx, DAY)
    sid = "2026/11/20/a1.txt"
    put_override(ctx, sid, "retract")
    partial = run_interval(ctx, DAY, article_ids=[sid])  # an editor's retraction, as the UI
    assert partial.manifest_key and partial.counts.actions.get("retracted") == 1
    # The interval's manifest still names a1's (now deleted) objects: a later committed run
    # replaced that record, so the audit leaves them to that run instead of reporting them.
    full = audit(ctx)
    assert full.ok, full.text()
    assert full.superseded == 1
    report = verify_run(ctx.store, ctx.layout, partial.manifest_key,
                        markers=ctx.settings.markers.build(), probe=ctx.probe)  # fmt: skip
    assert report.ok and report.superseded == 0
    # Deleting an object a superseded record names is not a finding; one the latest names is.
    free = ctx.layout.free("desk", "2026/11/20/a0.txt", "txt")
    ctx.store.delete(ctx.layout.public_bucket, [free])
    assert [f.kind for f in audit(ctx).findings] == [FindingKind.MISSING]


def test_publish_joins_the_chunks_parts_only_when_each_is_the_one_its_chunk_wrote(
    make_mem_ctx,
) -> None:
    """Publish joins the stored parts without parsing them, so it must prove each part is
    the one its chunk's result describes: a part replaced after its chunk (another attempt,
    a hand edit) commits nothing and names the chunk to rerun. A result of an earlier
    release (no digest, one document per record) still publishes, to the same bytes."""
    from dataclasses import replace

    source = DictSource("desk", {f"2026/11/20/a{n}.txt": article(n) for n in range(3)})
    ctx = make_mem_ctx(
        pipeline={"name": "desk_pipeline", "chunk_size": 2},  # two chunks: 2 + 1 articles
        sources=[{"name": "desk", "kind": "local", "path": "/nonexistent"}],
    )
    ctx = with_source(ctx, source)
    plan = pipeline.plan_run(ctx, DAY)
    results = [pipeline.process_chunk(ctx, job) for job in plan.jobs()]
    assert plan.chunks == 2 and all(r.part_sha256 and r.public_bytes for r in results)
    part_key = results[1].part_key
    part = ctx.store.get(ctx.layout.private_bucket, part_key)
    assert part is not None
    ctx.store.put(Blob.of(ctx.layout.private_bucket, part_key, part + b"\n", EXTENSIONS["jsonl"]))
    with pytest.raises(PipelineError, match=r"not the one chunk 1 wrote.*rerun chunk 1"):
        pipeline.publish_run(ctx, plan, results)
    assert not [k for k in store_of(ctx).keys(ctx.layout.public_bucket) if k.startswith("runs/")]
    # The right part, but a result that splits it elsewhere (a record cut or moved across).
    ctx.store.put(Blob.of(ctx.layout.private_bucket, part_key, part, EXTENSIONS["jsonl"]))
    public_bytes = results[1].public_bytes or 0
    for shifted in (public_bytes - 1, public_bytes + 1, 0, len(part)):
        forged = replace(results[1], public_bytes=shifted)
        with pytest.raises(PipelineError, match="does not split into chunk 1's 1 public"):
            pipeline.publish_run(ctx, plan, [results[0], forged])

    # The same records as an earlier release stored them: one document per record.
    publics = part[: results[1].public_bytes].splitlines()
    privates = part[results[1].public_bytes :].splitlines()
    legacy = b"".join(
        dumps({"public": json.loads(p), "private": json.loads(q)}) + b"\n"
        for p, q in zip(publics, privates, strict=True)
    )
    ctx.store.put(Blob.of(ctx.layout.private_bucket, part_key, legacy, EXTENSIONS["jsonl"]))
    old = replace(results[1], part_sha256=None, public_bytes=None)
    assert "part_sha256" not in old.to_json()
    summary = pipeline.publish_run(ctx, plan, [results[0], old])
    manifest = ctx.store.get(ctx.layout.public_bucket, summary.manifest_key or "")
    ctx.store.put(Blob.of(ctx.layout.private_bucket, part_key, part, EXTENSIONS["jsonl"]))
    again = pipeline.publish_run(ctx, plan, results)
    assert again.manifest_sha256 == summary.manifest_sha256 and not again.changed
    assert ctx.store.get(ctx.layout.public_bucket, again.manifest_key or "") == manifest
    ids = [r.source_id for r in manifest_records(ctx)]
    assert ids == [f"2026/11/20/a{n}.txt" for n in range(3)]


def test_a_chunk_reads_exactly_its_own_lines_of_a_manifest() -> None:
    """Picking lines by their leading id is the same as parsing every line and filtering,
    for canonical manifests and for any other (older, hand-written) line shapes."""
    from paywall.reader import _lines

    ids = [sha256_hex(str(n))[:20] for n in range(6)]
    canonical = b"".join(dumps({"article_id": i, "n": n}) + b"\n" for n, i in enumerate(ids))
    odd = canonical.replace(dumps({"article_id": ids[2], "n": 2}), b'{"n": 2, "article_id": "x"}')
    odd += b"\n" + json.dumps({"n": 9, "article_id": ids[3]}).encode()  # no final newline
    # The id key twice: a parser keeps the last one, and so must the picking.
    twice = (
        f'{{"article_id":"{ids[4]}","n":4,"article_id":"{ids[0]}"}}\n'
        f'{{"article_id":"{ids[0]}","n":5,"article_id":"{ids[5]}"}}\n'
        "[1, 2]\n"
    ).encode()
    # ... and spelled with an escape, which a byte search for the key does not see.
    escaped = (
        f'{{"article_id":"{ids[4]}","n":6,"article\\u005fid":"{ids[0]}"}}\n'
        f'{{"article_id":"{ids[0]}","n":7,"\\u0061rticle_id":"{ids[5]}"}}\n'
    ).encode()
    assert json.loads(escaped.splitlines()[0])["article_id"] == ids[0]
    bodies = (canonical, canonical.rstrip(b"\n"), odd, b"", b"\n", canonical + twice, escaped)
    for body in bodies:
        every = [json.loads(line) for line in body.splitlines() if line.strip()]
        for only in ({ids[0], ids[3]}, set(ids), set(), {"not-an-id"}):
            expected = [d for d in every if isinstance(d, dict) and d["article_id"] in only]
            assert list(_lines(body, only)) == expected
        assert list(_lines(body, None)) == every


class WatchedStore:
    """An in-memory store that records each PUT's thread and order and can fail one key."""

    def __init__(self, inner: MemoryStore, fail_key: str | None = None) -> None:
        import threading

        self.inner = inner
        self.fail_key = fail_key
        self.puts: list[tuple[str, str]] = []  # (thread name, key)
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def put(self, blob: Blob, **kwargs: Any) -> str:
        import threading

        if self.fail_key is not None and blob.key.endswith(self.fail_key):
            from paywall.errors import StorageError

            raise StorageError(f"PUT {blob.key} failed (injected)")
        with self._lock:
            self.puts.append((threading.current_thread().name, blob.key))
        return self.inner.put(blob, **kwargs)


def test_each_articles_writes_run_in_commit_order_off_the_splitting_thread(desk) -> None:
    ctx, _source = desk
    watched = WatchedStore(store_of(ctx))
    ctx.store = watched  # type: ignore[assignment]
    run_interval(ctx, DAY)
    article_puts = [(t, k) for t, k in watched.puts if k.startswith(("free/", "paid/", "meta/"))]
    assert len(article_puts) == 3 * 3
    assert all(t.startswith("paywall-write") for t, _ in article_puts)
    for n in range(3):
        mine = [k.split("/")[0] for _t, k in article_puts if f"/a{n}.txt~/" in k]
        assert mine == ["paid", "free", "meta"], mine  # one writer, in commit order


def test_a_failed_write_fails_the_chunk_and_stores_no_part(desk) -> None:
    """One article's failed PUT fails its chunk (the task retries): no manifest part is
    stored, nothing is committed, and the rerun converges to a clean run's outputs."""
    from paywall.errors import StorageError

    ctx, _source = desk
    memory = store_of(ctx)
    ctx.store = WatchedStore(memory, fail_key="a1.txt~/free.txt")  # type: ignore[assignment]
    plan = pipeline.plan_run(ctx, DAY)
    with pytest.raises(StorageError, match="injected"):
        pipeline.process_chunk(ctx, plan.jobs()[0])
    assert not [k for k in memory.keys(ctx.layout.private_bucket) if "/parts/" in k]
    assert not [k for k in memory.keys(ctx.layout.public_bucket) if k.startswith("runs/")]
    ctx.store = memory
    summary = run_interval(ctx, DAY)
    assert summary.committed and summary.counts.published == 3
    assert audit(ctx).ok


def test_network_fetches_overlap_and_their_results_keep_the_plans_order(make_mem_ctx) -> None:
    """A slow source is fetched by several threads at once (the chunk does not wait for one
    article after another), and the records still come out in the plan's order."""
    import threading
    import time

    class SlowSource(DictSource):
        active = most = 0
        guard = threading.Lock()

        def fetch(self, ref: ArticleRef, previous: Mapping[str, Any] | None = None) -> RawArticle:
            with self.guard:
                self.active += 1
                self.most = max(self.most, self.active)
            time.sleep(0.05 if ref.source_id.endswith(("0.txt", "3.txt")) else 0.01)
            try:
                return super().fetch(ref, previous)
            finally:
                with self.guard:
                    self.active -= 1

    source = SlowSource("desk", {f"2026/11/20/a{n}.txt": article(n) for n in range(12)})
    ctx = make_mem_ctx(
        pipeline={"name": "desk_pipeline", "chunk_size": 100},
        sources=[{"name": "desk", "kind": "local", "path": "/nonexistent"}],
        storage={"max_concurrency": 4},
    )
    ctx = with_source(ctx, source)
    run_interval(ctx, DAY)
    assert source.most > 1, "fetches from a network source must overlap"
    ids = [r.source_id for r in manifest_records(ctx)]
    assert ids == sorted(source.items)


def test_a_source_without_concurrent_fetch_is_read_in_the_chunks_own_thread(
    make_mem_ctx,
) -> None:
    """A local read gains nothing from threads (they would contend for the GIL with the
    splitting): a source saying ``concurrent_fetch = False`` is read inline, in order."""
    import threading

    class InlineSource(DictSource):
        concurrent_fetch = False
        threads: ClassVar[set[str]] = set()

        def fetch(self, ref: ArticleRef, previous: Mapping[str, Any] | None = None) -> RawArticle:
            self.threads.add(threading.current_thread().name)
            return super().fetch(ref, previous)

    source = InlineSource("desk", {f"2026/11/20/a{n}.txt": article(n) for n in range(6)})
    ctx = make_mem_ctx(
        pipeline={"name": "desk_pipeline", "chunk_size": 100},
        sources=[{"name": "desk", "kind": "local", "path": "/nonexistent"}],
        storage={"max_concurrency": 4},
    )
    run_interval(with_source(ctx, source), DAY)
    assert source.threads == {threading.current_thread().name}
    assert [r.source_id for r in manifest_records(ctx)] == sorted(source.items)


def test_a_chunk_reads_two_byte_ranges_of_a_large_plan_not_all_of_it(
    make_mem_ctx, monkeypatch
) -> None:
    """A chunk's memory must not grow with the plan: it reads the header, then its own line,
    by range (measured: 17 MB of plan at 100,000 articles was half a chunk process's peak)."""
    from paywall.pipeline import _chunk_refs

    monkeypatch.setattr(pipeline, "PLAN_HEAD_BYTES", 300)  # a "large" plan: past the header
    source = DictSource("desk", {f"2026/11/20/a{n}.txt": article(n) for n in range(3)})
    ctx = make_mem_ctx(
        pipeline={"name": "desk_pipeline", "chunk_size": 1},
        sources=[{"name": "desk", "kind": "local", "path": "/nonexistent"}],
    )
    ctx = with_source(ctx, source)
    plan = pipeline.plan_run(ctx, DAY)
    size = len(ctx.store.get(ctx.layout.private_bucket, plan.plan_key) or b"")
    assert plan.chunks == 3 and size > 300
    store = store_of(ctx)
    reads: list[tuple[int, int]] = []
    real = store.get_range

    def get_range(bucket: str, key: str, start: int, end: int) -> bytes | None:
        reads.append((start, end))
        return real(bucket, key, start, end)

    monkeypatch.setattr(store, "get_range", get_range)
    store.calls.clear()
    refs = sorted(source.list(None), key=lambda r: r.source_id)
    assert [_chunk_refs(ctx, plan, i) for i in range(3)] == [(r,) for r in refs]
    # The header range of each chunk, and a line range for lines not inside the header's
    # (the first one is): never the whole plan.
    assert reads == [(0, 300), (0, 300), reads[2], (0, 300), reads[4]]
    assert all(end - start < size for start, end in reads)
    assert len([k for op, _, k in store.calls if op == "GET" and k == plan.plan_key]) == 5


def test_a_chunk_reads_its_own_line_of_the_plan_and_old_plans_still_read(desk) -> None:
    """The stored plan is a header and one line per chunk; a plan stored by 0.1.1 (one JSON
    document) still runs, and a damaged plan fails the chunk naming the plan."""
    from paywall.pipeline import PlanBody, _chunk_refs

    ctx, source = desk
    refs = tuple(source.list(None))
    body = PlanBody(DAY, True, (refs[:2], refs[2:]))
    stored = body.to_bytes()
    assert stored.count(b"\n") == 3 and json.loads(stored.splitlines()[0])["chunks"] == 2
    assert [PlanBody.chunk_of(stored, i) for i in (0, 1, 2, -1)] == [
        [r.to_json() for r in refs[:2]],
        [r.to_json() for r in refs[2:]],
        None,
        None,
    ]
    old = dumps(body.to_json())
    assert [PlanBody.chunk_of(old, i) for i in (0, 1, 2)] == [
        PlanBody.chunk_of(stored, 0),
        PlanBody.chunk_of(stored, 1),
        None,
    ]
    plan = pipeline.plan_run(ctx, DAY)
    assert plan.plan_key.endswith(".jsonl")
    assert _chunk_refs(ctx, plan, 0) == refs
    # Stored by 0.1.2 (a header and lines, no offsets) or 0.1.1: read whole, still runs.
    for older in (stored.split(b"\n", 1)[1], old):
        head = {"interval": DAY.to_json(), "full": True, "chunks": 2}
        data = dumps(head) + b"\n" + older if older is not old else old
        ctx.store.put(Blob.of(ctx.layout.private_bucket, plan.plan_key, data, "x/y"))
        assert _chunk_refs(ctx, plan, 1) == refs[2:]
    for damaged in (
        stored[: len(stored) // 2],
        b'{"chunks": 3}\n[]\n',
        b'{"chunks": 3}',
        b"not json",
        stored.replace(b'"offsets":[0,', b'"offsets":[1,'),
        stored.replace(b'"offsets":[0,', b'"offsets":[0,1,'),
        stored.replace(b"}]\n", b"}]\r", 1),
    ):
        assert damaged != stored
        ctx.store.put(Blob.of(ctx.layout.private_bucket, plan.plan_key, damaged, "x/y"))
        with pytest.raises(PipelineError, match=r"plan .* (is unreadable|has no|is not in)"):
            _chunk_refs(ctx, plan, 1 if damaged.startswith(b'{"chunks": 3}') else 0)
