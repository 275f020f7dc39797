"""The consumer DAG: scheduled on the manifests asset, updates the catalog asset, and its task
applies exactly the manifests its triggering events name (the rest: a rescan)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest

from paywall.catalog import read_catalog
from paywall.errors import CatalogError, ErrorCode
from paywall.pipeline import Context, run_interval
from tests.conftest import REPO
from tests.unit.test_catalog import Desk, day_interval


@pytest.fixture
def dag_module(make_mem_ctx, monkeypatch: pytest.MonkeyPatch) -> tuple[ModuleType, Context, Desk]:
    source = Desk()
    ctx = make_mem_ctx(
        pipeline={"name": "desk_pipeline"},
        sources=[{"name": "desk", "kind": "local", "path": "/nonexistent"}],
        catalog={"iceberg": {"enabled": False}},
    )
    ctx.source = lambda name: source  # type: ignore[method-assign]
    assert ctx.settings.path is not None
    monkeypatch.setenv("PAYWALL_CONFIG", str(ctx.settings.path))
    spec = importlib.util.spec_from_file_location("paywall_catalog_dag", REPO / "dags" /
                                                  "paywall_catalog.py")  # fmt: skip
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "paywall_catalog_dag", module)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "pipeline_context", lambda settings: ctx)
    monkeypatch.setattr(module, "endpoint_for", lambda connection_id: None)
    return module, ctx, source


def run_task(module: ModuleType, extras: list[dict[str, Any] | None], **params: Any) -> Any:
    dag = module.paywall_catalog()
    callable_ = dag.task_dict["update"].python_callable
    outlet = SimpleNamespace(extra=None)
    events = {module.MANIFESTS: [SimpleNamespace(extra=e) for e in extras]}
    out = callable_(
        params=params,
        triggering_asset_events=events,
        outlet_events={module.CATALOG: outlet},
    )
    return out, outlet.extra


def test_the_update_task_declares_the_catalog_asset(dag_module) -> None:
    """Its outlet is what others schedule on (test_dag_integrity imports the shipped DAG
    in a DagBag; the DAG object here is the same file's, in this process)."""
    module, _, _ = dag_module
    dag = module.paywall_catalog()
    assert dag.schedule == [module.MANIFESTS]
    assert set(dag.task_dict) == {"update"}
    task = dag.task_dict["update"]
    assert [o.name for o in task.outlets] == ["paywall_catalog_desk_pipeline"]
    assert module.MANIFESTS.name == "paywall_manifests_desk_pipeline"
    assert task.retries >= 2


def test_the_task_applies_the_events_manifests_and_reports_counts(dag_module) -> None:
    module, ctx, source = dag_module
    source.put("a.txt", 0)
    first = run_interval(ctx, day_interval(0))
    out, extra = run_task(module, [first.asset_extra()])  # a new catalog: full scan
    assert out["applied"] == [first.manifest_key] and extra["articles"] == 1
    assert json.loads(json.dumps(extra)) == extra and extra["manifest_keys"] == out["applied"]
    source.put("b.txt", 1)
    second = run_interval(ctx, day_interval(1))
    out, extra = run_task(module, [second.asset_extra(), first.asset_extra()])
    assert out["scan"] == "tail" and out["applied"] == [second.manifest_key]
    assert out["replayed"] == 1 and extra["changed"]
    assert {a["source_id"] for a in read_catalog(ctx.store, ctx.layout)} == {"a.txt", "b.txt"}


def test_a_manual_run_without_events_rescans(dag_module) -> None:
    module, ctx, source = dag_module
    run_task(module, [])
    source.put("a.txt", 0)
    run_interval(ctx, day_interval(-3))  # empty interval, and an older one with no event
    run_interval(ctx, day_interval(0))
    out, _ = run_task(module, [])
    assert out["scan"] == "full" and len(out["applied"]) == 2


def test_a_busy_catalog_is_retried_a_broken_one_fails_for_good(dag_module) -> None:
    from airflow.sdk.exceptions import AirflowFailException

    module, _, _ = dag_module

    def busy(*args: Any, **kwargs: Any) -> Any:
        raise CatalogError("held", code=ErrorCode.CATALOG_BUSY)

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise CatalogError("a month index does not match its sha256")

    module.refresh = busy
    with pytest.raises(CatalogError):
        run_task(module, [])
    module.refresh = broken
    with pytest.raises(AirflowFailException, match="does not match"):
        run_task(module, [])


def test_the_dag_file_stays_thin() -> None:
    text = Path(REPO / "dags" / "paywall_catalog.py").read_text()
    assert "import pyiceberg" not in text and "import duckdb" not in text


def test_the_cluster_points_every_process_at_one_postgres_iceberg_catalog(
    tmp_path: Path, settings: Any
) -> None:
    from paywall_dev.cluster import ICEBERG_DB, Cluster
    from paywall_dev.servers import S3Server

    cluster = Cluster(tmp_path / "cluster", S3Server("seaweedfs", tmp_path / "s3", port=9),
                      settings, tmp_path / "pipeline.yaml")  # fmt: skip
    uri_env = settings.catalog.iceberg.uri_env
    control, worker = cluster.control_env(), cluster.worker_env("worker-1")
    assert control[uri_env] == worker[uri_env] == cluster.postgres.iceberg_url
    assert control[uri_env].startswith("postgresql+psycopg2://") and control[uri_env].endswith(
        f"@127.0.0.1:{cluster.ports.postgres}/{ICEBERG_DB}"
    )
    assert cluster.postgres.database != ICEBERG_DB  # not inside Airflow's own database


def test_the_compose_stack_points_every_worker_at_one_postgres_iceberg_catalog() -> None:
    """Replicated Celery workers share nothing but PostgreSQL, Redis and S3: the shipped
    config's SQLite catalog file would be one Iceberg catalog per container."""
    import yaml

    from paywall.config import load_settings

    shipped = load_settings(REPO / "config" / "pipeline.yaml").catalog.iceberg
    compose = yaml.safe_load((REPO / "docker-compose.yaml").read_text())
    env = compose["x-airflow-common"]["environment"]
    assert shipped.catalog == "sql" and shipped.uri.startswith("sqlite:")
    assert env[shipped.uri_env].startswith("postgresql+psycopg2://")
    assert env[shipped.uri_env].endswith("@postgres/airflow")
