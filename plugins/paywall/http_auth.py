"""What an HTTP Connection means to the fetcher and the webhook: credentials, origin, proxy.

Read the way Airflow's HTTP provider reads an ``http`` Connection (``HttpHook``), so an
Airflow user's Connection works unchanged:

- ``host`` (with ``schema`` as the protocol, default ``http``, and ``port``) is the **origin**
  the credentials belong to; without a host, the origin of the URL the Connection is used
  for (the source's index URL, the webhook URL);
- ``login``/``password``: HTTP basic auth (``auth_type`` other than basic is refused);
- every other extra key is a request **header** (``Cookie``, ``Authorization: Bearer ...``,
  ``X-Api-Key``...), as ``HttpHook`` does;
- ``proxies`` (or ``proxy``): ``{"http": URL, "https": URL}`` or one URL for both, an
  ``http://[user:password@]host:port`` forward proxy;
- ``verify``: ``false`` or a CA bundle path for TLS to the target.

Credentials are sent **only to their origin** (scheme, host and port): never to another host
a sitemap lists or a redirect points at, never over plain HTTP when the origin is HTTPS.
Nothing here ever appears in ``repr``, a log line or an error message.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

from paywall.connections import ConnectionInfo
from paywall.errors import ConfigError

__all__ = ["HttpAccess", "Origin", "Proxy", "access_from_connection", "origin_of"]

# Extra keys HttpHook consumes itself; every other key is a header.
_RESERVED = frozenset({
    "stream", "cert", "proxies", "proxy", "timeout", "verify", "verify_ssl",
    "allow_redirects", "max_redirects", "trust_env", "check_response", "srv_lookup",
    "auth_type", "auth_kwargs", "adapter",
})  # fmt: skip
# Headers that decide where or how a request travels, never credentials: refused.
_FORBIDDEN = frozenset({
    "host", "content-length", "transfer-encoding", "connection", "proxy-authorization",
    "proxy-connection", "te", "upgrade", "expect", "keep-alive",
})  # fmt: skip
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$")  # RFC 9110 field name
_BAD_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # CR, LF, NUL...: header injection

Origin = tuple[str, str, int]  # scheme, host (lower case), port


def origin_of(url: str) -> Origin | None:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        return None
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError:
        return None
    return scheme, parts.hostname.lower(), port


@dataclass(frozen=True, slots=True)
class Proxy:
    """A forward proxy (operator-configured: its own address is not checked by the guard)."""

    host: str
    port: int
    authorization: str | None = field(default=None, repr=False)  # Proxy-Authorization value

    def describe(self) -> str:
        return f"http://{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class HttpAccess:
    """Credentials, proxy and TLS settings from one HTTP Connection."""

    conn_id: str
    origin: Origin | None = None  # None: the origin of the URL it is used for
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    proxies: tuple[tuple[str, Proxy], ...] = ()  # per target scheme
    verify: bool | str = True

    def bound_to(self, url: str) -> HttpAccess:
        """This access with its origin fixed: the Connection's host, else ``url``'s origin."""
        if self.origin is not None:
            return self
        origin = origin_of(url)
        if origin is None:
            raise ConfigError(f"connection {self.conn_id!r}: {url!r} is not an http(s) URL")
        return HttpAccess(self.conn_id, origin, self.headers, self.proxies, self.verify)

    def credentials_for(self, url: str) -> dict[str, str]:
        """The headers to add to a request for ``url``: only when it is on the origin."""
        if self.origin is None or origin_of(url) != self.origin:
            return {}
        return dict(self.headers)

    def proxy_for(self, scheme: str) -> Proxy | None:
        return dict(self.proxies).get(scheme)

    def secrets(self) -> list[str]:
        found = [value for _, value in self.headers]
        found += [p.authorization for _, p in self.proxies if p.authorization]
        return found


def _proxy(value: Any, conn_id: str) -> Proxy:
    if not isinstance(value, str):
        raise ConfigError(f"connection {conn_id!r}: a proxy must be a URL string")
    parts = urlsplit(value.strip())
    if parts.scheme.lower() != "http" or not parts.hostname:
        raise ConfigError(
            f"connection {conn_id!r}: proxies must be http://host:port URLs (a forward proxy)"
        )
    try:
        port = parts.port or 80
    except ValueError:
        raise ConfigError(f"connection {conn_id!r}: the proxy port is not a number") from None
    authorization = None
    if parts.username is not None:
        pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        authorization = "Basic " + base64.b64encode(pair.encode()).decode("ascii")
    return Proxy(parts.hostname, port, authorization)


def _proxies(value: Any, conn_id: str) -> tuple[tuple[str, Proxy], ...]:
    if value in (None, "", {}):
        return ()
    if isinstance(value, str):
        proxy = _proxy(value, conn_id)
        return (("http", proxy), ("https", proxy))
    if not isinstance(value, dict):
        raise ConfigError(f"connection {conn_id!r}: proxies must be a URL or a mapping")
    found: dict[str, Proxy] = {}
    for key, url in value.items():
        scheme = str(key).lower().removesuffix("://")
        if scheme == "all":
            found.setdefault("http", _proxy(url, conn_id))
            found.setdefault("https", _proxy(url, conn_id))
        elif scheme in ("http", "https"):
            found[scheme] = _proxy(url, conn_id)
        else:
            raise ConfigError(
                f"connection {conn_id!r}: proxies keys are http, https or all (found {key!r})"
            )
    return tuple(sorted(found.items()))


def _verify(value: Any, conn_id: str) -> bool | str:
    if value is None:
        return True
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ("true", "1", "yes"):
            return True
        if lowered in ("false", "0", "no"):
            return False
        return value.strip()  # a CA bundle path
    raise ConfigError(f"connection {conn_id!r}: verify must be a boolean or a CA bundle path")


def access_from_connection(conn: ConnectionInfo) -> HttpAccess:
    """The HTTP access a Connection describes; ConfigError (naming the key) when unusable."""
    extra = conn.extra
    auth_type = extra.get("auth_type")
    if auth_type not in (None, "", "basic", "requests.auth.HTTPBasicAuth"):
        raise ConfigError(
            f"connection {conn.conn_id!r}: auth_type {auth_type!r} is not supported "
            "(basic auth from login/password, or headers in the extra)"
        )
    headers: dict[str, str] = {}
    for key, value in extra.items():
        if key in _RESERVED:
            continue
        if not _TOKEN.match(str(key)):
            raise ConfigError(f"connection {conn.conn_id!r}: extra key {key!r} is not a header")
        if str(key).lower() in _FORBIDDEN:
            raise ConfigError(
                f"connection {conn.conn_id!r}: header {key!r} cannot come from a Connection"
            )
        text = value if isinstance(value, str) else str(value)
        if _BAD_VALUE.search(text):
            raise ConfigError(
                f"connection {conn.conn_id!r}: header {key!r} holds a control character"
            )
        headers[str(key)] = text
    if conn.login:
        if any(k.lower() == "authorization" for k in headers):
            raise ConfigError(
                f"connection {conn.conn_id!r}: both login/password and an Authorization header"
            )
        pair = f"{conn.login}:{conn.password or ''}"
        headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode("ascii")
    origin = None
    if conn.host:
        host = conn.host if "://" in conn.host else f"{conn.schema or 'http'}://{conn.host}"
        if conn.port:
            host = f"{host}:{conn.port}"
        origin = origin_of(host)
        if origin is None:
            raise ConfigError(f"connection {conn.conn_id!r}: host is not an http(s) origin")
    return HttpAccess(
        conn_id=conn.conn_id,
        origin=origin,
        headers=tuple(sorted(headers.items())),
        proxies=_proxies(extra.get("proxies", extra.get("proxy")), conn.conn_id),
        verify=_verify(extra.get("verify", extra.get("verify_ssl")), conn.conn_id),
    )
