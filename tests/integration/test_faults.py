"""Faults: storage killed mid-chunk, storage down, two runs of one interval at once."""

from __future__ import annotations

import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from paywall.config import load_settings
from paywall.errors import PreconditionFailed, StorageError
from paywall.model import Interval, RunSummary
from paywall.pipeline import Context, PipelineError, run_interval
from paywall.s3 import make_client
from paywall.storage import S3Store, init_buckets
from paywall.store import Blob, Store
from paywall.verify import Report, verify_run
from paywall_dev.servers import S3Server
from tests.conftest import REPO, write_config

sys.path.insert(0, str(REPO / "bench"))
import corpus as bench_corpus

pytestmark = [pytest.mark.s3, pytest.mark.slow]
DAY = Interval(datetime(2026, 11, 20, tzinfo=UTC), datetime(2026, 11, 21, tzinfo=UTC))


def public_set(ctx: Context) -> dict[str, str]:
    """Every object of both buckets with its ETag, staging excluded."""
    out = {}
    for bucket in (ctx.layout.public_bucket, ctx.layout.private_bucket):
        for item in ctx.store.list(bucket, ""):
            if not item.key.startswith(("staging/", "runs/")):
                out[item.key] = item.etag
    return out


def audit(ctx: Context, manifest_key: str) -> Report:
    return verify_run(
        ctx.store,
        ctx.layout,
        manifest_key,
        markers=ctx.settings.markers.build(),
        probe=ctx.probe,
    )


class RecordingStore:
    """The context's real store (obstore by default), recording which conditional writes
    were sent and which lost."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.conditional: list[tuple[str, str]] = []
        self.lost: list[str] = []
        self._record = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def put(self, blob: Blob, *, if_none_match: bool = False, if_match: str | None = None) -> str:
        if if_none_match or if_match:
            with self._record:
                kind = "if-none-match" if if_none_match else "if-match"
                self.conditional.append((blob.key, kind))
        try:
            return self.inner.put(blob, if_none_match=if_none_match, if_match=if_match)
        except PreconditionFailed:
            with self._record:
                self.lost.append(blob.key)
            raise


def test_two_runs_of_one_interval_at_once_end_like_one(make_ctx) -> None:
    ctx = make_ctx()
    store = RecordingStore(ctx.store)
    ctx.store = store  # type: ignore[assignment]
    reference = make_ctx()
    run_interval(reference, DAY)
    results: list[object] = []

    def run() -> None:
        try:
            results.append(run_interval(ctx, DAY))
        except Exception as exc:  # a conflict must be reported, never silently lost
            results.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert all(isinstance(r, RunSummary) for r in results), results
    assert public_set(ctx) == public_set(reference)
    manifest = ctx.store.get(ctx.layout.public_bucket, ctx.layout.manifest(DAY.slug))
    assert manifest == reference.store.get(
        reference.layout.public_bucket, reference.layout.manifest(DAY.slug)
    )
    assert audit(ctx, ctx.layout.manifest(DAY.slug)).ok
    # The manifest was written only by conditional writes: the first run's create-only write,
    # and the second run either found the same committed bytes or lost its condition to them.
    manifest_key = ctx.layout.manifest(DAY.slug)
    conditions = [c for k, c in store.conditional if k == manifest_key]
    assert conditions and set(conditions) <= {"if-none-match", "if-match"}
    assert len(conditions) + results.count(None) >= 1
    assert set(store.lost) <= {manifest_key}


def test_storage_killed_mid_chunk_then_rerun_converges(tmp_path: Path) -> None:
    corpus = bench_corpus.generate(tmp_path / "corpus", 400, seed=3)
    config = write_config(
        tmp_path / "p.yaml",
        storage={"max_concurrency": 4},
        sources=[{"name": "c", "kind": "local", "path": str(corpus), "timestamp": "path"}],
    )
    settings = load_settings(config)
    server = S3Server("seaweedfs", tmp_path / "s3").start()
    try:
        client = make_client(server.endpoint, timeout=5.0)
        init_buckets(client, settings.storage)
        ctx = Context(settings, S3Store(client, settings.storage, server.endpoint),
                      lambda _c: client)  # fmt: skip
        failure: list[BaseException] = []

        def run() -> None:
            try:
                run_interval(ctx, DAY)
            except BaseException as exc:
                failure.append(exc)

        worker = threading.Thread(target=run)
        worker.start()
        time.sleep(1.5)  # some objects are written, the chunk is not done
        server.stop(grace=0)  # SIGTERM then SIGKILL: the server dies mid-chunk
        worker.join(180)
        assert failure and isinstance(failure[0], StorageError | PipelineError)
        assert "127.0.0.1" in str(failure[0])
        server.start()  # same port, same data
        manifest_key = ctx.layout.manifest(DAY.slug)
        marker = ctx.layout.commit_marker(manifest_key)
        assert ctx.store.get(settings.storage.public_bucket, marker) is None
        summary = run_interval(ctx, DAY)
        assert summary.counts.articles == 400
        assert audit(ctx, manifest_key).ok
        written_after_crash = public_set(ctx)
    finally:
        server.stop()

    clean = S3Server("seaweedfs", tmp_path / "s3-clean").start()
    try:
        client = make_client(clean.endpoint)
        init_buckets(client, settings.storage)
        clean_ctx = Context(settings, S3Store(client, settings.storage, clean.endpoint),
                            lambda _c: client)  # fmt: skip
        run_interval(clean_ctx, DAY)
        assert set(public_set(clean_ctx)) == set(written_after_crash)
        assert public_set(clean_ctx) == written_after_crash  # same bytes, hence same ETags
    finally:
        clean.stop()


def test_storage_down_from_the_start_names_the_endpoint(tmp_path: Path) -> None:
    from paywall.s3 import S3Endpoint

    settings = load_settings(write_config(tmp_path / "p.yaml"))
    dead = S3Endpoint("http://127.0.0.1:9", "k", "s")
    client = make_client(dead, timeout=2.0)
    ctx = Context(settings, S3Store(client, settings.storage, dead), lambda _c: client)
    started = time.monotonic()
    with pytest.raises(StorageError, match=r"at http://127\.0\.0\.1:9 failed"):
        run_interval(ctx, DAY)
    assert time.monotonic() - started < 60


def test_slow_and_dropping_storage_times_out_and_retries(s3_server, tmp_path: Path) -> None:
    from paywall.s3 import S3Endpoint
    from tests.fixtures.proxy import FaultyProxy

    settings = load_settings(write_config(tmp_path / "p.yaml", storage={"max_concurrency": 2}))
    direct = make_client(s3_server.endpoint)
    init_buckets(direct, settings.storage)
    proxy = FaultyProxy(int(s3_server.endpoint.endpoint_url.rsplit(":", 1)[1]), stall=2, drop=2,
                        hang=4.0)  # fmt: skip
    try:
        endpoint = S3Endpoint(proxy.url, s3_server.access_key, s3_server.secret_key)
        client = make_client(endpoint, timeout=1.0)
        ctx = Context(settings, S3Store(client, settings.storage, endpoint), lambda _c: client)
        started = time.monotonic()
        summary = run_interval(ctx, DAY)
        assert summary.committed and summary.counts.articles == 4
        assert proxy.faults == 4  # two stalled and two reset connections were retried
        assert time.monotonic() - started < 60
    finally:
        proxy.close()
