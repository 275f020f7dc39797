"""The one place that builds S3 clients, and how an endpoint is described.

Settings are deliberate: path-style addressing (MinIO, SeaweedFS and AWS all accept it),
region ``us-east-1``, checksums only when required (botocore >= 1.36 otherwise sends CRC
trailers some S3-compatible servers reject; we send Content-MD5 ourselves), bounded
timeouts and standard retries.

An :class:`S3Endpoint` is the one resolved value every client reads (boto3 here, obstore in
:mod:`paywall.fast_store`): endpoint, keys, session token, region, TLS verification and the
Connection's ``config_kwargs`` (addressing style, timeouts, retries...), which override the
defaults above. Under Airflow it is resolved by the Amazon provider's own connection handling
(``airflow_adapter.endpoint_for``: ``role_arn`` assume-role, session tokens, ``verify``,
``config_kwargs``, region); without Airflow from the environment (:func:`endpoint_from_env`).
It is hashable (it keys the client cache) and never shows a secret.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from paywall.errors import ConfigError

if TYPE_CHECKING:
    from botocore.config import Config

# boto3 and botocore are imported where a client is made: the data path runs on obstore,
# and a chunk task that never needs boto3 should not spend a second importing it.

DEFAULT_REGION = "us-east-1"
_DEFAULT_CONNECT_TIMEOUT = 5.0


def _canonical(config_kwargs: Any) -> str:
    if not config_kwargs:
        return ""
    if not isinstance(config_kwargs, dict):
        raise ConfigError("config_kwargs must be a mapping of botocore Config arguments")
    return json.dumps(config_kwargs, sort_keys=True, default=str)


@dataclass(frozen=True, slots=True)
class S3Endpoint:
    endpoint_url: str | None = None  # None means AWS itself
    access_key: str | None = None
    secret_key: str | None = field(default=None, repr=False)
    region: str = DEFAULT_REGION
    session_token: str | None = field(default=None, repr=False)  # temporary credentials
    verify: bool | str | None = None  # TLS: None default, False off, or a CA bundle path
    config_json: str = ""  # the Connection's config_kwargs, canonical JSON (hashable)
    expires_at: str | None = None  # of temporary credentials (ISO 8601), when known

    def describe(self) -> str:
        """Where this points, for messages: never includes a secret."""
        return self.endpoint_url or f"AWS S3 ({self.region})"

    @property
    def config_kwargs(self) -> dict[str, Any]:
        """botocore ``Config`` arguments from the Connection (overriding the defaults)."""
        value = json.loads(self.config_json) if self.config_json else {}
        return value if isinstance(value, dict) else {}

    # Read by paywall.fast_store so obstore takes exactly what boto3 takes.
    @property
    def addressing_style(self) -> str:
        style = (self.config_kwargs.get("s3") or {}).get("addressing_style") or "path"
        return "virtual" if style == "virtual" else "path"

    @property
    def connect_timeout(self) -> float | None:
        value = self.config_kwargs.get("connect_timeout")
        return float(value) if value is not None else None

    @property
    def read_timeout(self) -> float | None:
        value = self.config_kwargs.get("read_timeout")
        return float(value) if value is not None else None

    @property
    def ca_bundle(self) -> str | None:
        return self.verify if isinstance(self.verify, str) else None


def _verify(value: Any) -> bool | str | None:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ("true", "false"):
            return lowered == "true"
        return value.strip()
    raise ConfigError("verify must be a boolean or a CA bundle path")


def endpoint_from_connection(conn: dict[str, Any]) -> S3Endpoint:
    """From an Airflow ``aws`` connection as a dict (login, password, extra), without Airflow.

    Honours what needs no AWS call: endpoint, keys, ``aws_session_token``, region,
    ``verify`` and ``config_kwargs``. A ``role_arn`` needs STS through the Amazon provider
    (the Airflow path): refused here rather than silently using the base keys instead.
    """
    extra = conn.get("extra") or {}
    if isinstance(extra, str):
        extra = json.loads(extra) if extra.strip() else {}
    if extra.get("role_arn"):
        raise ConfigError(
            "this S3 connection assumes a role (role_arn): that needs Airflow's Amazon "
            "provider; outside Airflow give keys (and a session token) instead"
        )
    return S3Endpoint(
        endpoint_url=extra.get("endpoint_url"),
        access_key=conn.get("login") or extra.get("aws_access_key_id"),
        secret_key=conn.get("password") or extra.get("aws_secret_access_key"),
        region=extra.get("region_name") or DEFAULT_REGION,
        session_token=extra.get("aws_session_token") or None,
        verify=_verify(extra.get("verify")),
        config_json=_canonical(extra.get("config_kwargs")),
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
        session_token=env.get("AWS_SESSION_TOKEN") or None,
        verify=_verify(env.get("AWS_CA_BUNDLE") or None),
    )


def client_config(
    *,
    max_pool: int = 32,
    anonymous: bool = False,
    timeout: float = 30.0,
    overrides: dict[str, Any] | None = None,
) -> Config:
    """Our defaults, then the Connection's ``config_kwargs`` (an anonymous client stays
    unsigned whatever they say)."""
    kwargs: dict[str, Any] = {
        "region_name": DEFAULT_REGION,
        "signature_version": "s3v4",
        "s3": {"addressing_style": "path"},
        "request_checksum_calculation": "when_required",
        "response_checksum_validation": "when_required",
        "connect_timeout": _DEFAULT_CONNECT_TIMEOUT,
        "read_timeout": timeout,
        "retries": {"max_attempts": 4, "mode": "standard"},
        "max_pool_connections": max_pool,
        "tcp_keepalive": True,
    }
    for key, value in (overrides or {}).items():
        if key == "s3" and isinstance(value, dict):
            kwargs["s3"] = {**kwargs["s3"], **value}
        else:
            kwargs[key] = value
    from botocore import UNSIGNED
    from botocore.config import Config

    if kwargs.get("signature_version") == "unsigned" or anonymous:
        kwargs["signature_version"] = UNSIGNED
    return Config(**kwargs)


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
            import boto3.session

            # A session per client: boto3's default session is not thread-safe.
            session = boto3.session.Session()
            overrides = endpoint.config_kwargs
            overrides.pop("region_name", None)  # the endpoint's region decides
            client = session.client(
                "s3",
                endpoint_url=endpoint.endpoint_url,
                aws_access_key_id=None if anonymous else endpoint.access_key,
                aws_secret_access_key=None if anonymous else endpoint.secret_key,
                aws_session_token=None if anonymous else endpoint.session_token,
                region_name=endpoint.region,
                verify=endpoint.verify,
                config=client_config(
                    max_pool=max_pool, anonymous=anonymous, timeout=timeout, overrides=overrides
                ),
            )
            _cache[key] = client
        return client
