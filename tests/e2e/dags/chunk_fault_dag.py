"""Test-only DAG: the pipeline's own steps, with chunk 1 failing while a flag file exists.

It exists to prove how the scheduler treats a failed chunk (the other mapped tasks finish,
nothing is committed, clearing the failed task completes the interval); the production DAG
has no fault switch.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from airflow.sdk import dag, task

from paywall import airflow_adapter as adapter
from paywall import pipeline
from paywall.config import load_settings
from paywall.sources import Interval

SETTINGS = load_settings()
INTERVAL = Interval(datetime(2026, 11, 20, tzinfo=UTC), datetime(2026, 11, 21, tzinfo=UTC))


@dag(
    dag_id="e2e_chunk_fault",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    default_args={"owner": "tests", "retries": 0},
    tags=["test"],
)
def chunk_fault() -> None:
    # The same typed task bodies as the production DAG; only the interval is fixed.
    @task(multiple_outputs=False)
    def plan() -> dict[str, Any]:
        return pipeline.plan_run(adapter.pipeline_context(SETTINGS), INTERVAL).to_json()

    @task(multiple_outputs=False)
    def chunks(planned: dict[str, Any]) -> list[dict[str, Any]]:
        return adapter.chunk_jobs(planned)

    @task(multiple_outputs=False)
    def process(job: dict[str, Any]) -> dict[str, Any]:
        if job["chunk"] == 1 and Path(os.environ["PAYWALL_FAULT_FLAG"]).exists():
            raise RuntimeError("injected failure of chunk 1")
        return adapter.process_task(SETTINGS, job, {})

    @task(multiple_outputs=False)
    def publish(planned: dict[str, Any], results: list[dict[str, Any]]) -> dict[str, Any]:
        return adapter.publish_task(SETTINGS, planned, list(results)).to_json()

    planned = plan()
    publish(planned, process.expand(job=chunks(planned)))


chunk_fault()
