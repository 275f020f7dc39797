"""Scale-out: the unchanged pipeline on PostgreSQL + Redis + CeleryExecutor with two workers.

The workers share nothing on local disk (each starts in its own empty directory; the source is
an S3 inbox; task logs go to S3). Asserted: both workers process chunks, the outputs equal a
LocalExecutor run over the same corpus, and a worker killed mid-run costs a retry, not the run.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from paywall.config import Settings, load_settings
from paywall.s3 import make_client
from paywall.storage import S3Store, init_buckets
from paywall_dev import devstack
from paywall_dev.cluster import Cluster, Ports
from paywall_dev.servers import S3Server, free_port, stop_process_group
from tests.conftest import write_config

pytestmark = pytest.mark.slow

# Two daily intervals: the first run has both workers, the second loses one mid-run.
DAYS = {"2026/11/20": "2026-11-21T00:00:00+00:00", "2026/11/21": "2026-11-22T00:00:00+00:00"}
ARTICLES = 36
CHUNK = 6  # 7 chunks per interval (36 articles + 3 quarantine cases) for 4 task slots
CHUNKS = -(-(ARTICLES + 3) // CHUNK)


def _have_servers() -> bool:
    pg = shutil.which("pg_ctl") or any(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    return bool(pg and shutil.which("redis-server"))


def _article(day: str, n: int) -> bytes:
    return (
        f"{day} 电讯第{n}号\n公开导语：第{n}篇的免费部分。\n##paidbegin##SENTINEL-CELERY-{n:03d} "
        f"付费分析第{n}段。##paidend##\n免费结尾{n}。\n"
    ).encode()


def _upload_corpus(server: S3Server, bucket: str) -> None:
    client = make_client(server.endpoint)
    client.create_bucket(Bucket=bucket)
    for day in DAYS:
        for n in range(ARTICLES):
            client.put_object(Bucket=bucket, Key=f"{day}/wire-{n:03d}.txt", Body=_article(day, n))
    bad = {
        "broken.txt": "导语\n##paidbegin SENTINEL-CELERY-BROKEN 正文##paidend##\n",
        "nested.txt": "导语##paidbegin##A##paidbegin##SENTINEL-CELERY-NESTED##paidend##",
        "page.html": "<html><head><title>页</title></head><body><p>免费</p>"
        "<p>##paidbegin##<b>SENTINEL-CELERY-HTML</b>##paidend##</p><p>尾</p></body></html>",
    }
    for day in DAYS:
        for name, text in bad.items():
            client.put_object(Bucket=bucket, Key=f"{day}/{name}", Body=text.encode())


def _config(path: Path, inbox: str, **storage: str) -> Path:
    return write_config(
        path,
        pipeline={
            "name": "celery_articles",
            "chunk_size": CHUNK,
            "retries": 3,
            "retry_delay_seconds": 2,
            "process_parallelism": 8,
            "pool": "paywall_storage",
        },
        sources=[{"name": "wire", "kind": "s3", "bucket": inbox, "timestamp": "key"}],
        **({"storage": storage} if storage else {}),
    )


@dataclass
class Deployment:
    cluster: Cluster
    api: devstack.ApiClient
    settings: Settings
    store: S3Store
    server: S3Server
    inbox: str
    tmp: Path


@pytest.fixture(scope="module")
def deployment(e2e_s3: S3Server) -> Iterator[Deployment]:
    if not _have_servers():
        pytest.skip("PostgreSQL or Redis not installed (scripts/install-cluster-deps.sh)")
    # Not pytest's tmp_path: PostgreSQL runs as the postgres user, which must reach its folder.
    tmp = Path(tempfile.mkdtemp(prefix="paywall-celery-"))
    tmp.chmod(0o755)
    inbox = f"inbox-{tmp.name[-8:].lower().replace('_', '-')}"
    _upload_corpus(e2e_s3, inbox)
    config = _config(tmp / "pipeline.yaml", inbox)
    settings = load_settings(config)
    client = make_client(e2e_s3.endpoint)
    init_buckets(client, settings.storage)
    cluster = Cluster(
        tmp / "cluster", e2e_s3, settings, config, ports=Ports.free(), workers=2,
        concurrency=2, pool_slots=4,
        extra_env={
            # Detect a killed worker's task in seconds (defaults: minutes).
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "15",
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "3",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
        },
    )  # fmt: skip
    try:
        try:
            api = cluster.start()
        except Exception as exc:  # the folder is removed below: keep what the logs said
            logs = sorted((tmp / "cluster").rglob("*.log"))
            tails = "\n".join(f"== {p.name}\n{p.read_text(errors='replace')[-1500:]}" for p in logs)
            raise AssertionError(f"the deployment did not start: {exc}\n{tails}") from exc
        api.unpause(settings.pipeline.name)
        yield Deployment(
            cluster,
            api,
            settings,
            S3Store(client, settings.storage, e2e_s3.endpoint),
            e2e_s3,
            inbox,
            tmp,
        )
    finally:
        cluster.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def _run(d: Deployment, logical: str, on_poll=None) -> list[dict]:
    """Trigger a run for the interval ending at ``logical``; wait; return its task instances."""
    dag_id = d.settings.pipeline.name
    run_id = d.api.trigger(dag_id, {"logical_date": logical.replace("+00:00", "Z")})
    run, tis = d.api.wait_run(dag_id, run_id, timeout=480, on_poll=on_poll)
    summary = sorted((t["task_id"], t["map_index"], t["state"], t["hostname"]) for t in tis)
    assert run["state"] == "success", (run["state"], summary)
    return tis


def _outputs(store: S3Store, settings: Settings) -> dict[str, bytes]:
    """What consumers see, with bucket names neutralised so two deployments compare equal."""
    pub, priv = settings.storage.public_bucket, settings.storage.private_bucket
    out = {}
    for bucket, prefixes in ((pub, ("free/", "meta/", "runs/")), (priv, ("paid/", "quarantine/"))):
        for item in store.list(bucket, ""):
            key = item.key
            if not key.startswith(prefixes) or key.endswith("/_COMMITTED"):
                continue  # the commit marker carries its commit time
            body = store.get(bucket, key) or b""
            label = "public" if bucket == pub else "private"
            out[f"{label}/{key}"] = body.replace(pub.encode(), b"PUB").replace(
                priv.encode(), b"PRIV"
            )
    return out


@pytest.fixture(scope="module")
def local_reference(deployment: Deployment) -> dict[str, bytes]:
    """The same DAG and corpus under LocalExecutor (SQLite), into buckets of its own.

    ``airflow dags test --use-executor`` schedules the run itself and hands tasks to a real
    LocalExecutor, whose task processes talk to an api-server's execution API.
    """
    tmp = deployment.tmp / "local"
    tmp.mkdir()
    config = _config(tmp / "pipeline.yaml", deployment.inbox)
    settings = load_settings(config)
    client = make_client(deployment.server.endpoint)
    init_buckets(client, settings.storage)
    home = tmp / "airflow"
    env = devstack.airflow_env(home, deployment.server, config=config)
    devstack.migrate(env, home)
    port = free_port()
    env |= {
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
    }
    airflow = str(Path(sys.executable).parent / "airflow")
    with (tmp / "api-server.log").open("ab") as log:
        api_server = subprocess.Popen(
            [airflow, "api-server", "--port", str(port)],
            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        _wait_http(f"http://127.0.0.1:{port}/api/v2/monitor/health", 120)
        for logical in DAYS.values():
            result = subprocess.run(
                [airflow, "dags", "test", "--use-executor", settings.pipeline.name, logical],
                env=env, capture_output=True, text=True, timeout=600,
            )  # fmt: skip
            output = result.stdout + result.stderr
            assert result.returncode == 0, output[-3000:]
            assert "executor=LocalExecutor" in output and "state=success" in output
    finally:
        stop_process_group(api_server.pid, grace=10)
    return _outputs(S3Store(client, settings.storage, deployment.server.endpoint), settings)


def _wait_http(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(1)
    raise TimeoutError(f"{url} did not answer in {timeout:.0f}s")


def _of_day(outputs: dict[str, bytes], day: str) -> dict[str, bytes]:
    """The objects of one interval: its articles (dated paths) and its run manifest."""
    slug_start = day.replace("/", "") + "T000000Z_"
    return {k: v for k, v in outputs.items() if f"/{day}/" in k or f"/{slug_start}" in k}


def _process_hosts(tis: list[dict]) -> dict[int, str]:
    return {t["map_index"]: t["hostname"] for t in tis if t["task_id"] == "process"}


def test_both_workers_share_the_chunks_and_match_a_local_executor_run(
    deployment: Deployment, local_reference: dict[str, bytes]
) -> None:
    d = deployment
    first_day, logical = next(iter(DAYS.items()))
    tis = _run(d, logical)
    hosts = _process_hosts(tis)
    assert len(hosts) == CHUNKS, hosts
    assert set(hosts.values()) == {"worker-1", "worker-2"}, hosts
    assert {t["pool"] for t in tis if t["task_id"] == "process"} == {"paywall_storage"}

    outputs = _of_day(_outputs(d.store, d.settings), first_day)
    reference = _of_day(local_reference, first_day)
    slug = "20261120T000000Z_20261121T000000Z"
    assert f"public/runs/celery_articles/{slug}/manifest.jsonl" in outputs
    free = {k for k in outputs if k.startswith("public/free/")}
    assert len(free) == ARTICLES + 2  # + page.html's free .html and .txt
    quarantined = {k.split("/")[-2] for k in outputs if k.startswith("private/quarantine/")}
    assert quarantined == {"broken.txt~", "nested.txt~"}
    assert outputs == reference

    # Task logs were written by the workers to S3 and read back through the API server;
    # none of them carries paid text.
    priv = d.settings.storage.private_bucket
    logs = [i.key for i in d.store.list(priv, "airflow-logs/")]
    assert any("task_id=process" in key for key in logs), logs[:5]
    for key in logs:
        assert b"SENTINEL-CELERY" not in (d.store.get(priv, key) or b""), key
    run_id = next(t["dag_run_id"] for t in tis)
    log = d.api.get(
        f"/api/v2/dags/celery_articles/dagRuns/{urllib.parse.quote(run_id)}/taskInstances"
        "/process/logs/1?map_index=0&full_content=true"
    )
    events = [str(e.get("event", "")) for e in log["content"]]
    assert any("s3://" in e and "airflow-logs" in e for e in events), events[:3]
    assert any("chunk" in e for e in events), events[-10:]


def test_a_worker_killed_mid_run_costs_a_retry_not_the_run(
    deployment: Deployment, local_reference: dict[str, bytes]
) -> None:
    d = deployment
    day, logical = list(DAYS.items())[1]
    killed: list[str] = []

    def kill_worker_1_once_it_runs_a_chunk(tis: list[dict]) -> None:
        if killed:
            return
        running = [
            t for t in tis
            if t["task_id"] == "process" and t["state"] == "running"
            and t["hostname"] == "worker-1"
        ]  # fmt: skip
        if running:
            d.cluster.kill_worker("worker-1")
            killed.append(str(running[0]["map_index"]))

    try:
        tis = _run(d, logical, on_poll=kill_worker_1_once_it_runs_a_chunk)
    finally:
        d.cluster.start_worker("worker-1")
    assert killed, "worker-1 never ran a chunk before the run ended"
    process = [t for t in tis if t["task_id"] == "process"]
    assert all(t["state"] == "success" for t in process)
    lost = next(t for t in process if str(t["map_index"]) == killed[0])
    # The chunk worker-1 was running when it died was retried, and ran on worker-2.
    assert lost["try_number"] > 1 and lost["hostname"] == "worker-2", [
        (t["map_index"], t["try_number"], t["hostname"]) for t in process
    ]

    outputs = _of_day(_outputs(d.store, d.settings), day)
    assert outputs and outputs == _of_day(local_reference, day)
