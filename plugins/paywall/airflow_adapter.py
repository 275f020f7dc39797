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

from airflow.providers.standard.decorators.python import _PythonDecoratedOperator
from airflow.sdk import Asset, BaseHook, BaseNotifier
from airflow.sdk.bases.decorator import TaskDecorator, task_decorator_factory
from airflow.sdk.exceptions import AirflowFailException, AirflowNotFoundException
from airflow.sdk.log import mask_secret

from paywall import connections, pipeline
from paywall.alerts import Alert, deadline_alert, failure_alert, threshold_alert, thresholds_crossed
from paywall.config import AlertSettings, Settings
from paywall.connections import ConnectionInfo
from paywall.errors import ConfigError, ErrorCode, VerifyError
from paywall.lineage import Lineage, plan_lineage, process_lineage, publish_lineage
from paywall.metrics import Metric, run_metrics
from paywall.model import ChunkJob, ChunkResult, Interval, PlanRef, RunSummary
from paywall.pipeline import Context, build_context
from paywall.reader import read_committed
from paywall.runstats import RunStats, run_stats
from paywall.s3 import DEFAULT_REGION, S3Endpoint
from paywall.verify import verify_run
from paywall.webhook import notify_run

__all__ = [
    "LineageOperator",
    "PaywallNotifier",
    "connection_info",
    "deadline_for",
    "emit_metrics",
    "endpoint_for",
    "failure_callbacks",
    "interval_from_context",
    "lineage_task",
    "manifests_asset",
    "notify_task",
    "pipeline_context",
    "plan_task",
    "process_task",
    "publish_and_report",
    "publish_task",
    "record_lineage",
    "threshold_task",
    "use_airflow_connections",
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
    ctx = pipeline_context(settings)
    plan = pipeline.plan_run(
        ctx,
        interval_from_context(context, settings),
        sources=params.get("sources") or None,
        article_ids=params.get("article_ids") or None,
        limit=params.get("limit"),
        dry_run=bool(params.get("dry_run")),
    )
    record_lineage(
        context,
        plan_lineage(
            settings, ctx.layout, params.get("sources"), None if plan.dry_run else plan.plan_key
        ),
    )
    return plan.to_json()


def chunk_jobs(plan: dict[str, Any]) -> list[dict[str, Any]]:
    return [job.to_json() for job in PlanRef.from_json(plan).jobs()]


def process_task(
    settings: Settings, job: dict[str, Any], params: dict[str, Any], context: Any = None
) -> dict[str, Any]:
    ctx = pipeline_context(settings)
    chunk_job = ChunkJob.from_json(job)
    result = pipeline.process_chunk(ctx, chunk_job, force=bool(params.get("force")))
    plan = chunk_job.plan
    sources = [name for name, count in plan.per_source.items() if count]
    record_lineage(
        context, process_lineage(settings, ctx.layout, sources, plan.plan_key, result.part_key)
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


def publish_and_report(
    settings: Settings,
    plan: dict[str, Any],
    chunks: list[dict[str, Any]],
    params: dict[str, Any],
    context: Any,
) -> tuple[RunSummary, RunStats | None]:
    """Publish, then count what the commit changed per source (for metrics and the
    threshold alert), emit the metrics and record the lineage."""
    ctx = pipeline_context(settings)
    plan_ref = PlanRef.from_json(plan)
    results = [ChunkResult.from_json(c) for c in chunks]
    before = {} if plan_ref.dry_run else pipeline.load_committed(ctx, plan_ref.interval)
    summary = pipeline.publish_run(ctx, plan_ref, results)
    record_lineage(
        context, publish_lineage(ctx.layout, [c.part_key for c in results], summary.manifest_key)
    )
    if summary.manifest_key is None or summary.dry_run:
        return summary, None
    run = read_committed(ctx.store, ctx.layout, summary.manifest_key, private=True)
    records = run.records if run is not None else []
    stats = run_stats(records, before, force=bool(params.get("force")))
    if settings.metrics.enabled:
        dag_run = context.get("dag_run") if context else None
        started = getattr(dag_run, "start_date", None)
        duration = (datetime.now(UTC) - started).total_seconds() if started else None
        emit_metrics(run_metrics(settings.pipeline.name, stats, duration, settings.metrics.prefix))
    return summary, stats


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


# ---------------------------------------------------------------------------- lineage


class LineageOperator(_PythonDecoratedOperator):
    """A ``@task`` that reports the OpenLineage datasets its body recorded.

    The OpenLineage provider asks an operator for ``get_openlineage_facets_on_complete``
    (and ``_on_failure``) after it ran, in the same process: the body records its inputs
    and outputs with :func:`record_lineage`, known only at run time (the interval's keys).
    """

    custom_operator_name = "@task"
    _paywall_lineage: Lineage | None = None

    def _operator_lineage(self) -> Any:
        from airflow.providers.openlineage.extractors import OperatorLineage
        from openlineage.client.event_v2 import Dataset as OLDataset

        lineage = self._paywall_lineage
        if lineage is None:
            return OperatorLineage()
        return OperatorLineage(
            inputs=[OLDataset(namespace=d.namespace, name=d.name) for d in lineage.inputs],
            outputs=[OLDataset(namespace=d.namespace, name=d.name) for d in lineage.outputs],
        )

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        return self._operator_lineage()

    def get_openlineage_facets_on_failure(self, task_instance: Any) -> Any:
        return self._operator_lineage()


def lineage_task(**kwargs: Any) -> TaskDecorator:
    """``@task`` whose body may call :func:`record_lineage` (see :class:`LineageOperator`)."""
    return task_decorator_factory(decorated_operator_class=LineageOperator, **kwargs)


def record_lineage(context: Any, lineage: Lineage) -> None:
    task = context.get("task") if context else None
    if isinstance(task, LineageOperator):
        task._paywall_lineage = lineage


# ---------------------------------------------------------------------------- metrics


def _stats_module() -> Any:
    """Airflow's metrics client as the task runner set it up ([metrics] statsd_on, otel_on).

    A task run in-process (``airflow dags test``) skips the task runner's set-up: do it
    the same way here, so the metrics go where Airflow is configured to send them.
    """
    from airflow.sdk._shared.observability.metrics import stats
    from airflow.sdk.configuration import conf
    from airflow.sdk.observability.metrics import stats_utils

    if getattr(stats, "_factory", None) is None:
        stats.initialize(
            factory=stats_utils.get_stats_factory(),
            export_legacy_names=conf.getboolean("metrics", "legacy_names_on", fallback=True),
        )
    return stats


def emit_metrics(points: list[Metric]) -> None:
    stats = _stats_module()
    for point in points:
        if point.kind == "incr":
            stats.incr(point.name, count=int(point.value), tags=point.tags)
        elif point.kind == "gauge":
            stats.gauge(point.name, point.value, tags=point.tags)
        else:
            stats.timing(point.name, timedelta(milliseconds=point.value), tags=point.tags)


# ---------------------------------------------------------------------------- alerts


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


class PaywallNotifier(BaseNotifier):
    """Failure and deadline alerts by mail through the SMTP provider's hook.

    The text comes from :mod:`paywall.alerts` (names and numbers, our own error messages
    only); nothing is rendered from templates, so no context value reaches a mail unchecked.
    Usable as a task or DAG ``on_failure_callback`` (``notify``) and as a deadline alert's
    ``AsyncCallback`` in the triggerer (``async_notify``).
    """

    template_fields = ()

    def __init__(
        self,
        *,
        smtp_conn_id: str,
        to: list[str],
        from_email: str | None = None,
        prefix: str = "[paywall]",
        kind: str = "failure",
        hours: float | None = None,
        context: Any = None,
    ) -> None:
        super().__init__(context=context)
        self.smtp_conn_id, self.to, self.from_email = smtp_conn_id, list(to), from_email
        self.prefix, self.kind, self.hours = prefix, kind, hours

    @classmethod
    def from_settings(cls, settings: AlertSettings, **kwargs: Any) -> PaywallNotifier:
        assert settings.smtp_conn_id
        return cls(
            smtp_conn_id=settings.smtp_conn_id,
            to=list(settings.to),
            from_email=settings.from_email,
            prefix=settings.subject_prefix,
            **kwargs,
        )

    def callback_kwargs(self) -> dict[str, Any]:
        return {"smtp_conn_id": self.smtp_conn_id, "to": self.to, "from_email": self.from_email,
                "prefix": self.prefix, "kind": self.kind, "hours": self.hours}  # fmt: skip

    def alert(self, context: Any) -> Alert:
        if self.kind == "deadline":
            run = dict(context.get("dag_run") or {})
            deadline = dict(context.get("deadline") or {})
            return deadline_alert(
                self.prefix,
                dag_id=str(run.get("dag_id", "?")),
                run_id=str(run.get("dag_run_id") or run.get("run_id") or "?"),
                interval=(_iso(run.get("data_interval_start")), _iso(run.get("data_interval_end"))),
                hours=self.hours or 0.0,
                deadline=_iso(deadline.get("deadline_time")),
            )
        ti = context.get("ti") or context.get("task_instance")
        dag_run = context.get("dag_run")
        dag = context.get("dag")
        error = context.get("exception")
        reason = context.get("reason")
        return failure_alert(
            self.prefix,
            dag_id=str(getattr(dag_run, "dag_id", None) or getattr(dag, "dag_id", "?")),
            run_id=str(getattr(dag_run, "run_id", "?")),
            interval=(
                _iso(getattr(dag_run, "data_interval_start", None)),
                _iso(getattr(dag_run, "data_interval_end", None)),
            ),
            task_id=getattr(ti, "task_id", None),
            try_number=getattr(ti, "try_number", None),
            error=error if isinstance(error, BaseException) else None,
            airflow_reason=reason if isinstance(reason, str) else None,
        )

    def _send_args(self, alert: Alert) -> dict[str, Any]:
        args: dict[str, Any] = {
            "to": self.to,
            "subject": alert.subject,
            "html_content": alert.html(),
        }
        if self.from_email:
            args["from_email"] = self.from_email
        return args

    def notify(self, context: Any) -> None:
        from airflow.providers.smtp.hooks.smtp import SmtpHook

        alert = self.alert(context)
        with SmtpHook(smtp_conn_id=self.smtp_conn_id) as hook:
            hook.send_email_smtp(**self._send_args(alert))

    async def async_notify(self, context: Any) -> None:
        from airflow.providers.smtp.hooks.smtp import SmtpHook

        alert = self.alert(context)
        async with SmtpHook(smtp_conn_id=self.smtp_conn_id) as hook:
            await hook.asend_email_smtp(**self._send_args(alert))


def failure_callbacks(settings: Settings, *, dag_level: bool) -> list[Any]:
    alerts = settings.alerts
    wanted = alerts.on_dag_failure if dag_level else alerts.on_task_failure
    if not alerts.smtp_conn_id or not wanted:
        return []
    return [PaywallNotifier.from_settings(alerts)]


def deadline_for(settings: Settings) -> Any:
    """An Airflow deadline alert: not finished successfully N hours after being queued."""
    alerts = settings.alerts
    hours = alerts.not_committed_after_hours
    if hours is None or not alerts.smtp_conn_id:
        return None
    from airflow.sdk.definitions.callback import AsyncCallback
    from airflow.sdk.definitions.deadline import DeadlineAlert, DeadlineReference

    notifier = PaywallNotifier.from_settings(alerts, kind="deadline", hours=hours)
    return DeadlineAlert(
        reference=DeadlineReference.DAGRUN_QUEUED_AT,
        interval=timedelta(hours=hours),
        callback=AsyncCallback(PaywallNotifier, kwargs=notifier.callback_kwargs()),
    )


def send_alert(settings: Settings, alert: Alert) -> None:
    alerts = settings.alerts
    if not alerts.smtp_conn_id:
        return
    notifier = PaywallNotifier.from_settings(alerts)
    from airflow.providers.smtp.hooks.smtp import SmtpHook

    with SmtpHook(smtp_conn_id=alerts.smtp_conn_id) as hook:
        hook.send_email_smtp(**notifier._send_args(alert))


def _interval_strings(interval: Interval) -> tuple[str, str]:
    return interval.start.isoformat(), interval.end.isoformat()


def threshold_task(settings: Settings, summary: dict[str, Any], stats: dict[str, Any],
                   context: Any) -> dict[str, Any]:  # fmt: skip
    """Alert when the committed run's quarantined or failed share passes its threshold."""
    run = RunSummary.from_json(summary)
    run_stats_ = RunStats.from_json(stats)
    crossed = thresholds_crossed(run_stats_, settings.alerts)
    if not crossed:
        return {"crossed": []}
    dag_run = context.get("dag_run")
    alert = threshold_alert(
        settings.alerts.subject_prefix,
        dag_id=settings.pipeline.name,
        run_id=str(getattr(dag_run, "run_id", "?")),
        interval=_interval_strings(run.interval),
        stats=run_stats_,
        crossed=crossed,
    )
    send_alert(settings, alert)
    if settings.alerts.fail_on_threshold:
        raise AirflowFailException(alert.subject)
    return {"crossed": [t.outcome for t in crossed]}
