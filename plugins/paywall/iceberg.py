"""The Iceberg tables of articles: what analysts query with DuckDB, Trino, Spark or Athena.

Two tables in the namespace ``catalog.iceberg.namespace`` (default: the pipeline's name),
both partitioned by ``day(published_at)`` and holding **metadata only** -- ids, titles,
URLs, outcomes, keys and sha256s of public objects, free and paid character counts -- never
free or paid text and never a digest of a private object (rows are built from the public
manifest lines and the public metadata objects, see :class:`paywall.catalog.ArticleRow`):

- ``articles``: one row per change of an article (a new revision, a quarantine, a failure, a
  drop), appended once per manifest version. Each append's snapshot carries the manifest's
  sha256 (``paywall.manifest-sha256``), so a replayed batch adds nothing.
- ``articles_latest``: one row per article, its latest change: an upsert on the article id
  (a delete of the article's previous row, pruned to the days the catalog knows it was in,
  and an append, in one transaction). It equals ``articles`` filtered to each article's
  highest ``catalog_generation``.

The tables live in the warehouse ``s3://<public bucket>/iceberg/<pipeline>`` on the same S3
server. Their catalog is a SQL catalog (SQLite under ``.state/`` by default, PostgreSQL in
``make cluster-up``) or an Iceberg REST catalog (``catalog.iceberg.catalog: rest``).

Schema evolution: :func:`schema` lists every column with a field id that never changes. A
new column is added there as an optional field with a new id; :meth:`IcebergSink.open`
then adds it to existing tables (``union_by_name``: the table assigns the id), older rows
read it as null, and rows are always written in the table's own schema, by name. Columns
are never renamed, retyped or made required in place (add a new one instead), so queries
keyed on names keep working.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from paywall.catalog import ArticleRow, TableBatch
from paywall.config import IcebergSettings, Settings
from paywall.errors import CatalogError
from paywall.layout import Layout
from paywall.s3 import S3Endpoint

if TYPE_CHECKING:
    import pyarrow as pa
    from pyiceberg.catalog import Catalog
    from pyiceberg.schema import Schema
    from pyiceberg.table import Table, Transaction

__all__ = [
    "PIPELINE_PROPERTY",
    "SNAPSHOT_KEY",
    "SNAPSHOT_SHA",
    "IcebergSink",
    "catalog_uri",
    "open_catalog",
    "schema",
    "sink_for",
]

log = logging.getLogger("paywall.iceberg")

SNAPSHOT_SHA = "paywall.manifest-sha256"
SNAPSHOT_KEY = "paywall.manifest-key"
PIPELINE_PROPERTY = "paywall.pipeline"
TABLE_PROPERTIES = {
    "format-version": "2",
    # Keep the table's metadata file small as history grows: old metadata files go, and
    # snapshots beyond keep_snapshots are expired after each write.
    "write.metadata.delete-after-commit.enabled": "true",
    "write.metadata.previous-versions-max": "10",
    "write.parquet.compression-codec": "zstd",
}

# (field id, name, type, required, doc). Ids are forever: add new columns with new ids.
_COLUMNS: tuple[tuple[int, str, str, bool, str], ...] = (
    (1, "article_id", "string", True, "20 hex digits: sha256(source NUL source_id)[:20]"),
    (2, "source", "string", True, "configured source name"),
    (3, "source_id", "string", True, "the article's id in its source"),
    (4, "published_at", "timestamptz", True, "article timestamp (partition: its UTC day)"),
    (5, "timestamp", "string", True, "the timestamp as the manifest gave it"),
    (6, "title", "string", False, "public title (null unless listed)"),
    (7, "url", "string", False, "the article's URL, for web sources"),
    (8, "outcome", "string", True, "published, quarantined, failed, or dropped"),
    (9, "state", "string", True, "live, quarantined, failed, dropped or invalid"),
    (10, "status", "string", True, "the split's status, fetch_failed, or not_listed"),
    (11, "reason", "string", False, "why quarantined, failed or invalid (never text)"),
    (12, "revision", "int", False, "revision of the public side"),
    (13, "carried", "boolean", True, "a failed fetch kept the previous public side"),
    (14, "override", "string", False, "an editor's decision the record applied"),
    (15, "free_chars", "int", False, "characters in the free half (public metadata)"),
    (16, "paid_chars", "int", False, "characters in the paid region(s) (public metadata)"),
    (17, "free_key", "string", False, "key of the free .txt half (public bucket)"),
    (18, "free_sha256", "string", False, "sha256 of the free .txt half"),
    (19, "free_html_key", "string", False, "key of the free .html half, for HTML"),
    (20, "free_html_sha256", "string", False, "sha256 of the free .html half"),
    (21, "meta_key", "string", False, "key of the public metadata object"),
    (22, "meta_sha256", "string", False, "sha256 of the public metadata object"),
    (23, "manifest_key", "string", True, "the committed manifest this row came from"),
    (24, "manifest_sha256", "string", True, "that manifest's sha256"),
    (25, "interval", "string", True, "the run's data interval (slug)"),
    (26, "interval_start", "timestamptz", True, "start of the data interval"),
    (27, "interval_end", "timestamptz", True, "end of the data interval"),
    (28, "committed_at", "timestamptz", False, "when the manifest was committed"),
    (29, "catalog_generation", "long", True, "catalog commit that applied it: latest wins"),
)
_PUBLISHED_AT = 4


def schema() -> Schema:
    """The tables' schema (both tables share it)."""
    from pyiceberg.schema import Schema
    from pyiceberg.types import (
        BooleanType,
        IntegerType,
        LongType,
        NestedField,
        StringType,
        TimestamptzType,
    )

    types = {
        "string": StringType(),
        "int": IntegerType(),
        "long": LongType(),
        "boolean": BooleanType(),
        "timestamptz": TimestamptzType(),
    }
    return Schema(
        *(
            NestedField(fid, name, types[kind], required=required, doc=doc)
            for fid, name, kind, required, doc in _COLUMNS
        )
    )


def catalog_uri(cfg: IcebergSettings, config_dir: Path | None) -> str:
    """The catalog URI: the environment variable ``uri_env`` when set, else ``uri``; a
    relative SQLite path is relative to the config file's folder (and its folder made)."""
    uri = os.environ.get(cfg.uri_env) or cfg.uri
    prefix = "sqlite:///"
    if cfg.catalog == "sql" and uri.startswith(prefix) and not uri.startswith(prefix + "/"):
        path = Path(uri.removeprefix(prefix))
        if not path.is_absolute():
            path = ((config_dir or Path.cwd()) / path).resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        uri = prefix + str(path)
    return uri


def _s3_properties(endpoint: S3Endpoint) -> dict[str, str]:
    props = {"s3.region": endpoint.region}
    if endpoint.endpoint_url:
        props |= {"s3.endpoint": endpoint.endpoint_url, "s3.path-style-access": "true"}
    if endpoint.access_key and endpoint.secret_key:
        props |= {
            "s3.access-key-id": endpoint.access_key,
            "s3.secret-access-key": endpoint.secret_key,
        }
    return props


def open_catalog(
    cfg: IcebergSettings,
    name: str,
    warehouse: str,
    endpoint: S3Endpoint,
    config_dir: Path | None,
    properties: Mapping[str, str] | None = None,
) -> Catalog:
    """A pyiceberg catalog from the settings alone: ``~/.pyiceberg.yaml`` and ``PYICEBERG_*``
    variables are not consulted, so a developer's own configuration cannot redirect it.
    ``properties`` adds pyiceberg catalog properties (a REST catalog's ``credential`` or
    ``token``, a ``py-io-impl``), passed by the caller, never read from the config file."""
    props = {"warehouse": warehouse, "uri": catalog_uri(cfg, config_dir)}
    props |= _s3_properties(endpoint)
    props |= dict(properties or {})
    if cfg.catalog == "sql":
        from pyiceberg.catalog.sql import SqlCatalog

        return SqlCatalog(name, **props)
    from pyiceberg.catalog.rest import RestCatalog

    return RestCatalog(name, **props)


class IcebergSink:
    """A :class:`paywall.catalog.TableSink` writing the two tables."""

    def __init__(
        self,
        catalog: Catalog,
        namespace: str,
        *,
        pipeline: str,
        table: str = "articles",
        latest_table: str = "articles_latest",
        keep_snapshots: int = 30,
        warehouse: str | None = None,
    ) -> None:
        self.catalog = catalog
        self.warehouse = warehouse
        self.namespace = namespace
        self.pipeline = pipeline
        self.names = (f"{namespace}.{table}", f"{namespace}.{latest_table}")
        self.keep_snapshots = keep_snapshots
        self._schema = schema()
        self._tables: dict[str, Table] | None = None

    # ------------------------------------------------------------------ set-up

    def open(self) -> tuple[Table, Table]:
        """Create the namespace and tables when missing; add columns this code has and the
        tables lack (schema evolution); refuse tables that belong to another pipeline."""
        from pyiceberg.exceptions import NoSuchTableError
        from pyiceberg.partitioning import PartitionField, PartitionSpec
        from pyiceberg.transforms import DayTransform

        self.catalog.create_namespace_if_not_exists(self.namespace)
        spec = PartitionSpec(PartitionField(_PUBLISHED_AT, 1000, DayTransform(), "published_day"))
        tables: dict[str, Table] = {}
        for name in self.names:
            try:
                table = self.catalog.load_table(name)
            except NoSuchTableError:
                table = self.catalog.create_table(
                    name,
                    self._schema,
                    partition_spec=spec,
                    properties=TABLE_PROPERTIES | {PIPELINE_PROPERTY: self.pipeline},
                )
                log.info("created Iceberg table %s at %s", name, table.location())
            if self.warehouse and not table.location().startswith(self.warehouse.rstrip("/") + "/"):
                raise CatalogError(
                    f"Iceberg table {name} lives at {table.location()}, outside the warehouse "
                    f"{self.warehouse}: this catalog belongs to another deployment; point "
                    "catalog.iceberg.uri at another catalog"
                )
            owner = table.properties.get(PIPELINE_PROPERTY)
            if owner != self.pipeline:
                raise CatalogError(
                    f"Iceberg table {name} belongs to pipeline {owner!r}, not "
                    f"{self.pipeline!r}; set catalog.iceberg.namespace to another name"
                )
            have = {f.name for f in table.schema().fields}
            if any(f.name not in have for f in self._schema.fields):
                with table.update_schema() as update:
                    update.union_by_name(self._schema)
                table = self.catalog.load_table(name)
                log.info("added columns to Iceberg table %s", name)
            tables[name] = table
        self._tables = tables
        return tables[self.names[0]], tables[self.names[1]]

    @property
    def tables(self) -> tuple[Table, Table]:
        if self._tables is None:
            return self.open()
        return self._tables[self.names[0]], self._tables[self.names[1]]

    # ----------------------------------------------------------------- writing

    @staticmethod
    def applied(table: Table, manifest_sha256: str) -> bool:
        """Whether a retained snapshot of the table came from this manifest version."""
        return any(s.summary is not None and s.summary[SNAPSHOT_SHA] == manifest_sha256
                   for s in table.snapshots())  # fmt: skip

    @staticmethod
    def arrow(table: Table, rows: Sequence[ArticleRow]) -> pa.Table:
        """The rows in the table's own schema (by name: an evolved table's field ids and
        extra columns are its own; a column the rows lack is null)."""
        import pyarrow as pa

        return pa.Table.from_pylist([r.to_json() for r in rows], schema=table.schema().as_arrow())

    def write(self, batch: TableBatch) -> bool:
        """Append the batch to ``articles`` and upsert it into ``articles_latest``, each
        once: a table whose snapshots already name the manifest's sha256 is left alone.
        Each table takes one commit (its expired snapshots go in the same one)."""
        if not batch.rows:
            return False
        history, latest = (self.catalog.load_table(n) for n in self.names)
        props = {SNAPSHOT_SHA: batch.manifest_sha256, SNAPSHOT_KEY: batch.manifest_key}
        wrote = False
        if not self.applied(history, batch.manifest_sha256):
            with history.transaction() as tx:
                tx.append(self.arrow(history, batch.rows), snapshot_properties=props)
                self._expire(history, tx)
            wrote = True
        if not self.applied(latest, batch.manifest_sha256):
            with warnings.catch_warnings(), latest.transaction() as tx:
                warnings.simplefilter("ignore")  # "did not match any records": a new article
                tx.delete(self._previous_rows(batch), snapshot_properties=props)
                tx.append(self.arrow(latest, batch.rows), snapshot_properties=props)
                self._expire(latest, tx)
            wrote = True
        return wrote

    @staticmethod
    def _previous_rows(batch: TableBatch) -> Any:
        """The latest rows the batch replaces: its articles, in the days they may be in
        (partition pruning: the delete reads those days' files only)."""
        from pyiceberg.expressions import And, GreaterThanOrEqual, In, LessThan, Or

        days = sorted({d for ds in batch.replaces.values() for d in ds})
        ranges = []
        for day in days:
            start = datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=UTC)
            end = start + timedelta(days=1)
            ranges.append(
                And(
                    GreaterThanOrEqual(term="published_at", value=start.isoformat()),
                    LessThan(term="published_at", value=end.isoformat()),
                )
            )
        when = ranges[0] if len(ranges) == 1 else Or(*ranges)
        return And(In(term="article_id", literals=sorted(batch.replaces)), when)

    def _expire(self, table: Table, tx: Transaction) -> None:
        """Stage the expiry of the oldest snapshots beyond ``keep_snapshots`` (counting the
        one this transaction adds): the metadata file stops growing. Data files stay."""
        from pyiceberg.table.update.snapshot import ExpireSnapshots

        snapshots = sorted(table.snapshots(), key=lambda s: (s.sequence_number, s.timestamp_ms))
        excess = len(snapshots) + 1 - self.keep_snapshots
        current = table.current_snapshot()
        old = [
            s.snapshot_id
            for s in snapshots[: max(0, excess)]
            if current is None or s.snapshot_id != current.snapshot_id
        ]
        if old:
            ExpireSnapshots(tx).by_ids(old).commit()

    # ----------------------------------------------------------------- reading

    def metadata_locations(self) -> tuple[str, str]:
        """Where each table's current metadata file is (what ``iceberg_scan`` reads)."""
        history, latest = (self.catalog.load_table(n) for n in self.names)
        return history.metadata_location, latest.metadata_location


def sink_for(settings: Settings, endpoint: S3Endpoint) -> IcebergSink | None:
    """The sink the settings ask for, or None when ``catalog.iceberg.enabled`` is false."""
    cfg = settings.catalog.iceberg
    if not cfg.enabled:
        return None
    layout = Layout(
        settings.storage.public_bucket, settings.storage.private_bucket, settings.pipeline.name
    )
    config_dir = settings.path.resolve().parent if settings.path else None
    warehouse = cfg.warehouse or layout.iceberg_warehouse()
    catalog = open_catalog(cfg, settings.pipeline.name, warehouse, endpoint, config_dir)
    sink = IcebergSink(
        catalog,
        cfg.namespace or settings.pipeline.name,
        pipeline=settings.pipeline.name,
        table=cfg.table,
        latest_table=cfg.latest_table,
        keep_snapshots=cfg.keep_snapshots,
        warehouse=warehouse,
    )
    sink.open()
    return sink
