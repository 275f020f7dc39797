"""A paywall DAG whose pool does not exist fails its first task at once, with a note that
names the pool, instead of queueing silently (the scheduler-side pool guard)."""

from __future__ import annotations

import time
import urllib.error

import pytest

from tests.e2e.conftest import Standalone

pytestmark = pytest.mark.slow
DAG = "e2e_missing_pool"


def _get(st: Standalone, path: str, until: float) -> dict:
    """A GET, retried while the api-server of a loaded machine times out (GETs are safe)."""
    while True:
        try:
            return st.api.get(path)
        except (TimeoutError, ConnectionError, urllib.error.URLError):
            if time.monotonic() > until:
                raise
            time.sleep(2)


def test_a_missing_pool_fails_the_first_task_with_a_clear_message(standalone: Standalone) -> None:
    st = standalone
    deadline = time.monotonic() + 300
    try:
        run_id = st.api.post(f"/api/v2/dags/{DAG}/dagRuns", {"logical_date": None, "conf": {}})[
            "dag_run_id"
        ]
    except TimeoutError:  # a loaded machine: the run may exist all the same
        time.sleep(5)
        runs = _get(st, f"/api/v2/dags/{DAG}/dagRuns?order_by=-run_after&limit=1", deadline)
        run_id = runs["dag_runs"][0]["dag_run_id"]
    run: dict = {}
    while time.monotonic() < deadline:
        run = _get(st, f"/api/v2/dags/{DAG}/dagRuns/{run_id}", deadline)
        if run["state"] in ("success", "failed"):
            break
        time.sleep(2)
    assert run["state"] == "failed", run
    assert "paywall_pool_nobody_created" in (run.get("note") or "")
    tis = _get(st, f"/api/v2/dags/{DAG}/dagRuns/{run_id}/taskInstances", deadline + 120)
    states = {t["task_id"]: (t["state"], t.get("note") or "") for t in tis["task_instances"]}
    assert states["first"][0] == "failed"
    assert "pool 'paywall_pool_nobody_created' does not exist" in states["first"][1]
    assert "airflow pools set paywall_pool_nobody_created" in states["first"][1]
    assert states["second"][0] == "upstream_failed"  # not 'scheduled' for ever
