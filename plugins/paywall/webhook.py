"""Optional webhook sink: POST a committed run's manifest records to a CMS or search index.

Batches of ``webhook.batch_size`` records, a timeout per request, retries with backoff on
connection errors, 5xx and 429, and an ``Idempotency-Key`` per batch derived from the manifest
hash, so a receiver can drop the duplicates a rerun sends. It runs after the commit, as its own
task (``notify`` in the DAG), so a receiver that is down never blocks the commit, the asset
event or verify; a batch that still fails raises WebhookError, the task fails visibly and its
retry resends everything. Records are public manifest lines: never paid text, never digests
of private objects.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import urllib3

from paywall.config import WebhookSettings
from paywall.connections import get_connection
from paywall.errors import ConfigError, PipelineError, WebhookError
from paywall.http_auth import HttpAccess, access_from_connection
from paywall.layout import Layout
from paywall.metadata import sha256_hex
from paywall.reader import read_committed
from paywall.store import Store

__all__ = ["RETRY_STATUSES", "WebhookError", "notify_run", "send_records", "webhook_target"]

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


def notify_run(
    store: Store,
    layout: Layout,
    settings: WebhookSettings,
    manifest_key: str,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Send a committed run's public records to the webhook (nothing when none is set)."""
    if not settings.url and not settings.http_conn_id:
        return {"batches": 0, "records": 0}
    run = read_committed(store, layout, manifest_key)
    if run is None:
        raise PipelineError(f"{manifest_key} is not committed: nothing to send")
    return send_records(
        settings,
        [r.public_json() for r in run.records],
        manifest_key=manifest_key,
        manifest_sha256=run.manifest_sha256,
        sleep=sleep,
    )


def webhook_target(settings: WebhookSettings) -> tuple[str, HttpAccess | None]:
    """The URL to POST to and the Connection's access (credentials, proxy), if any.

    With ``http_conn_id``, a relative ``url`` is joined to the Connection's host (as
    ``HttpHook`` joins an endpoint to its base URL) and the credentials go to that origin only.
    """
    url = settings.url or ""
    if not settings.http_conn_id:
        return url, None
    access = access_from_connection(get_connection(settings.http_conn_id))
    if "://" not in url:
        if access.origin is None:
            raise ConfigError(
                f"webhook.url {url!r} is relative but connection {settings.http_conn_id!r} "
                "has no host"
            )
        scheme, host, port = access.origin
        url = f"{scheme}://{host}:{port}/{url.lstrip('/')}"
    return url, access.bound_to(url)


def _pool(settings: WebhookSettings, url: str, access: HttpAccess | None) -> urllib3.PoolManager:
    timeout = urllib3.Timeout(total=settings.timeout_seconds)
    tls: dict[str, Any] = {}
    if access is not None and access.verify is False:
        tls = {"cert_reqs": "CERT_NONE"}
    elif access is not None and isinstance(access.verify, str):
        tls = {"cert_reqs": "CERT_REQUIRED", "ca_certs": access.verify}
    proxy = access.proxy_for(url.split("://", 1)[0].lower()) if access is not None else None
    if proxy is not None:
        headers = {"Proxy-Authorization": proxy.authorization} if proxy.authorization else None
        return urllib3.ProxyManager(
            proxy.describe(), proxy_headers=headers, timeout=timeout, retries=False, **tls
        )
    return urllib3.PoolManager(timeout=timeout, retries=False, **tls)


def send_records(
    settings: WebhookSettings,
    records: list[dict[str, Any]],
    *,
    manifest_key: str,
    manifest_sha256: str,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """POST the records in batches; return counts, or raise WebhookError naming the batch."""
    if not settings.url and not settings.http_conn_id:
        return {"batches": 0, "records": 0}
    url, access = webhook_target(settings)
    credentials = access.credentials_for(url) if access is not None else {}
    http = _pool(settings, url, access)
    size = settings.batch_size
    batches = [records[i : i + size] for i in range(0, len(records), size)] or [[]]
    for number, batch in enumerate(batches, start=1):
        body = json.dumps(
            {
                "manifest_key": manifest_key,
                "manifest_sha256": manifest_sha256,
                "batch": number,
                "batches": len(batches),
                "records": batch,
            },
            ensure_ascii=False,
        ).encode()
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Idempotency-Key": sha256_hex(f"{manifest_sha256}:{number}:{len(batches)}")[:32],
            **credentials,
        }
        problem = ""
        for attempt in range(settings.retries + 1):
            try:
                # No redirects: a 3xx is an answer, and credentials never follow one.
                response = http.request("POST", url, body=body, headers=headers, redirect=False)
            except urllib3.exceptions.HTTPError as exc:
                problem = f"{type(exc).__name__}"
            else:
                if 200 <= response.status < 300:
                    problem = ""
                    break
                problem = f"HTTP {response.status}"
                if response.status not in RETRY_STATUSES:
                    break
            if attempt < settings.retries:
                sleep(min(0.5 * 2**attempt, 10.0))
        if problem:
            raise WebhookError(
                f"webhook {url} failed for batch {number}/{len(batches)} of "
                f"{manifest_key} after {attempt + 1} attempt(s): {problem}; the manifest is "
                "committed, a retry of the notify task resends every batch",
                batch=number,
                batches=len(batches),
                problem=problem,
            )
    return {"batches": len(batches), "records": len(records)}
