"""Local and S3 sources on real folders and a real S3 server; explicit article ids."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from paywall.config import LocalSource, S3Source
from paywall.pipeline import Context, plan_run, run_interval
from paywall.sources import Interval, SourceError
from paywall.sources.local import LocalFolderSource
from paywall.sources.s3inbox import S3InboxSource

DAY1 = Interval(datetime(2026, 11, 20, tzinfo=UTC), datetime(2026, 11, 21, tzinfo=UTC))
DAY2 = Interval(datetime(2026, 11, 21, tzinfo=UTC), datetime(2026, 11, 22, tzinfo=UTC))


def test_local_source_by_mtime_splits_adjacent_intervals(tmp_path: Path) -> None:
    times = {
        "a.txt": datetime(2026, 11, 20, 0, 0, tzinfo=UTC),
        "sub/b.txt": datetime(2026, 11, 20, 23, 59, 59, tzinfo=UTC),
        "c.txt": datetime(2026, 11, 21, 0, 0, tzinfo=UTC),  # the boundary belongs to day 2
        ".hidden.txt": datetime(2026, 11, 20, 5, tzinfo=UTC),
    }
    for name, moment in times.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")
        os.utime(path, (moment.timestamp(), moment.timestamp()))
    source = LocalFolderSource(LocalSource(name="l", kind="local", path=tmp_path))
    assert [r.source_id for r in source.list(DAY1)] == ["a.txt", "sub/b.txt"]
    assert [r.source_id for r in source.list(DAY2)] == ["c.txt"]
    with pytest.raises(SourceError, match="does not exist"):
        LocalFolderSource(LocalSource(name="l", kind="local", path=tmp_path / "no")).list(DAY1)


def test_local_fetch_cannot_leave_the_folder(tmp_path: Path) -> None:
    from paywall.sources import ArticleRef, FetchError

    source = LocalFolderSource(LocalSource(name="l", kind="local", path=tmp_path))
    with pytest.raises(FetchError, match="leaves the source folder"):
        source.fetch(ArticleRef("l", "../../etc/passwd", "2026-11-20T00:00:00Z", "x"))
    # A NUL byte (an id as safe_id escapes it) fails this article, not the chunk.
    for name in ("a\\u0000b.txt", "../x\\u0000/../y.txt"):
        with pytest.raises(FetchError, match="NUL byte"):
            source.fetch(ArticleRef("l", name, "2026-11-20T00:00:00Z", "x"))


@pytest.mark.s3
def test_s3_inbox_source_by_key_date_and_last_modified(ctx: Context) -> None:
    client = ctx.s3_client_for(None)
    inbox = "inbox-" + ctx.layout.public_bucket.split("-")[-1]
    client.create_bucket(Bucket=inbox)
    for key in ("news/2026-11-20/a.txt", "news/2026-11-20/b.html", "news/2026-11-21/c.txt",
                "other/2026-11-20/skip.txt"):  # fmt: skip
        client.put_object(
            Bucket=inbox, Key=key, Body="t\n免费##paidbegin##付费##paidend##".encode()
        )
    by_key = S3InboxSource(
        S3Source(name="in", kind="s3", bucket=inbox, prefix="news/", timestamp="key"), client
    )
    assert [r.source_id for r in by_key.list(DAY1)] == ["2026-11-20/a.txt", "2026-11-20/b.html"]
    assert [r.source_id for r in by_key.list(DAY2)] == ["2026-11-21/c.txt"]
    raw = by_key.fetch(by_key.list(DAY2)[0])
    assert raw.data.endswith(b"##paidend##") and raw.origin["etag"]
    now = datetime.now(UTC)
    today = Interval(now.replace(hour=0, minute=0, second=0, microsecond=0),
                     now.replace(hour=23, minute=59, second=59))  # fmt: skip
    by_time = S3InboxSource(S3Source(name="in", kind="s3", bucket=inbox, prefix="news/"), client)
    assert len(by_time.list(today)) == 3
    missing = S3InboxSource(S3Source(name="in", kind="s3", bucket="no-such-inbox"), client)
    with pytest.raises(SourceError, match=r"cannot list s3://no-such-inbox/"):
        missing.list(DAY1)


@pytest.mark.s3
def test_explicit_article_ids_and_limit_make_a_partial_commit(ctx: Context) -> None:
    full = run_interval(ctx, DAY1)
    plan = plan_run(ctx, DAY2, article_ids=["2026/11/20/gbk-demo.txt"])
    assert plan.articles == 1 and not plan.full
    partial = run_interval(ctx, DAY2, article_ids=["2026/11/20/gbk-demo.txt"])
    assert partial.manifest_key and "/partial/" in partial.manifest_key
    # The interval's own manifest is untouched by a partial run.
    assert ctx.store.get(ctx.layout.public_bucket, full.manifest_key or "") is not None
    limited = plan_run(ctx, DAY1, limit=2)
    assert limited.articles == 2 and not limited.full


@pytest.mark.s3
def test_dry_run_writes_nothing(ctx: Context) -> None:
    summary = run_interval(ctx, DAY1, dry_run=True)
    assert summary.counts.articles == 4 and not summary.committed
    for bucket in (ctx.layout.public_bucket, ctx.layout.private_bucket):
        assert list(ctx.store.list(bucket, "")) == []


def test_local_fetch_follows_links_only_inside_the_folder(tmp_path: Path) -> None:
    """A link (to a file or a folder) is followed while its target stays in the source
    folder; one leading out is refused, however deep it sits or whatever the name says."""
    from paywall.sources import ArticleRef, FetchError

    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "2026" / "real").mkdir(parents=True)
    (outside / "dir").mkdir(parents=True)
    (root / "2026" / "real" / "a.txt").write_text("inside")
    (outside / "secret.txt").write_text("outside")
    (outside / "dir" / "b.txt").write_text("outside too")
    (root / "2026" / "in-link.txt").symlink_to(root / "2026" / "real" / "a.txt")
    (root / "2026" / "in-dir").symlink_to(root / "2026" / "real")
    (root / "2026" / "out-link.txt").symlink_to(outside / "secret.txt")
    (root / "2026" / "out-dir").symlink_to(outside / "dir")
    (root / "2026" / "relative-out.txt").symlink_to("../../outside/secret.txt")
    source = LocalFolderSource(LocalSource(name="l", kind="local", path=root))

    def fetch(name: str) -> bytes:
        return source.fetch(ArticleRef("l", name, "2026-11-20T00:00:00Z", "x")).data

    assert fetch("2026/real/a.txt") == b"inside"
    assert fetch("2026/in-link.txt") == b"inside"
    assert fetch("2026/in-dir/a.txt") == b"inside"
    assert fetch("2026/./real/../real/a.txt") == b"inside"  # odd but inside: resolved
    for name in ("2026/out-link.txt", "2026/out-dir/b.txt", "2026/relative-out.txt",
                 "../outside/secret.txt", str(outside / "secret.txt"),
                 "2026/in-dir/../../../outside/secret.txt"):  # fmt: skip
        with pytest.raises(FetchError, match="leaves the source folder"):
            fetch(name)
