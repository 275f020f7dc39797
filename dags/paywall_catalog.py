"""Example consumer: keep a catalog of published articles, scheduled on the pipeline's asset."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import dag, task

from paywall.airflow_adapter import manifests_asset, pipeline_context
from paywall.catalog import update_catalog
from paywall.config import load_settings

SETTINGS = load_settings()
MANIFESTS = manifests_asset(SETTINGS)


@dag(
    dag_id="paywall_catalog",
    schedule=[MANIFESTS],
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args={
        "owner": SETTINGS.pipeline.owner,
        "retries": 2,
        "retry_delay": timedelta(seconds=30),
        "execution_timeout": timedelta(minutes=30),
    },
    tags=["paywall", "consumer"],
    doc_md=f"""
# Catalog of published articles

Runs whenever the `{MANIFESTS.name}` asset is updated (a pipeline run committed its manifest)
and rewrites `s3://{SETTINGS.storage.public_bucket}/catalog/{SETTINGS.pipeline.name}/catalog.json`
from the **committed** manifests only: the latest public metadata keys of every published
article. Quarantined articles drop out. Rebuilding from the same manifests writes nothing.
""",
)
def paywall_catalog() -> None:
    @task(multiple_outputs=False)
    def refresh(**context: Any) -> dict[str, Any]:
        events = context.get("triggering_asset_events") or {}
        for asset_events in events.values():
            for event in asset_events:
                print(f"triggered by {event.asset.name}: {event.extra}")
        ctx = pipeline_context(SETTINGS)
        return update_catalog(ctx.store, ctx.layout)

    refresh()


paywall_catalog()
