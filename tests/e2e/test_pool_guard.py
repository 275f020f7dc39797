"""A paywall DAG whose pool does not exist fails its first task at once, with a note that
names the pool, instead of queueing silently (the scheduler-side pool guard)."""

from __future__ import annotations

import time

import pytest

from tests.e2e.conftest import Standalone

pytestmark = pytest.mark.slow
DAG = "e2e_missing_pool"


def test_a_missing_pool_fails_the_first_task_with_a_clear_message(standalone: Standalone) -> None:
    st = standalone
    try:
        run_id = st.api.post(f"/api/v2/dags/{DAG}/dagRuns", {"logical_date": None, "conf": {}})[
            "dag_run_id"
        ]
    except TimeoutError:  # a loaded machine: the run may exist all the same
        time.sleep(5)
        runs = st.api.get(f"/api/v2/dags/{DAG}/dagRuns?order_by=-run_after&limit=1")
        run_id = runs["dag_runs"][0]["dag_run_id"]
    deadline = time.monotonic() + 180
    run: dict = {}
    while time.monotonic() < deadline:
        run = st.api.get(f"/api/v2/dags/{DAG}/dagRuns/{run_id}")
        if run["state"] in ("success", "failed"):
            break
        time.sleep(2)
    assert run["state"] == "failed", run
    assert "paywall_pool_nobody_created" in (run.get("note") or "")
    tis = st.api.get(f"/api/v2/dags/{DAG}/dagRuns/{run_id}/taskInstances")["task_instances"]
    states = {t["task_id"]: (t["state"], t.get("note") or "") for t in tis}
    assert states["first"][0] == "failed"
    assert "pool 'paywall_pool_nobody_created' does not exist" in states["first"][1]
    assert "airflow pools set paywall_pool_nobody_created" in states["first"][1]
    assert states["second"][0] == "upstream_failed"  # not 'scheduled' for ever
