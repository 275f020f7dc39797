"""Test-only DAG: the production deadline alert with a deadline of seconds, and a run held open.

Its ``deadline`` is built by the same ``adapter.deadline_for`` as the production DAG, from
the standalone's settings with only the alert section replaced (an SMTP Connection the e2e
fixtures serve on loopback, ``not_committed_after_hours`` of 18 s). Its one task waits while
the flag file ``PAYWALL_DEADLINE_FLAG`` exists (bounded), so the run is still not finished
when the deadline passes; the test removes the flag once the alert mail has arrived.
"""

from __future__ import annotations

import os
import time
from datetime import datetime, timedelta
from pathlib import Path

from airflow.sdk import dag, task

from paywall import airflow_adapter as adapter
from paywall.config import AlertSettings, load_settings

HOLD_SECONDS = 240  # the longest the run is held open, should the test never release it
SETTINGS = load_settings().model_copy(
    update={
        "alerts": AlertSettings(
            smtp_conn_id="e2e_smtp",
            to=("ops@example.test",),
            not_committed_after_hours=0.005,  # 18 s after the run was queued
        )
    }
)


@dag(
    dag_id="e2e_deadline_alert",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    # Retries: under load a task can fail to start (the api-server times out its first call);
    # the run must stay open past the deadline for that too.
    default_args={"owner": "tests", "retries": 3, "retry_delay": timedelta(seconds=5)},
    tags=["test"],
    deadline=adapter.deadline_for(SETTINGS),
)
def e2e_deadline_alert() -> None:
    @task
    def hold() -> str:
        flag = Path(os.environ["PAYWALL_DEADLINE_FLAG"])
        until = time.monotonic() + HOLD_SECONDS
        while flag.exists():
            if time.monotonic() > until:
                raise RuntimeError("the deadline flag was never removed")
            time.sleep(1)
        return "released"

    hold()


e2e_deadline_alert()
