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
from paywall.errors import PipelineError, WebhookError
from paywall.layout import Layout
from paywall.metadata import sha256_hex
from paywall.reader import read_committed
from paywall.store import Store

__all__ = ["RETRY_STATUSES", "WebhookError", "notify_run", "send_records"]

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
    if not settings.url:
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


def send_records(
    settings: WebhookSettings,
    records: list[dict[str, Any]],
    *,
    manifest_key: str,
    manifest_sha256: str,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """POST the records in batches; return counts, or raise WebhookError naming the batch."""
    if not settings.url:
        return {"batches": 0, "records": 0}
    http = urllib3.PoolManager(
        timeout=urllib3.Timeout(total=settings.timeout_seconds), retries=False
    )
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
        }
        problem = ""
        for attempt in range(settings.retries + 1):
            try:
                response = http.request("POST", settings.url, body=body, headers=headers)
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
                f"webhook {settings.url} failed for batch {number}/{len(batches)} of "
                f"{manifest_key} after {attempt + 1} attempt(s): {problem}; the manifest is "
                "committed, a retry of the notify task resends every batch",
                batch=number,
                batches=len(batches),
                problem=problem,
            )
    return {"batches": len(batches), "records": len(records)}
