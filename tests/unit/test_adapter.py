"""The Airflow adapter's task bodies: typed records at the XCom edge, verify's retry policy."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import jsonschema
import pytest
from airflow.sdk.exceptions import AirflowFailException

from paywall import airflow_adapter as adapter
from paywall.errors import ErrorCode, VerifyError
from paywall.metadata import load_schema
from paywall.model import RunSummary
from paywall.pipeline import Context
from paywall.storage import ProbeResult
from paywall.store import Blob

LOGICAL = {
    "data_interval_start": datetime(2026, 11, 20, tzinfo=UTC),
    "data_interval_end": datetime(2026, 11, 21, tzinfo=UTC),
}


@pytest.fixture
def ctx(make_mem_ctx, monkeypatch: pytest.MonkeyPatch) -> Context:
    context = make_mem_ctx()
    monkeypatch.setattr(adapter, "pipeline_context", lambda settings: context)
    return context


def run_tasks(ctx: Context) -> dict[str, Any]:
    settings = ctx.settings
    plan = adapter.plan_task(settings, {}, LOGICAL)
    jsonschema.validate(plan, load_schema("plan-ref"))
    jobs = adapter.chunk_jobs(plan)
    results = []
    for job in jobs:
        jsonschema.validate(job, load_schema("chunk-job"))
        result = adapter.process_task(settings, job, {})
        jsonschema.validate(result, load_schema("chunk-result"))
        results.append(result)
    summary = adapter.publish_task(settings, plan, results)
    assert isinstance(summary, RunSummary)
    jsonschema.validate(summary.to_json(), load_schema("run-summary"))
    return summary.to_json()


def test_tasks_hand_each_other_schema_valid_json(ctx: Context) -> None:
    summary = run_tasks(ctx)
    assert (summary["published"], summary["quarantined"]) == (3, 1)
    counts = adapter.verify_task(ctx.settings, summary)
    assert counts["problems"] == 0 and counts["objects_checked"] > 0


def test_a_deterministic_finding_fails_verify_for_good(ctx: Context) -> None:
    summary = run_tasks(ctx)
    layout = ctx.layout
    free = layout.free("samples", "2026/11/20/000_ef8617fb664c5123.txt", "txt")
    ctx.store.put(Blob.of(layout.public_bucket, free, b"tampered", "text/plain"))
    with pytest.raises(AirflowFailException, match="tampered"):  # Airflow does not retry it
        adapter.verify_task(ctx.settings, summary)


def test_an_inconclusive_probe_fails_verify_so_that_airflow_retries(
    ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    summary = run_tasks(ctx)
    monkeypatch.setattr(ctx, "probe", lambda bucket, key: (ProbeResult.INCONCLUSIVE, "timeout"))
    with pytest.raises(VerifyError) as error:
        adapter.verify_task(ctx.settings, summary)
    assert error.value.code is ErrorCode.VERIFY_INCONCLUSIVE
    assert not isinstance(error.value, AirflowFailException)


def test_notify_without_a_webhook_sends_nothing(ctx: Context) -> None:
    summary = run_tasks(ctx)
    assert adapter.notify_task(ctx.settings, summary) == {"batches": 0, "records": 0}


def test_a_manual_run_without_an_interval_covers_the_fallback_window(ctx: Context) -> None:
    class Run:
        run_after = datetime(2026, 11, 21, 6, tzinfo=UTC)

    interval = adapter.interval_from_context({"dag_run": Run()}, ctx.settings)
    hours = ctx.settings.pipeline.fallback_window_hours
    assert interval.end == Run.run_after
    assert (interval.end - interval.start).total_seconds() == hours * 3600
