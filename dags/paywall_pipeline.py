"""Paywall pipeline: split each article of a data interval into free and paid halves.

Thin DAG file: schedule, params, docs and wiring. All logic lives in the ``paywall`` package.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import CronDataIntervalTimetable, Param, dag, task
from airflow.sdk.exceptions import AirflowSkipException

from paywall import airflow_adapter as adapter
from paywall.config import load_settings

# Reading the local YAML at parse time is deliberate: the schedule comes from it, and a bad
# config then shows as an import error naming the file and the key.
SETTINGS = load_settings()
CFG = SETTINGS.pipeline
MANIFESTS = adapter.manifests_asset(SETTINGS)

DOC = f"""
# Paywall pipeline `{CFG.name}`

Every run takes the articles whose timestamp falls in its **data interval**
`[data_interval_start, data_interval_end)` from the configured sources
({", ".join(f"`{s.name}` ({s.kind})" for s in SETTINGS.sources)}), splits each one at the
`{SETTINGS.markers.begin}` / `{SETTINGS.markers.end}` markers and stores:

| what | where |
| --- | --- |
| free halves | `s3://{SETTINGS.storage.public_bucket}/free/<source>/<id>.txt` (and `.html`) |
| public metadata | `s3://{SETTINGS.storage.public_bucket}/meta/<source>/<id>.json` |
| paid halves | `s3://{SETTINGS.storage.private_bucket}/paid/<source>/<id>.txt` (never public) |
| quarantined input + reason | `s3://{SETTINGS.storage.private_bucket}/quarantine/<source>/<id>/` |
| manifest + commit marker | `s3://{SETTINGS.storage.public_bucket}/runs/{CFG.name}/<interval>/` |

Tasks: **plan** lists the interval's articles and cuts them into chunks → **process** (one
mapped task per chunk) → **publish** writes the private then the public manifest, then
`_COMMITTED`, emits the `{MANIFESTS.name}` asset event and the run's metrics → **verify**
audits what was committed (a finding fails it for good; an inconclusive privacy probe is
retried) → **notify** sends the committed records to the webhook, when one is configured
(its failure is its own: the commit, the asset event and verify are not affected).
**thresholds** (beside verify) mails an alert when the quarantined or failed share of the
run passes `alerts.max_quarantined_ratio` / `max_failed_ratio`. plan, process and publish
report their inputs and outputs to OpenLineage.

Ambiguous articles (missing, broken, reversed or nested markers) are quarantined, never
published; they do not fail the run. The run fails only when the share of articles that could
not be fetched passes `max_failure_ratio` ({CFG.max_failure_ratio:.0%}).

## Params
- **sources**: names of sources to read (empty: all).
- **force**: rewrite every object even when unchanged.
- **dry_run**: split and report; write nothing and commit nothing.
- **limit**: process at most this many articles.
- **article_ids**: re-process just these articles (source ids or article ids), whatever their
  timestamp.

## Backfill
Trigger → **Backfill**, pick From/To (both inclusive, one run per interval), choose
*Missing Runs* or *All Runs*. Reruns converge: unchanged articles cost no writes. The DAG
must be unpaused for a backfill to start.
"""

default_args: dict[str, Any] = {
    "owner": CFG.owner,
    # Alerts by mail through an Airflow notifier (alerts.smtp_conn_id; names and numbers only).
    "on_failure_callback": adapter.failure_callbacks(SETTINGS, dag_level=False),
    "retries": CFG.retries,
    "retry_delay": timedelta(seconds=CFG.retry_delay_seconds),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=10),
    "execution_timeout": timedelta(minutes=CFG.task_timeout_minutes),
}


@dag(
    dag_id=CFG.name,
    schedule=CronDataIntervalTimetable(CFG.schedule, timezone=CFG.timezone),
    start_date=datetime(2026, 1, 1),
    catchup=CFG.catchup,
    max_active_runs=CFG.max_active_runs,
    max_active_tasks=CFG.max_active_tasks,
    default_args=default_args,
    tags=["paywall", "content"],
    doc_md=DOC,
    on_failure_callback=adapter.failure_callbacks(SETTINGS, dag_level=True),
    deadline=adapter.deadline_for(SETTINGS),
    params={
        "sources": Param(
            None,
            type=["null", "array"],
            items={"type": "string", "enum": [s.name for s in SETTINGS.sources]},
            title="Sources",
            description="Sources to read; leave empty for all.",
        ),
        "force": Param(False, type="boolean", title="Force", description="Rewrite unchanged."),
        "dry_run": Param(
            False, type="boolean", title="Dry run", description="Split and report only."
        ),
        "limit": Param(
            None,
            type=["null", "integer"],
            minimum=1,
            title="Limit",
            description="At most this many articles.",
        ),
        "article_ids": Param(
            None,
            type=["null", "array"],
            items={"type": "string"},
            title="Article ids",
            description="Re-process only these (source ids or article ids).",
        ),
    },
)
def paywall_pipeline() -> None:
    # plan, process and publish report OpenLineage inputs and outputs (adapter.lineage_task).
    @adapter.lineage_task(multiple_outputs=False)
    def plan(params: dict[str, Any] | None = None, **context: Any) -> dict[str, Any]:
        return adapter.plan_task(SETTINGS, params or {}, context)

    @task(multiple_outputs=False)
    def chunks(plan: dict[str, Any]) -> list[dict[str, Any]]:
        return adapter.chunk_jobs(plan)

    @adapter.lineage_task(
        multiple_outputs=False,
        max_active_tis_per_dagrun=CFG.process_parallelism,
        pool=CFG.pool or "default_pool",
    )
    def process(
        job: dict[str, Any], params: dict[str, Any] | None = None, **context: Any
    ) -> dict[str, Any]:
        return adapter.process_task(SETTINGS, job, params or {}, context)

    @adapter.lineage_task(multiple_outputs=False, outlets=[MANIFESTS])
    def publish(
        plan: dict[str, Any],
        chunks: list[dict[str, Any]],
        params: dict[str, Any] | None = None,
        **context: Any,
    ) -> dict[str, Any]:
        summary, stats = adapter.publish_and_report(
            SETTINGS, plan, list(chunks), params or {}, context
        )
        if summary.dry_run:
            raise AirflowSkipException(
                f"dry run, nothing committed: {dict(summary.counts.outcomes)}"
            )
        context["outlet_events"][MANIFESTS].extra = summary.asset_extra()
        if stats is not None:  # counts per source and reason, for the threshold alert
            context["ti"].xcom_push(key="run_stats", value=stats.to_json())
        return summary.to_json()

    @task(multiple_outputs=False)
    def verify(summary: dict[str, Any]) -> dict[str, Any]:
        return adapter.verify_task(SETTINGS, summary)

    @task(multiple_outputs=False)
    def notify(summary: dict[str, Any]) -> dict[str, Any]:
        if not (SETTINGS.webhook.url or SETTINGS.webhook.http_conn_id):
            raise AirflowSkipException("no webhook configured")
        return adapter.notify_task(SETTINGS, summary)

    @task(multiple_outputs=False)
    def thresholds(summary: dict[str, Any], **context: Any) -> dict[str, Any]:
        """Alert when the quarantined or failed share passes alerts.max_*_ratio."""
        stats = context["ti"].xcom_pull(task_ids="publish", key="run_stats")
        if not stats:
            raise AirflowSkipException("nothing committed: no counts to check")
        return adapter.threshold_task(SETTINGS, summary, stats, context)

    planned = plan()
    results = process.expand(job=chunks(planned))
    summary = publish(planned, results)
    verify(summary) >> notify(summary)
    thresholds(summary)


paywall_pipeline()
