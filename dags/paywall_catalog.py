"""Consumer: keep the incremental catalog and the Iceberg tables of articles up to date.

Thin DAG file: schedule, params, docs and wiring. The logic is ``paywall.catalog`` (the
catalog) and ``paywall.iceberg`` (the tables).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import Asset, Param, dag, task
from airflow.sdk.exceptions import AirflowFailException

from paywall.airflow_adapter import endpoint_for, manifests_asset, pipeline_context
from paywall.catalog import manifest_keys_of_events, refresh
from paywall.config import load_settings
from paywall.errors import CatalogError, ErrorCode
from paywall.iceberg import sink_for

SETTINGS = load_settings()
MANIFESTS = manifests_asset(SETTINGS)
PIPELINE = SETTINGS.pipeline.name
BUCKET = SETTINGS.storage.public_bucket
ICEBERG = SETTINGS.catalog.iceberg
WAREHOUSE = ICEBERG.warehouse or f"s3://{BUCKET}/iceberg/{PIPELINE}"
TABLES = f"`{ICEBERG.table}`, `{ICEBERG.latest_table}` ({ICEBERG.catalog} catalog)"
# What this DAG updates: others can be scheduled on it (its extra: counts and references).
CATALOG = Asset(
    name=f"paywall_catalog_{PIPELINE}",
    uri=f"s3://{BUCKET}/catalog/{PIPELINE}/",
    group="paywall",
)


@dag(
    dag_id="paywall_catalog",
    schedule=[MANIFESTS],
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,  # one updater at a time (the catalog's lease enforces it anyway)
    default_args={
        "owner": SETTINGS.pipeline.owner,
        "retries": 3,
        "retry_delay": timedelta(seconds=30),
        "retry_exponential_backoff": True,
        "execution_timeout": timedelta(minutes=SETTINGS.catalog.lease_minutes),
    },
    params={
        "rescan": Param(
            False,
            type="boolean",
            description="List every committed manifest instead of trusting the events "
            "(a manual run without events always does).",
        ),
    },
    tags=["paywall", "consumer"],
    doc_md=f"""
# Catalog and Iceberg tables of `{PIPELINE}`

Runs when the `{MANIFESTS.name}` asset is updated (a pipeline run committed a manifest,
full or partial) and applies **only the manifests committed since its last update**: the
ones the triggering events name, plus a listing of the newest interval onwards (a missed
event for a new interval is caught there). A manual run, or `rescan`, lists every committed
manifest; so does the first run, and one every {SETTINGS.catalog.rescan_every_hours} hours.
Each applied manifest is recorded by sha256: a replayed or late event changes nothing.

| output | where |
| --- | --- |
| catalog root (commit point) | `s3://{BUCKET}/catalog/{PIPELINE}/catalog.json` |
| day partitions, month indexes | `s3://{BUCKET}/catalog/{PIPELINE}/days/`, `months/` |
| Iceberg tables {TABLES} | `{WAREHOUSE}`{"" if ICEBERG.enabled else " (disabled)"} |

Quarantined and retracted articles leave the catalog; a fetch failure does not remove a
published article. Nothing here holds free or paid text. The task updates the
`{CATALOG.name}` asset, so other DAGs can be scheduled on the catalog.
""",
)
def paywall_catalog() -> None:
    @task(multiple_outputs=False, outlets=[CATALOG])
    def update(params: dict[str, Any] | None = None, **context: Any) -> dict[str, Any]:
        events = context.get("triggering_asset_events") or {}
        extras = [event.extra for asset_events in events.values() for event in asset_events]
        keys = manifest_keys_of_events(extras)
        ctx = pipeline_context(SETTINGS)
        sink = sink_for(SETTINGS, endpoint_for(SETTINGS.storage.connection_id))
        try:
            result = refresh(
                ctx.store,
                ctx.layout,
                keys,
                settings=SETTINGS.catalog,
                rescan=bool((params or {}).get("rescan")) or not keys,
                sink=sink,
                workers=SETTINGS.storage.max_concurrency,
            )
        except CatalogError as exc:
            if exc.code is ErrorCode.CATALOG_BUSY:
                raise  # another updater: a retry waits it out
            raise AirflowFailException(str(exc)) from exc
        context["outlet_events"][CATALOG].extra = result.asset_extra()
        return result.to_json()

    update()


paywall_catalog()
