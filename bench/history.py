"""Cost flat in history: the catalog update and the Iceberg append after a year of daily runs.

Simulates ``--days`` daily runs of ``--articles`` articles (committed manifests, commit
markers and public metadata objects, as the pipeline's publish step leaves them), applying
each one as the consumer DAG does: one event, one ``paywall.catalog.refresh`` with the
Iceberg sink. Then, side by side and alternating (so the shared machine's drift hits both),
``--repeats`` times:

- **first**: a new pipeline (new catalog, new Iceberg tables) applies its first manifest;
- **last**: the long-history pipeline applies one more day's manifest (day 365, 366, ...).

Each update's wall time and bytes read are recorded: GET bodies through the Store, LISTed
keys, and every byte pyiceberg reads through its FileIO (metadata files, manifest lists,
manifests, data files). The ratios last/first of the medians are the result; the largest
catalog object and the tables' metadata sizes show the bounds.

    .venv/bin/python bench/history.py                       # in-memory store, local warehouse
    .venv/bin/python bench/history.py --backend seaweedfs --articles 100

Nothing is asserted: figures go to stdout and ``--json`` (default bench/results/history-*.json).
"""

from __future__ import annotations

import argparse
import bisect
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pyiceberg.io.pyarrow import PyArrowFile, PyArrowFileIO

from paywall.articles import article_id
from paywall.catalog import refresh
from paywall.config import CatalogSettings, IcebergSettings
from paywall.iceberg import IcebergSink, open_catalog
from paywall.layout import EXTENSIONS, Layout
from paywall.memstore import MemoryStore
from paywall.metadata import sha256_hex
from paywall.model import (
    Action,
    CommitMarker,
    Counts,
    Interval,
    ManifestRecord,
    ObjectRef,
    Outcome,
    Role,
    dumps,
)
from paywall.s3 import S3Endpoint
from paywall.store import Blob, Listed, Store

warnings.filterwarnings("ignore", message="Delete operation did not match any records")
T0 = datetime(2025, 1, 1, tzinfo=UTC)
FILE_IO_READ = [0]


# --------------------------------------------------------------------------- counting


class _CountingStream:
    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def read(self, size: int | None = None) -> bytes:
        data = self.inner.read() if size is None or size < 0 else self.inner.read(size)
        FILE_IO_READ[0] += len(data)
        return bytes(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def __enter__(self) -> _CountingStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.inner.close()


class _CountingFile(PyArrowFile):
    def open(self, seekable: bool = True) -> Any:  # type: ignore[override]
        return _CountingStream(super().open(seekable))


class CountingFileIO(PyArrowFileIO):
    """pyiceberg's own FileIO, counting every byte read (``py-io-impl``)."""

    def new_input(self, location: str) -> PyArrowFile:
        found = super().new_input(location)
        found.__class__ = _CountingFile
        return found


@dataclass
class CountingStore:
    """A Store that counts what it returns: GET bytes, GET requests, LISTed keys."""

    inner: Store
    get_bytes: int = 0
    gets: int = 0
    listed: int = 0
    puts: int = 0

    @property
    def where(self) -> str:
        return self.inner.where

    def put(self, blob: Blob, **kwargs: Any) -> str:
        self.puts += 1
        return self.inner.put(blob, **kwargs)

    def put_groups(self, groups: Sequence[Sequence[Blob]]) -> None:
        self.inner.put_groups(groups)

    def get(self, bucket: str, key: str) -> bytes | None:
        found = self.inner.get(bucket, key)
        self.gets += 1
        self.get_bytes += len(found or b"")
        return found

    def get_with_etag(self, bucket: str, key: str) -> tuple[bytes, str] | None:
        found = self.inner.get_with_etag(bucket, key)
        self.gets += 1
        self.get_bytes += len(found[0]) if found else 0
        return found

    def get_range(self, bucket: str, key: str, start: int, end: int) -> bytes | None:
        found = self.inner.get_range(bucket, key, start, end)
        self.gets += 1
        self.get_bytes += len(found or b"")
        return found

    def head(self, bucket: str, key: str) -> Listed | None:
        return self.inner.head(bucket, key)

    def list(self, bucket: str, prefix: str, *, start_after: str = "") -> Iterator[Listed]:
        for item in self.inner.list(bucket, prefix, start_after=start_after):
            self.listed += 1
            yield item

    def delete(self, bucket: str, keys: Sequence[str]) -> None:
        self.inner.delete(bucket, keys)

    def presign_get(self, bucket: str, key: str, expires: int) -> str:
        return self.inner.presign_get(bucket, key, expires)

    def snapshot(self) -> tuple[int, int, int, int]:
        return self.get_bytes, self.gets, self.listed, self.puts


# --------------------------------------------------------------------------- the world


@dataclass
class World:
    """One pipeline's outputs as publish leaves them, and its consumer."""

    store: CountingStore
    layout: Layout
    sink: IcebergSink | None
    articles: int
    clock: datetime = T0 + timedelta(days=800)
    settings: CatalogSettings = field(default_factory=lambda: CatalogSettings(
        rescan_every_hours=0))  # fmt: skip

    def commit_day(self, day: int) -> str:
        """Commit day ``day``'s manifest of ``articles`` published articles."""
        layout, bucket = self.layout, self.layout.public_bucket
        interval = Interval(T0 + timedelta(days=day), T0 + timedelta(days=day + 1))
        records, blobs = [], []
        for n in range(self.articles):
            sid = f"{interval.start:%Y/%m/%d}/article-{n:05d}.html"
            free = f"第{day}天 第{n}篇 公开导语。".encode() * 8
            meta_key = layout.meta("news", sid)
            meta = self.meta_document(sid, day, n, len(free))
            blobs.append(Blob.of(bucket, meta_key, meta, EXTENSIONS["json"]))
            stamp = interval.start + timedelta(seconds=n * 80000 // max(1, self.articles))
            records.append(
                ManifestRecord(
                    article_id=article_id("news", sid),
                    source="news",
                    source_id=sid,
                    timestamp=stamp.isoformat(),
                    outcome=Outcome.PUBLISHED,
                    action=Action.WRITTEN,
                    status="ok",
                    title=f"标题 {day}-{n}",
                    url=f"https://news.example.invalid/{sid}",
                    revision=1,
                    objects=(
                        ObjectRef(
                            Role.FREE,
                            layout.free("news", sid, "txt"),
                            "0" * 32,
                            sha256_hex(free),
                            len(free),
                        ),
                        ObjectRef(
                            Role.FREE,
                            layout.free("news", sid, "html"),
                            "0" * 32,
                            sha256_hex(free + b"<p>"),
                            len(free) + 3,
                        ),
                        ObjectRef(Role.META, meta_key, "0" * 32, sha256_hex(meta), len(meta)),
                    ),
                )
            )
        self.store.inner.put_groups([blobs])
        key = layout.manifest(interval.slug)
        body = b"".join(dumps(r.public_json()) + b"\n" for r in records)
        self.clock += timedelta(minutes=5)
        marker = CommitMarker(key, sha256_hex(body), layout.private_manifest(key), interval,
                              Counts.of(records), self.clock.isoformat())  # fmt: skip
        self.store.inner.put(Blob.of(bucket, key, body, EXTENSIONS["jsonl"]))
        self.store.inner.put(Blob.of(bucket, layout.commit_marker(key), dumps(marker.to_json()),
                                     EXTENSIONS["json"]))  # fmt: skip
        return key

    @staticmethod
    def meta_document(sid: str, day: int, n: int, free_bytes: int) -> bytes:
        """Public metadata shaped and sized like the pipeline's (about 1.5 KB)."""
        paid = 1200 + n % 500
        free = free_bytes // 3
        return dumps({
            "schema_version": 1, "article_id": article_id("news", sid), "source": "news",
            "source_id": sid, "status": "ok", "format": "html", "title": f"标题 {day}-{n}",
            "reason": None, "warnings": [], "encoding": "utf-8", "encoding_evidence": "declared",
            "markers": {"begin": "##paidbegin##", "end": "##paidend##", "found": 2},
            "segments": [{"kind": "free", "start": 0, "end": free},
                         {"kind": "paid", "start": free, "end": free + paid}],
            "sha256": {"free": sha256_hex(sid)},
            "stats": {"chars": free + paid, "free": {"chars": free, "paragraphs": 3,
                      "reading_minutes": 0.5}, "paid": {"chars": paid, "paragraphs": 9},
                      "reading_minutes": 3.5, "paid_regions": 1},
            "free_ratio": round(free / (free + paid), 4), "published_at": None,
            "origin": {"url": f"https://news.example.invalid/{sid}"},
            "json_ld": {"@context": "https://schema.org", "@type": "NewsArticle",
                        "isAccessibleForFree": False, "headline": f"标题 {day}-{n}",
                        "hasPart": [{"@type": "WebPageElement", "isAccessibleForFree": False,
                                     "cssSelector": ".paywall-paid-1"}]},
            "keys": {"free": [f"free/news/{sid}.txt", f"free/news/{sid}.html"],
                     "meta": f"meta/news/{sid}.json"},
            "revision": 1, "layout": 2,
        })  # fmt: skip

    def update(self, key: str) -> dict[str, Any]:
        """One consumer update on one event, measured."""
        before, io_before = self.store.snapshot(), FILE_IO_READ[0]
        started = time.perf_counter()
        result = refresh(self.store, self.layout, [key], settings=self.settings, sink=self.sink,
                         workers=16)  # fmt: skip
        seconds = time.perf_counter() - started
        after = self.store.snapshot()
        return {
            "seconds": seconds,
            "catalog_bytes_read": after[0] - before[0],
            "gets": after[1] - before[1],
            "listed_keys": after[2] - before[2],
            "puts": after[3] - before[3],
            "table_bytes_read": FILE_IO_READ[0] - io_before,
            "applied": len(result.applied),
            "table_rows": result.table_rows,
        }

    def largest_catalog_object(self) -> tuple[int, str]:
        sizes = [(item.size, item.key) for item in self.store.inner.list(
            self.layout.public_bucket, self.layout.catalog_prefix())]  # fmt: skip
        return max(sizes)


# ------------------------------------------------------------------------------- main


class IndexedMemoryStore(MemoryStore):
    """The in-memory store with a sorted key index: MemoryStore sorts a whole bucket on
    every LIST, which would charge a year of objects to each update (S3 does not)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self._index: dict[str, list[str]] = {}

    def _keys(self, bucket: str) -> list[str]:
        if bucket not in self._index:
            self._index[bucket] = sorted(self.buckets.get(bucket, {}))
        return self._index[bucket]

    def put(self, blob: Blob, *, if_none_match: bool = False, if_match: str | None = None) -> str:
        index = self._keys(blob.bucket)
        new = blob.key not in self.buckets.get(blob.bucket, {})
        etag = super().put(blob, if_none_match=if_none_match, if_match=if_match)
        if new:
            bisect.insort(index, blob.key)
        return etag

    def delete(self, bucket: str, keys: Sequence[str]) -> None:
        super().delete(bucket, keys)
        index = self._keys(bucket)
        for key in keys:
            at = bisect.bisect_left(index, key)
            if at < len(index) and index[at] == key:
                del index[at]

    def list(self, bucket: str, prefix: str, *, start_after: str = "") -> Iterator[Listed]:
        index, objects = self._keys(bucket), self.buckets[bucket]
        at = bisect.bisect_right(index, max(prefix, start_after)) if start_after >= prefix else (
            bisect.bisect_left(index, prefix))  # fmt: skip
        while at < len(index) and index[at].startswith(prefix):
            key = index[at]
            stored = objects[key]
            yield Listed(key, stored.etag, len(stored.body), stored.last_modified)
            at += 1


def open_store(backend: str, root: Path) -> tuple[Store, S3Endpoint | None, Any]:
    if backend == "memory":
        store = IndexedMemoryStore(buckets={"bench-public": {}, "bench-private": {}})
        store.calls = _NoCalls()
        return store, None, None
    from paywall.config import StorageSettings
    from paywall.s3 import make_client
    from paywall.storage import S3Store, init_buckets
    from paywall_dev.servers import S3Server

    server = S3Server(backend, root / "s3")
    server.start()
    storage = StorageSettings(public_bucket="bench-public", private_bucket="bench-private",
                              max_concurrency=16)  # fmt: skip
    client = make_client(server.endpoint)
    init_buckets(client, storage)
    return S3Store(client, storage, server.endpoint), server.endpoint, server


class _NoCalls(list):  # type: ignore[type-arg]
    """MemoryStore records every call for tests; a year of them would be gigabytes."""

    def append(self, item: Any) -> None:
        pass


def make_world(store: Store, endpoint: S3Endpoint | None, root: Path, name: str,
               articles: int, iceberg: bool, keep: int = 30) -> World:  # fmt: skip
    layout = Layout("bench-public", "bench-private", name)
    sink = None
    if iceberg:
        cfg = IcebergSettings(uri=f"sqlite:///{root}/iceberg.db")
        warehouse = (f"file://{root}/warehouse/{name}" if endpoint is None
                     else layout.iceberg_warehouse())  # fmt: skip
        catalog = open_catalog(cfg, "bench", warehouse, endpoint or S3Endpoint(), root,
                               properties={"py-io-impl": "__main__.CountingFileIO"})  # fmt: skip
        sink = IcebergSink(catalog, name, pipeline=name, keep_snapshots=keep)
        sink.open()
    return World(CountingStore(store), layout, sink, articles)


def summarize(samples: list[dict[str, Any]], key: str) -> dict[str, float]:
    values = [s[key] for s in samples]
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["memory", "seaweedfs", "minio"], default="memory")
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--articles", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-iceberg", action="store_true")
    parser.add_argument("--keep-snapshots", type=int, default=IcebergSettings().keep_snapshots)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="paywall-history-"))
    store, endpoint, server = open_store(args.backend, root)
    iceberg = not args.no_iceberg
    try:
        keep = args.keep_snapshots
        world = make_world(store, endpoint, root, "history", args.articles, iceberg, keep)
        curve: list[dict[str, Any]] = []
        started = time.perf_counter()
        for day in range(args.days - 1):
            sample = world.update(world.commit_day(day))
            sample["day"] = day + 1
            curve.append(sample)
            if day % 30 == 0:
                print(f"[history] day {day + 1}: {sample['seconds']:.2f}s "
                      f"{sample['catalog_bytes_read'] + sample['table_bytes_read']:,} B read "
                      f"({time.perf_counter() - started:.0f}s so far)", flush=True)  # fmt: skip
        firsts, lasts = [], []
        for repeat in range(args.repeats):
            fresh = make_world(
                store, endpoint, root, f"first{repeat}", args.articles, iceberg, keep
            )
            pairs = [("first", fresh, 0), ("last", world, args.days - 1 + repeat)]
            for label, target, day in pairs if repeat % 2 == 0 else pairs[::-1]:
                sample = target.update(target.commit_day(day))
                (firsts if label == "first" else lasts).append(sample)
        size, key = world.largest_catalog_object()
        tables = {}
        if world.sink is not None:
            for name in world.sink.names:
                table = world.sink.catalog.load_table(name)
                io = table.io
                tables[name] = {
                    "snapshots": len(table.snapshots()),
                    "metadata_bytes": len(io.new_input(table.metadata_location).open().read()),
                    "manifests": len(table.current_snapshot().manifests(io))
                    if table.current_snapshot()
                    else 0,
                }
        report = {
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": {
                "cores": os.cpu_count(),
                "python": platform.python_version(),
                "load_average": os.getloadavg(),
            },
            "backend": args.backend,
            "days": args.days,
            "articles_per_day": args.articles,
            "iceberg": iceberg,
            "keep_snapshots": keep,
            "first": firsts,
            "last": lasts,
            "ratio_seconds": statistics.median(s["seconds"] for s in lasts)
            / statistics.median(s["seconds"] for s in firsts),
            "ratio_bytes": statistics.median(
                s["catalog_bytes_read"] + s["table_bytes_read"] for s in lasts
            )
            / statistics.median(s["catalog_bytes_read"] + s["table_bytes_read"] for s in firsts),
            "ratio_catalog_bytes": statistics.median(s["catalog_bytes_read"] for s in lasts)
            / statistics.median(s["catalog_bytes_read"] for s in firsts),
            "ratio_table_bytes": (
                statistics.median(s["table_bytes_read"] for s in lasts)
                / max(1, statistics.median(s["table_bytes_read"] for s in firsts))
            ),
            "largest_catalog_object": {"bytes": size, "key": key},
            "tables": tables,
            "curve": curve,
        }
        print(json.dumps({k: v for k, v in report.items() if k != "curve"}, indent=1,
                         default=str))  # fmt: skip
        out = args.json or Path(__file__).parent / "results" / (
            f"history-{args.backend}-{report['when'][:19].replace(':', '')}.json"
        )
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=1, default=str))
        print(f"[history] written to {out}")
    finally:
        if server is not None:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
