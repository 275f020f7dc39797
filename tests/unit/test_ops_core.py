"""The Airflow-free parts of operating the pipeline: run counts, metric names, alert texts,
lineage datasets. Paid text never gets into any of them (a sentinel checks)."""

from __future__ import annotations

from pathlib import Path

import pytest

from paywall.alerts import failure_alert, safe_reason, threshold_alert, thresholds_crossed
from paywall.config import AlertSettings, load_settings
from paywall.errors import FetchError, StorageError
from paywall.fetch import FETCH_KINDS, fetch_kind
from paywall.layout import Layout
from paywall.lineage import Dataset, plan_lineage, process_lineage, publish_lineage
from paywall.metrics import run_metrics, safe_part
from paywall.model import Action, ManifestRecord, ObjectRef, Outcome, Role
from paywall.pipeline import run_interval
from paywall.runstats import RunStats, run_stats
from tests.conftest import memory_context, write_config

PAID = "付费绝密哨兵内容ZZQ"


def record(aid: str, source: str, outcome: Outcome, status: str = "ok", reason: str | None = None,
           objects: tuple[tuple[str, str, int], ...] = ()) -> ManifestRecord:  # fmt: skip
    roles = {"free": Role.FREE, "meta": Role.META, "paid": Role.PAID, "quarantine": Role.INPUT}
    refs = tuple(
        ObjectRef(roles[k.split("/", 1)[0]], k, "0" * 32, sha, size) for k, sha, size in objects
    )
    return ManifestRecord(aid, source, aid, "2026-11-20T00:00:00Z", outcome, Action.UNCHANGED,
                          status, reason, objects=refs)  # fmt: skip


def test_run_stats_count_per_source_what_the_commit_changed() -> None:
    before = {
        "a": record(
            "a",
            "web",
            Outcome.PUBLISHED,
            objects=(("free/web/a", "s1", 10), ("paid/web/a", "p1", 20)),
        ),
        "b": record("b", "web", Outcome.PUBLISHED, objects=(("free/web/b", "s2", 5),)),
        "c": record("c", "web", Outcome.PUBLISHED, objects=(("free/web/c", "s3", 5),)),
    }
    records = [
        before["a"],  # same objects: unchanged
        record("b", "web", Outcome.PUBLISHED, objects=(("free/web/b", "s2b", 7),)),  # written
        record("c", "web", Outcome.QUARANTINED, "broken_marker",
               objects=(("quarantine/web/c/input", "q", 9),)),  # retracted
        record("d", "desk", Outcome.FAILED, "fetch_failed", "HTTP 401"),
        record("e", "desk", Outcome.FAILED, "fetch_failed", "timeout reading the response"),
    ]  # fmt: skip
    stats = run_stats(records, before)
    web, desk = stats.sources["web"], stats.sources["desk"]
    assert (web.published, web.unchanged, web.written, web.retracted) == (2, 1, 1, 1)
    assert web.quarantined == {"broken_marker": 1} and web.bytes_written == 7 + 9
    assert desk.failed == {"http_401": 1, "timeout": 1} and desk.written == 0
    assert RunStats.from_json(stats.to_json()).to_json() == stats.to_json()
    forced = run_stats(records[:1], before, force=True).sources["web"]
    assert (forced.written, forced.bytes_written) == (1, 30)


def test_every_fetch_reason_has_a_bounded_kind() -> None:
    reasons = ["HTTP 404", "HTTP 503", "timeout: total deadline of 60s", "connection timed out",
               "connection failed: ProtocolError", "proxy refused the tunnel (HTTP 407)",
               "too large: body over 10 bytes", "refused: h is a non-public address (10.0.0.1)",
               "content type 'image/png' is not allowed", "scheme 'ftp' is not allowed",
               "more than 5 redirects", "no host in URL"]  # fmt: skip
    kinds = {fetch_kind(r) for r in reasons}
    assert "other" not in kinds and {"http_404", "http_503", "proxy"} <= kinds
    assert fetch_kind(f"some new reason {PAID}") == "other"  # free text never becomes a label
    assert all(kind.replace("_", "").isalnum() for _, kind in FETCH_KINDS)


def test_metric_names_carry_only_safe_parts() -> None:
    stats = run_stats([record("a", "web", Outcome.QUARANTINED, "broken_marker")], {})
    names = [m.name for m in run_metrics("paywall_articles", stats, 12.5)]
    assert "paywall.paywall_articles.web.quarantined.broken_marker" in names
    assert "paywall.paywall_articles.run_duration" in names
    assert set(safe_part(PAID + "x.y")) <= set("abcdefghijklmnopqrstuvwxyz0123456789_-")
    # A status or kind outside the closed vocabularies becomes "other", whatever it holds.
    bad = RunStats.from_json(
        {"sources": {"web": {"quarantined": {f"x{PAID}": 1}, "failed": {f"http_{PAID}": 2}}}}
    )
    points = run_metrics("p", bad, None)
    assert {m.name for m in points} >= {
        "paywall.p.web.quarantined.other",
        "paywall.p.web.failed.other",
    }
    stats = run_stats([record("a", "web", Outcome.QUARANTINED, f"new_{PAID}")], {})
    assert dict(stats.sources["web"].quarantined) == {"other": 1}


def test_alerts_withhold_messages_that_are_not_ours() -> None:
    leaked = ValueError(f"parser choked near: {PAID}")
    assert PAID not in safe_reason(leaked) and "ValueError" in safe_reason(leaked)
    ours = FetchError("HTTP 401", "https://n.example/a.html")
    assert safe_reason(ours) == "FetchError [fetch]: HTTP 401 (https://n.example/a.html)"
    alert = failure_alert("[p]", dag_id="d", run_id="r", interval=("2026-11-20", "2026-11-21"),
                          task_id="process", try_number=2, error=leaked)  # fmt: skip
    assert PAID not in alert.subject + alert.body + alert.html()
    for text in ("d", "2026-11-20 .. 2026-11-21", "process", "try 2", "ValueError"):
        assert text in alert.body
    assert "StorageError [storage]" in safe_reason(StorageError("PUT s3://b/k at x failed"))


def test_thresholds_and_their_alert() -> None:
    records = [record(str(i), "web", Outcome.PUBLISHED) for i in range(6)]
    records += [record("q1", "web", Outcome.QUARANTINED, "no_markers"),
                record("q2", "desk", Outcome.QUARANTINED, "broken_marker"),
                record("f1", "desk", Outcome.FAILED, "fetch_failed", "HTTP 401")]  # fmt: skip
    stats = run_stats(records, {})
    settings = AlertSettings(max_quarantined_ratio=0.2, max_failed_ratio=0.2)
    crossed = thresholds_crossed(stats, settings)
    assert [t.outcome for t in crossed] == ["quarantined"]  # 2/9 > 20%; 1/9 failed is not
    assert (
        thresholds_crossed(stats, AlertSettings(max_quarantined_ratio=0.2, min_articles=10)) == []
    )
    alert = threshold_alert("[p]", dag_id="d", run_id="r", interval=("s", "e"), stats=stats,
                            crossed=crossed)  # fmt: skip
    assert "2 of 9 quarantined (22% > 20%)" in alert.subject
    for line in ("web: 7 article(s), 6 published, 1 quarantined, 0 failed",
                 "quarantined no_markers: 1", "quarantined broken_marker: 1",
                 "failed http_401: 1"):  # fmt: skip
        assert line in alert.body


def test_alert_settings_need_recipients() -> None:
    with pytest.raises(ValueError, match="recipient"):
        AlertSettings(smtp_conn_id="smtp")


def test_lineage_datasets_follow_the_naming_conventions(tmp_path: Path) -> None:
    settings = load_settings(write_config(tmp_path / "p.yaml", sources=[
        {"name": "desk", "kind": "local", "path": str(tmp_path)},
        {"name": "inbox", "kind": "s3", "bucket": "in-bucket", "prefix": "drop/"},
        {"name": "web", "kind": "http",
         "index_url": "https://u:p@news.example:8443/s.xml?api_key=TOKEN-1#TOKEN-2"},
    ]))  # fmt: skip
    layout = Layout("pub", "priv", "p")
    plan = plan_lineage(settings, layout, None, "staging/p/plan.json")
    assert {(d.namespace, d.name) for d in plan.inputs} == {
        (f"file://{__import__('socket').gethostname()}", str(tmp_path)),
        ("s3://in-bucket", "drop/"),
        ("https://news.example:8443", "/s.xml"),  # never the userinfo nor the query
    }
    assert "TOKEN" not in repr(plan)
    assert plan.outputs == (Dataset("s3://priv", "staging/p/plan.json"),)
    chunk = process_lineage(settings, layout, ["web"], "plan-key", "part-key")
    assert Dataset("s3://pub", "free/web/") in chunk.outputs
    assert Dataset("s3://pub", "meta/web/") in chunk.outputs
    assert Dataset("s3://priv", "paid/web/") in chunk.outputs
    assert Dataset("s3://priv", "part-key") in chunk.outputs
    published = publish_lineage(layout, ["part-key"], "runs/p/x/manifest.jsonl")
    assert Dataset("s3://pub", "runs/p/x/manifest.jsonl") in published.outputs
    assert Dataset("s3://pub", "runs/p/x/_COMMITTED") in published.outputs


def test_run_stats_on_a_real_interval_run(tmp_path: Path) -> None:
    settings = load_settings(write_config(tmp_path / "p.yaml"))
    ctx = memory_context(settings)
    from datetime import UTC, datetime

    from paywall.model import Interval
    from paywall.pipeline import load_committed
    from paywall.reader import read_committed

    interval = Interval(datetime(2026, 11, 20, tzinfo=UTC), datetime(2026, 11, 21, tzinfo=UTC))
    first = run_interval(ctx, interval)
    run = read_committed(ctx.store, ctx.layout, first.manifest_key or "", private=True)
    assert run is not None
    stats = run_stats(run.records, {}).sources["samples"]
    assert (stats.published, stats.written, dict(stats.quarantined)) == (3, 4, {"broken_marker": 1})
    assert stats.bytes_written > 0
    before = load_committed(ctx, interval)
    again = run_interval(ctx, interval)
    rerun = read_committed(ctx.store, ctx.layout, again.manifest_key or "", private=True)
    assert rerun is not None
    stats = run_stats(rerun.records, before).sources["samples"]
    assert (stats.unchanged, stats.written, stats.bytes_written) == (4, 0, 0)
