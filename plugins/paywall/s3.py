"""The one place that builds S3 clients, and how an endpoint is described.

Settings are deliberate: path-style addressing (MinIO, SeaweedFS and AWS all accept it),
region ``us-east-1``, checksums only when required (botocore >= 1.36 otherwise sends CRC
trailers some S3-compatible servers reject; we send Content-MD5 ourselves), bounded
timeouts and standard retries.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

import boto3
from botocore import UNSIGNED
from botocore.config import Config

DEFAULT_REGION = "us-east-1"


@dataclass(frozen=True, slots=True)
class S3Endpoint:
    endpoint_url: str | None = None  # None means AWS itself
    access_key: str | None = None
    secret_key: str | None = field(default=None, repr=False)
    region: str = DEFAULT_REGION

    def describe(self) -> str:
        """Where this points, for messages: never includes a secret."""
        return self.endpoint_url or f"AWS S3 ({self.region})"


def endpoint_from_connection(conn: dict[str, Any]) -> S3Endpoint:
    """From an Airflow ``aws`` connection as a dict (login, password, extra)."""
    extra = conn.get("extra") or {}
    if isinstance(extra, str):
        extra = json.loads(extra) if extra.strip() else {}
    return S3Endpoint(
        endpoint_url=extra.get("endpoint_url"),
        access_key=conn.get("login") or extra.get("aws_access_key_id"),
        secret_key=conn.get("password") or extra.get("aws_secret_access_key"),
        region=extra.get("region_name") or DEFAULT_REGION,
    )


def _parse_connection_value(value: str) -> dict[str, Any]:
    value = value.strip()
    if value.startswith("{"):
        parsed: dict[str, Any] = json.loads(value)
        return parsed
    # URI form: aws://KEY:SECRET@/?endpoint_url=...
    parts = urlsplit(value)
    extra = dict(pair.split("=", 1) for pair in parts.query.split("&") if "=" in pair)
    return {
        "login": unquote(parts.username) if parts.username else None,
        "password": unquote(parts.password) if parts.password else None,
        "extra": {k: unquote(v) for k, v in extra.items()},
    }


def endpoint_from_env(connection_id: str, environ: dict[str, str] | None = None) -> S3Endpoint:
    """Read the endpoint the way Airflow would (``AIRFLOW_CONN_<ID>``), without Airflow.

    Falls back to ``S3_ENDPOINT_URL`` / ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` so
    the CLI works against any server.
    """
    env = os.environ if environ is None else environ
    value = env.get(f"AIRFLOW_CONN_{connection_id.upper()}")
    if value:
        return endpoint_from_connection(_parse_connection_value(value))
    return S3Endpoint(
        endpoint_url=env.get("S3_ENDPOINT_URL") or None,
        access_key=env.get("AWS_ACCESS_KEY_ID") or None,
        secret_key=env.get("AWS_SECRET_ACCESS_KEY") or None,
        region=env.get("AWS_DEFAULT_REGION") or DEFAULT_REGION,
    )


def client_config(*, max_pool: int = 32, anonymous: bool = False, timeout: float = 30.0) -> Config:
    return Config(
        region_name=DEFAULT_REGION,
        signature_version=UNSIGNED if anonymous else "s3v4",
        s3={"addressing_style": "path"},
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        connect_timeout=5,
        read_timeout=timeout,
        retries={"max_attempts": 4, "mode": "standard"},
        max_pool_connections=max_pool,
        tcp_keepalive=True,
    )


_lock = threading.Lock()
_cache: dict[tuple[Any, ...], Any] = {}


def _reset_after_fork() -> None:
    # Celery and LocalExecutor fork task processes: a lock held by another thread at fork
    # time would stay held forever in the child, and the parent's clients (with their pooled
    # sockets) must not be shared with it.
    global _lock
    _lock = threading.Lock()
    _cache.clear()


os.register_at_fork(after_in_child=_reset_after_fork)


def make_client(
    endpoint: S3Endpoint, *, max_pool: int = 32, anonymous: bool = False, timeout: float = 30.0
) -> Any:
    """A boto3 S3 client; cached per process (clients are thread-safe, not fork-safe)."""
    key = (os.getpid(), endpoint, max_pool, anonymous, timeout)
    with _lock:
        client = _cache.get(key)
        if client is None:
            # A session per client: boto3's default session is not thread-safe.
            session = boto3.session.Session()
            client = session.client(
                "s3",
                endpoint_url=endpoint.endpoint_url,
                aws_access_key_id=None if anonymous else endpoint.access_key,
                aws_secret_access_key=None if anonymous else endpoint.secret_key,
                region_name=endpoint.region,
                config=client_config(max_pool=max_pool, anonymous=anonymous, timeout=timeout),
            )
            _cache[key] = client
        return client
