"""The only module of the package that imports Airflow: Connections, intervals, assets.

Task code in ``dags/`` calls these helpers and the Airflow-free pipeline functions. Nothing
here runs at import time of a DAG file.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import Asset, BaseHook

from paywall.config import Settings
from paywall.pipeline import Context, build_context
from paywall.s3 import S3Endpoint, endpoint_from_connection
from paywall.sources import Interval


def manifests_asset(settings: Settings) -> Asset:
    """The asset a committed run manifest updates; consumer DAGs schedule on it."""
    bucket = settings.storage.public_bucket
    return Asset(
        name=f"paywall_manifests_{settings.pipeline.name}",
        uri=f"s3://{bucket}/runs/{settings.pipeline.name}/",
        group="paywall",
    )


def endpoint_for(connection_id: str) -> S3Endpoint:
    conn = BaseHook.get_connection(connection_id)
    return endpoint_from_connection(
        {"login": conn.login, "password": conn.password, "extra": conn.extra_dejson}
    )


def pipeline_context(settings: Settings) -> Context:
    """The pipeline Context for a task: S3 clients from Airflow Connections."""
    return build_context(settings, endpoint_for)


def interval_from_context(context: Any, settings: Settings) -> Interval:
    """The run's data interval; a manual run without one gets the configured fallback window."""
    start = context.get("data_interval_start")
    end = context.get("data_interval_end")
    if start is not None and end is not None and end > start:
        return Interval(start.astimezone(UTC), end.astimezone(UTC))
    dag_run = context.get("dag_run")
    run_after = getattr(dag_run, "run_after", None) or datetime.now(UTC)
    window = timedelta(hours=settings.pipeline.fallback_window_hours)
    return Interval(run_after.astimezone(UTC) - window, run_after.astimezone(UTC))
