"""Test-only DAG: a paywall DAG whose chunk-like task names a pool nobody created.

Without the pool guard (``plugins/paywall_ops.py``) its second task would wait in
``scheduled`` for ever; with it, the first task fails at once with a note naming the pool.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import dag, task


@dag(
    dag_id="e2e_missing_pool",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["paywall", "test"],
    default_args={"owner": "data-platform", "retries": 2},
    doc_md="Test-only: a pool that does not exist.",
)
def e2e_missing_pool() -> None:
    @task
    def first() -> int:
        return 1

    @task(pool="paywall_pool_nobody_created")
    def second(value: int) -> int:
        return value

    second(first())


e2e_missing_pool()
