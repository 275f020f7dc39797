"""A production-shaped deployment on one machine: PostgreSQL, Redis, CeleryExecutor, N workers.

``make cluster-up`` / ``make cluster-down`` (``scripts/cluster.py``) and the scale-out test
drive it. The control plane (scheduler, dag-processor, api-server) shares one Airflow home;
each Celery worker starts in its own empty directory, which is also its ``AIRFLOW_HOME``, so
the only things workers share are the metadata database, the broker and S3. Task logs go to
S3 (Airflow remote logging), as they would on workers that are separate machines.

Layout under the cluster root (``.state/cluster`` by default, ignored by git)::

    credentials.json    generated Postgres and Redis passwords (mode 0600)
    postgres/           PGDATA and socket (owned by the ``postgres`` user when run as root)
    redis/              redis.conf (holds the password, 0600); no persistence
    airflow/            AIRFLOW_HOME of the control plane
    workers/<name>/     each worker's AIRFLOW_HOME and working directory, empty at start
    logs/ pids/         process output and the pids ``stop`` may signal
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from paywall.config import Settings
from paywall_dev import devstack
from paywall_dev.servers import S3Server, free_port

NODE_NAME_ENV = "PAYWALL_NODE_NAME"
ICEBERG_DB = "iceberg"  # the SQL catalog of the Iceberg tables of articles (issue 17)


class ClusterError(RuntimeError):
    pass


def node_name() -> str:
    """Airflow's ``hostname_callable`` for the deployment.

    Workers on one machine share a host name; each gets its own through ``PAYWALL_NODE_NAME``
    so task instances record which worker ran them. Elsewhere: the machine's FQDN.
    """
    return os.environ.get(NODE_NAME_ENV) or socket.getfqdn()


@dataclass(frozen=True)
class Ports:
    postgres: int
    redis: int
    api: int

    @classmethod
    def free(cls) -> Ports:
        return cls(free_port(), free_port(), free_port())


# Fixed ports for `make cluster-up`, chosen away from the usual defaults (5432, 6379, 8080)
# so a developer's own servers and `make up` keep working beside it.
DEFAULT_PORTS = Ports(postgres=55432, redis=56379, api=8081)


def _credentials(root: Path) -> dict[str, str]:
    path = root / "credentials.json"
    if path.exists():
        return dict(json.loads(path.read_text()))
    creds = {"postgres": secrets.token_urlsafe(18), "redis": secrets.token_urlsafe(18)}
    path.write_text(json.dumps(creds))
    path.chmod(0o600)
    return creds


def _pg_tool(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    for candidate in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True):
        return str(candidate)
    raise ClusterError(
        f"PostgreSQL's {name} was not found; install Debian's postgresql package "
        "(scripts/install-cluster-deps.sh does)"
    )


@dataclass
class Postgres:
    """A PostgreSQL server of our own: initdb once, listen on 127.0.0.1:port only."""

    root: Path
    port: int
    password: str
    database: str = "airflow"
    user: str = "airflow"

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def url(self) -> str:
        return f"postgresql+psycopg2://{self.user}:{self.password}@127.0.0.1:{self.port}/{self.database}"

    @property
    def iceberg_url(self) -> str:
        """The Iceberg SQL catalog's database (apart from Airflow's metadata database)."""
        return (
            f"postgresql+psycopg2://{self.user}:{self.password}@127.0.0.1:{self.port}/{ICEBERG_DB}"
        )

    def _run(self, *cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        # PostgreSQL refuses to run as root; run its tools as the postgres user then.
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        return subprocess.run(
            [*prefix, *cmd], check=check, capture_output=True, text=True, timeout=120
        )

    def running(self) -> bool:
        if not (self.data / "PG_VERSION").exists():
            return False
        return (
            self._run(_pg_tool("pg_ctl"), "status", "-D", str(self.data), check=False).returncode
            == 0
        )

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
            if self._run("test", "-x", str(self.root), check=False).returncode != 0:
                raise ClusterError(
                    f"the postgres user cannot reach {self.root}: a parent directory is not "
                    "traversable by other users; put the cluster state elsewhere "
                    "(PAYWALL_CLUSTER_STATE)"
                )
        if not (self.data / "PG_VERSION").exists():
            self._initdb()
        if not self.running():
            options = (
                f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} "
                "-c max_connections=200 -c fsync=off"
            )
            result = self._run(
                _pg_tool("pg_ctl"), "start", "-w", "-t", "60", "-D", str(self.data),
                "-l", str(self.root / "postgres.log"), "-o", options, check=False,
            )  # fmt: skip
            if result.returncode != 0:
                log = (self.root / "postgres.log").read_text(errors="replace")[-2000:]
                raise ClusterError(f"PostgreSQL did not start on port {self.port}:\n{log}")
        self._ensure_database()

    def _initdb(self) -> None:
        pwfile = self.root / ".pwfile"
        pwfile.write_text(self.password)
        pwfile.chmod(0o600)
        if os.geteuid() == 0:
            shutil.chown(pwfile, "postgres", "postgres")
        try:
            self._run(
                _pg_tool("initdb"), "-D", str(self.data), "-U", self.user,
                f"--pwfile={pwfile}", "--auth-host=scram-sha-256", "--auth-local=peer",
                "--encoding=UTF8", "--no-locale",
            )  # fmt: skip
        except subprocess.CalledProcessError as exc:
            raise ClusterError(f"initdb failed for {self.data}: {exc.stderr.strip()}") from exc
        finally:
            pwfile.unlink(missing_ok=True)

    def _ensure_database(self) -> None:
        import psycopg2

        conn = psycopg2.connect(
            host="127.0.0.1", port=self.port, user=self.user, password=self.password,
            dbname="postgres", connect_timeout=10,
        )  # fmt: skip
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                for name in (self.database, ICEBERG_DB):
                    cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
                    if cur.fetchone() is None:
                        cur.execute(f'CREATE DATABASE "{name}"')
        finally:
            conn.close()

    def stop(self) -> None:
        if self.running():
            self._run(_pg_tool("pg_ctl"), "stop", "-m", "fast", "-w", "-D", str(self.data))


@dataclass
class Redis:
    """A Redis server of our own on 127.0.0.1:port, password set, nothing persisted."""

    root: Path
    port: int
    password: str

    @property
    def url(self) -> str:
        return f"redis://:{self.password}@127.0.0.1:{self.port}/0"

    def ping(self) -> bool:
        import redis

        try:
            client = redis.Redis(
                host="127.0.0.1", port=self.port, password=self.password, socket_timeout=2
            )
            return bool(client.ping())
        except redis.RedisError:
            return False

    def command(self) -> list[str]:
        binary = shutil.which("redis-server")
        if binary is None:
            raise ClusterError(
                "redis-server was not found; install Debian's redis-server package "
                "(scripts/install-cluster-deps.sh does)"
            )
        self.root.mkdir(parents=True, exist_ok=True)
        conf = self.root / "redis.conf"
        conf.write_text(
            f"bind 127.0.0.1\nport {self.port}\nprotected-mode yes\ndir {self.root}\n"
            f'save ""\nappendonly no\nrequirepass {self.password}\n'
        )
        conf.chmod(0o600)
        return [binary, str(conf)]


@dataclass
class Cluster:
    """Start, inspect and stop the deployment; every process is recorded under ``root/pids``."""

    root: Path
    s3: S3Server
    settings: Settings
    config: Path
    ports: Ports = DEFAULT_PORTS
    workers: int = 2
    concurrency: int = 2
    dags_folder: Path | None = None
    pool_slots: int | None = None  # default: pipeline.pool_slots
    extra_env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        creds = _credentials(self.root)
        self.postgres = Postgres(self.root / "postgres", self.ports.postgres, creds["postgres"])
        self.redis = Redis(self.root / "redis", self.ports.redis, creds["redis"])
        self.home = self.root / "airflow"

    # ----------------------------------------------------------------------- environment

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.api}"

    def control_env(self) -> dict[str, str]:
        env = devstack.airflow_env(
            self.home, self.s3, config=self.config, dags_folder=self.dags_folder, parallelism=32
        )
        pg = self.postgres
        env |= {
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": pg.url,
            "AIRFLOW__CELERY__BROKER_URL": self.redis.url,
            "AIRFLOW__CELERY__RESULT_BACKEND": (
                f"db+postgresql://{pg.user}:{pg.password}@127.0.0.1:{pg.port}/{pg.database}"
            ),
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(self.concurrency),
            "AIRFLOW__API__PORT": str(self.ports.api),
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API__BASE_URL": self.base_url,
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.base_url}/execution/",
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": "paywall_dev.cluster.node_name",
            # Workers are separate machines in spirit: task logs go to S3, not local disk.
            "AIRFLOW__LOGGING__REMOTE_LOGGING": "True",
            "AIRFLOW__LOGGING__REMOTE_BASE_LOG_FOLDER": (
                f"s3://{self.settings.storage.private_bucket}/airflow-logs"
            ),
            "AIRFLOW__LOGGING__REMOTE_LOG_CONN_ID": self.settings.storage.connection_id,
            "AIRFLOW__LOGGING__DELETE_LOCAL_LOGS": "True",
            "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
        }
        iceberg = self.settings.catalog.iceberg
        if iceberg.catalog == "sql":  # every worker reaches the same catalog, not a SQLite file
            env[iceberg.uri_env] = pg.iceberg_url
        return env | self.extra_env

    def worker_names(self) -> list[str]:
        return [f"worker-{n}" for n in range(1, self.workers + 1)]

    def worker_dir(self, name: str) -> Path:
        return self.root / "workers" / name

    def worker_env(self, name: str) -> dict[str, str]:
        folder = self.worker_dir(name)
        return self.control_env() | {
            "AIRFLOW_HOME": str(folder),
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(folder / "logs"),
            NODE_NAME_ENV: name,
        }

    # ------------------------------------------------------------------------- lifecycle

    def _airflow(self) -> str:
        return str(Path(sys.executable).parent / "airflow")

    def start(self, timeout: float = 300.0) -> devstack.ApiClient:
        """Start what is not running yet; return an API client once the DAGs are parsed."""
        self.postgres.start()
        if not self.redis.ping():
            self._background("redis", self.redis.command(), dict(os.environ))
            self._wait(self.redis.ping, 30, f"Redis on port {self.ports.redis}")
        env = self.control_env()
        result = devstack.airflow(env, "db", "migrate", check=False, capture_output=True)
        if result.returncode != 0:
            raise ClusterError(f"airflow db migrate failed:\n{result.stderr[-3000:]}")
        for name, cmd in (
            ("scheduler", [self._airflow(), "scheduler"]),
            ("dag-processor", [self._airflow(), "dag-processor"]),
            ("api-server", [self._airflow(), "api-server", "--port", str(self.ports.api)]),
        ):
            self._background(name, cmd, env)
        for name in self.worker_names():
            self.start_worker(name)
        api = devstack.ApiClient(self.base_url, "admin", devstack.admin_password(self.home, 120))
        api.wait_healthy(timeout)
        dag_id = self.settings.pipeline.name
        api.wait_for_dag(dag_id, timeout)
        if self.settings.pipeline.pool:
            self._ensure_pool(api, self.settings.pipeline.pool)
        return api

    def start_worker(self, name: str) -> None:
        folder = self.worker_dir(name)
        if folder.exists() and any(folder.iterdir()) and not self._alive(name):
            shutil.rmtree(folder)  # a worker starts from an empty directory, every time
        folder.mkdir(parents=True, exist_ok=True)
        cmd = [
            self._airflow(), "celery", "worker",
            "--celery-hostname", f"{name}@%h",
            "--concurrency", str(self.concurrency),
            "--skip-serve-logs",  # logs are read from S3; no log server on 0.0.0.0
        ]  # fmt: skip
        self._background(name, cmd, self.worker_env(name), cwd=folder)

    def stop_worker(self, name: str) -> None:
        """Stop a worker gracefully (Celery finishes its running tasks first)."""
        devstack.stop_one(self.root, name, grace=60)

    def kill_worker(self, name: str) -> None:
        """SIGKILL a worker and its task processes: a machine lost mid-task."""
        devstack.stop_one(self.root, name, kill=True)

    def stop(self) -> list[str]:
        return stop_everything(self.root)

    def _ensure_pool(self, api: devstack.ApiClient, pool: str) -> None:
        import urllib.error

        body = {
            "name": pool,
            "slots": self.pool_slots or self.settings.pipeline.pool_slots,
            "description": "caps concurrent paywall chunk tasks (S3 and HTTP load)",
            "include_deferred": False,
        }
        try:
            api.post("/api/v2/pools", body)
        except urllib.error.HTTPError as exc:
            if exc.code != 409:
                raise
            api.patch(f"/api/v2/pools/{pool}", body)

    def _alive(self, name: str) -> bool:
        return devstack.recorded_alive(self.root, name)

    def _background(
        self, name: str, cmd: list[str], env: dict[str, str], cwd: Path | None = None
    ) -> None:
        if self._alive(name):
            return
        devstack.start_background(name, cmd, env, self.root, cwd=cwd)

    @staticmethod
    def _wait(check: Any, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if check():
                return
            time.sleep(0.5)
        raise ClusterError(f"{what} not ready after {timeout:.0f}s")

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def stop_everything(root: Path) -> list[str]:
    """Stop a deployment from its state folder alone (``make cluster-down``)."""
    stopped = devstack.stop_recorded(root)
    pg = root / "postgres"
    if (pg / "data" / "PG_VERSION").exists():
        Postgres(pg, 0, "").stop()
        stopped.append("postgres")
    return stopped
