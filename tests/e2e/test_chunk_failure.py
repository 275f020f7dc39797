"""One failed chunk: the others finish, nothing is committed, and a clear completes the run."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import Standalone

pytestmark = pytest.mark.slow
DAG = "e2e_chunk_fault"
SLUG = "20261120T000000Z_20261121T000000Z"


def wait_run(st: Standalone, run_id: str, states: set[str], timeout: float = 300) -> str:
    deadline = time.monotonic() + timeout
    state = "?"
    while time.monotonic() < deadline:
        state = st.api.get(f"/api/v2/dags/{DAG}/dagRuns/{run_id}")["state"]
        if state in states:
            return state
        time.sleep(2)
    raise AssertionError(f"run {run_id} still {state}")


def test_failed_chunk_then_clear_completes_the_interval(standalone: Standalone) -> None:
    st, ctx = standalone, standalone.airflow.ctx
    flag = Path(st.airflow.env["PAYWALL_FAULT_FLAG"])
    flag.write_text("fail")
    run = st.api.post(f"/api/v2/dags/{DAG}/dagRuns", {"logical_date": None, "conf": {}})
    run_id = run["dag_run_id"]
    assert wait_run(st, run_id, {"success", "failed"}) == "failed"

    tis = st.api.get(f"/api/v2/dags/{DAG}/dagRuns/{run_id}/taskInstances?limit=100")
    states = {(t["task_id"], t["map_index"]): t["state"] for t in tis["task_instances"]}
    process = {k[1]: v for k, v in states.items() if k[0] == "process"}
    assert len(process) == 2  # 7 articles in chunks of 4
    assert process[1] == "failed" and process[0] == "success"
    assert states[("publish", -1)] == "upstream_failed"
    # The healthy chunk did its work; nothing was committed for the interval.
    prefix = f"staging/{ctx.layout.pipeline}/{SLUG}/parts/"
    parts = [o.key for o in ctx.store.list(ctx.layout.private_bucket, prefix)]
    assert len(parts) == 1
    assert (
        ctx.store.get(ctx.layout.public_bucket, ctx.layout.commit_marker(ctx.layout.manifest(SLUG)))
        is None
    )

    os.remove(flag)  # the operator fixes the cause, then clears the failed task
    st.api.post(
        f"/api/v2/dags/{DAG}/clearTaskInstances",
        {"dry_run": False, "dag_run_id": run_id, "only_failed": True,
         "include_downstream": True, "reset_dag_runs": True},
    )  # fmt: skip
    assert wait_run(st, run_id, {"success", "failed"}) == "success"
    marker = json.loads(
        ctx.store.get(ctx.layout.public_bucket, ctx.layout.commit_marker(ctx.layout.manifest(SLUG)))
    )
    assert marker["articles"] == 7
