"""The output contract on a real S3 server (every backend on the machine): what only a server
shows -- policies and anonymous access, content types and user metadata, conditional writes,
presigned URLs, listings, errors. The pipeline's logic is tested on the in-memory store
(tests/unit/test_pipeline_logic.py)."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime

import jsonschema
import pytest

from paywall.articles import article_id
from paywall.catalog import read_catalog, update_catalog
from paywall.errors import PreconditionFailed, StorageError
from paywall.layout import EXTENSIONS
from paywall.metadata import load_schema, sha256_hex
from paywall.model import Interval, Outcome, Role
from paywall.pipeline import Context, run_interval
from paywall.reader import committed_runs, presign_paid, read_committed, read_public
from paywall.s3 import S3Endpoint, make_client
from paywall.storage import ProbeResult, S3Store, init_buckets, public_read_policy
from paywall.store import Blob
from paywall.verify import FindingKind, Report, verify_run
from tests.conftest import USER_SAMPLE

pytestmark = pytest.mark.s3
DAY = Interval(datetime(2026, 11, 20, tzinfo=UTC), datetime(2026, 11, 21, tzinfo=UTC))
SAMPLE = "2026/11/20/000_ef8617fb664c5123.txt"


def boto(ctx: Context) -> S3Store:
    """The boto3 side of the context (bucket set-up, policies, the anonymous probe)."""
    endpoint = ctx.store.endpoint  # type: ignore[attr-defined]
    return S3Store(ctx.s3_client_for(None), ctx.settings.storage, endpoint)


def endpoint_url(ctx: Context) -> str:
    return str(boto(ctx).endpoint.endpoint_url)


def anonymous_get(ctx: Context, bucket: str, key: str) -> int:
    url = f"{endpoint_url(ctx)}/{bucket}/{urllib.request.quote(key)}"
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def objects(ctx: Context) -> dict[str, str]:
    """Every object of both buckets with its ETag: what a rerun must leave untouched."""
    out = {}
    for bucket in (ctx.layout.public_bucket, ctx.layout.private_bucket):
        for item in ctx.store.list(bucket, ""):
            out[f"{bucket}/{item.key}"] = item.etag
    return out


def audit(ctx: Context, spot_checks: int = 16) -> Report:
    return verify_run(
        ctx.store,
        ctx.layout,
        ctx.layout.manifest(DAY.slug),
        markers=ctx.settings.markers.build(),
        probe=ctx.probe,
        spot_checks=spot_checks,
    )


def test_layout_commit_schemas_and_headers(ctx: Context) -> None:
    summary = run_interval(ctx, DAY)
    assert summary.committed and summary.counts.articles == 4
    assert dict(summary.counts.outcomes) == {"published": 3, "quarantined": 1, "failed": 0}
    layout = ctx.layout
    keys = objects(ctx)
    pub, priv = layout.public_bucket, layout.private_bucket
    free_key = layout.free("samples", SAMPLE, "txt")
    assert free_key == f"free/samples/{SAMPLE}~/free.txt"
    assert f"{pub}/{free_key}" in keys and f"{priv}/{layout.paid('samples', SAMPLE, 'txt')}" in keys
    assert f"{pub}/{layout.meta('samples', SAMPLE)}" in keys
    assert f"{pub}/{layout.free('samples', '2026/11/20/html-demo.html', 'html')}" in keys
    assert (
        f"{priv}/{layout.quarantine_input('samples', '2026/11/20/broken-marker-demo.txt')}" in keys
    )
    assert not any(k.startswith((f"{pub}/paid/", f"{pub}/quarantine/", f"{priv}/free/"))
                   for k in keys)  # fmt: skip

    # The free half is exactly the text outside the region; the paid half is private.
    text = USER_SAMPLE.read_text()
    begin, end = text.index("##paidbegin##"), text.index("##paidend##")
    free = ctx.store.get(pub, free_key)
    assert free == (text[:begin] + "\n").encode()
    assert (
        ctx.store.get(priv, layout.paid("samples", SAMPLE, "txt"))
        == text[begin + 13 : end].encode()
    )

    meta = json.loads(ctx.store.get(pub, layout.meta("samples", SAMPLE)) or b"")
    jsonschema.validate(meta, load_schema("article"))
    assert meta["revision"] == 1 and meta["keys"]["free"] == [free_key]
    manifest = ctx.store.get(pub, summary.manifest_key or "") or b""
    for line in manifest.splitlines():
        jsonschema.validate(json.loads(line), load_schema("manifest-record"))
    marker = json.loads(ctx.store.get(pub, layout.commit_marker(summary.manifest_key or "")) or b"")
    jsonschema.validate(marker, load_schema("commit"))
    assert marker["manifest_sha256"] == sha256_hex(manifest)
    private = ctx.store.get(priv, marker["private_manifest_key"]) or b""
    for line in private.splitlines():
        jsonschema.validate(json.loads(line), load_schema("manifest-private"))
    # Content types, charsets, the sha256 and article-id user metadata, as a HEAD shows them.
    head = ctx.store.head(pub, free_key)
    assert head is not None and head.metadata["sha256"] == sha256_hex(free or b"")
    assert head.metadata["article-id"] == article_id("samples", SAMPLE)
    client = boto(ctx).client
    assert client.head_object(Bucket=pub, Key=free_key)["ContentType"] == EXTENSIONS["txt"]


def test_rerun_writes_nothing_and_force_rewrites(ctx: Context) -> None:
    first = run_interval(ctx, DAY)
    before = objects(ctx)
    second = run_interval(ctx, DAY)
    assert dict(second.counts.actions) == {"unchanged": 4}  # no split, no write
    assert second.changed is False and second.writes == 0
    assert objects(ctx) == before  # not one object rewritten, manifest included
    forced = run_interval(ctx, DAY, force=True)
    assert dict(forced.counts.actions) == {"written": 4}
    assert forced.manifest_sha256 == first.manifest_sha256  # same bytes, same manifest


def test_anonymous_access_follows_the_policy_and_the_probe_reads_it(ctx: Context) -> None:
    run_interval(ctx, DAY)
    layout = ctx.layout
    pub, priv = layout.public_bucket, layout.private_bucket
    assert anonymous_get(ctx, pub, layout.free("samples", SAMPLE, "txt")) == 200
    assert anonymous_get(ctx, pub, layout.meta("samples", SAMPLE)) == 200
    assert anonymous_get(ctx, priv, layout.paid("samples", SAMPLE, "txt")) == 403
    quarantined = layout.quarantine_input("samples", "2026/11/20/broken-marker-demo.txt")
    assert anonymous_get(ctx, priv, quarantined) == 403
    assert anonymous_get(ctx, pub, layout.manifest(DAY.slug)) == 403
    assert ctx.probe is not None
    result, detail = ctx.probe(priv, layout.paid("samples", SAMPLE, "txt"))
    assert result is ProbeResult.REFUSED, detail
    readable, _ = ctx.probe(pub, layout.free("samples", SAMPLE, "txt"))
    assert readable is ProbeResult.READABLE


def test_the_probe_is_inconclusive_when_the_server_does_not_answer(ctx: Context) -> None:
    # Finding 5: a timeout, a refused connection or a wrong region used to count as "refused".
    dead = S3Store(make_client(S3Endpoint("http://127.0.0.1:9", "k", "s"), timeout=2.0),
                   ctx.settings.storage, S3Endpoint("http://127.0.0.1:9", "k", "s"))  # fmt: skip
    result, detail = dead.anonymous_probe("bucket", "paid/x.txt")
    assert result is ProbeResult.INCONCLUSIVE, detail
    # The anonymous client keeps the endpoint's region (it used to be rebuilt without it).
    eu = S3Endpoint("http://127.0.0.1:9", "k", "s", region="eu-west-1")
    assert make_client(eu, anonymous=True).meta.region_name == "eu-west-1"


def test_private_only_config_and_init_is_idempotent(make_ctx) -> None:
    ctx = make_ctx(storage={"public_read": False})
    run_interval(ctx, DAY)
    assert (
        anonymous_get(ctx, ctx.layout.public_bucket, ctx.layout.free("samples", SAMPLE, "txt"))
        == 403
    )
    assert init_buckets(boto(ctx).client, ctx.settings.storage) == []


def test_presigned_url_works_then_expires(ctx: Context) -> None:
    run_interval(ctx, DAY)
    url = presign_paid(ctx.store, ctx.layout, "samples", SAMPLE, expires=2)
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.read().decode().startswith("突出创新务入脑入心之实")
    time.sleep(3.5)
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(url, timeout=10)
    assert error.value.code == 403
    with pytest.raises(KeyError):
        presign_paid(ctx.store, ctx.layout, "samples", "2026/11/20/broken-marker-demo.txt")


def test_conditional_writes_are_enforced(ctx: Context) -> None:
    bucket = ctx.layout.public_bucket
    blob = Blob.of(bucket, "runs/x/manifest.jsonl", b"one\n", EXTENSIONS["jsonl"])
    etag = ctx.store.put(blob, if_none_match=True)
    with pytest.raises(PreconditionFailed) as lost:
        ctx.store.put(blob, if_none_match=True)
    assert lost.value.status == 412 or lost.value.s3_code == "PreconditionFailed"
    newer = Blob.of(bucket, blob.key, b"two\n", EXTENSIONS["jsonl"])
    second = ctx.store.put(newer, if_match=etag)
    with pytest.raises(PreconditionFailed):
        ctx.store.put(Blob.of(bucket, blob.key, b"three\n", EXTENSIONS["jsonl"]), if_match=etag)
    assert ctx.store.get_with_etag(bucket, blob.key) == (b"two\n", second)


def test_verify_catches_deleted_tampered_marked_and_public_paid(ctx: Context) -> None:
    run_interval(ctx, DAY)
    assert audit(ctx).ok
    layout = ctx.layout
    pub, priv = layout.public_bucket, layout.private_bucket
    ctx.store.delete(pub, [layout.free("samples", SAMPLE, "txt")])
    ctx.store.put(
        Blob.of(priv, layout.paid("samples", SAMPLE, "txt"), b"tampered", EXTENSIONS["txt"])
    )
    html_txt = layout.free("samples", "2026/11/20/html-demo.html", "txt")
    ctx.store.put(Blob.of(pub, html_txt, b"x ##paidbegin## y", EXTENSIONS["txt"]))
    boto(ctx).client.put_bucket_policy(Bucket=priv, Policy=json.dumps(public_read_policy(priv) | {
        "Statement": [public_read_policy(priv)["Statement"][0] | {
            "Resource": [f"arn:aws:s3:::{priv}/*"]}]}))  # fmt: skip
    report = audit(ctx)
    kinds = {f.kind for f in report.findings}
    assert {FindingKind.MISSING, FindingKind.TAMPERED, FindingKind.MARKER_IN_FREE,
            FindingKind.PUBLICLY_READABLE} <= kinds, report.text()  # fmt: skip
    assert not report.ok


def test_verify_proves_objects_by_listing(ctx: Context, monkeypatch: pytest.MonkeyPatch) -> None:
    run_interval(ctx, DAY)
    run = read_committed(ctx.store, ctx.layout, ctx.layout.manifest(DAY.slug), private=True)
    assert run is not None and run.private
    total = sum(len(r.objects) for r in run.records)
    reads: list[str] = []
    real_get = ctx.store.get

    def counting_get(bucket: str, key: str) -> bytes | None:
        reads.append(key)
        return real_get(bucket, key)

    monkeypatch.setattr(ctx.store, "get", counting_get)
    report = audit(ctx, spot_checks=0)
    assert report.ok, report.text()
    assert report.objects_checked == total
    assert [k for k in reads if not k.startswith("runs/")] == []  # all proven by LIST
    reads.clear()
    assert audit(ctx, spot_checks=2).ok
    spot = {k for k in reads if not k.startswith("runs/")}
    assert len(spot) == 2 and all(k.startswith("free/") for k in spot)


def test_consumers_see_only_committed_runs(ctx: Context) -> None:
    run_interval(ctx, DAY)
    runs = list(committed_runs(ctx.store, ctx.layout))
    assert len(runs) == 1 and len(runs[0].records) == 4
    record = next(r for r in runs[0].records if r.outcome is Outcome.PUBLISHED)
    assert read_public(ctx.store, ctx.layout, record)
    assert record.object(Role.PAID) is None  # the public lines name no private object
    # A manifest being replaced (no matching commit marker) is invisible to consumers.
    ctx.store.put(Blob.of(ctx.layout.public_bucket, ctx.layout.manifest(DAY.slug), b"{}\n", "x"))
    assert list(committed_runs(ctx.store, ctx.layout)) == []


def test_one_bucket_with_prefixes(make_ctx) -> None:
    ctx = make_ctx(storage={"public_bucket": "one-bucket-x", "private_bucket": "one-bucket-x"})
    run_interval(ctx, DAY)
    assert anonymous_get(ctx, "one-bucket-x", ctx.layout.free("samples", SAMPLE, "txt")) == 200
    assert anonymous_get(ctx, "one-bucket-x", ctx.layout.paid("samples", SAMPLE, "txt")) == 403
    assert audit(ctx).ok


def test_unreachable_storage_names_the_endpoint(ctx: Context) -> None:
    dead = S3Endpoint("http://127.0.0.1:9", "k", "s")
    store = S3Store(make_client(dead, timeout=2.0), ctx.settings.storage, dead)
    with pytest.raises(StorageError, match=r"127\.0\.0\.1:9"):
        store.put(Blob.of(ctx.layout.public_bucket, "x", b"x", EXTENSIONS["txt"]))


def test_catalog_lists_published_articles_from_committed_runs_only(ctx: Context) -> None:
    assert update_catalog(ctx.store, ctx.layout)["articles"] == 0
    run_interval(ctx, DAY)
    first = update_catalog(ctx.store, ctx.layout)
    assert (first["articles"], len(first["applied"]), first["changed"]) == (3, 1, True)
    titles = {a["title"] for a in read_catalog(ctx.store, ctx.layout)}
    assert "Xx区委书记在全市县域经济发展座谈会上的经验交流发言" in titles
    assert update_catalog(ctx.store, ctx.layout)["changed"] is False


def test_a_missing_bucket_is_named_in_the_error(make_ctx) -> None:
    ctx = make_ctx()
    boto(ctx).client.delete_bucket(Bucket=ctx.layout.private_bucket)
    with pytest.raises(
        StorageError, match=rf"s3://{ctx.layout.private_bucket}/.*NoSuchBucket"
    ) as error:
        run_interval(ctx, DAY)
    assert error.value.s3_code == "NoSuchBucket"
