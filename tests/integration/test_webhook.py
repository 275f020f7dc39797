"""The webhook sink against a real HTTP receiver on 127.0.0.1."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from paywall.errors import ErrorCode, WebhookError
from paywall.model import Interval
from paywall.pipeline import Context, run_interval
from paywall.reader import read_committed
from paywall.webhook import notify_run

pytestmark = pytest.mark.s3
DAY = Interval(datetime(2026, 11, 20, tzinfo=UTC), datetime(2026, 11, 21, tzinfo=UTC))


class Receiver(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, fail_first: int = 0, always: int | None = None) -> None:
        self.bodies: list[dict] = []
        self.keys: list[str] = []
        self.fail_first, self.always, self.calls = fail_first, always, 0

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(inner) -> None:
                length = int(inner.headers["Content-Length"])
                body = json.loads(inner.rfile.read(length))
                self.calls += 1
                status = 200
                if self.always is not None or self.calls <= self.fail_first:
                    status = self.always or 503
                else:
                    self.bodies.append(body)
                    self.keys.append(inner.headers["Idempotency-Key"])
                inner.send_response(status)
                inner.send_header("Content-Length", "0")
                inner.end_headers()

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hook"


def notify(ctx: Context) -> dict[str, object]:
    return notify_run(ctx.store, ctx.layout, ctx.settings.webhook, ctx.layout.manifest(DAY.slug))


def test_records_are_posted_in_batches_with_idempotency_keys(make_ctx) -> None:
    receiver = Receiver(fail_first=1)
    ctx = make_ctx(webhook={"url": receiver.url, "batch_size": 3, "retries": 2})
    run_interval(ctx, DAY)
    assert receiver.calls == 0  # publishing does not call the webhook: the notify task does
    assert notify(ctx) == {"batches": 2, "records": 4}
    assert [b["batch"] for b in receiver.bodies] == [1, 2]
    records = [r for b in receiver.bodies for r in b["records"]]
    assert {r["outcome"] for r in records} == {"published", "quarantined"}
    assert {r["status"] for r in records} == {"ok", "broken_marker"}
    body = json.dumps(receiver.bodies, ensure_ascii=False)
    assert "突出创新务入脑入心之实" not in body
    assert "paid/" not in body and "input_sha256" not in body  # public lines only
    # A rerun resends the same batches with the same keys: receivers can drop duplicates.
    first_keys = list(receiver.keys)
    run_interval(ctx, DAY)
    notify(ctx)
    assert receiver.keys[2:] == first_keys
    receiver.shutdown()


def test_a_failing_webhook_fails_only_the_notify_step(make_ctx) -> None:
    receiver = Receiver(always=500)
    ctx = make_ctx(webhook={"url": receiver.url, "retries": 1, "timeout_seconds": 2})
    summary = run_interval(ctx, DAY)  # the commit does not depend on the receiver
    assert summary.committed
    assert read_committed(ctx.store, ctx.layout, ctx.layout.manifest(DAY.slug)) is not None
    with pytest.raises(
        WebhookError, match=r"failed for batch 1/1 .* after 2 attempt\(s\): HTTP 500"
    ) as error:
        notify(ctx)
    assert error.value.code is ErrorCode.WEBHOOK and error.value.details["problem"] == "HTTP 500"
    # Nothing lost: a retry of the notify step sends everything once the receiver is back.
    receiver.always = None
    assert notify(ctx)["records"] == 4
    receiver.shutdown()
