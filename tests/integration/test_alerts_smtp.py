"""Alerts through Airflow's SMTP notifier machinery, received by a real SMTP server on loopback.

A task failure, a DAG failure, a threshold alert and a deadline alert (the triggerer's async
path): each mail names the DAG, interval, task and reason, and holds no paid text and no
secret, even when the exception's own message quotes paid text.
"""

from __future__ import annotations

import asyncio
import html
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException

from paywall import airflow_adapter as adapter
from paywall.config import load_settings
from paywall.errors import FetchError
from paywall.model import Interval, RunSummary
from paywall.pipeline import run_interval
from paywall.reader import read_committed
from paywall.runstats import run_stats
from tests.conftest import memory_context, write_config
from tests.fixtures.smtp import SmtpServer, text_of

PAID = "付费绝密哨兵内容QQZ-7781"
DAY = Interval(datetime(2026, 11, 20, tzinfo=UTC), datetime(2026, 11, 21, tzinfo=UTC))


@pytest.fixture
def smtp(monkeypatch: pytest.MonkeyPatch):
    with SmtpServer() as server:
        monkeypatch.setenv("AIRFLOW_CONN_PAYWALL_SMTP", server.connection())
        yield server


def settings_for(tmp_path: Path, **alerts: Any) -> Any:
    base = {"smtp_conn_id": "paywall_smtp", "to": ["ops@example.test"]}
    return load_settings(write_config(tmp_path / "p.yaml", alerts=base | alerts))


def failure_context(task_id: str | None, error: BaseException | None, **extra: Any) -> dict:
    dag_run = SimpleNamespace(dag_id="paywall_articles", run_id="scheduled__2026-11-20",
                              data_interval_start=DAY.start, data_interval_end=DAY.end)  # fmt: skip
    ti = SimpleNamespace(task_id=task_id, try_number=3) if task_id else None
    return {"dag_run": dag_run, "ti": ti, "exception": error} | extra


def mail_text(smtp: SmtpServer) -> str:
    assert smtp.messages, "no mail arrived"
    return html.unescape(text_of(smtp.messages[-1]))


def test_task_failure_mail_names_dag_interval_task_and_reason(smtp, tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    (notifier,) = adapter.failure_callbacks(settings, dag_level=False)
    notifier(failure_context("process", FetchError("HTTP 401", "https://n.example/a.html")))
    text = mail_text(smtp)
    for expected in ("paywall_articles", "2026-11-20T00:00:00+00:00 .. 2026-11-21T00:00:00+00:00",
                     "process", "try 3", "FetchError [fetch]: HTTP 401"):  # fmt: skip
        assert expected in text
    assert smtp.messages[-1]["To"] == "ops@example.test"


def test_an_exception_quoting_paid_text_is_withheld(smtp, tmp_path: Path) -> None:
    (notifier,) = adapter.failure_callbacks(settings_for(tmp_path), dag_level=False)
    notifier(failure_context("process", ValueError(f"cannot parse near '{PAID}'")))
    text = mail_text(smtp)
    assert "ValueError (message withheld" in text and PAID not in text
    assert PAID.encode() not in smtp.messages[-1].as_bytes()


def test_dag_failure_mail(smtp, tmp_path: Path) -> None:
    (notifier,) = adapter.failure_callbacks(settings_for(tmp_path), dag_level=True)
    notifier(failure_context(None, None, reason="task_failure"))
    text = mail_text(smtp)
    assert "DAG run failed" in text and "task_failure" in text
    assert (
        adapter.failure_callbacks(settings_for(tmp_path, on_dag_failure=False), dag_level=True)
        == []
    )


def test_threshold_alert_with_counts_per_reason_and_source(smtp, tmp_path: Path) -> None:
    settings = settings_for(tmp_path, max_quarantined_ratio=0.1)
    ctx = memory_context(settings)
    summary = run_interval(ctx, DAY)
    run = read_committed(ctx.store, ctx.layout, summary.manifest_key or "", private=True)
    assert run is not None
    stats = run_stats(run.records, {})
    context = failure_context(None, None)
    result = adapter.threshold_task(settings, summary.to_json(), stats.to_json(), context)
    assert result == {"crossed": ["quarantined"]}
    text = mail_text(smtp)
    assert "1 of 4 quarantined (25% > 10%)" in text
    assert "samples: 4 article(s), 3 published, 1 quarantined, 0 failed" in text
    assert "quarantined broken_marker: 1" in text
    # Paid text of the bundled samples never reaches the mail.
    paid = "突出创新务入脑入心之实"
    assert paid not in text
    # Configured to fail: the task fails after sending, the commit stays.
    strict = settings_for(tmp_path, max_quarantined_ratio=0.1, fail_on_threshold=True)
    with pytest.raises(AirflowFailException, match="quarantined"):
        adapter.threshold_task(strict, summary.to_json(), stats.to_json(), context)
    assert len(smtp.messages) == 2
    # Under the threshold: no mail.
    quiet = settings_for(tmp_path, max_quarantined_ratio=0.5)
    assert adapter.threshold_task(quiet, summary.to_json(), stats.to_json(), context) == {
        "crossed": []
    }
    assert len(smtp.messages) == 2
    assert isinstance(RunSummary.from_json(summary.to_json()), RunSummary)


def test_deadline_alert_goes_through_the_async_path(smtp, tmp_path: Path) -> None:
    """What the triggerer does with the DAG's DeadlineAlert callback, with the context the
    scheduler hands it (a serialised DAG run and the deadline)."""
    settings = settings_for(tmp_path, not_committed_after_hours=6)
    deadline = adapter.deadline_for(settings)
    assert deadline is not None and deadline.interval.total_seconds() == 6 * 3600
    callback = deadline.callback
    assert callback.path == "paywall.airflow_adapter.PaywallNotifier"
    context = {
        "dag_run": {"dag_id": "paywall_articles", "dag_run_id": "scheduled__2026-11-20",
                    "data_interval_start": "2026-11-20T00:00:00Z",
                    "data_interval_end": "2026-11-21T00:00:00Z", "state": "running"},
        "deadline": {"id": "x", "deadline_time": "2026-11-21T06:00:00Z"},
    }  # fmt: skip

    async def trigger() -> None:  # as airflow.triggers.callback.CallbackTrigger runs it
        await adapter.PaywallNotifier(**callback.kwargs, context=context)

    asyncio.run(trigger())
    text = mail_text(smtp)
    assert "not committed 6 h after it was due" in text
    assert (
        "2026-11-20T00:00:00Z .. 2026-11-21T00:00:00Z" in text and "scheduled__2026-11-20" in text
    )


def test_no_smtp_connection_means_no_callbacks(tmp_path: Path) -> None:
    settings = load_settings(write_config(tmp_path / "p.yaml"))
    assert adapter.failure_callbacks(settings, dag_level=False) == []
    assert adapter.deadline_for(settings) is None
