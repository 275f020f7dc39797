"""Airflow plugin: the pool guard (a scheduler-side listener).

Airflow leaves a task whose pool does not exist in ``scheduled`` for ever, with one warning
in the scheduler's log ("Tasks using non-existent pool ... will not be scheduled"), and
Airflow 3 gives task code no way to look pools up (no database access, no pool API in the
Task SDK). So the check runs where pools are known: when a run of a DAG tagged ``paywall``
starts, this listener (in the scheduler) looks up every pool the DAG's tasks use; if one is
missing, the run's first task(s) fail at once, the task instance and the run carry a note
that says which pool and how to create it, and the scheduler logs it as an error. The DAG's
failure alert (``alerts.smtp_conn_id``) then goes out as for any failed run.

Every deployment path creates the configured pool (``make up``, ``make run``,
``make cluster-up``, compose's ``airflow-init``): this is the net for a
config that names a pool the deployment was not told about.
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import Any

from airflow.listeners import hookimpl
from airflow.plugins_manager import AirflowPlugin

log = logging.getLogger("paywall.pool_guard")
TAG = "paywall"


def missing_pool_message(dag_id: str, missing: list[str]) -> str:
    names = ", ".join(repr(p) for p in missing)
    return (
        f"{dag_id}: pool {names} does not exist, so its tasks would wait in 'scheduled' for "
        f"ever. Create it (airflow pools set {missing[0]} 8 'paywall chunk tasks', or UI: "
        "Admin -> Pools), or change pipeline.pool, then clear this run."
    )


def guard_pools(dag_run: Any, session: Any) -> str | None:
    """Fail the run's first tasks when a pool its DAG uses does not exist; the message."""
    from airflow.models.pool import Pool
    from airflow.utils.state import TaskInstanceState
    from sqlalchemy import select

    dag = getattr(dag_run, "dag", None)
    if dag is None or TAG not in set(getattr(dag, "tags", None) or ()):
        return None
    wanted = {task.pool for task in dag.tasks if getattr(task, "pool", None)}
    if not wanted:
        return None
    existing = set(session.scalars(select(Pool.pool).where(Pool.pool.in_(wanted))))
    missing = sorted(wanted - existing)
    if not missing:
        return None
    message = missing_pool_message(dag_run.dag_id, missing)
    roots = {task.task_id for task in dag.roots}
    now = datetime.now(UTC)
    for ti in dag_run.get_task_instances(session=session):
        if ti.task_id in roots and ti.state in (None, TaskInstanceState.SCHEDULED):
            ti.state = TaskInstanceState.FAILED
            ti.start_date = ti.start_date or now
            ti.end_date = now
            ti.note = message
    dag_run.note = message
    session.flush()
    log.error("%s (run %s)", message, dag_run.run_id)
    return message


@hookimpl
def on_dag_run_running(dag_run: Any, msg: str) -> None:
    try:
        from sqlalchemy.orm import object_session

        session = object_session(dag_run)
        if session is not None:
            guard_pools(dag_run, session)
    except Exception:  # a listener must never break the scheduler loop
        log.exception("paywall pool guard failed for %s", getattr(dag_run, "run_id", "?"))


class PaywallOpsPlugin(AirflowPlugin):
    name = "paywall_ops"
    listeners = [sys.modules[__name__]]  # noqa: RUF012 - the base class declares it so
