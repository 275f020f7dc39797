"""Helpers for tests/e2e/test_compose.py: the stack, a small REST client, MinIO over HTTP.

The stack itself (stand-in images, podman-compose, healthchecks, leftovers) is
``docker/podman_stack.py``, shared with ``make compose-up``; this module adds what only the
test needs. Everything talks to 127.0.0.1 only: the compose file publishes the API and MinIO
there, on free ports the test picks.
"""

from __future__ import annotations

import importlib.util
import json
import secrets
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from tests.conftest import REPO

__all__ = ["ApiClient", "anonymous_get", "load_podman_stack", "stack_variables"]


def load_podman_stack() -> ModuleType:
    """docker/podman_stack.py as a module (it is a script folder, not a package)."""
    name = "podman_stack"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, REPO / "docker" / "podman_stack.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def stack_variables(images: dict[str, str], free_port: Any, celery: bool) -> dict[str, str]:
    """Fresh credentials for one stack, the stand-in images, free loopback ports.

    Every secret carries a marker so the hygiene and log checks can look for all of them.
    """

    def secret(name: str) -> str:
        return f"E2ESECRET{name}{secrets.token_hex(12)}"

    return {
        "POSTGRES_PASSWORD": secret("pg"),
        "MINIO_ROOT_USER": f"e2e-admin-{secrets.token_hex(4)}",
        "MINIO_ROOT_PASSWORD": secret("minio"),
        "AIRFLOW_JWT_SECRET": secret("jwt"),
        "AIRFLOW_API_SECRET_KEY": secret("api"),
        "REDIS_PASSWORD": secret("redis"),
        "AIRFLOW_ADMIN_PASSWORD": secret("admin"),
        "AIRFLOW_EXECUTOR": "CeleryExecutor" if celery else "LocalExecutor",
        "AIRFLOW_API_PORT": str(free_port()),
        "MINIO_PORT": str(free_port()),
        **images,
    }  # fmt: skip


def _opener() -> urllib.request.OpenerDirector:
    # Never through a proxy a developer may have set: everything here is on 127.0.0.1.
    return urllib.request.build_opener(urllib.request.ProxyHandler({}))


def anonymous_get(url: str) -> tuple[int, bytes]:
    """GET without credentials; returns the status and body (also for 4xx)."""
    try:
        with _opener().open(url, timeout=30) as response:
            return int(response.status), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@dataclass
class ApiClient:
    """Airflow 3's REST API with a JWT from /auth/token (SimpleAuthManager)."""

    base: str
    username: str
    password: str
    token: str = ""

    def request(self, method: str, path: str, body: object | None = None) -> Any:
        """One API call. A timeout, a refused or reset connection or a 502-504 is retried
        (for up to 5 minutes): a single api-server worker on a loaded 2-core machine can
        take longer than a minute to answer. Any other HTTP error is raised at once."""
        if not self.token and path != "/auth/token":
            self.login()
        data = None if body is None else json.dumps(body).encode()
        deadline = time.monotonic() + 300
        while True:
            req = urllib.request.Request(self.base + path, data=data, method=method)
            req.add_header("Content-Type", "application/json")
            if self.token:
                req.add_header("Authorization", f"Bearer {self.token}")
            try:
                with _opener().open(req, timeout=120) as response:
                    raw = response.read()
                    ctype = response.headers.get("Content-Type", "")
                break
            except urllib.error.HTTPError as exc:
                if exc.code not in (502, 503, 504) or time.monotonic() > deadline:
                    raise
            except (TimeoutError, ConnectionError, urllib.error.URLError):
                if time.monotonic() > deadline:
                    raise
            time.sleep(5)
        return json.loads(raw) if raw and "json" in ctype else raw.decode("utf-8", "replace")

    def login(self) -> None:
        answer = self.request(
            "POST", "/auth/token", {"username": self.username, "password": self.password}
        )
        self.token = answer["access_token"]

    def get(self, path: str, **query: object) -> Any:
        if query:
            path += "?" + urllib.parse.urlencode(query, doseq=True)
        return self.request("GET", path)

    def wait_for_dag(self, dag_id: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.get(f"/api/v2/dags/{dag_id}")
                return
            except urllib.error.HTTPError as exc:
                if exc.code != 404 or time.monotonic() > deadline:
                    raise
            time.sleep(3)

    def unpause(self, dag_id: str) -> None:
        self.request("PATCH", f"/api/v2/dags/{dag_id}?update_mask=is_paused", {"is_paused": False})

    def backfill(self, dag_id: str, day: str) -> None:
        """One run: the interval [day, day + 1) (the API's to_date is inclusive)."""
        self.request(
            "POST",
            "/api/v2/backfills",
            {
                "dag_id": dag_id,
                "from_date": f"{day}T00:00:00Z",
                "to_date": f"{day}T00:00:00Z",
                "run_backwards": False,
                "dag_run_conf": {},
                "reprocess_behavior": "completed",
                "max_active_runs": 1,
            },
        )

    def wait_for_run(self, dag_id: str, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            runs = self.get(f"/api/v2/dags/{dag_id}/dagRuns", run_type="backfill")["dag_runs"]
            done = [r for r in runs if r["state"] in ("success", "failed")]
            if done:
                return dict(done[0])
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"no backfill run of {dag_id} finished in {timeout:.0f}s: {runs}"
                )
            time.sleep(5)

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        quoted = urllib.parse.quote(run_id, safe="")
        answer = self.get(f"/api/v2/dags/{dag_id}/dagRuns/{quoted}/taskInstances", limit=1000)
        return list(answer["task_instances"])

    def task_log(self, dag_id: str, run_id: str, ti: dict[str, Any]) -> str:
        quoted = urllib.parse.quote(run_id, safe="")
        path = (
            f"/api/v2/dags/{dag_id}/dagRuns/{quoted}/taskInstances/{ti['task_id']}"
            f"/logs/{max(1, int(ti['try_number']))}"
        )
        answer = self.get(path, full_content="true", map_index=ti.get("map_index", -1))
        if isinstance(answer, dict):
            content = answer.get("content", "")
            return content if isinstance(content, str) else json.dumps(content, ensure_ascii=False)
        return str(answer)
