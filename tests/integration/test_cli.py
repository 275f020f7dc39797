"""The ``paywall`` command against a real S3 server: storage init, run, verify, presign.

The CLI reads the same Connection an Airflow task would (``AIRFLOW_CONN_PAYWALL_S3``), so
these runs prove the environment path works end to end, in a subprocess like a user's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import jsonschema
import pytest

from paywall.config import load_settings
from paywall.layout import Layout
from paywall.metadata import load_schema
from paywall.s3 import make_client
from paywall_dev.servers import S3Server
from tests.conftest import write_config

pytestmark = pytest.mark.s3
SAMPLE = "2026/11/20/000_ef8617fb664c5123.txt"


def paywall(server: S3Server, config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ) | {"AIRFLOW_CONN_PAYWALL_S3": server.connection_json()}
    for name in ("S3_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        env.pop(name, None)
    return subprocess.run(
        [sys.executable, "-m", "paywall.cli", "--config", str(config), *args],
        env=env, capture_output=True, text=True, timeout=180,
    )  # fmt: skip


def test_storage_init_run_verify_and_presign(s3_server: S3Server, tmp_path: Path) -> None:
    config = write_config(tmp_path / "pipeline.yaml")
    settings = load_settings(config)
    layout = Layout(settings.storage.public_bucket, settings.storage.private_bucket,
                    settings.pipeline.name)  # fmt: skip

    init = paywall(s3_server, config, "storage", "init")
    assert init.returncode == 0, init.stderr
    assert f"created bucket {settings.storage.public_bucket}" in init.stdout
    again = paywall(s3_server, config, "storage", "init")
    assert again.returncode == 0 and "storage already set up" in again.stdout

    run = paywall(s3_server, config, "run", "2026-11-20")
    assert run.returncode == 0, run.stderr
    summary = json.loads(run.stdout)
    jsonschema.validate(summary, load_schema("run-summary"))
    assert (summary["published"], summary["quarantined"], summary["failed"]) == (3, 1, 0)
    assert summary["committed"] and summary["manifest_key"] == layout.manifest(
        "20261120T000000Z_20261121T000000Z"
    )

    verify = paywall(s3_server, config, "verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "0 problem(s)" in verify.stdout and "anonymous probe(s)" in verify.stdout

    presign = paywall(s3_server, config, "presign", "samples", SAMPLE, "--expires", "60")
    assert presign.returncode == 0, presign.stderr
    with urllib.request.urlopen(presign.stdout.strip(), timeout=10) as response:
        assert response.read().decode().startswith("突出创新务入脑入心之实")

    # A quarantined article has no paid half to hand out: a clear error, exit 2.
    refused = paywall(s3_server, config, "presign", "samples", "2026/11/20/broken-marker-demo.txt")
    assert refused.returncode == 2 and "no paid .txt half" in refused.stderr
    assert "Traceback" not in refused.stderr

    # Tampering is found: exit 3 and the finding named.
    make_client(s3_server.endpoint).delete_object(
        Bucket=settings.storage.public_bucket, Key=layout.free("samples", SAMPLE, "txt")
    )
    found = paywall(s3_server, config, "verify")
    assert found.returncode == 3
    assert "[missing]" in found.stdout and layout.free("samples", SAMPLE, "txt") in found.stdout


def test_dry_run_prints_counts_and_writes_nothing(s3_server: S3Server, tmp_path: Path) -> None:
    config = write_config(tmp_path / "pipeline.yaml")
    assert paywall(s3_server, config, "storage", "init").returncode == 0
    run = paywall(s3_server, config, "run", "2026-11-20", "--dry-run")
    assert run.returncode == 0, run.stderr
    summary = json.loads(run.stdout)
    assert summary["dry_run"] and not summary["committed"] and summary["articles"] == 4
    verify = paywall(s3_server, config, "verify")
    assert verify.returncode == 0 and "no manifests to verify" in verify.stdout


def test_unreachable_storage_is_exit_2_naming_the_endpoint(tmp_path: Path) -> None:
    config = write_config(tmp_path / "pipeline.yaml")
    env = dict(os.environ) | {
        "AIRFLOW_CONN_PAYWALL_S3": json.dumps(
            {"conn_type": "aws", "login": "k", "password": "s",
             "extra": {"endpoint_url": "http://127.0.0.1:9"}}
        )
    }  # fmt: skip
    result = subprocess.run(
        [sys.executable, "-m", "paywall.cli", "--config", str(config), "run", "2026-11-20"],
        env=env, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert result.returncode == 2
    assert "127.0.0.1:9" in result.stderr and "Traceback" not in result.stderr
