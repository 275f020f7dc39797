"""One real DAG run (``airflow dags test``) with everything an operations team turns on:
StatsD metrics to a UDP listener, OpenLineage events through the provider's file transport,
mail alerts to a real SMTP server, and an HTTP source behind a subscriber cookie taken from
an Airflow Connection. Paid text and secrets reach none of them."""

from __future__ import annotations

import json
import socket
import threading
import time
from pathlib import Path

import pytest

from paywall.config import load_settings
from paywall.s3 import make_client
from paywall.storage import init_buckets
from paywall_dev import devstack
from tests.conftest import write_config
from tests.e2e.conftest import make_corpus
from tests.fixtures import members
from tests.fixtures.members import MembersSite
from tests.fixtures.smtp import SmtpServer, text_of

pytestmark = pytest.mark.slow
PAID_SAMPLE = "突出创新务入脑入心之实"


class Udp:
    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.lines: list[str] = []
        self._stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self._stop:
            try:
                self.lines += self.sock.recv(65536).decode("utf-8", "replace").splitlines()
            except TimeoutError:
                continue
            except OSError:
                return

    def close(self) -> None:
        self._stop = True
        self.thread.join(timeout=2)
        self.sock.close()


def test_one_run_with_metrics_lineage_alerts_and_an_authenticated_source(
    e2e_s3, tmp_path: Path
) -> None:
    udp = Udp()
    lineage_file = tmp_path / "openlineage.jsonl"
    with SmtpServer() as smtp, MembersSite() as site:
        corpus = make_corpus(tmp_path / "articles")
        config = write_config(
            tmp_path / "pipeline.yaml",
            pipeline={"name": "ops_articles", "retries": 0, "chunk_size": 4,
                      "pool": "paywall_e2e_chunks", "pool_slots": 3},
            sources=[
                {"name": "desk", "kind": "local", "path": str(corpus), "timestamp": "path"},
                {"name": "members", "kind": "http", "index_url": f"{site.base}/sitemap.xml.gz",
                 "allow_private_addresses": True, "http_conn_id": "members"},
            ],
            alerts={"smtp_conn_id": "paywall_smtp", "to": ["ops@example.test"],
                    "max_quarantined_ratio": 0.05, "not_committed_after_hours": 6},
            # A receiver that is down: notify fails, after the commit, and alerts by mail.
            webhook={"url": "http://127.0.0.1:9/hook", "retries": 0, "timeout_seconds": 2},
        )  # fmt: skip
        settings = load_settings(config)
        init_buckets(make_client(e2e_s3.endpoint), settings.storage)
        home = tmp_path / "airflow"
        env = devstack.airflow_env(home, e2e_s3, config=config)
        env |= {
            "AIRFLOW__METRICS__STATSD_ON": "True",
            "AIRFLOW__METRICS__STATSD_HOST": "127.0.0.1",
            "AIRFLOW__METRICS__STATSD_PORT": str(udp.port),
            "AIRFLOW__METRICS__STATSD_PREFIX": "airflow",
            "AIRFLOW__OPENLINEAGE__NAMESPACE": "paywall-e2e",
            "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(
                {"type": "file", "log_file_path": str(lineage_file), "append": True}
            ),
            "AIRFLOW_CONN_PAYWALL_SMTP": smtp.connection(),
            "AIRFLOW_CONN_MEMBERS": json.dumps(
                {"conn_type": "http", "extra": {"Cookie": members.COOKIE}}
            ),
        }
        devstack.migrate(env, home)
        assert devstack.ensure_pool(env) == "paywall_e2e_chunks"  # as make run/up do
        pools = devstack.airflow(env, "pools", "get", "paywall_e2e_chunks", capture_output=True)
        assert "paywall_e2e_chunks" in pools.stdout and "3" in pools.stdout
        result = devstack.airflow(
            env, "dags", "test", "ops_articles", "2026-11-21T00:00:00+00:00",
            check=False, capture_output=True, timeout=900,
        )  # fmt: skip
        output = result.stdout + result.stderr
        (tmp_path / "dags-test.log").write_text(output)
        time.sleep(1.0)  # the last UDP datagrams
        udp.close()
        mails = [text_of(m) for m in smtp.messages]
        raw_mails = b"".join(m.as_bytes() for m in smtp.messages)

    # The run committed; only notify failed (the receiver is down), so the run failed.
    assert "state=failed" in output, output[-3000:]
    task_states = {
        line.split("task_id=")[1].split()[0]: line
        for line in output.splitlines()
        if "[DAG TEST] end task task_id=" in line
    }
    assert {"plan", "process", "publish", "verify", "thresholds"} <= set(task_states)

    # -- the authenticated source: the cookie came from the Connection, never the YAML
    page_hits = [h for p, h in site.requests if p == "/members/a.html"]
    assert page_hits and members.COOKIE in page_hits[-1].get("Cookie", "")
    assert members.COOKIE not in config.read_text()

    # -- metrics, through Airflow's StatsD client
    lines = udp.lines
    base = "airflow.paywall.ops_articles"
    assert f"{base}.desk.published:6|c" in lines, lines
    assert f"{base}.desk.quarantined.broken_marker:1|c" in lines
    assert f"{base}.members.published:1|c" in lines
    assert any(x.startswith(f"{base}.run_duration:") for x in lines)
    assert any(x.startswith(f"{base}.desk.bytes_written:") for x in lines)

    # -- lineage, through the OpenLineage provider's file transport
    events = [json.loads(x) for x in lineage_file.read_text().splitlines() if x.strip()]
    by_job = {}
    for event in events:
        by_job.setdefault(event["job"]["name"], []).append(event)
    plan = next(e for e in by_job["ops_articles.plan"] if e["eventType"] == "COMPLETE")
    assert {(d["namespace"], d["name"]) for d in plan["inputs"]} >= {
        (f"file://{socket.gethostname()}", str(corpus)),
        (site.base, "/sitemap.xml.gz"),
    }
    publish = next(e for e in by_job["ops_articles.publish"] if e["eventType"] == "COMPLETE")
    outputs = {(d["namespace"], d["name"]) for d in publish["outputs"]}
    public = f"s3://{settings.storage.public_bucket}"
    manifest = "runs/ops_articles/20261120T000000Z_20261121T000000Z/manifest.jsonl"
    assert (public, manifest) in outputs
    process = [e for e in by_job["ops_articles.process"] if e["eventType"] == "COMPLETE"]
    process_outputs = {(d["namespace"], d["name"]) for e in process for d in e["outputs"]}
    assert (public, "free/desk/") in process_outputs
    assert (f"s3://{settings.storage.private_bucket}", "paid/members/") in process_outputs
    states = {e["eventType"] for e in events if e["job"]["name"] == "ops_articles.notify"}
    assert "FAIL" in states  # the run state of a failed task is reported too

    # -- alerts, by mail
    assert any("thresholds" not in m and "task notify failed" in m for m in mails), mails
    notify_mail = next(m for m in mails if "task notify failed" in m)
    assert "WebhookError [webhook]" in notify_mail and "2026-11-20T00:00:00+00:00" in notify_mail
    assert any("quarantined (" in m and "desk:" in m for m in mails)  # the threshold alert

    # -- nothing paid, nothing secret, anywhere
    everything = {
        "statsd": "\n".join(lines).encode(),
        "lineage": lineage_file.read_bytes(),
        "mail": raw_mails,
        "task logs": output.encode(),
        "database": (home / "airflow.db").read_bytes(),
    }
    for place, data in everything.items():
        assert b"SENTINEL-PAID" not in data, place
        assert PAID_SAMPLE.encode() not in data, place
        assert members.PAID_SENTINEL.encode() not in data, place
        assert members.COOKIE.encode() not in data, place
