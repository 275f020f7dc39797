"""The local stack behind ``make run``, ``make up`` and ``make down``, and the test fixtures.

State lives in ``.state/`` at the repository root (ignored by git): S3 data and credentials,
the Airflow home (SQLite), logs and pid files. Only processes recorded in ``.state/pids`` are
ever stopped.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from paywall_dev.servers import REPO, S3Server, stop_process_group

STATE = Path(os.environ.get("PAYWALL_STATE", REPO / ".state"))
DAG_ID = "paywall_articles"
CONNECTION_ID = "paywall_s3"


def backend_choice() -> str:
    if os.environ.get("S3_ENDPOINT_URL"):
        return "external"
    return os.environ.get("S3_BACKEND", "seaweedfs")


def persistent_server(state: Path = STATE, backend: str | None = None) -> S3Server:
    """An S3 server whose data and credentials survive between runs (``.state/s3/<backend>``)."""
    backend = backend or backend_choice()
    data_dir = state / "s3" / backend
    data_dir.mkdir(parents=True, exist_ok=True)
    creds_file = data_dir / "credentials.json"
    if creds_file.exists():
        creds = json.loads(creds_file.read_text())
    else:
        creds = {
            "access_key": "paywall" + secrets.token_hex(4),
            "secret_key": secrets.token_urlsafe(24),
        }
        creds_file.write_text(json.dumps(creds))
        creds_file.chmod(0o600)
    return S3Server(backend, data_dir, creds["access_key"], creds["secret_key"])


def airflow_env(
    home: Path,
    server: S3Server,
    *,
    config: Path | None = None,
    dags_folder: Path | None = None,
    parallelism: int = 4,
) -> dict[str, str]:
    """Environment for every Airflow process of a local stack (SQLite, LocalExecutor)."""
    env = dict(os.environ)
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
    env |= {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder or REPO / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": str(parallelism),
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        "AIRFLOW__CORE__AUTH_MANAGER": (
            "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
        ),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__API_AUTH__JWT_SECRET": _stable_secret(home, "jwt_secret"),
        "AIRFLOW__API__SECRET_KEY": _stable_secret(home, "api_secret"),
        f"AIRFLOW_CONN_{CONNECTION_ID.upper()}": server.connection_json(),
        "PAYWALL_CONFIG": str(config or REPO / "config" / "pipeline.yaml"),
        "PYTHONPATH": str(REPO / "plugins"),
        "NO_PROXY": "*",
    }
    return env


def _stable_secret(home: Path, name: str) -> str:
    home.mkdir(parents=True, exist_ok=True)
    path = home / f".{name}"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(32))
        path.chmod(0o600)
    return path.read_text().strip()


def airflow(
    env: dict[str, str], *args: str, check: bool = True, **kwargs: Any
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).parent / "airflow"), *args],
        env=env, check=check, text=True, **kwargs,
    )  # fmt: skip


def migrate(env: dict[str, str], home: Path) -> None:
    """``airflow db migrate`` once per Airflow version (it is idempotent but takes seconds)."""
    import importlib.metadata

    stamp = home / ".migrated"
    version = importlib.metadata.version("apache-airflow-core")
    if stamp.exists() and stamp.read_text() == version and (home / "airflow.db").exists():
        return
    airflow(env, "db", "migrate", capture_output=True)
    stamp.write_text(version)


def pool_command(config: Path) -> list[str] | None:
    """``airflow pools set`` for the pool the config names (None when it names none)."""
    from paywall.config import load_settings

    pipeline = load_settings(config).pipeline
    if not pipeline.pool:
        return None
    return ["pools", "set", pipeline.pool, str(pipeline.pool_slots),
            "paywall chunk tasks (caps S3 and HTTP load)"]  # fmt: skip


def ensure_pool(env: dict[str, str]) -> str | None:
    """Create or resize the configured pool (idempotent); its name, or None.

    A DAG whose pool does not exist would leave its chunk tasks waiting for ever (the pool
    guard in ``plugins/paywall_ops.py`` fails such a run at once instead): every deployment
    path creates it from ``pipeline.pool`` / ``pipeline.pool_slots``.
    """
    command = pool_command(Path(env["PAYWALL_CONFIG"]))
    if command is None:
        return None
    airflow(env, *command, capture_output=True)
    return command[2]


# ------------------------------------------------------------------------ long-running stack


def pid_dir(state: Path = STATE) -> Path:
    path = state / "pids"
    path.mkdir(parents=True, exist_ok=True)
    return path


def start_background(
    name: str, cmd: list[str], env: dict[str, str], state: Path = STATE, cwd: Path | None = None
) -> int:
    logs = state / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    with (logs / f"{name}.log").open("ab") as out:
        proc = subprocess.Popen(
            cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            cwd=cwd or state,
        )  # fmt: skip
    (pid_dir(state) / f"{name}.pid").write_text(str(proc.pid))
    return proc.pid


def recorded_alive(state: Path, name: str) -> bool:
    """Whether the process recorded as ``name`` under ``state/pids`` is still running."""
    pid_file = pid_dir(state) / f"{name}.pid"
    try:
        os.kill(int(pid_file.read_text()), 0)
    except (FileNotFoundError, ProcessLookupError, ValueError):
        return False
    return True


def stop_one(state: Path, name: str, grace: float = 20.0, *, kill: bool = False) -> int:
    """Stop the process group recorded as ``name`` and forget it; its pid.

    SIGTERM, then SIGKILL after ``grace`` seconds; ``kill`` sends SIGKILL at once (a machine
    lost, not a shutdown).
    """
    pid_file = pid_dir(state) / f"{name}.pid"
    pid = int(pid_file.read_text().strip())
    if kill:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
    else:
        stop_process_group(pid, grace=grace)
    pid_file.unlink()
    return pid


def stop_recorded(state: Path = STATE) -> list[str]:
    stopped = []
    for pid_file in sorted(pid_dir(state).glob("*.pid")):
        pid = stop_one(state, pid_file.stem)
        stopped.append(f"{pid_file.stem} (pid {pid})")
    return stopped


class ApiClient:
    """Just enough of Airflow's REST API v2 for the stack and the tests."""

    def __init__(self, base: str, username: str, password: str) -> None:
        self.base = base.rstrip("/")
        self.username, self.password = username, password
        self.token: str | None = None

    def _request(self, method: str, path: str, body: Any = None, auth: bool = True) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        # Only ever http://127.0.0.1 (the local stack), so no scheme check is needed.
        request = urllib.request.Request(self.base + path, data=data, method=method)  # noqa: S310
        request.add_header("Content-Type", "application/json")
        if auth:
            if self.token is None:
                self.login()
            request.add_header("Authorization", f"Bearer {self.token}")
        for attempt in range(10):
            try:
                with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                    raw = response.read()
                return json.loads(raw) if raw else None
            except urllib.error.HTTPError as exc:
                # The api-server answers 503 while it warms up or SQLite is busy: retry.
                if exc.code not in (502, 503, 504) or attempt == 9:
                    raise
                time.sleep(1 + attempt)
            except (TimeoutError, urllib.error.URLError):
                # A read that times out on a starved machine is safe to repeat; a write is
                # not (it may have happened), so only GETs are retried.
                if method != "GET" or attempt == 9:
                    raise
                time.sleep(1 + attempt)
        raise AssertionError("unreachable")

    def login(self) -> None:
        answer = self._request(
            "POST", "/auth/token", {"username": self.username, "password": self.password}, False
        )
        self.token = answer["access_token"]

    def get(self, path: str) -> Any:
        return self._request("GET", path)

    def post(self, path: str, body: Any) -> Any:
        return self._request("POST", path, body)

    def patch(self, path: str, body: Any) -> Any:
        return self._request("PATCH", path, body)

    def wait_healthy(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                health = self._request("GET", "/api/v2/monitor/health", auth=False)
                if health.get("scheduler", {}).get("status") == "healthy":
                    return
            except (urllib.error.URLError, ConnectionError, TimeoutError, ValueError):
                pass
            time.sleep(1)
        raise TimeoutError(f"Airflow at {self.base} not healthy after {timeout:.0f}s")

    def wait_for_dag(self, dag_id: str, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self.get(f"/api/v2/dags/{dag_id}")
                return
            except urllib.error.HTTPError as exc:
                # 404 until the dag-processor has parsed it; 503 while the server warms up.
                if exc.code != 404 and exc.code < 500:
                    raise
                self.token = None if exc.code >= 500 else self.token
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(1)
        raise TimeoutError(f"DAG {dag_id} not parsed after {timeout:.0f}s")

    def unpause(self, dag_id: str) -> None:
        self.patch(f"/api/v2/dags/{dag_id}?update_mask=is_paused", {"is_paused": False})

    def trigger(self, dag_id: str, body: dict[str, Any]) -> str:
        """POST a DAG run (``logical_date``, ``conf``, optional data interval); its run id."""
        return str(self.post(f"/api/v2/dags/{dag_id}/dagRuns", {"conf": {}} | body)["dag_run_id"])

    def wait_run(
        self,
        dag_id: str,
        run_id: str,
        timeout: float = 600.0,
        on_poll: Callable[[list[dict[str, Any]]], None] | None = None,
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Poll until the run ends; return it and its task instances (``on_poll`` sees them
        on every poll, e.g. to inject a fault once a task runs)."""
        path = f"/api/v2/dags/{dag_id}/dagRuns/{urllib.parse.quote(run_id)}"
        deadline = time.monotonic() + timeout
        while True:
            tis = self.get(f"{path}/taskInstances?limit=1000")["task_instances"]
            if on_poll is not None:
                on_poll(tis)
            run = self.get(path)
            if run["state"] in ("success", "failed") or time.monotonic() > deadline:
                return run, self.get(f"{path}/taskInstances?limit=1000")["task_instances"]
            time.sleep(1)


def admin_password(home: Path, timeout: float = 60.0) -> str:
    path = home / "simple_auth_manager_passwords.json.generated"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            return str(json.loads(path.read_text())["admin"])
        time.sleep(0.5)
    raise TimeoutError(f"{path} was not written")
