"""Airflow Connections without Airflow: one typed record, read from the environment or a backend.

The YAML names connections by id (``http_conn_id``, ``storage.connection_id``, ...); secrets
live only in the Connection. Under Airflow the adapter installs a backend that asks Airflow
(``BaseHook.get_connection``: metadata database, secrets backends, environment); the
Airflow-free CLI reads ``AIRFLOW_CONN_<ID>`` from the environment exactly as Airflow parses it
(JSON, or the URI form with ``__extra__`` or query parameters as extras).

A :class:`ConnectionInfo` never shows its password or extras in ``repr`` or messages.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from paywall.errors import ConfigError

__all__ = [
    "ConnectionInfo",
    "from_env",
    "get_connection",
    "parse_connection",
    "set_backend",
]


@dataclass(frozen=True, slots=True)
class ConnectionInfo:
    """The fields of an Airflow Connection that the pipeline reads."""

    conn_id: str
    conn_type: str | None = None
    host: str | None = None
    schema: str | None = None
    login: str | None = None
    password: str | None = field(default=None, repr=False)
    port: int | None = None
    extra_json: str = field(default="{}", repr=False)  # canonical JSON: hashable, comparable

    @property
    def extra(self) -> dict[str, Any]:
        value = json.loads(self.extra_json)
        return value if isinstance(value, dict) else {}

    def secrets(self) -> list[str]:
        """Every value a log line must never show: the password and every extra string."""
        found = [self.password] if self.password else []
        found += _strings(self.extra)
        return [s for s in found if len(s) >= 4]


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list | tuple):
        return [s for v in value for s in _strings(v)]
    return []


def _extra_json(extra: Any, conn_id: str) -> str:
    if extra is None or extra == "":
        return "{}"
    if isinstance(extra, str):
        try:
            extra = json.loads(extra)
        except ValueError:
            raise ConfigError(f"connection {conn_id!r}: extra is not valid JSON") from None
    if not isinstance(extra, Mapping):
        raise ConfigError(f"connection {conn_id!r}: extra must be a JSON object")
    return json.dumps(dict(extra), sort_keys=True, ensure_ascii=False)


def _port(value: Any, conn_id: str) -> int | None:
    if value in (None, ""):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"connection {conn_id!r}: port is not a number") from None


def from_fields(conn_id: str, **fields: Any) -> ConnectionInfo:
    """A record from Connection fields (as Airflow's ``Connection`` has them)."""
    return ConnectionInfo(
        conn_id=conn_id,
        conn_type=fields.get("conn_type") or None,
        host=fields.get("host") or None,
        schema=fields.get("schema") or None,
        login=fields.get("login") or None,
        password=fields.get("password") or None,
        port=_port(fields.get("port"), conn_id),
        extra_json=_extra_json(fields.get("extra"), conn_id),
    )


def parse_connection(conn_id: str, value: str) -> ConnectionInfo:
    """Parse an ``AIRFLOW_CONN_<ID>`` value: JSON or Airflow's URI form.

    The URI form follows ``airflow.sdk.Connection.from_uri``: the scheme is the conn type
    (``-`` becomes ``_``), a second ``://`` keeps a protocol in the host, the path is the
    schema, and the query is the extra (``__extra__`` holding JSON, or plain parameters).
    """
    value = value.strip()
    if value.startswith("{"):
        try:
            data = json.loads(value)
        except ValueError:
            raise ConfigError(f"connection {conn_id!r}: not valid JSON") from None
        if not isinstance(data, dict):
            raise ConfigError(f"connection {conn_id!r}: must be a JSON object")
        return from_fields(conn_id, **data)
    if value.count("://") > 2 or "://" not in value:
        raise ConfigError(f"connection {conn_id!r}: not a connection URI")
    conn_type = urlsplit(value).scheme
    with_protocol = value.count("://") == 2
    rest = value.replace(f"{conn_type}://", "" if with_protocol else "//", 1)
    protocol = None
    if with_protocol:
        protocol, _ = rest.split("://", 1)
        if "@" in protocol or ":" in protocol:
            raise ConfigError(f"connection {conn_id!r}: not a connection URI")
    parts = urlsplit(rest)
    host = unquote(parts.hostname or "")
    if "/" in host:  # a host holding a path (Airflow keeps the netloc as given)
        host = parts.netloc.rsplit("@", 1)[-1].split(":", 1)[0]
        host = unquote(host)
    if host and protocol:
        host = f"{protocol}://{host}"
    extra: Any = None
    if parts.query:
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        extra = query.get("__extra__", query)
    try:
        port = parts.port
    except ValueError:
        raise ConfigError(f"connection {conn_id!r}: port is not a number") from None
    return from_fields(
        conn_id,
        conn_type=conn_type.replace("-", "_") if conn_type != "postgresql" else "postgres",
        host=host or None,
        schema=unquote(parts.path[1:]) if parts.path[1:] else None,
        login=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        port=port,
        extra=extra,
    )


def from_env(conn_id: str, environ: Mapping[str, str] | None = None) -> ConnectionInfo:
    """The Connection ``conn_id`` from ``AIRFLOW_CONN_<ID>``; ConfigError when it is not set."""
    env = os.environ if environ is None else environ
    value = env.get(f"AIRFLOW_CONN_{conn_id.upper()}")
    if not value:
        raise ConfigError(
            f"connection {conn_id!r} is not defined: set AIRFLOW_CONN_{conn_id.upper()} "
            "(or define it in Airflow)"
        )
    return parse_connection(conn_id, value)


# The backend: Airflow's look-up inside Airflow, the environment elsewhere. Set once per
# process by the Airflow adapter; tests may swap it.
_backend: Callable[[str], ConnectionInfo] = from_env
_backend_lock = threading.Lock()


def set_backend(backend: Callable[[str], ConnectionInfo] | None) -> None:
    """Install how connections are looked up (None restores the environment)."""
    global _backend
    with _backend_lock:
        _backend = backend or from_env


def get_connection(conn_id: str) -> ConnectionInfo:
    """Look a Connection up through the installed backend."""
    with _backend_lock:
        backend = _backend
    return backend(conn_id)
