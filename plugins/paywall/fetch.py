"""A well-behaved, hard-to-break HTTP client for article sources.

- only ``http`` and ``https``; every hop of a redirect chain is checked again;
- the host is resolved once and the connection goes to that address, after refusing every
  address that is not global unicast -- carrier-grade NAT, loopback, private, link-local,
  reserved, multicast, and any IPv6 address embedding such an IPv4 one (6to4, NAT64, Teredo,
  IPv4-mapped/compatible) -- unless the source opts in, so a hostile feed cannot reach
  internal services, not even by DNS rebinding;
- connect and read timeouts plus a total deadline per request, checked while streaming;
- a maximum body size, enforced while streaming; allowed content types;
- retries with exponential backoff and jitter on connection errors, 5xx and 429 (honouring
  ``Retry-After`` within the deadline);
- per-host concurrency and request-rate limits; conditional GET (ETag / Last-Modified);
- credentials from an Airflow HTTP Connection (:mod:`paywall.http_auth`), sent only to their
  origin, and an optional forward proxy.

**The guard with a proxy.** The proxy's own address is operator-configured and not checked.
The *target* is still resolved here and checked by the guard before anything is sent, and the
proxy is asked to tunnel (``CONNECT address:port``) to the very address that was checked,
for ``http`` and ``https`` targets alike (TLS still verifies the certificate for the host
name), so a proxy cannot be steered to another address by DNS. Where the worker cannot
resolve external names (only the proxy can), a source must opt out explicitly with
``proxy_resolves_names: true``: the tunnel then names the host and the proxy resolves it --
the guard can check only IP literals then, and the proxy's own policy must do the rest.
"""

from __future__ import annotations

import contextlib
import ipaddress
import random
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import urllib3
from urllib3.exceptions import HTTPError as Urllib3Error

from paywall.config import HttpLimits
from paywall.errors import FetchError
from paywall.http_auth import HttpAccess, Proxy

__all__ = [
    "FETCH_KINDS",
    "FetchError",
    "Fetcher",
    "Response",
    "fetch_kind",
    "is_public_address",
    "resolve",
]

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_CHUNK = 64 * 1024


@dataclass(frozen=True, slots=True)
class Response:
    url: str
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")

    @property
    def not_modified(self) -> bool:
        return self.status == 304


def resolve(host: str, port: int) -> list[str]:
    """Resolve a host name to addresses (patched in tests to check the guard offline)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


# NAT64: the well-known prefix carries an IPv4 address in its last 32 bits; the local-use
# prefix (RFC 8215) is never global.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
_ISATAP_IDS = (0x00005EFE, 0x02005EFE)


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """Every IPv4 address an IPv6 address carries (traffic to it may reach that IPv4)."""
    value = int(ip)
    found = []
    if ip.sixtofour is not None:
        found.append(ip.sixtofour)
    if ip.teredo is not None:
        found.extend(ip.teredo)
    if ip in _NAT64:
        found.append(ipaddress.IPv4Address(value & 0xFFFFFFFF))
    if value >> 32 == 0 and value > 1:  # IPv4-compatible ::a.b.c.d (deprecated)
        found.append(ipaddress.IPv4Address(value & 0xFFFFFFFF))
    if (value >> 32) & 0xFFFFFFFF in _ISATAP_IDS:  # ISATAP interface identifier
        found.append(ipaddress.IPv4Address(value & 0xFFFFFFFF))
    return found


def _global(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    special = ip.is_multicast or ip.is_reserved or ip.is_unspecified or ip.is_loopback
    special = special or ip.is_link_local or ip.is_private
    if isinstance(ip, ipaddress.IPv6Address):
        special = special or ip.is_site_local or ip in _NAT64_LOCAL
    return ip.is_global and not special


def is_public_address(address: str) -> bool:
    """True only for a globally reachable unicast address, judged by ``is_global`` (so
    carrier-grade NAT such as the 100.100.100.200 metadata endpoint is refused) and, for
    IPv6, by every IPv4 address it embeds too: IPv4-mapped and -compatible, 6to4, NAT64,
    Teredo and ISATAP. Anything that does not parse is not public."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return _global(ip.ipv4_mapped)  # the socket connects to the IPv4 address itself
    if isinstance(ip, ipaddress.IPv6Address) and ip in _NAT64:
        # DNS64 synthesises these for every IPv4-only site (ipaddress counts ::/8 reserved):
        # the IPv4 address the translator will reach decides.
        return _global(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    if not _global(ip):
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        return all(_global(embedded) for embedded in _embedded_ipv4(ip))
    return True


# A bounded vocabulary for a fetch failure's reason (metrics and alerts label by it; the
# reason itself may name hosts and sizes). Every reason this module produces starts with one
# of these prefixes; anything else is "other".
FETCH_KINDS: tuple[tuple[str, str], ...] = (
    ("HTTP ", "http"),
    ("timeout", "timeout"),
    ("connection timed out", "timeout"),
    ("connection failed", "connection"),
    ("proxy", "proxy"),
    ("too large", "too_large"),
    ("refused", "refused"),
    ("content type", "content_type"),
    ("scheme", "refused"),
    ("no host", "refused"),
    ("more than", "redirects"),
)


def fetch_kind(reason: str | None) -> str:
    """A short, stable label for a fetch failure reason: ``http_404``, ``timeout``, ..."""
    text = reason or ""
    for prefix, kind in FETCH_KINDS:
        if text.startswith(prefix):
            if kind == "http":
                code = text[5:8]
                return f"http_{code}" if code.isdigit() else "http"
            return kind
    return "other"


class _TunnelMixin:
    """A connection that always reaches its target through ``CONNECT`` on a forward proxy.

    urllib3 forgets a tunnel when a connection closes; setting it again before every connect
    keeps a reused pooled connection from ever talking to the proxy in origin form.
    """

    _paywall_tunnel: tuple[str, int, dict[str, str]]

    def connect(self) -> None:
        host, port, headers = self._paywall_tunnel
        self.set_tunnel(host, port, headers)  # type: ignore[attr-defined]
        super().connect()  # type: ignore[misc]


class _TunnelHTTPConnection(_TunnelMixin, urllib3.connection.HTTPConnection):
    def __init__(self, *args: Any, tunnel: tuple[str, int, dict[str, str]], **kw: Any) -> None:
        super().__init__(*args, **kw)
        self._paywall_tunnel = tunnel


class _TunnelHTTPSConnection(_TunnelMixin, urllib3.connection.HTTPSConnection):
    def __init__(self, *args: Any, tunnel: tuple[str, int, dict[str, str]], **kw: Any) -> None:
        super().__init__(*args, **kw)
        self._paywall_tunnel = tunnel


class _HostLimiter:
    """Per-host concurrency (a semaphore) and rate (a minimum gap between request starts)."""

    def __init__(self, concurrency: int, per_second: float) -> None:
        self._concurrency = concurrency
        self._gap = 1.0 / per_second
        self._lock = threading.Lock()
        self._semaphores: dict[str, threading.BoundedSemaphore] = {}
        self._next_start: dict[str, float] = {}

    @contextlib.contextmanager
    def slot(self, host: str) -> Iterator[None]:
        with self._lock:
            semaphore = self._semaphores.setdefault(
                host, threading.BoundedSemaphore(self._concurrency)
            )
        with semaphore:
            with self._lock:
                now = time.monotonic()
                start = max(now, self._next_start.get(host, now))
                self._next_start[host] = start + self._gap
            time.sleep(max(0.0, start - now))
            yield


@dataclass
class Fetcher:
    limits: HttpLimits
    user_agent: str
    allow_private: bool = False
    resolver: Callable[[str, int], list[str]] = field(default=resolve)
    sleep: Callable[[float], None] = field(default=time.sleep)
    access: HttpAccess | None = None  # credentials (for their origin only), proxy, TLS
    proxy_resolves_names: bool = False  # explicit opt-out: the proxy resolves target names

    def __post_init__(self) -> None:
        self._limiter = _HostLimiter(
            self.limits.per_host_concurrency, self.limits.requests_per_second
        )
        self._pools: dict[tuple[str, str, int, str], urllib3.HTTPConnectionPool] = {}
        self._pools_lock = threading.Lock()

    # ---------------------------------------------------------------- public entry point
    def get(
        self,
        url: str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        accept: tuple[str, ...] | None = None,
    ) -> Response:
        """GET a URL with retries; raise FetchError with a specific reason."""
        deadline = time.monotonic() + self.limits.total_timeout
        attempt = 0
        while True:
            try:
                response = self._follow(url, deadline, etag, last_modified)
            except FetchError as exc:
                if not exc.retryable or attempt >= self.limits.retries:
                    raise
                self._backoff(attempt, None, deadline, url, exc.reason)
                attempt += 1
                continue
            if response.status in RETRY_STATUSES and attempt < self.limits.retries:
                self._backoff(attempt, response.headers.get("retry-after"), deadline, url,
                              f"HTTP {response.status}")  # fmt: skip
                attempt += 1
                continue
            break
        if response.not_modified:
            return response
        if response.status >= 400:
            raise FetchError(f"HTTP {response.status}", response.url)
        allowed = accept if accept is not None else self.limits.content_types
        media = response.content_type.split(";")[0].strip().lower()
        if allowed and media not in allowed:
            raise FetchError(f"content type {media or 'missing'!r} is not allowed", response.url)
        return response

    # ---------------------------------------------------------------------- internals
    def _backoff(
        self, attempt: int, retry_after: str | None, deadline: float, url: str, why: str
    ) -> None:
        delay = self.limits.backoff_seconds * (2**attempt)
        delay = delay * (0.5 + random.random())  # noqa: S311 - jitter, not cryptography
        if retry_after:
            delay = max(delay, _retry_after_seconds(retry_after))
            if delay > self.limits.max_retry_after:
                raise FetchError(f"{why}: Retry-After {delay:.0f}s is too long", url)
        if time.monotonic() + delay >= deadline:
            raise FetchError(f"{why}: no time left for a retry", url)
        self.sleep(delay)

    def _follow(
        self, url: str, deadline: float, etag: str | None, last_modified: str | None
    ) -> Response:
        for _ in range(self.limits.max_redirects + 1):
            response = self._once(url, deadline, etag, last_modified)
            location = response.headers.get("location")
            if response.status in (301, 302, 303, 307, 308) and location:
                target = urljoin(url, location)
                access = self.access
                if access and access.credentials_for(url) and not access.credentials_for(target):
                    # An authenticated fetch must not quietly become an anonymous one (a
                    # login page or a teaser would be split as if it were the article).
                    raise FetchError(
                        "refused: a redirect leaves the origin of the credentials", url
                    )
                url = target
                continue
            return response
        raise FetchError(f"more than {self.limits.max_redirects} redirects", url)

    def _target(self, url: str) -> tuple[str, str, int, str]:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https"):
            raise FetchError(f"scheme {scheme or 'missing'!r} is not allowed", url)
        host = parts.hostname
        if not host:
            raise FetchError("no host in URL", url)
        port = parts.port or (443 if scheme == "https" else 80)
        if self.proxy_resolves_names and self._proxy(scheme) is not None:
            # Opted out: the proxy resolves the name. Only an address literal can be checked.
            literal = _literal(host)
            if literal is not None and not self.allow_private and not is_public_address(literal):
                raise FetchError(f"refused: {host} is a non-public address", url)
            return scheme, host, port, host
        try:
            addresses = self.resolver(host, port)
        except (OSError, UnicodeError) as exc:
            raise FetchError(
                f"connection failed: cannot resolve {host}: {exc}", url, retryable=True
            ) from None
        if not addresses:
            raise FetchError(f"connection failed: {host} has no address", url, retryable=True)
        if not self.allow_private:
            blocked = [a for a in addresses if not is_public_address(a)]
            if blocked:
                raise FetchError(
                    f"refused: {host} resolves to a non-public address ({blocked[0]})", url
                )
        return scheme, host, port, addresses[0]

    def _proxy(self, scheme: str) -> Proxy | None:
        return self.access.proxy_for(scheme) if self.access is not None else None

    def _tls(self) -> dict[str, Any]:
        verify = self.access.verify if self.access is not None else True
        if verify is False:
            return {"cert_reqs": "CERT_NONE"}
        if isinstance(verify, str):
            return {"cert_reqs": "CERT_REQUIRED", "ca_certs": verify}
        return {}

    def _pool(self, scheme: str, host: str, port: int, address: str) -> urllib3.HTTPConnectionPool:
        key = (scheme, host, port, address)
        with self._pools_lock:
            pool = self._pools.get(key)
            if pool is None:
                timeout = urllib3.Timeout(
                    connect=self.limits.connect_timeout, read=self.limits.read_timeout
                )
                proxy = self._proxy(scheme)
                if proxy is not None:
                    pool = self._tunnel_pool(proxy, scheme, host, port, address, timeout)
                elif scheme == "https":
                    # Connect to the checked address, verify the certificate for the name.
                    pool = urllib3.HTTPSConnectionPool(
                        address, port, timeout=timeout, retries=False, maxsize=4,
                        server_hostname=host, assert_hostname=host, **self._tls(),
                    )  # fmt: skip
                else:
                    pool = urllib3.HTTPConnectionPool(
                        address, port, timeout=timeout, retries=False, maxsize=4
                    )
                self._pools[key] = pool
            return pool

    def _tunnel_pool(
        self,
        proxy: Proxy,
        scheme: str,
        host: str,
        port: int,
        address: str,
        timeout: urllib3.Timeout,
    ) -> urllib3.HTTPConnectionPool:
        """A pool whose connections go to the proxy and tunnel to ``address:port``."""
        tunnel_headers = {"Proxy-Authorization": proxy.authorization} if proxy.authorization else {}
        tunnel = (address, port, tunnel_headers)
        pool: urllib3.HTTPConnectionPool
        if scheme == "https":
            pool = urllib3.HTTPSConnectionPool(
                proxy.host, proxy.port, timeout=timeout, retries=False, maxsize=4,
                server_hostname=host, assert_hostname=host, tunnel=tunnel, **self._tls(),
            )  # fmt: skip
            pool.ConnectionCls = _TunnelHTTPSConnection
        else:
            pool = urllib3.HTTPConnectionPool(
                proxy.host, proxy.port, timeout=timeout, retries=False, maxsize=4, tunnel=tunnel
            )
            pool.ConnectionCls = _TunnelHTTPConnection
        return pool

    def _once(
        self, url: str, deadline: float, etag: str | None, last_modified: str | None
    ) -> Response:
        scheme, host, port, address = self._target(url)
        parts = urlsplit(url)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        default_port = 443 if scheme == "https" else 80
        headers = {
            "Host": host if port == default_port else f"{host}:{port}",
            "User-Agent": self.user_agent,
            "Accept-Encoding": "identity",
        }
        if self.access is not None:
            headers |= self.access.credentials_for(url)  # only on the credentials' origin
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise FetchError(f"timeout: total deadline of {self.limits.total_timeout:.0f}s", url)
        with self._limiter.slot(host):
            try:
                raw = self._pool(scheme, host, port, address).urlopen(
                    "GET", path, headers=headers, redirect=False, preload_content=False,
                    timeout=urllib3.Timeout(
                        connect=min(self.limits.connect_timeout, remaining),
                        read=min(self.limits.read_timeout, remaining),
                    ),
                )  # fmt: skip
            except urllib3.exceptions.ReadTimeoutError:
                raise FetchError("timeout reading the response", url, retryable=True) from None
            except (urllib3.exceptions.ConnectTimeoutError, TimeoutError):
                raise FetchError("connection timed out", url, retryable=True) from None
            except (Urllib3Error, OSError) as exc:
                text = str(exc)
                if self._proxy(scheme) is not None and "Tunnel connection failed" in text:
                    code = text.split("Tunnel connection failed:", 1)[1].strip()[:3]
                    status = f"HTTP {code}" if code.isdigit() else "no answer"
                    raise FetchError(
                        f"proxy refused the tunnel ({status})",
                        url,
                        retryable=not code.startswith("4"),
                    ) from None
                raise FetchError(
                    f"connection failed: {type(exc).__name__}", url, retryable=True
                ) from None
            try:
                body = self._read_body(raw, url, deadline)
            finally:
                raw.release_conn()
        headers_out = {k.lower(): v for k, v in raw.headers.items()}
        return Response(url, raw.status, headers_out, body)

    def _read_body(self, raw: Any, url: str, deadline: float) -> bytes:
        limit = self.limits.max_bytes
        declared = raw.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            raw.close()
            raise FetchError(f"too large: Content-Length {declared} over {limit} bytes", url)
        chunks: list[bytes] = []
        size = 0
        try:
            while True:
                if time.monotonic() > deadline:
                    raw.close()
                    raise FetchError(
                        f"timeout: total deadline of {self.limits.total_timeout:.0f}s", url
                    )
                chunk = raw.read(_CHUNK)
                if not chunk:
                    break
                size += len(chunk)
                if size > limit:
                    raw.close()
                    raise FetchError(f"too large: body over {limit} bytes", url)
                chunks.append(chunk)
        except urllib3.exceptions.ReadTimeoutError:
            raise FetchError("timeout reading the response", url, retryable=True) from None
        except urllib3.exceptions.ProtocolError as exc:
            raise FetchError(
                f"connection failed: body cut short ({exc.args[0]})", url, retryable=True
            ) from None
        return b"".join(chunks)


def _literal(host: str) -> str | None:
    try:
        return str(ipaddress.ip_address(host.strip("[]").split("%", 1)[0]))
    except ValueError:
        return None


def _retry_after_seconds(value: str) -> float:
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return 0.0
    return max(0.0, moment.timestamp() - time.time())
