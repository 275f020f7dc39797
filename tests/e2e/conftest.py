"""A real Airflow for end-to-end tests: a temp Airflow home, the project's DAGs, real S3."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from paywall.config import Settings, load_settings
from paywall.pipeline import Context
from paywall.s3 import make_client
from paywall.storage import S3Store, init_buckets
from paywall_dev import devstack
from paywall_dev.servers import S3Server, available_backends
from tests.conftest import BACKENDS_USED, REPO, SAMPLES, write_config

STARTUP_SECONDS = 420
DAYS = ("2026/11/17", "2026/11/18", "2026/11/19", "2026/11/20", "2026/11/21", "2026/11/22")


@pytest.fixture(scope="session")
def e2e_s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """One S3 server for the Airflow tests (the first available backend; SeaweedFS first)."""
    backends = available_backends()
    if not backends:
        pytest.skip("no S3 backend available")
    server = S3Server(backends[0], tmp_path_factory.mktemp("e2e-s3"))
    server.start()
    BACKENDS_USED.add(backends[0])
    yield server
    server.stop()


def make_corpus(root: Path) -> Path:
    """Articles on several days (path dates), plus the bundled samples on 2026-11-20."""
    shutil.copytree(SAMPLES, root, dirs_exist_ok=True)
    for day in DAYS:
        folder = root / day
        folder.mkdir(parents=True, exist_ok=True)
        for n in range(3):
            (folder / f"story-{n}.txt").write_text(
                f"{day} 第{n}篇\n公开导语{n}。\n##paidbegin##SENTINEL-PAID-{day}-{n} 付费正文。"
                f"##paidend##\n结尾{n}。\n",
                encoding="utf-8",
            )
    return root


@dataclass
class AirflowEnv:
    home: Path
    env: dict[str, str]
    settings: Settings
    ctx: Context
    dag_id: str

    def airflow(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(Path(sys.executable).parent / "airflow"), *args],
            env=self.env, capture_output=True, text=True, timeout=timeout,
        )  # fmt: skip


def build_airflow_env(tmp: Path, server: S3Server, **config: object) -> AirflowEnv:
    corpus = make_corpus(tmp / "articles")
    config_path = write_config(
        tmp / "pipeline.yaml",
        pipeline={"name": "e2e_articles", "retries": 2, "chunk_size": 4},
        sources=[{"name": "desk", "kind": "local", "path": str(corpus), "timestamp": "path"}],
        **config,
    )
    settings = load_settings(config_path)
    client = make_client(server.endpoint)
    init_buckets(client, settings.storage)
    home = tmp / "airflow"
    env = devstack.airflow_env(home, server, config=config_path)
    env["AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"] = "True"
    devstack.migrate(env, home)
    ctx = Context(settings, S3Store(client, settings.storage, server.endpoint), lambda _c: client)
    return AirflowEnv(home, env, settings, ctx, settings.pipeline.name)


@dataclass
class Standalone:
    airflow: AirflowEnv
    base: str
    api: devstack.ApiClient
    password: str


@pytest.fixture(scope="session")
def standalone(e2e_s3, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Standalone]:
    """`airflow standalone` (scheduler, dag-processor, api-server, triggerer) on free ports."""
    from paywall_dev.servers import free_port, stop_process_group

    tmp = tmp_path_factory.mktemp("standalone")
    env = build_airflow_env(tmp, e2e_s3)
    port = free_port()
    # The project's DAGs plus a test-only DAG with a fault switch, in one dags folder.
    dags = tmp / "dags"
    dags.mkdir()
    for dag_file in [
        *(REPO / "dags").glob("*.py"),
        Path(__file__).parent / "dags" / "chunk_fault_dag.py",
        Path(__file__).parent / "dags" / "missing_pool_dag.py",
    ]:
        shutil.copy(dag_file, dags / dag_file.name)
    env.env |= {
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "PAYWALL_FAULT_FLAG": str(tmp / "fail-chunk-1"),
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
    }
    log = (tmp / "standalone.log").open("ab")
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "airflow"), "standalone"],
        env=env.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=tmp,
    )  # fmt: skip
    try:
        # Generous: on a loaded 2-core machine the four components take minutes to start.
        password = devstack.admin_password(env.home, STARTUP_SECONDS)
        api = devstack.ApiClient(f"http://127.0.0.1:{port}", "admin", password)
        api.wait_healthy(STARTUP_SECONDS)
        api.wait_for_dag(env.dag_id, STARTUP_SECONDS)
        api.unpause(env.dag_id)  # a backfill on a paused DAG stays queued forever
        api.wait_for_dag("e2e_chunk_fault", STARTUP_SECONDS)
        api.unpause("e2e_chunk_fault")
        api.unpause("paywall_catalog")  # the consumer, scheduled on the pipeline's asset
        api.wait_for_dag("e2e_missing_pool", STARTUP_SECONDS)
        api.unpause("e2e_missing_pool")
        yield Standalone(env, f"http://127.0.0.1:{port}", api, password)
    finally:
        stop_process_group(proc.pid, grace=20)
        log.close()
