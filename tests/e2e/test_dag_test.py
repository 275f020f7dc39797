"""`airflow dags test` of the pipeline DAG against a real S3 server."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from paywall.model import Outcome
from paywall.reader import read_committed
from paywall.verify import verify_run
from tests.e2e.conftest import AirflowEnv, build_airflow_env

pytestmark = pytest.mark.slow
SLUG = "20261120T000000Z_20261121T000000Z"


@pytest.fixture(scope="module")
def airflow_env(e2e_s3, tmp_path_factory: pytest.TempPathFactory) -> AirflowEnv:
    return build_airflow_env(tmp_path_factory.mktemp("dagtest"), e2e_s3)


def test_dag_run_commits_outputs_and_emits_the_asset_event(airflow_env: AirflowEnv) -> None:
    result = airflow_env.airflow("dags", "test", airflow_env.dag_id, "2026-11-21T00:00:00+00:00")
    # `dags test` prints the task logs instead of writing files: keep them for the leak scan.
    (airflow_env.home / "dags-test.log").write_text(result.stdout + result.stderr)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert "state=success" in result.stdout + result.stderr

    ctx = airflow_env.ctx
    slug = "20261120T000000Z_20261121T000000Z"
    manifest_key = ctx.layout.manifest(slug)
    marker = json.loads(
        ctx.store.get(ctx.layout.public_bucket, ctx.layout.commit_marker(manifest_key))
    )
    assert marker["articles"] == 7  # 3 generated + 4 bundled samples on 2026-11-20
    assert marker["counts"]["statuses"] == {"broken_marker": 1, "ok": 6}
    assert marker["counts"]["outcomes"] == {"published": 6, "quarantined": 1, "failed": 0}
    report = verify_run(ctx.store, ctx.layout, manifest_key, markers=ctx.settings.markers.build(),
                        probe=ctx.probe)  # fmt: skip
    assert report.ok, report.text()
    free = ctx.store.get(
        ctx.layout.public_bucket, ctx.layout.free("desk", "2026/11/20/story-1.txt", "txt")
    )
    assert free == "2026/11/20 第1篇\n公开导语1。\n\n结尾1。\n".encode()

    db = sqlite3.connect(airflow_env.home / "airflow.db")
    events = db.execute(
        "select a.name, e.extra from asset_event e join asset a on a.id = e.asset_id"
    ).fetchall()
    assert len(events) == 1
    name, extra = events[0][0], json.loads(events[0][1])
    assert name == "paywall_manifests_e2e_articles"
    assert extra["manifest_key"] == ctx.layout.manifest(slug)
    assert (extra["articles"], extra["published"], extra["quarantined"]) == (7, 6, 1)
    # Chunking: 7 articles at chunk_size 4 make 2 mapped process tasks, not 7.
    mapped = db.execute("select count(*) from task_instance where task_id = 'process'").fetchone()[
        0
    ]
    assert mapped == 2


def test_paid_text_never_reaches_the_database_logs_or_public_objects(
    airflow_env: AirflowEnv, e2e_s3
) -> None:
    """Sentinels live only in paid regions; scan everything that is not a paid object."""
    if not (airflow_env.home / "airflow.db").exists():
        pytest.skip("needs the DAG run of the previous test")
    sentinel = b"SENTINEL-PAID"
    paid_sample = "突出创新务入脑入心之实".encode()
    places: list[Path] = [airflow_env.home / "airflow.db"]
    task_logs = (airflow_env.home / "dags-test.log").read_text()
    assert "[DAG TEST] end task task_id=process" in task_logs  # the scan covers task logs
    places.append(airflow_env.home / "dags-test.log")
    places += [p for p in (airflow_env.home / "logs").rglob("*") if p.is_file()]
    for path in places:
        data = path.read_bytes()
        assert sentinel not in data and paid_sample not in data, path
        assert e2e_s3.secret_key.encode() not in data, f"the S3 secret leaked into {path}"
    ctx = airflow_env.ctx
    public = ctx.layout.public_bucket
    checked = 0
    for item in ctx.store.list(public, ""):
        body = ctx.store.get(public, item.key) or b""
        assert sentinel not in body and paid_sample not in body, item.key
        checked += 1
    for item in ctx.store.list(ctx.layout.private_bucket, "quarantine/"):
        if item.key.endswith("reason.json"):
            body = ctx.store.get(ctx.layout.private_bucket, item.key) or b""
            assert sentinel not in body
    # Every public object was scanned: the committed records' public objects, the manifest
    # and its commit marker -- derived from the manifest, not counted by hand.
    run = read_committed(ctx.store, ctx.layout, ctx.layout.manifest(SLUG))
    assert run is not None
    published = [r for r in run.records if r.outcome is Outcome.PUBLISHED]
    assert len(published) == 6
    assert checked == sum(len(r.public_objects) for r in run.records) + 2
    paid_key = ctx.layout.paid("desk", "2026/11/20/story-0.txt", "txt")
    paid = ctx.store.get(ctx.layout.private_bucket, paid_key) or b""
    assert sentinel in paid  # the scan would have seen a leak: the sentinel is real


def test_a_dry_run_skips_publish_and_writes_nothing(airflow_env: AirflowEnv) -> None:
    ctx = airflow_env.ctx
    before = {
        (bucket, item.key, item.etag)
        for bucket in (ctx.layout.public_bucket, ctx.layout.private_bucket)
        for item in ctx.store.list(bucket, "")
    }
    result = airflow_env.airflow(
        "dags", "test", airflow_env.dag_id, "2026-11-22T00:00:00+00:00", "-c",
        json.dumps({"dry_run": True}),
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert "dry run, nothing committed" in output
    after = {
        (bucket, item.key, item.etag)
        for bucket in (ctx.layout.public_bucket, ctx.layout.private_bucket)
        for item in ctx.store.list(bucket, "")
    }
    assert after == before  # no plan, no part, no object, no manifest
    slug = "20261121T000000Z_20261122T000000Z"
    assert ctx.store.get(ctx.layout.public_bucket, ctx.layout.manifest(slug)) is None
