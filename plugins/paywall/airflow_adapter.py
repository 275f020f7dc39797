"""The only module of the package that imports Airflow: Connections, intervals, assets, and
the typed task bodies the DAG files wire together.

Task code in ``dags/`` calls these helpers. XComs carry the JSON form of the typed records
(:mod:`paywall.model`); the conversion happens here, at the edge. Nothing here runs at import
time of a DAG file.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import Asset, BaseHook
from airflow.sdk.exceptions import AirflowFailException

from paywall import pipeline
from paywall.config import Settings
from paywall.errors import ErrorCode, VerifyError
from paywall.model import ChunkJob, ChunkResult, Interval, PlanRef, RunSummary
from paywall.pipeline import Context, build_context
from paywall.s3 import S3Endpoint, endpoint_from_connection
from paywall.verify import verify_run
from paywall.webhook import notify_run

__all__ = [
    "endpoint_for",
    "interval_from_context",
    "manifests_asset",
    "notify_task",
    "pipeline_context",
    "plan_task",
    "process_task",
    "publish_task",
    "verify_task",
]


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


# ------------------------------------------------------------------------- task bodies


def plan_task(settings: Settings, params: dict[str, Any], context: Any) -> dict[str, Any]:
    plan = pipeline.plan_run(
        pipeline_context(settings),
        interval_from_context(context, settings),
        sources=params.get("sources") or None,
        article_ids=params.get("article_ids") or None,
        limit=params.get("limit"),
        dry_run=bool(params.get("dry_run")),
    )
    return plan.to_json()


def chunk_jobs(plan: dict[str, Any]) -> list[dict[str, Any]]:
    return [job.to_json() for job in PlanRef.from_json(plan).jobs()]


def process_task(settings: Settings, job: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    result = pipeline.process_chunk(
        pipeline_context(settings), ChunkJob.from_json(job), force=bool(params.get("force"))
    )
    return result.to_json()  # counts and a key: never records


def publish_task(
    settings: Settings, plan: dict[str, Any], chunks: list[dict[str, Any]]
) -> RunSummary:
    return pipeline.publish_run(
        pipeline_context(settings),
        PlanRef.from_json(plan),
        [ChunkResult.from_json(c) for c in chunks],
    )


def verify_task(settings: Settings, summary: dict[str, Any]) -> dict[str, Any]:
    """Audit the committed manifest. Findings that a retry cannot change fail the task for
    good (no retry); an inconclusive privacy probe fails it so Airflow retries."""
    run = RunSummary.from_json(summary)
    if run.manifest_key is None:
        raise AirflowFailException("nothing was committed: there is nothing to verify")
    ctx = pipeline_context(settings)
    report = verify_run(
        ctx.store,
        ctx.layout,
        run.manifest_key,
        markers=settings.markers.build(),
        probe=ctx.probe,
        max_concurrency=settings.storage.max_concurrency,
    )
    try:
        report.raise_for_problems()
    except VerifyError as exc:
        if exc.code is ErrorCode.VERIFY:
            raise AirflowFailException(str(exc)) from exc
        raise
    return report.counts()


def notify_task(settings: Settings, summary: dict[str, Any]) -> dict[str, Any]:
    run = RunSummary.from_json(summary)
    ctx = pipeline_context(settings)
    if run.manifest_key is None:
        return {"batches": 0, "records": 0}
    return notify_run(ctx.store, ctx.layout, settings.webhook, run.manifest_key)
