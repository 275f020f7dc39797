"""The only module of the package that imports Airflow: Connections, intervals, assets, and
the typed task bodies the DAG files wire together.

Task code in ``dags/`` calls these helpers. XComs carry the JSON form of the typed records
(:mod:`paywall.model`); the conversion happens here, at the edge. Nothing here runs at import
time of a DAG file.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import Asset, BaseHook
from airflow.sdk.exceptions import AirflowFailException, AirflowNotFoundException
from airflow.sdk.log import mask_secret

from paywall import connections, pipeline
from paywall.config import Settings
from paywall.connections import ConnectionInfo
from paywall.errors import ConfigError, ErrorCode, VerifyError
from paywall.model import ChunkJob, ChunkResult, Interval, PlanRef, RunSummary
from paywall.pipeline import Context, build_context
from paywall.s3 import DEFAULT_REGION, S3Endpoint
from paywall.verify import probe_of, verify_run
from paywall.webhook import notify_run

__all__ = [
    "connection_info",
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


def _get_connection(connection_id: str) -> Any:
    try:
        return BaseHook.get_connection(connection_id)
    except AirflowNotFoundException:
        raise ConfigError(
            f"connection {connection_id!r} is not defined in Airflow (UI: Admin -> "
            f"Connections, or AIRFLOW_CONN_{connection_id.upper()})"
        ) from None


def connection_info(connection_id: str) -> ConnectionInfo:
    """An Airflow Connection (database, secrets backends or environment) as the core's
    record; every secret it holds is registered with Airflow's log masker first."""
    conn = _get_connection(connection_id)
    info = connections.from_fields(
        connection_id,
        conn_type=conn.conn_type,
        host=conn.host,
        schema=conn.schema,
        login=conn.login,
        password=conn.password,
        port=conn.port,
        extra=conn.extra_dejson,
    )
    for secret in info.secrets():
        mask_secret(secret)
    return info


def endpoint_for(connection_id: str) -> S3Endpoint:
    """Resolve an ``aws`` Connection the way every Airflow user expects: through the Amazon
    provider (``role_arn`` assume-role, session tokens, ``verify``, ``config_kwargs``,
    region, service endpoints), into the one value both S3 clients read.

    Credentials are frozen when a task starts: an assumed role's session must outlive
    ``pipeline.task_timeout_minutes`` (``assume_role_kwargs.DurationSeconds``).
    """
    from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

    _get_connection(connection_id)  # a missing Connection is an error, not "default chain"
    hook = AwsBaseHook(aws_conn_id=connection_id, client_type="s3")
    wrapper = hook.conn_config
    session = hook.get_session(region_name=wrapper.region_name)
    credentials = session.get_credentials()
    frozen = credentials.get_frozen_credentials() if credentials is not None else None
    for secret in (frozen.secret_key, frozen.token) if frozen is not None else ():
        if secret:
            mask_secret(secret)
    expiry = getattr(credentials, "_expiry_time", None)
    config_kwargs = wrapper.extra_config.get("config_kwargs") or {}
    return S3Endpoint(
        endpoint_url=wrapper.get_service_endpoint_url("s3"),
        access_key=frozen.access_key if frozen is not None else None,
        secret_key=frozen.secret_key if frozen is not None else None,
        region=wrapper.region_name or session.region_name or DEFAULT_REGION,
        session_token=frozen.token if frozen is not None else None,
        verify=wrapper.verify,
        config_json=json.dumps(config_kwargs, sort_keys=True, default=str) if config_kwargs else "",
        expires_at=expiry.isoformat() if expiry is not None else None,
    )


def use_airflow_connections() -> None:
    """Look Connections up through Airflow in this process (HTTP sources, the webhook)."""
    connections.set_backend(connection_info)


def pipeline_context(settings: Settings) -> Context:
    """The pipeline Context for a task: S3 clients and HTTP credentials from Connections."""
    use_airflow_connections()
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
        probe=probe_of(ctx.store),
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
