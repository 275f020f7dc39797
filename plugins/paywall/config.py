"""Pipeline configuration: YAML validated on load into typed settings.

Errors name the file and the key (``config/pipeline.yaml: sources[0].kind: ...``) so a bad
config shows up in the Airflow UI as an import error that says what to fix.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from paywall.errors import ConfigError
from paywall.segmentation import DEFAULT_BEGIN, DEFAULT_END, Markers, NoMarkersPolicy

CONFIG_ENV = "PAYWALL_CONFIG"
DEFAULT_DATE_PATTERN = r"(?P<year>\d{4})[/_-]?(?P<month>\d{2})[/_-]?(?P<day>\d{2})"
_NAME = r"^[a-z0-9][a-z0-9_-]{0,62}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PipelineSettings(_Strict):
    name: str = Field("paywall_articles", pattern=_NAME)
    schedule: str = "@daily"
    timezone: str = "UTC"
    catchup: bool = False
    max_active_runs: int = Field(3, ge=1, le=64)
    chunk_size: int = Field(200, ge=1, le=100_000)
    max_chunks: int = Field(64, ge=1, le=1024)
    max_failure_ratio: float = Field(0.2, ge=0.0, le=1.0)
    retries: int = Field(3, ge=0, le=20)
    retry_delay_seconds: int = Field(30, ge=1, le=3600)
    # Scale-out knobs (README "Scaling out"): how many chunk tasks of one run may run at once,
    # how many tasks of the DAG in all, and an Airflow pool that caps S3/HTTP load across DAGs.
    process_parallelism: int = Field(4, ge=1, le=1024)
    max_active_tasks: int = Field(16, ge=1, le=4096)
    pool: str | None = Field(None, pattern=r"^[A-Za-z0-9_.-]{1,256}$")
    # Slots of that pool when a deployment path creates it (make run/up/cluster-up, compose).
    pool_slots: int = Field(8, ge=1, le=10_000)
    task_timeout_minutes: int = Field(60, ge=1)
    fallback_window_hours: int = Field(24, ge=1)
    owner: str = "data-platform"


class MarkerSettings(_Strict):
    begin: str = DEFAULT_BEGIN
    end: str = DEFAULT_END
    lenient: bool = False

    @model_validator(mode="after")
    def _valid_pair(self) -> MarkerSettings:
        Markers(self.begin, self.end, self.lenient)  # raises ValueError with the rule broken
        return self

    def build(self) -> Markers:
        return Markers(self.begin, self.end, self.lenient)


class OutputSettings(_Strict):
    text_placeholder: str | None = None
    cut_class: str = Field("paywall-paid", pattern=r"^[A-Za-z_][A-Za-z0-9_-]*$")


class StorageSettings(_Strict):
    connection_id: str = "paywall_s3"
    public_bucket: str = Field("paywall-public", pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
    private_bucket: str = Field("paywall-private", pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
    public_read: bool = True
    server_side_encryption: Literal["AES256"] | None = None
    max_concurrency: int = Field(16, ge=1, le=128)
    checksum: Literal["md5", "sha256", "none"] = "md5"
    # The data path's S3 client: obstore (requests outside the GIL, ~10x less CPU per PUT
    # than botocore) or boto3. Bucket set-up, policies and S3 inbox sources use boto3.
    client: Literal["fast", "boto3"] = "fast"


_CONN_ID = r"^[A-Za-z0-9_.-]{1,250}$"


class WebhookSettings(_Strict):
    # An absolute URL, or (with http_conn_id) a path joined to the Connection's host.
    url: str | None = None
    # Airflow HTTP Connection: login/password (basic auth), extra headers (bearer token,
    # cookie), proxies. No secret in this file.
    http_conn_id: str | None = Field(None, pattern=_CONN_ID)
    batch_size: int = Field(100, ge=1, le=10_000)
    timeout_seconds: float = Field(10.0, gt=0)
    retries: int = Field(3, ge=0, le=10)


class IcebergSettings(_Strict):
    """The Iceberg tables of articles (README "The Iceberg table of articles")."""

    enabled: bool = True
    catalog: Literal["sql", "rest"] = "sql"
    # sql: a SQLAlchemy URL (sqlite:///relative/to/this/file.db, postgresql+psycopg2://...);
    # rest: the REST catalog's URL. The environment variable named by uri_env overrides it,
    # so a URL holding a password never has to be in this file.
    # Default: a SQLite file beside the config file, so two configs never share tables by
    # accident; the shipped config puts it under the repository's .state/.
    uri: str = "sqlite:///iceberg-catalog.db"
    uri_env: str = Field("PAYWALL_ICEBERG_URI", pattern=r"^[A-Z_][A-Z0-9_]*$")
    warehouse: str | None = Field(None, pattern=r"^s3a?://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/.*)?$")
    namespace: str | None = Field(None, pattern=_NAME)  # default: the pipeline name
    table: str = Field("articles", pattern=_NAME)
    latest_table: str = Field("articles_latest", pattern=_NAME)
    keep_snapshots: int = Field(30, ge=2, le=100_000)

    @model_validator(mode="after")
    def _two_tables(self) -> IcebergSettings:
        if self.table == self.latest_table:
            raise ValueError("table and latest_table must differ")
        return self


class CatalogSettings(_Strict):
    """The consumer's incremental catalog (README "Consumers: the catalog")."""

    # Find an article's older partition when its timestamp moves to another day (one
    # conditional PUT per article new to a day); off: such an article can be listed twice.
    track_moves: bool = True
    # List every committed manifest at most this often even when events arrive (0: only when
    # the catalog is new, when an event cannot be used, or when a run asks for a rescan).
    rescan_every_hours: int = Field(168, ge=0, le=24 * 366)
    lease_minutes: int = Field(30, ge=1, le=24 * 60)
    # Refuse to write a partition or index larger than this (the bound the benchmark checks).
    max_object_bytes: int = Field(64 * 1024 * 1024, ge=64 * 1024)
    iceberg: IcebergSettings = IcebergSettings()


class AlertSettings(_Strict):
    """Alerts through Airflow notifiers (README "Operating it: alerts"). No secret here: the
    SMTP server, its login and the sender default live in the Airflow Connection."""

    smtp_conn_id: str | None = Field(None, pattern=_CONN_ID)  # null: no mail is sent
    to: tuple[str, ...] = ()
    from_email: str | None = None  # default: the Connection's from_email
    subject_prefix: str = Field("[paywall]", max_length=64)
    on_task_failure: bool = True
    on_dag_failure: bool = True
    # A committed run whose share of quarantined / failed articles passes these sends a
    # threshold alert (the run still succeeds unless fail_on_threshold).
    max_quarantined_ratio: float | None = Field(None, ge=0.0, le=1.0)
    max_failed_ratio: float | None = Field(None, ge=0.0, le=1.0)
    min_articles: int = Field(1, ge=1)
    fail_on_threshold: bool = False
    # An Airflow deadline alert: the run is not finished successfully this many hours after
    # it was queued (for a scheduled run: after its interval ended).
    not_committed_after_hours: float | None = Field(None, gt=0, le=24 * 30)

    @model_validator(mode="after")
    def _recipients(self) -> AlertSettings:
        if self.smtp_conn_id and not self.to:
            raise ValueError("to: at least one recipient when smtp_conn_id is set")
        return self


class MetricsSettings(_Strict):
    """Counters sent through Airflow's metrics client ([metrics] statsd_on / otel_on)."""

    enabled: bool = True
    prefix: str = Field("paywall", pattern=r"^[a-z][a-z0-9_]{0,31}$")


class _SourceBase(_Strict):
    name: str = Field(pattern=_NAME)
    format: Literal["auto", "text", "html"] = "auto"
    no_markers: NoMarkersPolicy = NoMarkersPolicy.QUARANTINE


class LocalSource(_SourceBase):
    kind: Literal["local"]
    path: Path
    glob: str = "**/*"
    timestamp: Literal["mtime", "path"] = "mtime"
    date_pattern: str = DEFAULT_DATE_PATTERN

    @field_validator("date_pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        _check_date_pattern(value)
        return value


class S3Source(_SourceBase):
    kind: Literal["s3"]
    bucket: str
    prefix: str = ""
    connection_id: str | None = None  # defaults to the storage connection
    timestamp: Literal["last_modified", "key"] = "last_modified"
    date_pattern: str = DEFAULT_DATE_PATTERN

    @field_validator("date_pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        _check_date_pattern(value)
        return value


class HttpLimits(_Strict):
    connect_timeout: float = Field(5.0, gt=0)
    read_timeout: float = Field(15.0, gt=0)
    total_timeout: float = Field(60.0, gt=0)
    retries: int = Field(3, ge=0, le=10)
    backoff_seconds: float = Field(0.5, ge=0)
    max_redirects: int = Field(5, ge=0, le=20)
    max_bytes: int = Field(10_000_000, ge=1024)
    content_types: tuple[str, ...] = (
        "text/html",
        "text/plain",
        "application/xhtml+xml",
    )
    per_host_concurrency: int = Field(4, ge=1, le=64)
    requests_per_second: float = Field(10.0, gt=0)
    max_retry_after: float = Field(60.0, ge=0)


class HttpSource(_SourceBase):
    kind: Literal["http"]
    index_url: str = Field(pattern=r"^https?://")
    index_type: Literal["sitemap", "rss", "atom", "json"] = "sitemap"
    title_selector: str | None = None
    body_selector: str | None = None
    user_agent: str = "paywall-pipeline/0.1 (+https://example.invalid/bot)"
    allow_private_addresses: bool = False
    # Airflow HTTP Connection with the subscriber credentials (login/password, extra headers
    # such as Cookie or Authorization) and an optional forward proxy. No secret in this file.
    http_conn_id: str | None = Field(None, pattern=_CONN_ID)
    # With a proxy, targets are resolved here and checked by the guard, and the proxy tunnels
    # to the checked address. true lets the proxy resolve names instead (the guard can then
    # check only address literals): an explicit opt-out for networks without external DNS.
    proxy_resolves_names: bool = False
    limits: HttpLimits = HttpLimits()


SourceSettings = Annotated[LocalSource | S3Source | HttpSource, Field(discriminator="kind")]


class Settings(_Strict):
    pipeline: PipelineSettings = PipelineSettings()
    markers: MarkerSettings = MarkerSettings()
    output: OutputSettings = OutputSettings()
    storage: StorageSettings = StorageSettings()
    webhook: WebhookSettings = WebhookSettings()
    catalog: CatalogSettings = CatalogSettings()
    alerts: AlertSettings = AlertSettings()
    metrics: MetricsSettings = MetricsSettings()
    sources: tuple[SourceSettings, ...] = Field(min_length=1)
    path: Path | None = Field(None, exclude=True)

    @model_validator(mode="after")
    def _unique_names(self) -> Settings:
        names = [s.name for s in self.sources]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"source names must be unique, repeated: {', '.join(dupes)}")
        return self

    def source(self, name: str) -> LocalSource | S3Source | HttpSource:
        for source in self.sources:
            if source.name == name:
                return source
        raise ConfigError(f"{self.path}: sources: no source named {name!r}")


def _check_date_pattern(value: str) -> None:
    try:
        compiled = re.compile(value)
    except re.error as exc:
        raise ValueError(f"not a valid regular expression: {exc}") from exc
    missing = {"year", "month", "day"} - set(compiled.groupindex)
    if missing:
        raise ValueError(f"needs named groups year, month and day (missing {sorted(missing)})")


def _location(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("local", "s3", "http"):  # the discriminator's branch name, not a key
            continue
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def default_config_path() -> Path:
    env = os.environ.get(CONFIG_ENV)
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "config" / "pipeline.yaml"


def load_settings(path: str | Path | None = None) -> Settings:
    """Read and validate a pipeline config; raise ConfigError naming file and key."""
    config_path = Path(path) if path else default_config_path()
    try:
        raw = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{config_path}: cannot read the config file: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{config_path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{config_path}: the top level must be a mapping of sections")
    try:
        settings = Settings.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            msg = error["msg"].removeprefix("Value error, ")
            if error["type"] == "extra_forbidden":
                msg = "unknown key"
            problems.append(f"{_location(error['loc'])}: {msg}")
        raise ConfigError(f"{config_path}: " + "; ".join(problems)) from None
    # Relative source paths are relative to the config file, wherever the process runs.
    base = config_path.resolve().parent
    sources = tuple(
        s.model_copy(update={"path": (base / s.path).resolve()})
        if isinstance(s, LocalSource) and not s.path.is_absolute()
        else s
        for s in settings.sources
    )
    return settings.model_copy(update={"sources": sources, "path": config_path})
