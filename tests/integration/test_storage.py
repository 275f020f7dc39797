"""The output contract on a real S3 server (every backend on the machine)."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import jsonschema
import pytest

from paywall.metadata import load_schema, sha256_hex
from paywall.pipeline import Context, load_committed, run_interval
from paywall.reader import committed_runs, presign_paid, read_public
from paywall.s3 import make_client
from paywall.sources import Interval
from paywall.storage import init_buckets, public_read_policy
from paywall.verify import verify_run
from tests.conftest import USER_SAMPLE

pytestmark = pytest.mark.s3
DAY = Interval(datetime(2026, 11, 20, tzinfo=UTC), datetime(2026, 11, 21, tzinfo=UTC))


def anonymous_get(ctx: Context, bucket: str, key: str) -> int:
    url = f"{ctx.store.client.meta.endpoint_url}/{bucket}/{key}"
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def objects(ctx: Context) -> dict[str, str]:
    """Every object of both buckets with its ETag: what a rerun must leave untouched."""
    out = {}
    for bucket in (ctx.layout.public_bucket, ctx.layout.private_bucket):
        for item in ctx.store.list(bucket, ""):
            out[f"{bucket}/{item['Key']}"] = item["ETag"]
    return out


def test_layout_commit_and_schemas(ctx: Context) -> None:
    summary = run_interval(ctx, DAY)
    assert summary["committed"] and summary["articles"] == 4
    assert summary["statuses"] == {"broken_marker": 1, "ok": 3}
    layout = ctx.layout
    keys = objects(ctx)
    pub, priv = layout.public_bucket, layout.private_bucket
    stem = "samples/2026/11/20/000_ef8617fb664c5123"
    assert f"{pub}/free/{stem}.txt" in keys and f"{priv}/paid/{stem}.txt" in keys
    assert f"{pub}/meta/{stem}.json" in keys
    assert f"{pub}/free/samples/2026/11/20/html-demo.html" in keys
    assert f"{priv}/quarantine/samples/2026/11/20/broken-marker-demo/input" in keys
    assert not any(k.startswith(f"{pub}/paid/") or k.startswith(f"{priv}/free/") for k in keys)

    # The free half is exactly the text outside the region; the paid half is private.
    text = USER_SAMPLE.read_text()
    begin, end = text.index("##paidbegin##"), text.index("##paidend##")
    free = ctx.store.get(pub, f"free/{stem}.txt")
    assert free == (text[:begin] + "\n").encode()
    assert ctx.store.get(priv, f"paid/{stem}.txt") == text[begin + 13 : end].encode()

    article_schema = load_schema("article")
    meta = json.loads(ctx.store.get(pub, f"meta/{stem}.json") or b"")
    jsonschema.validate(meta, article_schema)
    assert meta["revision"] == 1 and meta["keys"]["free"] == [f"free/{stem}.txt"]
    manifest = ctx.store.get(pub, summary["manifest_key"]) or b""
    record_schema = load_schema("manifest-record")
    for line in manifest.splitlines():
        jsonschema.validate(json.loads(line), record_schema)
    marker = json.loads(ctx.store.get(pub, layout.commit_marker(DAY.slug)) or b"")
    jsonschema.validate(marker, load_schema("commit"))
    assert marker["manifest_sha256"] == sha256_hex(manifest)
    # Content types and charsets are set for consumers.
    head = ctx.store.client.head_object(Bucket=pub, Key=f"free/{stem}.txt")
    assert head["ContentType"] == "text/plain; charset=utf-8"
    assert head["Metadata"]["sha256"] == sha256_hex(free)


def test_rerun_writes_nothing_and_force_rewrites(ctx: Context) -> None:
    run_interval(ctx, DAY)
    before = objects(ctx)
    second = run_interval(ctx, DAY)
    assert second["actions"] == {"unchanged": 4}  # no split, no write: same bytes, same rules
    assert second["changed"] is False
    assert objects(ctx) == before  # not one object rewritten
    forced = run_interval(ctx, DAY, force=True)
    assert forced["actions"].get("written") == 3


def test_changed_article_is_overwritten_with_a_new_revision(make_ctx, tmp_path: Path) -> None:
    folder = tmp_path / "articles" / "2026" / "11" / "20"
    folder.mkdir(parents=True)
    article = folder / "a.txt"
    article.write_text("标题\n免费##paidbegin##付费一##paidend##\n")
    ctx = make_ctx(
        sources=[
            {
                "name": "desk",
                "kind": "local",
                "path": str(tmp_path / "articles"),
                "timestamp": "path",
            }
        ]
    )
    run_interval(ctx, DAY)
    meta_key = "meta/desk/2026/11/20/a.json"
    first = json.loads(ctx.store.get(ctx.layout.public_bucket, meta_key) or b"")
    article.write_text("标题\n免费改##paidbegin##付费二##paidend##\n")
    summary = run_interval(ctx, DAY)
    assert summary["actions"] == {"written": 1} and summary["changed"]
    second = json.loads(ctx.store.get(ctx.layout.public_bucket, meta_key) or b"")
    assert (first["revision"], second["revision"]) == (1, 2)
    assert second["sha256"]["free"] != first["sha256"]["free"]
    paid = ctx.store.get(ctx.layout.private_bucket, "paid/desk/2026/11/20/a.txt")
    assert paid == "付费二".encode()

    # An article that turns ambiguous is retracted from the public side (fail closed).
    article.write_text("标题\n免费##paidend##付费\n")
    summary = run_interval(ctx, DAY)
    assert summary["actions"] == {"retracted": 1}
    assert ctx.store.get(ctx.layout.public_bucket, meta_key) is None
    assert ctx.store.get(ctx.layout.public_bucket, "free/desk/2026/11/20/a.txt") is None


def test_anonymous_access_follows_the_policy(ctx: Context) -> None:
    run_interval(ctx, DAY)
    pub, priv = ctx.layout.public_bucket, ctx.layout.private_bucket
    stem = "samples/2026/11/20/000_ef8617fb664c5123"
    assert anonymous_get(ctx, pub, f"free/{stem}.txt") == 200
    assert anonymous_get(ctx, pub, f"meta/{stem}.json") == 200
    assert anonymous_get(ctx, priv, f"paid/{stem}.txt") == 403
    assert anonymous_get(ctx, priv, "quarantine/samples/2026/11/20/broken-marker-demo/input") == 403
    assert anonymous_get(ctx, pub, ctx.layout.manifest(DAY.slug)) == 403


def test_private_only_config_and_init_is_idempotent(make_ctx) -> None:
    ctx = make_ctx(storage={"public_read": False})
    run_interval(ctx, DAY)
    stem = "samples/2026/11/20/000_ef8617fb664c5123"
    assert anonymous_get(ctx, ctx.layout.public_bucket, f"free/{stem}.txt") == 403
    assert init_buckets(ctx.store.client, ctx.settings.storage) == []


def test_presigned_url_works_then_expires(ctx: Context) -> None:
    run_interval(ctx, DAY)
    url = presign_paid(ctx, "samples", "2026/11/20/000_ef8617fb664c5123.txt", expires=2)
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.read().decode().startswith("突出创新务入脑入心之实")
    time.sleep(3.5)
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(url, timeout=10)
    assert error.value.code == 403
    with pytest.raises(ValueError):
        presign_paid(ctx, "samples", "x", expires=86_400)


def test_verify_catches_deleted_tampered_and_public_paid(ctx: Context) -> None:
    summary = run_interval(ctx, DAY)
    key = summary["manifest_key"]
    assert verify_run(ctx, key).ok
    pub, priv = ctx.layout.public_bucket, ctx.layout.private_bucket
    stem = "samples/2026/11/20/000_ef8617fb664c5123"
    ctx.store.client.delete_object(Bucket=pub, Key=f"free/{stem}.txt")
    ctx.store.put(priv, f"paid/{stem}.txt", b"tampered", "txt")
    ctx.store.put(pub, "free/samples/2026/11/20/html-demo.txt", b"x ##paidbegin## y", "txt")
    client = ctx.store.client
    client.put_bucket_policy(Bucket=priv, Policy=json.dumps(public_read_policy(priv) | {
        "Statement": [public_read_policy(priv)["Statement"][0] | {
            "Resource": [f"arn:aws:s3:::{priv}/*"]}]}))  # fmt: skip
    report = verify_run(ctx, key)
    text = report.text()
    assert f"free/{stem}.txt is missing" in text
    assert f"paid/{stem}.txt does not match its recorded sha256" in text
    assert "html-demo.txt" in text and "begin marker" in text
    assert "readable without credentials" in text
    assert not report.ok


def test_verify_proves_objects_by_listing_and_spot_checks_free_ones(
    ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    summary = run_interval(ctx, DAY)
    key = summary["manifest_key"]
    pub = ctx.layout.public_bucket
    manifest = ctx.store.get(pub, key)
    records = [json.loads(line) for line in manifest.splitlines()]
    free = {k for r in records for k in (r.get("keys") or {}).get("free", [])}
    assert all(r["md5"] for r in records)

    reads: list[str] = []
    real_get = ctx.store.get

    def counting_get(bucket: str, object_key: str) -> bytes | None:
        reads.append(object_key)
        return real_get(bucket, object_key)

    monkeypatch.setattr(ctx.store, "get", counting_get)
    report = verify_run(ctx, key, spot_checks=0)
    assert report.ok, report.text()
    total = sum(len(r["sha256"]["objects"]) for r in records)
    assert report.objects_checked == total
    assert {k for k in reads if not k.startswith("runs/")} == set()  # all proven by LIST
    reads.clear()
    assert verify_run(ctx, key, spot_checks=2).ok
    spot = {k for k in reads if not k.startswith("runs/")}
    assert len(spot) == 2 and spot <= free  # spot checks read free objects only

    # A manifest written before MD5s were recorded is still verified, by reading everything.
    old = b"".join(
        json.dumps({k: v for k, v in r.items() if k != "md5"}, ensure_ascii=False).encode() + b"\n"
        for r in records
    )
    monkeypatch.setattr(ctx.store, "get", real_get)
    ctx.store.put(pub, key, old, "jsonl")
    marker_key = ctx.layout.marker_for(key)
    marker = json.loads(ctx.store.get(pub, marker_key))
    from paywall.metadata import sha256_hex

    ctx.store.put_json(pub, marker_key, marker | {"manifest_sha256": sha256_hex(old)})
    monkeypatch.setattr(ctx.store, "get", counting_get)
    reads.clear()
    assert verify_run(ctx, key).ok
    assert len({k for k in reads if not k.startswith("runs/")}) == total


def test_consumers_see_only_committed_runs(ctx: Context) -> None:
    run_interval(ctx, DAY)
    runs = list(committed_runs(ctx))
    assert len(runs) == 1 and len(runs[0].records) == 4
    record = next(r for r in runs[0].records if r["status"] == "ok")
    assert read_public(ctx, record)
    # A manifest being replaced (no matching commit marker) is invisible to consumers.
    ctx.store.put(ctx.layout.public_bucket, ctx.layout.manifest(DAY.slug), b"{}\n", "jsonl")
    assert list(committed_runs(ctx)) == []
    assert load_committed(ctx, DAY) == {}


def test_one_bucket_with_prefixes(make_ctx) -> None:
    ctx = make_ctx(storage={"public_bucket": "one-bucket-x", "private_bucket": "one-bucket-x"})
    run_interval(ctx, DAY)
    stem = "samples/2026/11/20/000_ef8617fb664c5123"
    assert anonymous_get(ctx, "one-bucket-x", f"free/{stem}.txt") == 200
    assert anonymous_get(ctx, "one-bucket-x", f"paid/{stem}.txt") == 403


def test_unreachable_storage_names_the_endpoint(ctx: Context) -> None:
    from paywall.s3 import S3Endpoint
    from paywall.storage import ObjectStore, StorageError

    dead = S3Endpoint("http://127.0.0.1:9", "k", "s")
    store = ObjectStore(make_client(dead, timeout=2.0), ctx.settings.storage, dead.describe())
    with pytest.raises(StorageError, match=r"127\.0\.0\.1:9"):
        store.put(ctx.layout.public_bucket, "x", b"x", "txt")


def test_catalog_lists_published_articles_from_committed_runs_only(ctx: Context) -> None:
    from paywall.catalog import catalog_key, update_catalog

    assert update_catalog(ctx)["articles"] == 0
    run_interval(ctx, DAY)
    first = update_catalog(ctx)
    assert (first["articles"], first["runs"], first["changed"]) == (3, 1, True)
    catalog = json.loads(ctx.store.get(ctx.layout.public_bucket, catalog_key(ctx)) or b"")
    titles = {a["title"] for a in catalog["articles"]}
    assert "Xx区委书记在全市县域经济发展座谈会上的经验交流发言" in titles
    assert update_catalog(ctx)["changed"] is False  # same manifests, same bytes: no write


def test_a_missing_bucket_is_named_in_the_error(make_ctx) -> None:
    from paywall.storage import StorageError

    ctx = make_ctx()
    ctx.store.client.delete_bucket(Bucket=ctx.layout.private_bucket)
    with pytest.raises(StorageError, match=rf"s3://{ctx.layout.private_bucket}/.*NoSuchBucket"):
        run_interval(ctx, DAY)
