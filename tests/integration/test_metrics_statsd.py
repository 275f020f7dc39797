"""Metrics through Airflow's own metrics client, received by a UDP listener on loopback."""

from __future__ import annotations

import socket
import time
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from paywall import airflow_adapter as adapter
from paywall.config import load_settings
from tests.conftest import memory_context, write_config

LOGICAL = {
    "data_interval_start": __import__("datetime").datetime(
        2026, 11, 20, tzinfo=__import__("datetime").UTC
    ),
    "data_interval_end": __import__("datetime").datetime(
        2026, 11, 21, tzinfo=__import__("datetime").UTC
    ),
}
PAID = "突出创新务入脑入心之实"  # in the bundled sample's paid region


class UdpListener:
    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]

    def lines(self, settle: float = 1.0) -> list[str]:
        found: list[str] = []
        deadline = time.monotonic() + settle
        while time.monotonic() < deadline:
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                continue
            found += data.decode("utf-8", "replace").splitlines()
        return found


@pytest.fixture
def statsd(monkeypatch: pytest.MonkeyPatch):
    from airflow.sdk._shared.observability.metrics import stats

    listener = UdpListener()
    monkeypatch.setenv("AIRFLOW__METRICS__STATSD_ON", "True")
    monkeypatch.setenv("AIRFLOW__METRICS__STATSD_HOST", "127.0.0.1")
    monkeypatch.setenv("AIRFLOW__METRICS__STATSD_PORT", str(listener.port))
    monkeypatch.setenv("AIRFLOW__METRICS__STATSD_PREFIX", "airflow")
    monkeypatch.setattr(stats, "_factory", None)  # as in a fresh task process
    monkeypatch.setattr(stats, "_backend", None)
    yield listener
    listener.sock.close()


def run_dag_tasks(settings: Any, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Any]:
    ctx = memory_context(settings)
    monkeypatch.setattr(adapter, "pipeline_context", lambda _settings: ctx)
    plan = adapter.plan_task(settings, {}, LOGICAL)
    results = [adapter.process_task(settings, job, {}) for job in adapter.chunk_jobs(plan)]
    context = {"dag_run": SimpleNamespace(start_date=datetime.now(UTC), run_id="r")}
    return adapter.publish_and_report(settings, plan, results, {}, context)


def test_a_run_sends_counters_per_source_and_outcome_through_airflow_statsd(
    statsd: UdpListener, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = load_settings(write_config(tmp_path / "p.yaml"))
    summary, stats = run_dag_tasks(settings, monkeypatch)
    assert summary.committed and stats is not None
    lines = statsd.lines()
    base = "airflow.paywall.test_pipeline.samples"
    for expected in (f"{base}.published:3|c", f"{base}.written:4|c", f"{base}.unchanged:0|c",
                     f"{base}.quarantined.broken_marker:1|c"):  # fmt: skip
        assert expected in lines, lines
    assert any(line.startswith(f"{base}.bytes_written:") for line in lines)
    assert any(line.startswith("airflow.paywall.test_pipeline.run_duration:") and
               line.endswith("|ms") for line in lines)  # fmt: skip
    assert "airflow.paywall.test_pipeline.articles:4|g" in lines
    assert all(PAID not in line for line in lines)

    # The rerun changes nothing: the counters say so.
    run_dag_tasks_again(settings, monkeypatch)
    lines = statsd.lines()
    assert f"{base}.unchanged:4|c" in lines and f"{base}.written:0|c" in lines


def run_dag_tasks_again(settings: Any, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Any]:
    ctx = adapter.pipeline_context(settings)  # the same in-memory store as the first run
    plan = adapter.plan_task(settings, {}, LOGICAL)
    results = [adapter.process_task(settings, job, {}) for job in adapter.chunk_jobs(plan)]
    assert ctx is adapter.pipeline_context(settings)
    return adapter.publish_and_report(settings, plan, results, {}, {})


def test_metrics_can_be_turned_off(statsd: UdpListener, tmp_path: Path, monkeypatch) -> None:
    settings = load_settings(write_config(tmp_path / "p.yaml", metrics={"enabled": False}))
    run_dag_tasks(settings, monkeypatch)
    assert not [line for line in statsd.lines(0.5) if "paywall" in line]
