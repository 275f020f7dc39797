"""The Iceberg sink on a local warehouse (``file://``) and a SQLite catalog: no server.

The same tables on a real S3 server, read back with DuckDB, are in
``tests/integration/test_iceberg.py``.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pytest

from paywall.catalog import read_catalog, refresh
from paywall.config import IcebergSettings, load_settings
from paywall.errors import CatalogError
from paywall.iceberg import SNAPSHOT_SHA, IcebergSink, catalog_uri, open_catalog, schema
from paywall.s3 import S3Endpoint
from tests.conftest import REPO, write_config
from tests.unit.test_catalog import Publisher, day_interval, ids, pub  # noqa: F401

warnings.filterwarnings("ignore", message="Delete operation did not match any records")


@pytest.fixture
def sink(tmp_path: Path) -> IcebergSink:
    cfg = IcebergSettings(uri=f"sqlite:///{tmp_path}/catalog.db")
    catalog = open_catalog(cfg, "test", f"file://{tmp_path}/warehouse", S3Endpoint(), tmp_path)
    made = IcebergSink(catalog, "p1", pipeline="p1", keep_snapshots=5)
    made.open()
    return made


def rows(table: Any) -> list[dict[str, Any]]:
    found = table.scan().to_arrow().to_pylist()
    return sorted(found, key=lambda r: (r["article_id"], r["catalog_generation"]))


def latest_by_window(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The view the latest table must equal: each article's highest catalog_generation."""
    best: dict[str, dict[str, Any]] = {}
    for row in history:
        held = best.get(row["article_id"])
        if held is None or row["catalog_generation"] > held["catalog_generation"]:
            best[row["article_id"]] = row
    return sorted(best.values(), key=lambda r: (r["article_id"], r["catalog_generation"]))


def test_history_and_latest_follow_the_catalog(pub: Publisher, sink: IcebergSink) -> None:  # noqa: F811
    keys = [
        pub.commit(day_interval(0), [pub.record("a", 0), pub.record("b", 0)]),
        pub.commit(day_interval(1), [pub.record("c", 1), pub.record("d", 1, "failed")]),
    ]
    refresh(pub.store, pub.layout, keys, sink=sink)
    keys = [
        pub.commit(day_interval(0), [pub.record("a", 0, revision=2), pub.record("b", 0,
                                                                               "quarantined")]),
        pub.commit(day_interval(3), [pub.record("c", 3, revision=2)]),  # re-published later
    ]  # fmt: skip
    for key in keys:
        refresh(pub.store, pub.layout, [key], sink=sink)
    history = rows(sink.catalog.load_table("p1.articles"))
    latest = rows(sink.catalog.load_table("p1.articles_latest"))
    assert [(r["source_id"], r["state"], r["revision"]) for r in history] == sorted(
        [("a", "live", 1), ("a", "live", 2), ("b", "live", 1), ("b", "quarantined", None),
         ("c", "live", 1), ("c", "live", 2), ("d", "failed", None)],
        key=lambda t: (next(r["article_id"] for r in history if r["source_id"] == t[0]),
                       t[2] or 0 if t[1] != "quarantined" else 9),
    )  # fmt: skip
    assert latest == latest_by_window(history)
    listed = {a["article_id"]: a for a in read_catalog(pub.store, pub.layout)}
    live = {r["article_id"]: r for r in latest if r["state"] == "live"}
    assert set(live) == set(listed) == ids("a", "c")
    for aid, row in live.items():
        entry = listed[aid]
        assert (row["revision"], row["meta_key"], row["meta_sha256"]) == (
            entry["revision"], entry["meta"]["key"], entry["meta"]["sha256"])  # fmt: skip
        assert row["free_chars"] is not None and row["paid_chars"] == 7 * row["revision"]
    # The moved article's latest row sits in its new day's partition, not twice.
    c_rows = [r for r in latest if r["source_id"] == "c"]
    assert len(c_rows) == 1 and c_rows[0]["published_at"].day == 23


def test_a_replayed_batch_adds_no_row_and_no_snapshot(pub: Publisher, sink: IcebergSink) -> None:  # noqa: F811
    key = pub.commit(day_interval(0), [pub.record("a", 0), pub.record("b", 0)])
    refresh(pub.store, pub.layout, [key], sink=sink)
    history = sink.catalog.load_table("p1.articles")
    before = [s.snapshot_id for s in history.snapshots()]
    # The catalog forgot it applied the manifest (a crash before its commit): the batch comes
    # again, and the tables recognise its sha256.
    for bucket in pub.store.buckets.values():
        for k in [k for k in bucket if k.startswith("catalog/")]:
            del bucket[k]
    refresh(pub.store, pub.layout, [key], sink=sink)
    history = sink.catalog.load_table("p1.articles")
    assert [s.snapshot_id for s in history.snapshots()] == before
    assert len(rows(history)) == 2
    assert len(rows(sink.catalog.load_table("p1.articles_latest"))) == 2
    summary = history.current_snapshot().summary
    assert summary is not None and summary[SNAPSHOT_SHA]


def test_a_crash_between_the_two_tables_completes_the_second_once(
    pub: Publisher,  # noqa: F811
    sink: IcebergSink,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    key = pub.commit(day_interval(0), [pub.record("a", 0)])
    real = IcebergSink._previous_rows

    def boom(batch: Any) -> Any:
        raise OSError("the catalog database went away")

    monkeypatch.setattr(IcebergSink, "_previous_rows", staticmethod(boom))
    with pytest.raises(OSError):
        refresh(pub.store, pub.layout, [key], sink=sink)
    monkeypatch.setattr(IcebergSink, "_previous_rows", staticmethod(real))
    refresh(pub.store, pub.layout, [key], sink=sink)
    assert len(rows(sink.catalog.load_table("p1.articles"))) == 1
    assert len(rows(sink.catalog.load_table("p1.articles_latest"))) == 1


def test_old_snapshots_are_expired_so_metadata_stays_small(
    pub: Publisher,  # noqa: F811
    sink: IcebergSink,
) -> None:
    for day in range(12):
        key = pub.commit(day_interval(day), [pub.record(f"x{day}", day)])
        refresh(pub.store, pub.layout, [key], sink=sink)
    history = sink.catalog.load_table("p1.articles")
    assert len(history.snapshots()) <= 5
    assert len(rows(history)) == 12  # expiring snapshots drops no data


def test_schema_evolution_adds_new_columns_to_an_existing_table(tmp_path: Path) -> None:
    import pyarrow as pa
    from pyiceberg.schema import Schema

    cfg = IcebergSettings(uri=f"sqlite:///{tmp_path}/catalog.db")
    catalog = open_catalog(cfg, "t", f"file://{tmp_path}/wh", S3Endpoint(), tmp_path)
    full = schema()
    older = Schema(*[f for f in full.fields if f.name not in ("override", "paid_chars")])
    catalog.create_namespace("p1")
    for name in ("p1.articles", "p1.articles_latest"):
        table = catalog.create_table(name, older, properties={"paywall.pipeline": "p1"})
    table = catalog.load_table("p1.articles")
    row = {f.name: None for f in older.fields}
    from datetime import UTC, datetime

    moment = datetime(2026, 11, 20, tzinfo=UTC)
    row |= {"article_id": "0" * 20, "source": "s", "source_id": "x", "published_at": moment,
            "timestamp": moment.isoformat(), "outcome": "published", "state": "live",
            "status": "ok", "carried": False, "manifest_key": "k", "manifest_sha256": "s",
            "interval": "i", "interval_start": moment, "interval_end": moment,
            "catalog_generation": 1}  # fmt: skip
    table.append(pa.Table.from_pylist([row], schema=table.schema().as_arrow()))
    sink = IcebergSink(catalog, "p1", pipeline="p1")
    history, _ = sink.open()
    assert {"override", "paid_chars"} <= {f.name for f in history.schema().fields}
    (old_row,) = history.scan().to_arrow().to_pylist()
    assert old_row["paid_chars"] is None and old_row["source_id"] == "x"


def test_a_table_outside_the_warehouse_is_refused(tmp_path: Path) -> None:
    """Two deployments sharing one catalog database must not write into each other."""
    cfg = IcebergSettings(uri=f"sqlite:///{tmp_path}/catalog.db")
    one = open_catalog(cfg, "p1", f"file://{tmp_path}/wh-one", S3Endpoint(), tmp_path)
    IcebergSink(one, "p1", pipeline="p1", warehouse=f"file://{tmp_path}/wh-one").open()
    two = open_catalog(cfg, "p1", f"file://{tmp_path}/wh-two", S3Endpoint(), tmp_path)
    with pytest.raises(CatalogError, match="outside the warehouse"):
        IcebergSink(two, "p1", pipeline="p1", warehouse=f"file://{tmp_path}/wh-two").open()


def test_a_table_of_another_pipeline_is_refused(tmp_path: Path) -> None:
    cfg = IcebergSettings(uri=f"sqlite:///{tmp_path}/catalog.db")
    catalog = open_catalog(cfg, "t", f"file://{tmp_path}/wh", S3Endpoint(), tmp_path)
    IcebergSink(catalog, "shared", pipeline="one").open()
    with pytest.raises(CatalogError, match="belongs to pipeline 'one'"):
        IcebergSink(catalog, "shared", pipeline="two").open()


def test_the_catalog_uri_comes_from_the_environment_or_beside_the_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write_config(tmp_path / "conf" / "pipeline.yaml") if (tmp_path / "conf").mkdir(
    ) is None else None  # fmt: skip
    assert config is not None
    settings = load_settings(config)
    cfg = settings.catalog.iceberg
    monkeypatch.delenv(cfg.uri_env, raising=False)
    uri = catalog_uri(cfg, config.parent)
    assert uri == f"sqlite:///{(tmp_path / 'conf' / 'iceberg-catalog.db').resolve()}"
    shipped = load_settings(REPO / "config" / "pipeline.yaml").catalog.iceberg
    expected = (REPO / ".state" / "iceberg" / "catalog.db").resolve()
    assert catalog_uri(shipped, REPO / "config") == f"sqlite:///{expected}"
    monkeypatch.setenv(cfg.uri_env, "postgresql+psycopg2://u:p@127.0.0.1:1/iceberg")
    assert catalog_uri(cfg, config.parent) == "postgresql+psycopg2://u:p@127.0.0.1:1/iceberg"
    with pytest.raises(ValueError, match="differ"):
        IcebergSettings(table="same", latest_table="same")
