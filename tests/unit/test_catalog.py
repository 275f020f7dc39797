"""The incremental catalog on the in-memory store (issue 17).

Two ways to make manifests: the real pipeline (``run_interval`` over a source of dicts with
per-article timestamps), and :class:`Publisher`, which commits hand-made manifest lines so
the catalog can be fed what the pipeline never writes (adversarial lines, any commit order).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from paywall.articles import RawArticle, article_id
from paywall.catalog import (
    ArticleRow,
    State,
    TableBatch,
    build_catalog,
    manifest_keys_of_events,
    read_catalog,
    read_day,
    refresh,
    update_catalog,
    withdraw,
)
from paywall.config import CatalogSettings
from paywall.errors import CatalogError, ErrorCode, FetchError, StorageError
from paywall.layout import EXTENSIONS, Layout, interval_slug
from paywall.memstore import MemoryStore
from paywall.metadata import sha256_hex
from paywall.model import (
    Action,
    ArticleRef,
    CommitMarker,
    Counts,
    Interval,
    ManifestRecord,
    ObjectRef,
    Outcome,
    Role,
    dumps,
)
from paywall.pipeline import Context, run_interval
from paywall.store import Blob

T0 = datetime(2026, 11, 20, tzinfo=UTC)


def day_interval(n: int) -> Interval:
    return Interval(T0 + timedelta(days=n), T0 + timedelta(days=n + 1))


def text(n: int | str, paid: str | None = None) -> bytes:
    paid = paid if paid is not None else f"PAID-SENTINEL-{n} 付费正文第{n}段。"
    return f"标题{n}\n公开导语{n}。\n##paidbegin##{paid}##paidend##\n结尾{n}。\n".encode()


@dataclass
class Desk:
    """A source over a dict: id -> (timestamp, bytes); ``failing`` ids fail to fetch."""

    name: str = "desk"
    items: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    failing: set[str] = field(default_factory=set)

    def list(self, interval: Interval | None) -> list[ArticleRef]:
        refs = [
            ArticleRef(self.name, sid, ts, sid)
            for sid, (ts, _) in sorted(self.items.items())
            if interval is None or interval.contains(datetime.fromisoformat(ts))
        ]
        return sorted(refs, key=lambda r: (r.timestamp, r.source_id))

    def fetch(self, ref: ArticleRef, previous: Mapping[str, Any] | None = None) -> RawArticle:
        if ref.source_id in self.failing:
            raise FetchError("HTTP 503", f"http://site/{ref.source_id}")
        ts, data = self.items[ref.source_id]
        return RawArticle(self.name, ref.source_id, data, published_at=ts)

    def put(self, sid: str, day: int, body: bytes | None = None, hour: int = 8) -> None:
        stamp = (T0 + timedelta(days=day, hours=hour)).isoformat()
        self.items[sid] = (stamp, body if body is not None else text(sid))


@pytest.fixture
def desk(make_mem_ctx) -> tuple[Context, Desk]:
    source = Desk()
    ctx = make_mem_ctx(
        pipeline={"name": "desk_pipeline", "max_failure_ratio": 0.9},
        sources=[{"name": "desk", "kind": "local", "path": "/nonexistent"}],
    )
    ctx.source = lambda name: source  # type: ignore[method-assign]
    return ctx, source


def mem(ctx: Context) -> MemoryStore:
    assert isinstance(ctx.store, MemoryStore)
    return ctx.store


def catalog_objects(store: MemoryStore, layout: Layout) -> dict[str, bytes]:
    """Every catalog object but the root's counters: what any order of events must equal."""
    bucket = store.buckets[layout.public_bucket]
    out = {
        k: o.body
        for k, o in bucket.items()
        if k.startswith(layout.catalog_prefix()) and k != layout.catalog()
    }
    root = json.loads(bucket[layout.catalog()].body)
    for volatile in ("generation", "updated_at", "rescanned_at"):
        root.pop(volatile)
    out["root"] = dumps(root)
    return out


def listed(store: Any, layout: Layout) -> dict[str, dict[str, Any]]:
    return {a["article_id"]: a for a in read_catalog(store, layout)}


def reference(store: Any, layout: Layout) -> dict[str, dict[str, Any]]:
    return {a["article_id"]: a for a in build_catalog(store, layout)["articles"]}


@dataclass
class Sink:
    """A TableSink that remembers every batch and applies each manifest sha256 once."""

    batches: list[TableBatch] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)
    fail_after_write: bool = False

    def write(self, batch: TableBatch) -> bool:
        if batch.manifest_sha256 in self.seen:
            return False
        self.seen.add(batch.manifest_sha256)
        self.batches.append(batch)
        return True

    @property
    def rows(self) -> list[ArticleRow]:
        return [r for b in self.batches for r in b.rows]


# ------------------------------------------------------------------ the real pipeline


def test_daily_runs_apply_one_manifest_each_and_equal_a_rebuild(desk) -> None:
    ctx, source = desk
    layout = ctx.layout
    keys = []
    for day in range(3):
        for n in range(4):
            source.put(f"2026/{day}/a{n}.txt", day)
        summary = run_interval(ctx, day_interval(day))
        assert summary.manifest_key
        keys.append(summary.manifest_key)
        result = refresh(ctx.store, layout, [summary.manifest_key])
        assert result.applied == (summary.manifest_key,) or day == 0
        assert listed(ctx.store, layout) == reference(ctx.store, layout)
    assert len(listed(ctx.store, layout)) == 12
    # One partition per day of article timestamps, each listing that day's articles.
    for day in range(3):
        stamp = (T0 + timedelta(days=day)).strftime("%Y-%m-%d")
        ids = {a["source_id"] for a in read_day(ctx.store, layout, stamp)}
        assert ids == {f"2026/{day}/a{n}.txt" for n in range(4)}
    # The later updates read only their own manifest (and the tail's commit markers).
    store = mem(ctx)
    store.calls.clear()
    source.put("2026/3/a0.txt", 3)
    summary = run_interval(ctx, day_interval(3))
    store.calls.clear()
    result = refresh(ctx.store, layout, [summary.manifest_key or ""])
    assert result.applied == (summary.manifest_key,) and result.scan == "tail"
    gets = [k for op, b, k in store.calls if op == "GET" and k.startswith("runs/")]
    assert all(k.startswith(layout.run_prefix(day_interval(3).slug)) for k in gets), gets


def test_a_replayed_event_changes_nothing(desk) -> None:
    ctx, source = desk
    source.put("a.txt", 0)
    summary = run_interval(ctx, day_interval(0))
    key = summary.manifest_key or ""
    first = refresh(ctx.store, ctx.layout, [key])
    before = catalog_objects(mem(ctx), ctx.layout)
    generation = first.generation
    for _ in range(3):
        again = refresh(ctx.store, ctx.layout, [key, key])
        assert again.applied == () and again.replayed == 1 and again.changes == 0
        assert again.generation == generation and not again.changed
    assert catalog_objects(mem(ctx), ctx.layout) == before
    # A rerun that commits the same manifest bytes is a replay too.
    run_interval(ctx, day_interval(0))
    assert refresh(ctx.store, ctx.layout, [key]).applied == ()


def test_quarantine_and_retraction_leave_a_fetch_failure_does_not(desk) -> None:
    ctx, source = desk
    for n in range(3):
        source.put(f"a{n}.txt", 0)
    run_interval(ctx, day_interval(0))
    refresh(ctx.store, ctx.layout)
    assert {a["source_id"] for a in read_catalog(ctx.store, ctx.layout)} == {
        "a0.txt", "a1.txt", "a2.txt"
    }  # fmt: skip
    source.items["a1.txt"] = (source.items["a1.txt"][0], "标题\n免费##paidend##付费\n".encode())
    source.failing.add("a2.txt")
    summary = run_interval(ctx, day_interval(0))
    result = refresh(ctx.store, ctx.layout, [summary.manifest_key or ""])
    assert result.changes == 2  # a1 quarantined; a2 failed but carried: a new change
    now = listed(ctx.store, ctx.layout)
    assert {a["source_id"] for a in now.values()} == {"a0.txt", "a2.txt"}
    assert now[article_id("desk", "a2.txt")]["carried"] is True
    day = json.loads(
        mem(ctx).get(
            ctx.layout.public_bucket,
            json.loads(mem(ctx).get(ctx.layout.public_bucket, ctx.layout.catalog()) or b"")[
                "months"
            ]["2026-11"]["key"],
        )
        or b""
    )["days"]["2026-11-20"]
    partition = json.loads(mem(ctx).get(ctx.layout.public_bucket, day["key"]) or b"")
    gone = {e["source_id"]: e for e in partition["unlisted"]}
    assert gone["a1.txt"]["state"] == State.QUARANTINED and gone["a1.txt"]["free"] == []
    assert listed(ctx.store, ctx.layout) == reference(ctx.store, ctx.layout)


def test_a_retract_override_takes_the_article_out(desk) -> None:
    ctx, source = desk
    source.put("a.txt", 0)
    source.put("b.txt", 0)
    run_interval(ctx, day_interval(0))
    refresh(ctx.store, ctx.layout)
    override = {"action": "retract", "by": "editor-1", "at": "2026-11-21T00:00:00Z"}
    ctx.store.put(
        Blob.of(ctx.layout.private_bucket, ctx.layout.override("desk", "a.txt"),
                dumps(override), EXTENSIONS["json"])
    )  # fmt: skip
    summary = run_interval(ctx, day_interval(0))
    refresh(ctx.store, ctx.layout, [summary.manifest_key or ""])
    assert {a["source_id"] for a in read_catalog(ctx.store, ctx.layout)} == {"b.txt"}


def test_an_editors_withdrawal_takes_the_article_out_now_until_a_later_run_decides(
    desk,
) -> None:
    """The Paywall page's retract-now: out of the catalog at once, kept out by replays and
    rescans, then superseded by the run that records the retraction (or a later republish)."""
    ctx, source = desk
    layout = ctx.layout
    assert withdraw(ctx.store, layout, "0" * 20, "2026-11-20T08:00:00+00:00") == "absent"
    source.put("a.txt", 0)
    source.put("b.txt", 0)
    summary = run_interval(ctx, day_interval(0))
    key = summary.manifest_key or ""
    refresh(ctx.store, layout, [key])
    aid = article_id("desk", "a.txt")
    stamp = source.items["a.txt"][0]
    assert withdraw(ctx.store, layout, aid, stamp) == "removed"
    assert set(listed(ctx.store, layout)) == {article_id("desk", "b.txt")}
    assert withdraw(ctx.store, layout, aid, stamp) == "unchanged"
    refresh(ctx.store, layout, [key], rescan=True)  # a replay and a rescan keep it out
    assert set(listed(ctx.store, layout)) == {article_id("desk", "b.txt")}
    # the run the editor's action triggers commits the retraction: the catalog agrees with a
    # rebuild again
    override = {"action": "retract", "by": "editor-1", "at": "2026-11-21T00:00:00Z"}
    ctx.store.put(
        Blob.of(layout.private_bucket, layout.override("desk", "a.txt"),
                dumps(override), EXTENSIONS["json"])
    )  # fmt: skip
    summary = run_interval(ctx, day_interval(0))
    refresh(ctx.store, layout, [summary.manifest_key or ""])
    assert listed(ctx.store, layout) == reference(ctx.store, layout)
    assert set(listed(ctx.store, layout)) == {article_id("desk", "b.txt")}
    # the override cleared, a later run publishes it again: listed again
    ctx.store.delete(layout.private_bucket, [layout.override("desk", "a.txt")])
    summary = run_interval(ctx, day_interval(0))
    refresh(ctx.store, layout, [summary.manifest_key or ""])
    assert set(listed(ctx.store, layout)) == {aid, article_id("desk", "b.txt")}
    assert listed(ctx.store, layout) == reference(ctx.store, layout)


def test_a_withdrawal_finds_every_day_that_lists_the_article(pub: Publisher) -> None:
    """With track_moves the locator finds every day that holds the article, whatever day
    the caller names. Without it (an article may be listed in two days: the setting's
    documented trade-off) only the named day is withdrawn; no partition is scanned."""
    pub.commit(day_interval(0), [pub.record("a", 0), pub.record("b", 0)])
    pub.commit(day_interval(2), [pub.record("a", 2, revision=2)])
    loose = CatalogSettings(track_moves=False)
    refresh(pub.store, pub.layout, settings=loose)
    assert [a["source_id"] for a in read_catalog(pub.store, pub.layout)].count("a") == 2
    stamp = (T0 + timedelta(days=2, hours=8)).isoformat()
    aid = article_id("desk", "a")
    assert withdraw(pub.store, pub.layout, aid, stamp, settings=loose) == "removed"
    assert sorted(a["source_id"] for a in read_catalog(pub.store, pub.layout)) == ["a", "b"]
    assert read_day(pub.store, pub.layout, "2026-11-22") == []
    tracked = Publisher(MemoryStore.with_buckets("pub-bucket", "priv-bucket"), pub.layout)
    tracked.commit(day_interval(0), [tracked.record("a", 0), tracked.record("b", 0)])
    tracked.commit(day_interval(2), [tracked.record("a", 2, revision=2)])
    refresh(tracked.store, pub.layout)
    old_day = (T0 + timedelta(hours=8)).isoformat()  # a stale record's timestamp
    assert withdraw(tracked.store, pub.layout, aid, old_day) == "removed"
    assert set(listed(tracked.store, pub.layout)) == ids("b")


def test_a_withdrawal_never_raises_over_an_unreadable_or_busy_catalog(pub: Publisher) -> None:
    pub.commit(day_interval(0), [pub.record("a", 0)])
    refresh(pub.store, pub.layout)
    aid, stamp = article_id("desk", "a"), (T0 + timedelta(hours=8)).isoformat()
    held = dumps({"owner": "x", "expires_at": "2999-01-01T00:00:00+00:00"})
    pub.store.put(Blob.of("pub-bucket", pub.layout.catalog_lease(), held, "j"))
    assert withdraw(pub.store, pub.layout, aid, stamp).startswith("not updated")
    pub.store.delete("pub-bucket", [pub.layout.catalog_lease()])
    for body in (b'["a list"]', b"{", b'{"format": 1}'):
        pub.store.put(Blob.of("pub-bucket", pub.layout.catalog(), body, "j"))
        assert withdraw(pub.store, pub.layout, aid, stamp).startswith("not updated")
        assert pub.store.get("pub-bucket", pub.layout.catalog()) == body


def test_no_paid_text_and_no_private_digest_reaches_the_catalog(desk) -> None:
    ctx, source = desk
    for n in range(5):
        source.put(f"a{n}.txt", 0)
    source.put("bad.txt", 0, "标题\n##paidbegin 坏了 PAID-SENTINEL-bad\n".encode())
    summary = run_interval(ctx, day_interval(0))
    sink = Sink()
    refresh(ctx.store, ctx.layout, [summary.manifest_key or ""], sink=sink)
    store = mem(ctx)
    private = store.get(
        ctx.layout.private_bucket, ctx.layout.private_manifest(summary.manifest_key or "")
    )
    secrets_ = {o["sha256"] for line in (private or b"").splitlines()[1:]
                for o in json.loads(line)["objects"]}  # fmt: skip
    secrets_ |= {json.loads(line)["input_sha256"] for line in (private or b"").splitlines()[1:]}
    secrets_.discard(None)
    assert secrets_
    blobs = [o.body for k, o in store.buckets[ctx.layout.public_bucket].items()
             if k.startswith(ctx.layout.catalog_prefix())]  # fmt: skip
    blobs.append(json.dumps([r.to_json() for r in sink.rows], default=str).encode())
    for body in blobs:
        assert b"PAID-SENTINEL" not in body and "付费".encode() not in body
        assert not any(s.encode() in body for s in secrets_)


def test_rows_carry_character_counts_from_the_public_metadata(desk) -> None:
    ctx, source = desk
    body = "标题\n公开导语。\n##paidbegin##付费正文十个字而已。##paidend##\n"
    source.put("a.txt", 0, body.encode())
    summary = run_interval(ctx, day_interval(0))
    sink = Sink()
    refresh(ctx.store, ctx.layout, [summary.manifest_key or ""], sink=sink)
    (row,) = sink.rows
    meta = json.loads(mem(ctx).get(ctx.layout.public_bucket, row.meta_key or "") or b"")
    assert (row.free_chars, row.paid_chars) == (
        meta["stats"]["free"]["chars"],
        meta["stats"]["paid"]["chars"],
    )
    assert row.paid_chars == len("付费正文十个字而已。")
    assert row.outcome == "published" and row.state == "live" and row.revision == 1
    assert row.published_at == T0 + timedelta(hours=8)
    assert row.interval == day_interval(0).slug and row.catalog_generation >= 1
    # Metadata replaced since the commit: the counts are unknown, never another revision's.
    ctx.store.put(Blob.of(ctx.layout.public_bucket, row.meta_key or "", b"{}", "x"))
    source.put("b.txt", 0)
    summary = run_interval(ctx, day_interval(0), article_ids=["b.txt"])
    ctx.store.put(Blob.of(ctx.layout.public_bucket, ctx.layout.meta("desk", "b.txt"), b"{}", "x"))
    refresh(ctx.store, ctx.layout, [summary.manifest_key or ""], sink=sink)
    assert (sink.rows[-1].free_chars, sink.rows[-1].paid_chars) == (None, None)


def test_a_rerun_that_no_longer_lists_an_article_drops_it(desk) -> None:
    ctx, source = desk
    source.put("a.txt", 0)
    source.put("b.txt", 0)
    run_interval(ctx, day_interval(0))
    refresh(ctx.store, ctx.layout)
    del source.items["b.txt"]  # gone from the source's listing
    summary = run_interval(ctx, day_interval(0))
    sink = Sink()
    result = refresh(ctx.store, ctx.layout, [summary.manifest_key or ""], sink=sink)
    assert result.applied == (summary.manifest_key,)
    assert {a["source_id"] for a in read_catalog(ctx.store, ctx.layout)} == {"a.txt"}
    assert [(r.source_id, r.state, r.outcome) for r in sink.rows] == [
        ("b.txt", "dropped", "dropped")
    ]
    assert listed(ctx.store, ctx.layout) == reference(ctx.store, ctx.layout)


def test_a_partial_run_updates_its_articles(desk) -> None:
    ctx, source = desk
    source.put("a.txt", 0)
    source.put("b.txt", 0)
    run_interval(ctx, day_interval(0))
    refresh(ctx.store, ctx.layout)
    source.put("b.txt", 0, text("b", paid="新的付费"))
    partial = run_interval(ctx, day_interval(0), article_ids=["b.txt"], force=True)
    assert partial.manifest_key and "/partial/" in partial.manifest_key
    sink = Sink()
    result = refresh(ctx.store, ctx.layout, [partial.manifest_key], sink=sink)
    assert result.applied == (partial.manifest_key,)
    now = listed(ctx.store, ctx.layout)
    assert now[article_id("desk", "b.txt")]["revision"] == 2
    assert [r.revision for r in sink.rows] == [2]
    assert now == reference(ctx.store, ctx.layout)


# -------------------------------------------------------------- hand-made manifests


@dataclass
class Publisher:
    """Commits manifests as the pipeline's publish step does: lines, then the marker."""

    store: MemoryStore
    layout: Layout
    clock: datetime = T0 + timedelta(days=30)

    def record(self, sid: str, day: int, outcome: str = "published", *, hour: int = 8,
               source: str = "desk", revision: int = 1, carried: bool = False,
               title: str | None = None, objects: list[ObjectRef] | None = None,
               timestamp: str | None = None) -> ManifestRecord:  # fmt: skip
        stamp = timestamp or (T0 + timedelta(days=day, hours=hour)).isoformat()
        live = outcome == "published" or carried
        if objects is None:
            objects = []
            if live:
                free_body = f"free {sid} r{revision}".encode()
                meta_key = self.layout.meta(source, sid)
                meta_body = dumps({"stats": {"free": {"chars": len(free_body)},
                                             "paid": {"chars": 7 * revision}}})  # fmt: skip
                self.store.put(Blob.of(self.layout.public_bucket, meta_key, meta_body, "j"))
                objects = [
                    ObjectRef(Role.FREE, self.layout.free(source, sid, "txt"), "0" * 32,
                              sha256_hex(free_body), len(free_body)),
                    ObjectRef(Role.META, meta_key, "0" * 32, sha256_hex(meta_body),
                              len(meta_body)),
                ]  # fmt: skip
        return ManifestRecord(
            article_id=article_id(source, sid),
            source=source,
            source_id=sid,
            timestamp=stamp,
            outcome=Outcome(outcome),
            action=Action.WRITTEN,
            status={"published": "ok", "quarantined": "broken_marker"}.get(outcome, "fetch_failed"),
            reason=None if outcome == "published" else "why",
            title=title if title is not None else f"标题 {sid}",
            revision=revision if live else None,
            objects=tuple(objects),
            carried=carried,
        )

    def commit(self, interval: Interval, records: list[ManifestRecord | dict[str, Any]],
               partial: str | None = None) -> str:  # fmt: skip
        self.clock += timedelta(minutes=1)
        key = (self.layout.partial_manifest(interval.slug, partial) if partial
               else self.layout.manifest(interval.slug))  # fmt: skip
        lines = [r if isinstance(r, dict) else r.public_json() for r in records]
        body = b"".join(dumps(line) + b"\n" for line in lines)
        typed = [r for r in records if isinstance(r, ManifestRecord)]
        self.commit_bytes(interval, key, body, Counts.of(typed))
        return key

    def commit_bytes(self, interval: Interval, key: str, body: bytes,
                     counts: Counts | None = None) -> None:  # fmt: skip
        bucket = self.layout.public_bucket
        self.store.put(Blob.of(bucket, key, body, EXTENSIONS["jsonl"]))
        marker = CommitMarker(key, sha256_hex(body), self.layout.private_manifest(key),
                              interval, counts or Counts(), self.clock.isoformat())  # fmt: skip
        self.store.put(Blob.of(bucket, self.layout.commit_marker(key),
                               dumps(marker.to_json()), EXTENSIONS["json"]))  # fmt: skip


@pytest.fixture
def pub() -> Publisher:
    layout = Layout("pub-bucket", "priv-bucket", "p1")
    store = MemoryStore.with_buckets("pub-bucket", "priv-bucket", public="pub-bucket")
    return Publisher(store, layout)


def consumer_copy(pub: Publisher) -> MemoryStore:
    """The publisher's objects but its runs, in a new store with an empty catalog: each
    manifest arrives with its own event (:func:`deliver`), in the order a test chooses."""
    store = MemoryStore.with_buckets("pub-bucket", "priv-bucket")
    for bucket, objects in pub.store.buckets.items():
        store.buckets[bucket].update(
            (k, o) for k, o in objects.items() if not k.startswith(("catalog/", "runs/"))
        )
    refresh(store, pub.layout)
    return store


def deliver(store: MemoryStore, pub: Publisher, *keys: str) -> Any:
    """Commit these manifests into the consumer's store (as they are now), then update on
    their events: the tail listing cannot reorder what it does not see yet."""
    for key in keys:
        for name in (key, pub.layout.commit_marker(key)):
            store.buckets["pub-bucket"][name] = pub.store.buckets["pub-bucket"][name]
    return refresh(store, pub.layout, list(keys))


def ids(*sids: str) -> set[str]:
    return {article_id("desk", s) for s in sids}


def test_a_republished_article_leaves_its_old_day_in_any_order(pub: Publisher) -> None:
    """The article's timestamp moves from day 0 to day 2 (an edit re-publishes it)."""
    first = pub.commit(day_interval(0), [pub.record("a", 0), pub.record("b", 0)])
    moved = pub.commit(day_interval(2), [pub.record("a", 2, revision=2)])
    states = []
    for order in ([first, moved], [moved, first], [moved, first, moved], [[first, moved]]):
        store = consumer_copy(pub)
        for keys in order:
            deliver(store, pub, *(keys if isinstance(keys, list) else [keys]))
        now = listed(store, pub.layout)
        assert set(now) == ids("a", "b")
        assert now[article_id("desk", "a")]["timestamp"].startswith("2026-11-22")
        assert {a["source_id"] for a in read_day(store, pub.layout, "2026-11-20")} == {"b"}
        states.append(catalog_objects(store, pub.layout))
    assert all(s == states[0] for s in states)


def test_moves_are_found_through_locators_not_by_scanning(pub: Publisher) -> None:
    for day in range(5):
        pub.commit(day_interval(day), [pub.record(f"d{day}-{n}", day) for n in range(3)])
    refresh(pub.store, pub.layout)
    key = pub.commit(day_interval(6), [pub.record("d1-0", 6, revision=2)])
    pub.store.calls.clear()
    refresh(pub.store, pub.layout, [key])
    days_read = {k.split("/")[3] for op, _, k in pub.store.calls
                 if op == "GET" and "/days/" in k}  # fmt: skip
    assert days_read == {"2026-11-21"}  # only the day the article left
    assert {a["source_id"] for a in read_day(pub.store, pub.layout, "2026-11-21")} == {
        "d1-1", "d1-2"
    }  # fmt: skip


def test_without_track_moves_a_moved_article_is_listed_twice(pub: Publisher) -> None:
    """What the setting trades: documented, so it is tested."""
    pub.commit(day_interval(0), [pub.record("a", 0)])
    pub.commit(day_interval(2), [pub.record("a", 2, revision=2)])
    refresh(pub.store, pub.layout, settings=CatalogSettings(track_moves=False))
    assert [a["source_id"] for a in read_catalog(pub.store, pub.layout)] == ["a", "a"]
    assert not any(k.startswith("catalog/p1/locators/") for k in pub.store.keys("pub-bucket"))


def test_a_quarantine_in_a_later_interval_removes_a_moved_article(pub: Publisher) -> None:
    pub.commit(day_interval(0), [pub.record("a", 0)])
    refresh(pub.store, pub.layout)
    key = pub.commit(day_interval(3), [pub.record("a", 3, "quarantined")])
    refresh(pub.store, pub.layout, [key])
    assert listed(pub.store, pub.layout) == {}
    assert reference(pub.store, pub.layout) == {}


def test_a_failure_without_a_public_side_never_unpublishes(pub: Publisher) -> None:
    pub.commit(day_interval(0), [pub.record("a", 0)])
    failed = pub.commit(
        day_interval(1), [pub.record("a", 1, "failed"), pub.record("b", 1, "failed")]
    )
    first = pub.layout.manifest(day_interval(0).slug)
    for order in ([first, failed], [failed, first]):
        store = consumer_copy(pub)
        for key in order:
            deliver(store, pub, key)
        assert set(listed(store, pub.layout)) == ids("a")
    assert set(reference(pub.store, pub.layout)) == ids("a")


def _only(record: ManifestRecord, role: Role) -> tuple[ObjectRef, ...]:
    return tuple(o for o in record.objects if o.role is role)


def _obj(role: Role, key: str, sha: str = "a" * 64) -> ObjectRef:
    return ObjectRef(role, key, "0" * 32, sha, 1)


BREAKS = {
    "paid key as free": lambda p, r: r.with_changes(
        objects=(_obj(Role.FREE, p.layout.paid("desk", r.source_id, "txt")),
                 *_only(r, Role.META))),
    "quarantine key as meta": lambda p, r: r.with_changes(
        objects=(*_only(r, Role.FREE),
                 _obj(Role.META, p.layout.quarantine_reason("desk", r.source_id)))),
    "another source's free half": lambda p, r: r.with_changes(
        objects=(_obj(Role.FREE, p.layout.free("other", r.source_id, "txt")),
                 *_only(r, Role.META))),
    "a private role in the public line": lambda p, r: r.public_json() | {"objects": [
        *r.public_json()["objects"],
        _obj(Role.PAID, p.layout.free("desk", r.source_id, "html")).to_json()]},
    "no metadata": lambda p, r: r.with_changes(objects=_only(r, Role.FREE)),
    "no free half": lambda p, r: r.with_changes(objects=_only(r, Role.META)),
    "two metadata objects": lambda p, r: r.with_changes(
        objects=(*r.objects, _obj(Role.META, p.layout.meta("desk", r.source_id + "x")))),
    "a digest that is not sha256": lambda p, r: r.with_changes(
        objects=tuple(ObjectRef(o.role, o.key, o.md5, "", o.size) for o in r.objects)),
    "unreadable timestamp": lambda p, r: r.with_changes(timestamp="yesterday"),
    "article id not hex": lambda p, r: r.with_changes(article_id="../../etc/passwd"),
}  # fmt: skip


@pytest.mark.parametrize(("what", "mutate"), list(BREAKS.items()), ids=list(BREAKS))
def test_a_record_that_breaks_the_contract_is_never_listed(pub: Publisher, what, mutate) -> None:
    good = pub.record("good", 0)
    bad = mutate(pub, pub.record("bad", 0))
    key = pub.commit(day_interval(0), [good, bad])
    sink = Sink()
    result = refresh(pub.store, pub.layout, [key], sink=sink)
    assert result.invalid == 1, what
    assert set(listed(pub.store, pub.layout)) == ids("good")
    states = {r.source_id: r.state for r in sink.rows}
    assert states == {"good": "live", "bad": "invalid"}
    bad_row = next(r for r in sink.rows if r.source_id == "bad")
    assert bad_row.free_key is None and bad_row.meta_key is None and bad_row.title is None


def test_an_article_listed_twice_in_one_manifest_is_not_listed(pub: Publisher) -> None:
    one = pub.record("a", 0)
    two = pub.record("a", 0, title="另一个标题")
    key = pub.commit(day_interval(0), [one, two])
    refresh(pub.store, pub.layout, [key])
    assert listed(pub.store, pub.layout) == {}


@pytest.mark.parametrize(
    "key",
    [
        "runs/other_pipeline/20261120T000000Z_20261121T000000Z/manifest.jsonl",
        "runs/p1/../p1/20261120T000000Z_20261121T000000Z/manifest.jsonl",
        "runs/p1/20261120T000000Z_20261121T000000Z/manifest.private.jsonl",
        "runs/p1/20261120T000000Z_20261121T000000Z/partial/../../x.jsonl",
        "free/desk/a.txt",
        "catalog/p1/catalog.json",
        "",
    ],
)
def test_an_event_naming_a_foreign_key_is_refused_and_triggers_a_full_scan(
    pub: Publisher, key: str
) -> None:
    good = pub.commit(day_interval(0), [pub.record("a", 0)])
    refresh(pub.store, pub.layout, [good])
    later = pub.commit(day_interval(-5), [pub.record("old", -5)])  # an older interval: no tail
    result = refresh(pub.store, pub.layout, [key])
    assert result.scan == "full" and any(key in r for r in result.refused)
    assert result.applied == (later,)


def test_uncommitted_and_half_replaced_manifests_are_not_applied(pub: Publisher) -> None:
    refresh(pub.store, pub.layout, [pub.commit(day_interval(1), [pub.record("z", 1)])])
    # Not committed at all: no marker.
    loose = pub.layout.manifest(day_interval(3).slug)
    pub.store.put(Blob.of("pub-bucket", loose, dumps(pub.record("l", 3).public_json()), "x"))
    assert any("not committed" in r for r in refresh(pub.store, pub.layout, [loose]).refused)
    key = pub.commit(day_interval(0), [pub.record("a", 0)])
    refresh(pub.store, pub.layout, [key])
    # A rerun replaced the manifest but its marker has not landed yet: the marker still
    # names the applied version, so nothing is read.
    body = dumps(pub.record("a", 0, "quarantined").public_json()) + b"\n"
    pub.store.put(Blob.of("pub-bucket", key, body, "x"))
    result = refresh(pub.store, pub.layout, [key])
    assert result.applied == () and result.replayed == 1
    # A marker whose manifest is being replaced (its sha256 is not the marker's) waits.
    other = pub.commit(day_interval(2), [pub.record("b", 2)])
    pub.store.put(Blob.of("pub-bucket", other, body.replace(b'"a"', b'"b"'), "x"))
    result = refresh(pub.store, pub.layout, [other])
    assert result.applied == () and any("being replaced" in r for r in result.refused)
    assert set(listed(pub.store, pub.layout)) == ids("a", "z")
    pub.commit(day_interval(2), [pub.record("b", 2)])
    pub.commit_bytes(day_interval(0), key, body)  # the marker lands: its event applies it
    result = refresh(pub.store, pub.layout, [key])
    assert key in result.applied and set(listed(pub.store, pub.layout)) == ids("b", "z")
    # A marker that names another manifest or interval is not trusted.
    other = pub.commit(day_interval(1), [pub.record("b", 1)])
    marker_key = pub.layout.commit_marker(other)
    marker = json.loads(pub.store.get("pub-bucket", marker_key) or b"")
    marker["interval"] = day_interval(5).to_json()
    pub.store.put(Blob.of("pub-bucket", marker_key, dumps(marker), "x"))
    result = refresh(pub.store, pub.layout, [other])
    assert any("names another manifest or interval" in r for r in result.refused)
    assert set(listed(pub.store, pub.layout)) == ids("b", "z")


def test_a_missed_event_is_caught_by_the_tail_and_an_old_rerun_by_a_rescan(
    pub: Publisher,
) -> None:
    refresh(pub.store, pub.layout, [pub.commit(day_interval(0), [pub.record("a", 0)])])
    pub.commit(day_interval(1), [pub.record("b", 1)])  # its event was lost
    key2 = pub.commit(day_interval(2), [pub.record("c", 2)])
    assert refresh(pub.store, pub.layout, [key2]).applied == (
        pub.layout.manifest(day_interval(1).slug), key2)  # fmt: skip
    pub.commit(day_interval(0), [pub.record("a", 0, "quarantined")])  # an old rerun, no event
    assert refresh(pub.store, pub.layout).applied == ()  # the tail does not look back
    result = refresh(pub.store, pub.layout, rescan=True)
    assert result.scan == "full" and result.applied == (pub.layout.manifest(day_interval(0).slug),)
    assert set(listed(pub.store, pub.layout)) == ids("b", "c")


def test_an_empty_catalog_finds_the_first_manifest_without_an_event(pub: Publisher) -> None:
    assert refresh(pub.store, pub.layout).applied == ()  # nothing committed yet
    key = pub.commit(day_interval(0), [pub.record("a", 0)])
    assert refresh(pub.store, pub.layout).applied == (key,)


def test_a_periodic_rescan_catches_what_no_event_announced(pub: Publisher) -> None:
    now = [T0 + timedelta(days=40)]
    clock = lambda: now[0]  # noqa: E731
    settings = CatalogSettings(rescan_every_hours=24)
    refresh(pub.store, pub.layout, [pub.commit(day_interval(0), [pub.record("a", 0)])],
            settings=settings, now=clock)  # fmt: skip
    pub.commit(day_interval(-3), [pub.record("old", -3)])
    assert refresh(pub.store, pub.layout, settings=settings, now=clock).scan == "tail"
    now[0] += timedelta(hours=25)
    result = refresh(pub.store, pub.layout, settings=settings, now=clock)
    assert result.scan == "full" and len(result.applied) == 1
    assert refresh(pub.store, pub.layout, settings=settings, now=clock).scan == "tail"


def test_a_partial_run_older_than_its_full_manifest_is_superseded(pub: Publisher) -> None:
    partial = pub.commit(day_interval(0), [pub.record("a", 0, revision=5)], partial="early")
    full = pub.commit(day_interval(0), [pub.record("a", 0, revision=6), pub.record("b", 0)])
    late = pub.commit(day_interval(0), [pub.record("b", 0, revision=9)], partial="late")
    for order in ([partial, full, late], [late, full, partial], [full, late, partial]):
        store = consumer_copy(pub)
        for key in order:
            deliver(store, pub, key)
        now = listed(store, pub.layout)
        assert {a["source_id"]: a["revision"] for a in now.values()} == {"a": 6, "b": 9}
        assert now == reference(store, pub.layout)


def test_a_full_manifest_replaces_what_an_older_partial_said_even_when_it_says_less(
    pub: Publisher,
) -> None:
    """Superseded means superseded: a decisive record of an older partial run does not
    outrank the full manifest's failure of the same interval (the reader ignores it)."""
    partial = pub.commit(day_interval(0), [pub.record("a", 0)], partial="early")
    full = pub.commit(day_interval(0), [pub.record("a", 0, "failed")])
    for order in ([partial, full], [full, partial]):
        store = consumer_copy(pub)
        for key in order:
            deliver(store, pub, key)
        assert listed(store, pub.layout) == reference(store, pub.layout) == {}


def test_a_partial_run_before_any_full_manifest_counts_until_one_supersedes_it(
    pub: Publisher,
) -> None:
    refresh(pub.store, pub.layout,
            [pub.commit(day_interval(0), [pub.record("x", 0)], partial="first")])  # fmt: skip
    assert set(listed(pub.store, pub.layout)) == ids("x")
    key = pub.commit(day_interval(0), [pub.record("y", 0)])  # the full run has no x
    refresh(pub.store, pub.layout, [key])
    assert set(listed(pub.store, pub.layout)) == ids("y") == set(reference(pub.store, pub.layout))


# ---------------------------------------------------------------- exactly once, crashes


def test_each_manifest_version_reaches_the_sink_exactly_once(pub: Publisher) -> None:
    sink = Sink()
    key = pub.commit(day_interval(0), [pub.record("a", 0), pub.record("b", 0)])
    for _ in range(3):
        refresh(pub.store, pub.layout, [key], sink=sink)
    assert len(sink.batches) == 1 and len(sink.rows) == 2
    pub.commit(day_interval(0), [pub.record("a", 0, revision=2), pub.record("b", 0)])
    for _ in range(2):
        refresh(pub.store, pub.layout, [key], sink=sink)
    assert len(sink.batches) == 2
    assert [(r.source_id, r.revision) for r in sink.batches[1].rows] == [("a", 2)]


def test_a_crash_before_the_root_is_written_is_replayed_without_duplicates(
    pub: Publisher,
) -> None:
    sink = Sink()
    refresh(pub.store, pub.layout, [pub.commit(day_interval(0), [pub.record("a", 0)])],
            sink=sink)  # fmt: skip
    before = listed(pub.store, pub.layout)
    key = pub.commit(day_interval(1), [pub.record("b", 1)])

    def fail(op: str, bucket: str, k: str) -> BaseException | None:
        if op == "PUT" and k == pub.layout.catalog():
            return StorageError("the server went away", status=503)
        return None

    pub.store.fail = fail
    with pytest.raises(StorageError):
        refresh(pub.store, pub.layout, [key], sink=sink)
    pub.store.fail = None
    assert listed(pub.store, pub.layout) == before  # readers still see the committed state
    assert len(sink.batches) == 2  # the sink got the batch before the crash
    refresh(pub.store, pub.layout, [key], sink=sink)  # the retry (the lease was released)
    assert set(listed(pub.store, pub.layout)) == ids("a", "b")
    assert len(sink.rows) == 2  # the sink recognised the replayed batch (same sha256)


def unreferenced(store: MemoryStore, layout: Layout) -> set[str]:
    root = json.loads(store.get(layout.public_bucket, layout.catalog()) or b"")
    keys = {m["key"] for m in root["months"].values()}
    for ref in root["months"].values():
        month = json.loads(store.get(layout.public_bucket, ref["key"]) or b"")
        keys |= {d["key"] for d in month["days"].values()}
    return {
        k
        for k in store.keys(layout.public_bucket)
        if k.startswith((layout.catalog_prefix() + "days/", layout.catalog_prefix() + "months/"))
    } - keys


def test_objects_a_failed_update_left_behind_are_swept_by_a_full_scan(pub: Publisher) -> None:
    refresh(pub.store, pub.layout, [pub.commit(day_interval(0), [pub.record("a", 0)])])
    key = pub.commit(day_interval(1), [pub.record("b", 1)])
    pub.store.fail = lambda op, b, k: StorageError("gone") if k == pub.layout.catalog() and (
        op == "PUT") else None  # fmt: skip
    with pytest.raises(StorageError):
        refresh(pub.store, pub.layout, [key])
    pub.store.fail = None
    pub.commit(day_interval(1), [pub.record("b", 1, revision=2)])  # not what was written
    refresh(pub.store, pub.layout, [key])
    assert unreferenced(pub.store, pub.layout)  # the failed update's partition and month
    refresh(pub.store, pub.layout, rescan=True)
    assert not unreferenced(pub.store, pub.layout)
    assert set(listed(pub.store, pub.layout)) == ids("a", "b")


def test_the_lease_keeps_a_second_updater_out_until_it_expires(pub: Publisher) -> None:
    key = pub.commit(day_interval(0), [pub.record("a", 0)])
    lease = {"owner": "someone", "expires_at": (T0 + timedelta(days=1)).isoformat()}
    pub.store.put(Blob.of("pub-bucket", pub.layout.catalog_lease(), dumps(lease), "x"))
    with pytest.raises(CatalogError) as busy:
        refresh(pub.store, pub.layout, [key], now=lambda: T0)
    assert busy.value.code is ErrorCode.CATALOG_BUSY
    result = refresh(pub.store, pub.layout, [key], now=lambda: T0 + timedelta(days=2))
    assert result.applied == (key,)
    assert pub.store.get("pub-bucket", pub.layout.catalog_lease()) is None  # released


def test_a_concurrent_commit_of_the_root_fails_the_slower_update(pub: Publisher) -> None:
    key = pub.commit(day_interval(0), [pub.record("a", 0)])
    refresh(pub.store, pub.layout, [key])
    other = pub.commit(day_interval(1), [pub.record("b", 1)])
    real_put = pub.store.put

    def racing_put(blob: Blob, **kwargs: Any) -> str:
        if blob.key == pub.layout.catalog() and kwargs.get("if_match"):
            root = json.loads(pub.store.get("pub-bucket", blob.key) or b"")
            root["generation"] += 100  # someone else committed meanwhile
            real_put(Blob.of("pub-bucket", blob.key, dumps(root), "x"))
        return real_put(blob, **kwargs)

    pub.store.put = racing_put  # type: ignore[method-assign]
    with pytest.raises(CatalogError) as lost:
        refresh(pub.store, pub.layout, [other])
    assert lost.value.code is ErrorCode.CATALOG_BUSY


def test_catalog_objects_stay_bounded_and_the_bound_is_enforced(pub: Publisher) -> None:
    for day in range(70):  # more than two months of daily runs
        refresh(pub.store, pub.layout,
                [pub.commit(day_interval(day), [pub.record(f"{day}-{n}", day)
                                                for n in range(5)])])  # fmt: skip
    sizes = {k: len(o.body) for k, o in pub.store.buckets["pub-bucket"].items()
             if k.startswith("catalog/") and "/locators/" not in k}  # fmt: skip
    root = sizes.pop(pub.layout.catalog())
    assert root < 1_500  # three months: one entry each
    assert max(v for k, v in sizes.items() if "/days/" in k) < 10_000  # five articles a day
    assert max(v for k, v in sizes.items() if "/months/" in k) < 30_000
    assert len(list(read_catalog(pub.store, pub.layout))) == 350
    key = pub.commit(day_interval(80), [pub.record(f"big-{n}", 80) for n in range(200)])
    with pytest.raises(CatalogError, match="max_object_bytes"):
        refresh(pub.store, pub.layout, [key], settings=CatalogSettings(max_object_bytes=65536))
    assert len(list(read_catalog(pub.store, pub.layout))) == 350  # nothing was committed


def test_readers_see_one_committed_state_while_an_update_runs(pub: Publisher) -> None:
    refresh(pub.store, pub.layout, [pub.commit(day_interval(0), [pub.record("a", 0)])])
    key = pub.commit(day_interval(0), [pub.record("a", 0, revision=2), pub.record("b", 0)])
    seen: list[set[str]] = []
    real_put = pub.store.put

    def reading_put(blob: Blob, **kwargs: Any) -> str:
        out = real_put(blob, **kwargs)
        if blob.key.startswith("catalog/p1/") and "/locators/" not in blob.key:
            seen.append({a["source_id"] for a in read_catalog(pub.store, pub.layout)})
        return out

    pub.store.put = reading_put  # type: ignore[method-assign]
    refresh(pub.store, pub.layout, [key])
    assert {frozenset(s) for s in seen} <= {frozenset({"a"}), frozenset({"a", "b"})}


def test_update_catalog_keeps_the_old_shape_for_callers() -> None:
    assert manifest_keys_of_events([{"manifest_key": "k1"}, None, {"x": 1},
                                    {"manifest_key": "k1"}, {"manifest_key": "k2"}]) == [
        "k1", "k2"
    ]  # fmt: skip
    layout = Layout("pub-bucket", "priv-bucket", "p1")
    store = MemoryStore.with_buckets("pub-bucket", "priv-bucket")
    out = update_catalog(store, layout)
    assert out["articles"] == 0 and out["catalog_key"] == layout.catalog()
    assert json.loads(json.dumps(out)) == out


def test_interval_slugs_are_the_layouts() -> None:
    interval = day_interval(0)
    assert interval.slug == interval_slug(interval.start, interval.end)


@pytest.mark.parametrize("seed", range(60))
def test_random_histories_in_random_orders_list_what_a_rebuild_lists(seed: int) -> None:
    """Reruns, partial runs, moves between days, quarantines and failures, committed in a
    random history, their events delivered in random orders, batches and replays: the
    listing is always the one rebuilt from the committed manifests."""
    import random

    rng = random.Random(seed)
    layout = Layout("pub-bucket", "priv-bucket", "p1")
    pub = Publisher(MemoryStore.with_buckets("pub-bucket", "priv-bucket"), layout)
    outcomes = ["published", "published", "published", "quarantined", "failed", "carried"]
    keys: list[str] = []
    for step in range(rng.randint(3, 9)):
        day = rng.randint(0, 3)
        records = []
        for sid in rng.sample("abcdef", rng.randint(1, 4)):
            outcome = rng.choice(outcomes)
            carried = outcome == "carried"
            records.append(pub.record(sid, day, "failed" if carried else outcome,
                                      carried=carried, revision=step + 1,
                                      hour=rng.randint(0, 23)))  # fmt: skip
        partial = f"p{step}" if rng.random() < 0.3 else None
        keys.append(pub.commit(day_interval(day), records, partial=partial))
    expected = reference(pub.store, layout)
    unique = list(dict.fromkeys(keys))
    states = []
    for _ in range(3):
        store = consumer_copy(pub)
        order = rng.sample(unique, len(unique))
        order += rng.sample(unique, rng.randint(0, len(unique)))  # replays
        while order:
            cut = rng.randint(1, 3)
            batch, order = order[:cut], order[cut:]
            deliver(store, pub, *batch)
        assert set(listed(store, layout)) == set(expected), (seed, order)
        assert listed(store, layout) == expected
        states.append(catalog_objects(store, layout))
    if not any("/partial/" in k for k in keys):  # (a partial run's claims that a later full
        assert all(s == states[0] for s in states)  # one supersedes may leave a trace)


def test_a_moved_article_quarantined_later_loses_its_public_side(desk) -> None:
    """An article re-published in a later interval and quarantined there: the catalog does
    not list it, and (main's c172d35, a refusal empties the article's folders whatever
    interval published them) its earlier public side is gone too."""
    ctx, source = desk
    source.put("a.txt", 0)
    run_interval(ctx, day_interval(0))
    source.put("a.txt", 2, "标题\n免费##paidend##付费\n".encode())  # re-published, ambiguous
    summary = run_interval(ctx, day_interval(2))
    refresh(ctx.store, ctx.layout, [summary.manifest_key or ""])
    assert listed(ctx.store, ctx.layout) == {}  # the catalog fails closed either way
    free = ctx.layout.free("desk", "a.txt", "txt")
    assert ctx.store.get(ctx.layout.public_bucket, free) is None  # fails today: still public
