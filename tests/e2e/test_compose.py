"""The Dockerfile built and docker-compose.yaml brought up for real, under podman.

Stand-in base images (docker/, built once and cached by a hash of their inputs) replace the
official ones no registry here can serve; the product image is the project's Dockerfile,
unchanged, built FROM the Airflow stand-in. Each stack: build, ``compose up``, healthy, the
pipeline DAG over the bundled samples through the REST API, the outputs in MinIO (anonymous
read of free allowed, of paid refused), the task logs, then ``compose down -v`` and proof that
nothing of it is left. Once with LocalExecutor, once with the ``celery`` profile (both workers
must run chunks). Skipped, with the reason, where podman cannot run containers.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from botocore.config import Config

from tests.conftest import REPO, USER_SAMPLE
from tests.e2e.compose_support import ApiClient, anonymous_get, load_podman_stack, stack_variables

pytestmark = [pytest.mark.slow, pytest.mark.timeout(3000)]

stack_mod = load_podman_stack()
DAG_ID = "paywall_articles"
DAY = "2026-11-20"
POOL = "paywall_e2e"
ARTIFACTS = REPO / "test-artifacts"
TIMINGS: dict[str, float] = {}


def paid_sentinels() -> list[str]:
    """Three slices of the user's sample's paid region: in the paid half, nowhere public."""
    text = USER_SAMPLE.read_text(encoding="utf-8")
    paid = text.split("##paidbegin##", 1)[1].split("##paidend##", 1)[0]
    slices = [paid[int(len(paid) * f) :][:16].strip() for f in (0.25, 0.5, 0.75)]
    assert all(len(s) >= 10 for s in slices)
    return slices


def record(name: str, seconds: float) -> None:
    TIMINGS[name] = round(seconds, 1)
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "compose-timings.json").write_text(json.dumps(TIMINGS, indent=2))


@pytest.fixture(scope="module")
def standins() -> dict[str, str]:
    problem = stack_mod.podman_problem()
    if problem:
        pytest.skip(f"podman cannot run containers here: {problem}")
    if not stack_mod.MINIO_BINARY.is_file():
        pytest.skip("no MinIO binary for the MinIO stand-in: scripts/build-minio.sh needs Go")
    started = time.monotonic()
    problem = stack_mod.container_problem(stack_mod.build_debian())
    if problem:
        pytest.skip(problem)
    images = stack_mod.build_standins()
    record("stand-in images (built or reused)", time.monotonic() - started)
    return dict(images)


def free_port() -> int:
    return int(stack_mod.host_free_port())


def e2e_config(folder: Path) -> Path:
    """The shipped config with one article per chunk and a pool, so init and chunks show."""
    data = yaml.safe_load((REPO / "config" / "pipeline.yaml").read_text())
    data["pipeline"] |= {"chunk_size": 1, "pool": POOL, "retries": 1}
    data["sources"][0]["path"] = "../samples/articles"  # relative to /opt/airflow/e2e/
    path = folder / "pipeline.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    path.chmod(0o644)
    return path


class Deployment:
    def __init__(self, stack: Any, variables: dict[str, str]) -> None:
        self.stack = stack
        self.variables = variables
        self.api = ApiClient(
            f"http://127.0.0.1:{variables['AIRFLOW_API_PORT']}",
            "admin",
            variables["AIRFLOW_ADMIN_PASSWORD"],
        )
        self.minio_url = f"http://127.0.0.1:{variables['MINIO_PORT']}"
        self.s3 = boto3.client(
            "s3",
            endpoint_url=self.minio_url,
            aws_access_key_id=variables["MINIO_ROOT_USER"],
            aws_secret_access_key=variables["MINIO_ROOT_PASSWORD"],
            region_name="us-east-1",
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 3}),
        )

    def keys(self, bucket: str, prefix: str) -> list[str]:
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        return [obj["Key"] for page in pages for obj in page.get("Contents", [])]

    def secrets(self) -> list[str]:
        return [v for k, v in self.variables.items() if "PASSWORD" in k or "SECRET" in k]


@pytest.fixture
def deploy(standins: dict[str, str], tmp_path: Path) -> Iterator[Any]:
    """Returns a function starting one stack; every stack started is taken down after."""
    started: list[Any] = []

    def start(celery: bool) -> Deployment:
        variables = stack_variables(standins, free_port, celery)
        variables["PAYWALL_E2E_CONFIG"] = str(e2e_config(tmp_path))
        project = f"paywall-e2e-{'celery' if celery else 'local'}-{tmp_path.name[-6:]}"
        project = "".join(c if c.isalnum() or c in "-_" else "-" for c in project).lower()
        stack = stack_mod.ComposeStack(
            project,
            variables,
            tmp_path / "compose.env",
            compose_files=(stack_mod.COMPOSE_FILE, Path(__file__).parent / "compose.e2e.yaml"),
            profiles=("celery",) if celery else (),
        )
        started.append(stack)
        label = "celery" if celery else "local"
        record(f"{label}: product image build", stack.build())
        t0 = time.monotonic()
        stack.up()
        record(f"{label}: compose up -d", time.monotonic() - t0)
        t0 = time.monotonic()
        stack.wait_healthy(timeout=900)
        record(f"{label}: until every service is healthy", time.monotonic() - t0)
        return Deployment(stack, variables)

    yield start
    for stack in started:
        stack.down()


def take_down_and_prove_gone(deployment: Deployment) -> None:
    stack = deployment.stack
    t0 = time.monotonic()
    stack.down()
    record(f"{stack.project.split('-')[2]}: compose down -v", time.monotonic() - t0)
    left = stack.leftovers()
    assert left.empty(), f"left running or stored after compose down -v: {left}"
    for port in (deployment.variables["AIRFLOW_API_PORT"], deployment.variables["MINIO_PORT"]):
        status, _ = (0, b"")
        try:
            status, _ = anonymous_get(f"http://127.0.0.1:{port}/")
        except OSError:
            status = -1
        assert status == -1, f"something still answers on 127.0.0.1:{port} after down"


def run_pipeline(deployment: Deployment) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    api = deployment.api
    api.wait_for_dag(DAG_ID, timeout=300)
    api.unpause(DAG_ID)  # a backfill on a paused DAG stays queued forever
    t0 = time.monotonic()
    api.backfill(DAG_ID, DAY)
    run = api.wait_for_run(DAG_ID, timeout=900)
    record(f"{deployment.stack.project.split('-')[2]}: pipeline run", time.monotonic() - t0)
    tis = api.task_instances(DAG_ID, run["dag_run_id"])
    assert run["state"] == "success", json.dumps(
        [(t["task_id"], t["map_index"], t["state"]) for t in tis]
    )
    return run, tis


def check_outputs(deployment: Deployment) -> None:
    """Committed outputs in MinIO: free readable anonymously, paid and quarantine refused."""
    sentinels = paid_sentinels()
    committed = [k for k in deployment.keys("paywall-public", "runs/") if k.endswith("_COMMITTED")]
    assert committed, "no run was committed"
    free = [k for k in deployment.keys("paywall-public", "free/") if "000_ef8617fb664c5123" in k]
    paid = [k for k in deployment.keys("paywall-private", "paid/") if "000_ef8617fb664c5123" in k]
    assert free and paid, (free, paid)
    quarantined = deployment.keys("paywall-private", "quarantine/")
    assert quarantined, "the broken-marker sample must be quarantined"

    preview = USER_SAMPLE.read_text(encoding="utf-8").split("##paidbegin##", 1)[0]
    for key in free:
        status, body = anonymous_get(f"{deployment.minio_url}/paywall-public/{key}")
        assert status == 200, (key, status)
        text = body.decode("utf-8")
        if key.endswith(".txt"):
            assert preview.strip() in text
        assert not any(s in text for s in sentinels), f"paid text in the public object {key}"
    for key in paid:
        status, _ = anonymous_get(f"{deployment.minio_url}/paywall-private/{key}")
        assert status == 403, (key, status)
        body = deployment.s3.get_object(Bucket="paywall-private", Key=key)["Body"].read()
        assert all(s in body.decode("utf-8") for s in sentinels)  # the sentinels are real
    for key in quarantined[:3]:
        assert anonymous_get(f"{deployment.minio_url}/paywall-private/{key}")[0] == 403
    assert anonymous_get(f"{deployment.minio_url}/paywall-private/")[0] == 403  # no listing


def check_task_logs(deployment: Deployment, run: dict[str, Any], tis: list[dict[str, Any]]) -> None:
    """Every task's log is readable through the API (from S3), and holds no paid text and no
    secret; the logs are in the private bucket, never the public one."""
    sentinels = paid_sentinels()
    for ti in tis:
        text = deployment.api.task_log(DAG_ID, run["dag_run_id"], ti)
        where = f"{ti['task_id']}[{ti['map_index']}]"
        assert len(text) > 100, f"empty log for {where}: {text!r}"
        assert not any(s in text for s in sentinels), f"paid text in the log of {where}"
        assert not any(s in text for s in deployment.secrets()), f"a secret in the log of {where}"
    assert deployment.keys("paywall-private", "airflow-logs/"), "task logs are not in S3"
    assert not deployment.keys("paywall-public", "airflow-logs/")


def check_container_logs(deployment: Deployment) -> None:
    sentinels = paid_sentinels()
    for container in deployment.stack.containers():
        name = str(container["Names"][0])
        text = deployment.stack.logs(name, tail=100_000)
        assert not any(s in text for s in sentinels), f"paid text in the output of {name}"
        for secret in deployment.secrets():
            assert secret not in text, f"a secret in the output of {name}"


def test_compose_stack_runs_the_pipeline_on_local_executor(deploy: Any) -> None:
    deployment = deploy(celery=False)
    services = {deployment.stack.service_of(c) for c in deployment.stack.containers()}
    assert services == {
        "postgres", "minio", "airflow-init", "airflow-apiserver", "airflow-scheduler",
        "airflow-dag-processor", "airflow-triggerer",
    }  # fmt: skip
    # The Airflow containers run as the image's non-root user, group 0.
    scheduler = next(
        str(c["Names"][0]) for c in deployment.stack.containers()
        if deployment.stack.service_of(c) == "airflow-scheduler"
    )  # fmt: skip
    ids = stack_mod.podman("exec", scheduler, "id", "-u").stdout.strip()
    assert ids == "50000"
    # The init created the pool the config names.
    assert deployment.api.get(f"/api/v2/pools/{POOL}")["slots"] == 8

    run, tis = run_pipeline(deployment)
    chunks = [t for t in tis if t["map_index"] >= 0]
    assert len(chunks) >= 4 and all(t["pool"] == POOL for t in chunks)
    check_outputs(deployment)
    check_task_logs(deployment, run, tis)
    check_container_logs(deployment)
    take_down_and_prove_gone(deployment)


def test_compose_celery_profile_runs_chunks_on_both_workers(deploy: Any) -> None:
    deployment = deploy(celery=True)
    workers = [
        c for c in deployment.stack.containers()
        if deployment.stack.service_of(c) == "airflow-worker"
    ]  # fmt: skip
    assert len(workers) == 2
    hostnames = {
        str(deployment.stack.inspect(str(w["Names"][0]))["Config"]["Hostname"]) for w in workers
    }
    assert len(hostnames) == 2
    # Each worker's healthcheck pinged that worker by its own name (not an empty one).
    # (The check's command is run as podman runs it: podman keeps only the start of its output.)
    for worker in workers:
        name = str(worker["Names"][0])
        assert stack_mod.podman("healthcheck", "run", name, check=False).returncode == 0
        config = deployment.stack.inspect(name)["Config"]
        kind, command = config["Healthcheck"]["Test"]
        assert kind == "CMD-SHELL"
        ping = stack_mod.podman("exec", name, "/bin/sh", "-c", command, check=False)
        assert f"celery@{config['Hostname']}: OK" in ping.stdout, ping.stdout[-500:]

    run, tis = run_pipeline(deployment)
    chunk_hosts = {t["hostname"] for t in tis if t["map_index"] >= 0}
    assert chunk_hosts == hostnames, f"chunks ran on {chunk_hosts}, workers are {hostnames}"
    check_outputs(deployment)
    check_task_logs(deployment, run, tis)
    check_container_logs(deployment)
    take_down_and_prove_gone(deployment)


# --------------------------------------------------------------------------- image hygiene

BUILD_TOOLS = (
    "usr/bin/gcc", "usr/bin/cc", "usr/bin/g++", "usr/bin/c++", "usr/bin/make", "usr/bin/go",
    "usr/lib/gcc/", "usr/bin/x86_64-linux-gnu-gcc", "usr/include/python3", "usr/local/go/",
)  # fmt: skip
CACHES = (
    "root/.cache/", "home/airflow/.cache/", "var/lib/apt/lists/deb", "var/cache/apt/archives/",
    "uv-cache/", "tmp/paywall-src/", "tmp/uv/",
)  # fmt: skip


def build_context_with_planted_secrets(folder: Path, secret: str) -> Path:
    """The work tree's files plus the places secrets live on a developer's machine."""
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO, capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    for name in files:
        source = REPO / name
        if source.is_file():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, folder / name)
    (folder / ".env").write_text(f"MINIO_ROOT_PASSWORD={secret}\n")
    (folder / ".state" / "compose").mkdir(parents=True)
    (folder / ".state" / "compose" / "paywall.env").write_text(f"POSTGRES_PASSWORD={secret}\n")
    (folder / "plugins" / "paywall" / "__pycache__").mkdir(parents=True, exist_ok=True)
    (folder / "plugins" / "paywall" / "__pycache__" / "leak.pyc").write_text(secret)
    return folder


def test_product_image_hygiene(standins: dict[str, str], tmp_path: Path) -> None:
    secret = "E2ESECRETplanted" + tmp_path.name
    context = build_context_with_planted_secrets(tmp_path / "ctx", secret)
    tag = f"localhost/paywall-pipeline-hygiene:{tmp_path.name[-8:].lower()}"
    flags = stack_mod.build_args_for_host(pip_cert_arg=False)
    flags += ["--build-arg", f"PAYWALL_SOURCE_DIGEST={stack_mod.source_digest()}"]
    t0 = time.monotonic()
    build = subprocess.run(
        ["podman", "build", *flags, "--build-arg",
         f"AIRFLOW_BASE_IMAGE={standins['AIRFLOW_BASE_IMAGE']}", "-t", tag, str(context)],
        env=stack_mod.podman_env(), capture_output=True, text=True, timeout=1800,
    )  # fmt: skip
    record("hygiene: product image build", time.monotonic() - t0)
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    try:
        info = json.loads(stack_mod.podman("image", "inspect", tag).stdout)[0]
        layers = info["RootFS"]["Layers"]
        facts = {
            "size_mb": round(info["Size"] / 1e6),
            "layers": len(layers),
            "user": info["Config"].get("User"),
        }
        ARTIFACTS.mkdir(exist_ok=True)
        (ARTIFACTS / "image-hygiene.json").write_text(json.dumps(facts, indent=2))
        assert facts["user"] == "50000"
        whoami = stack_mod.podman(
            "run", "--rm", "--network", "none", "--entrypoint", "id", tag, "-u"
        ).stdout.strip()
        assert whoami == "50000", "the image must run as non-root"

        history = stack_mod.podman("history", "--no-trunc", "--format", "{{.CreatedBy}}", tag)
        assert secret not in history.stdout and "E2ESECRET" not in history.stdout

        archive = tmp_path / "image.tar"
        stack_mod.podman("save", "--format", "docker-archive", "-o", str(archive), tag)
        found_secret: list[str] = []
        found_tools: list[str] = []
        found_caches: list[str] = []
        found_context: list[str] = []
        with tarfile.open(archive) as outer:
            for member in outer.getmembers():
                if not member.name.endswith(".tar"):
                    continue
                layer = outer.extractfile(member)
                assert layer is not None
                with tarfile.open(fileobj=layer) as inner:
                    for entry in inner:
                        path = entry.name.lstrip("./")
                        if path.startswith(BUILD_TOOLS):
                            found_tools.append(path)
                        if path.startswith(CACHES) and not entry.isdir():
                            found_caches.append(path)
                        if path.endswith((".env", "leak.pyc")) or "/.state/" in f"/{path}":
                            found_context.append(path)
                        if entry.isfile() and entry.size < 50_000_000:
                            data = inner.extractfile(entry)
                            content = data.read() if data is not None else b""
                            # The planted secret, and any credential the compose tests use.
                            if secret.encode() in content or b"E2ESECRET" in content:
                                found_secret.append(path)
        assert not found_secret, f"the planted secret is in layer files: {found_secret}"
        assert not found_context, f"files that must stay out of the image: {found_context}"
        assert not found_tools, f"build tools in the image: {found_tools[:10]}"
        assert not found_caches, f"caches left in the image: {found_caches[:10]}"
    finally:
        stack_mod.podman("rmi", "-f", tag, check=False)
