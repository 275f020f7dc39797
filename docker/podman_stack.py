"""Build the stand-in base images and run docker-compose.yaml under podman on machines like ours.

No image registry is reachable here, so the official images (apache/airflow, postgres, redis,
quay.io/minio/minio) cannot be pulled: every base image is built locally, from Debian bookworm
packages (mmdebstrap), the project's lock and the MinIO binary built from source. Each image is
tagged with a hash of its inputs and kept in podman's local storage, so a second run reuses it
and a changed input rebuilds it. Podman is Debian's 4.3 with runc (``docker/podman/
containers.conf``); without systemd its healthchecks run only when asked, so ``wait_healthy``
runs them itself, the way systemd's timers would.

Used by ``make compose-up`` / ``make compose-down`` and ``tests/e2e/test_compose.py``; the
standard library plus PyYAML (podman-compose's own dependency), run with the project's
venv. Docker users need none of this: ``docker compose up`` with the official images
(README, "Docker").

    python docker/podman_stack.py images          # build (or reuse) the stand-ins, print their tags
    python docker/podman_stack.py up [--celery]   # stand-ins, product image, compose up, healthy
    python docker/podman_stack.py down            # compose down -v, then prove nothing is left
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "COMPOSE_FILE",
    "DEFAULT_PROJECT",
    "MINIO_BINARY",
    "ComposeStack",
    "Leftovers",
    "StackError",
    "build_args_for_host",
    "build_debian",
    "build_standins",
    "ca_bundle",
    "container_problem",
    "dependency_graph",
    "host_free_port",
    "podman",
    "podman_env",
    "podman_problem",
    "source_digest",
    "start_stages",
]

DOCKER_DIR = Path(__file__).resolve().parent
REPO = DOCKER_DIR.parent
CONTAINERS_CONF = DOCKER_DIR / "podman" / "containers.conf"
COMPOSE_FILE = REPO / "docker-compose.yaml"
DEFAULT_PROJECT = "paywall"
STANDIN_REPO = "localhost/paywall-standin"
MINIO_BINARY = (
    Path(os.environ.get("PAYWALL_CACHE", Path.home() / ".cache" / "paywall-pipeline"))
    / "minio"
    / "minio"
)
# mmdebstrap: a minimal bookworm like debian:bookworm-slim (no docs, no man pages, no locales).
DEBIAN_SUITE = "bookworm"
DEBIAN_EXCLUDES = (
    "/usr/share/doc/*",
    "/usr/share/man/*",
    "/usr/share/info/*",
    "/usr/share/locale/*",
    "/usr/share/lintian/*",
)


class StackError(RuntimeError):
    """A build or compose step failed; the message names the step and carries its output."""


def log(message: str) -> None:
    print(f"[podman-stack] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- podman itself


def podman_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment every podman call needs here: runc, cgroupfs, host ulimits."""
    env = dict(os.environ if base is None else base)
    env["CONTAINERS_CONF"] = str(CONTAINERS_CONF)
    return env


def podman_problem() -> str | None:
    """Why podman cannot be used on this machine, or None when it can."""
    for tool in ("podman", "runc"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (scripts/install-podman.sh installs Debian's)"
    try:
        info = subprocess.run(
            ["podman", "info", "--format", "{{.Host.OCIRuntime.Name}}"],
            env=podman_env(), capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"podman info failed: {exc}"
    if info.returncode != 0:
        return f"podman info failed: {info.stderr.strip()[-500:]}"
    return None


def container_problem(image: str) -> str | None:
    """Why podman cannot start a container from `image` here, or None when it can."""
    probe = subprocess.run(
        ["podman", "run", "--rm", "--network", "none", image, "/bin/true"],
        env=podman_env(), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    if probe.returncode != 0:
        return f"podman cannot start a container: {probe.stderr.strip()[-500:]}"
    return None


def podman(
    *args: str, check: bool = True, timeout: float = 1800
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        ["podman", *args], env=podman_env(), capture_output=True, text=True, timeout=timeout
    )
    if check and result.returncode != 0:
        raise StackError(
            f"podman {' '.join(args[:3])} failed ({result.returncode}):\n"
            f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
    return result


def image_exists(name: str) -> bool:
    return podman("image", "exists", name, check=False).returncode == 0


def ca_bundle() -> Path | None:
    """The host's CA bundle, which builds need to reach the package registries from here.

    It is the file pip is configured with (``PIP_CERT`` / ``pip config``), else the one Python's
    ssl module uses. It is mounted read-only during builds only, never copied into a layer.
    """
    for candidate in (
        os.environ.get("PIP_CERT"),
        os.environ.get("SSL_CERT_FILE"),
        os.environ.get("REQUESTS_CA_BUNDLE"),
        "/etc/ssl/certs/ca-certificates.crt",
    ):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


def source_digest() -> str:
    """A hash of what the Dockerfile's install step reads through its bind mount.

    podman 4.3's builder reuses a RUN step's cache even when the files bind-mounted into it
    changed (BuildKit does not); passing this as PAYWALL_SOURCE_DIGEST makes a change rerun it.
    """
    inputs = [REPO / "pyproject.toml", REPO / "requirements.lock", REPO / "README.md"]
    inputs += [
        path
        for path in _files(REPO / "plugins")
        if "__pycache__" not in path.parts and not any(".egg-info" in s for s in path.parts)
    ]
    names: list[bytes | str | Path] = [str(p.relative_to(REPO)) for p in inputs]
    return _digest([*names, *inputs])


def build_args_for_host(pip_cert_arg: bool = True) -> list[str]:
    """`podman build` flags for this host: host network, and the CA bundle for pip and uv.

    The bundle is mounted read-only at its own path, with a pip.conf naming it at
    /etc/pip.conf (where pip in any image looks), and passed as the PIP_CERT build argument
    the stand-ins declare. Mounts are not part of any layer; the product Dockerfile needs no
    change for it.
    """
    args = ["--network", "host", "--layers"]
    ca = ca_bundle()
    if ca is not None:
        conf_dir = MINIO_BINARY.parent.parent / "podman"
        conf_dir.mkdir(parents=True, exist_ok=True)
        pip_conf = conf_dir / "pip.conf"
        pip_conf.write_text(f"[global]\ncert = {ca}\n")
        args += ["-v", f"{ca}:{ca}:ro", "-v", f"{pip_conf}:/etc/pip.conf:ro"]
        if pip_cert_arg:
            args += ["--build-arg", f"PIP_CERT={ca}"]
    return args


# --------------------------------------------------------------------------- stand-in images


def _digest(parts: Iterable[bytes | str | Path]) -> str:
    h = hashlib.sha256()
    for part in parts:
        if isinstance(part, Path):
            h.update(part.name.encode() + b"\0")
            with part.open("rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    h.update(block)
        elif isinstance(part, str):
            h.update(part.encode())
        else:
            h.update(part)
        h.update(b"\0")
    return h.hexdigest()[:16]


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


def _mmdebstrap_command(target: Path) -> list[str]:
    cmd = ["mmdebstrap", "--variant=minbase", "--include=ca-certificates", "--quiet"]
    cmd += [f"--dpkgopt=path-exclude={pattern}" for pattern in DEBIAN_EXCLUDES]
    cmd += ["--dpkgopt=path-include=/usr/share/doc/*/copyright"]
    # Like debian:*-slim: apt keeps no downloaded packages and no list cache in the image.
    cmd += ['--customize-hook=rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*']
    cmd += ['--customize-hook=rm -f "$1"/var/log/dpkg.log "$1"/var/log/apt/*']
    return [*cmd, DEBIAN_SUITE, str(target)]


def build_debian() -> str:
    """debian:bookworm-slim's stand-in: mmdebstrap minbase, imported as an image."""
    key = _digest([" ".join(_mmdebstrap_command(Path("rootfs.tar"))), "v1"])
    tag = f"{STANDIN_REPO}/debian:{DEBIAN_SUITE}-{key}"
    if image_exists(tag):
        return tag
    if shutil.which("mmdebstrap") is None:
        raise StackError("mmdebstrap is not installed (scripts/install-podman.sh installs it)")
    log(f"building {tag} with mmdebstrap (about a minute, once)")
    with tempfile.TemporaryDirectory(prefix="paywall-debian-") as tmp:
        rootfs = Path(tmp) / "rootfs.tar"
        run = subprocess.run(["nice", *_mmdebstrap_command(rootfs)], capture_output=True, text=True)
        if run.returncode != 0:
            raise StackError(f"mmdebstrap failed:\n{run.stderr[-3000:]}")
        podman(
            "import",
            "--change", "ENV LANG=C.UTF-8",
            "--change", 'CMD ["/bin/bash"]',
            str(rootfs), tag,
        )  # fmt: skip
    prune_older(tag)
    return tag


def _build(tag: str, context: Path, debian: str, extra: Sequence[str] = ()) -> str:
    if image_exists(tag):
        return tag
    log(f"building {tag}")
    started = time.monotonic()
    args = ["build", *build_args_for_host(), "--build-arg", f"DEBIAN_IMAGE={debian}"]
    args += list(extra)
    uv_cache = Path.home() / ".cache" / "uv"
    if uv_cache.is_dir():
        # The host's uv cache saves the downloads of the lock's wheels; never part of a layer.
        args += ["-v", f"{uv_cache}:/uv-cache"]
    run = subprocess.run(
        ["nice", "podman", *args, "-t", tag, str(context)],
        env=podman_env(), capture_output=True, text=True, timeout=3600,
    )  # fmt: skip
    if run.returncode != 0:
        raise StackError(
            f"podman build of {tag} failed:\n{run.stdout[-4000:]}\n{run.stderr[-3000:]}"
        )
    log(f"built {tag} in {time.monotonic() - started:.0f}s")
    prune_older(tag)
    return tag


def prune_older(tag: str) -> None:
    """Remove the other tags of the same stand-in (older inputs), so the cache does not grow
    with every lock change. Without force: an image a container still uses stays."""
    repository, _, current = tag.rpartition(":")
    family = current.rsplit("-", 1)[0] if "-" in current else ""
    listed = podman("images", "--format", "{{.Repository}}:{{.Tag}}", check=False).stdout.split()
    for other in listed:
        other_repo, _, other_tag = other.rpartition(":")
        same_family = (other_tag.rsplit("-", 1)[0] if "-" in other_tag else "") == family
        if other_repo == repository and other_tag != current and same_family:
            podman("rmi", other, check=False)


def _build_folder(name: str, tag_base: str, debian: str, inputs: Sequence[Path] = ()) -> str:
    """Build docker/<name>/ (plus extra input files) in a temporary context, keyed by hash.

    The context is a temporary copy, so inputs such as the lock or the MinIO binary are build
    inputs, never committed files, and nothing else of the work tree reaches the build.
    """
    folder = DOCKER_DIR / name
    key = _digest([debian, *_files(folder), *inputs])
    tag = f"{tag_base}-{key}" if ":" in tag_base else f"{tag_base}:{key}"
    if image_exists(tag):
        return tag
    with tempfile.TemporaryDirectory(prefix=f"paywall-{name}-ctx-") as tmp:
        for path in _files(folder):
            shutil.copy2(path, Path(tmp) / path.relative_to(folder))
        for path in inputs:
            shutil.copy2(path, Path(tmp) / path.name)
        return _build(tag, Path(tmp), debian)


def build_standins(with_minio: bool = True) -> dict[str, str]:
    """Build (or reuse) every stand-in; returns the compose variables that select them."""
    debian = build_debian()
    problem = container_problem(debian)
    if problem:
        raise StackError(problem)
    images = {
        "AIRFLOW_BASE_IMAGE": _build_folder(
            "airflow-base",
            f"{STANDIN_REPO}/airflow:3.3.2-python3.11",
            debian,
            [REPO / "requirements.lock"],
        ),
        "PAYWALL_POSTGRES_IMAGE": _build_folder("postgres", f"{STANDIN_REPO}/postgres", debian),
        "PAYWALL_REDIS_IMAGE": _build_folder("redis", f"{STANDIN_REPO}/redis", debian),
    }
    if with_minio:
        if not MINIO_BINARY.is_file():
            raise StackError(
                f"no MinIO binary at {MINIO_BINARY}: run scripts/build-minio.sh (needs Go)"
            )
        images["PAYWALL_MINIO_IMAGE"] = _build_folder(
            "minio", f"{STANDIN_REPO}/minio", debian, [MINIO_BINARY]
        )
    return images


# --------------------------------------------------------------------------- compose


@dataclass
class Leftovers:
    """What of a compose project still exists after `down` (all empty when it is gone)."""

    containers: list[str] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)
    networks: list[str] = field(default_factory=list)
    pods: list[str] = field(default_factory=list)
    processes: list[str] = field(default_factory=list)

    def empty(self) -> bool:
        return not (self.containers or self.volumes or self.networks or self.pods or self.processes)


@dataclass
class ComposeStack:
    """One compose project run by podman-compose with this machine's podman settings.

    ``variables`` are the compose file's ``${...}`` values (secrets, image names, ports); they
    are written to an env file given with ``--env-file``, so a developer's ``.env`` is not
    read, and passed in the environment too (which wins in podman-compose and docker compose).
    """

    project: str
    variables: dict[str, str]
    env_file: Path
    compose_files: Sequence[Path] = (COMPOSE_FILE,)
    profiles: Sequence[str] = ()
    podman_compose: str = field(
        default_factory=lambda: str(Path(sys.executable).parent / "podman-compose")
    )
    volumes_seen: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.env_file.parent.mkdir(parents=True, exist_ok=True)
        self.env_file.write_text("".join(f"{k}={v}\n" for k, v in self.variables.items()))
        self.env_file.chmod(0o600)

    # -- running podman-compose

    def command(self, *args: str) -> list[str]:
        cmd = [self.podman_compose, "--env-file", str(self.env_file), "-p", self.project]
        for path in self.compose_files:
            cmd += ["-f", str(path)]
        for profile in self.profiles:
            cmd += ["--profile", profile]
        return [*cmd, *args]

    def run(
        self, *args: str, check: bool = True, timeout: float = 1800
    ) -> subprocess.CompletedProcess[str]:
        env = podman_env() | self.variables
        result = subprocess.run(
            self.command(*args), env=env, capture_output=True, text=True, timeout=timeout,
            cwd=REPO,
        )  # fmt: skip
        if check and result.returncode != 0:
            raise StackError(
                f"podman-compose {' '.join(args)} failed ({result.returncode}):\n"
                f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
            )
        return result

    def build(self) -> float:
        """Build the product image from the project's Dockerfile (once for all services)."""
        started = time.monotonic()
        flags = " ".join(
            [*build_args_for_host(pip_cert_arg=False), "--build-arg",
             f"PAYWALL_SOURCE_DIGEST={source_digest()}"]
        )  # fmt: skip
        self.run(f"--podman-build-args={flags}", "build", "airflow-init", timeout=3600)
        return time.monotonic() - started

    def service_graph(self) -> dict[str, dict[str, str]]:
        """The active services of the merged config and their depends_on conditions."""
        import yaml  # podman-compose's own dependency: present wherever it runs

        return dependency_graph(yaml.safe_load(self.run("config").stdout), self.profiles)

    def up(self, timeout: float = 900) -> list[list[str]]:
        """Start the services in depends_on order, honouring each condition.

        podman-compose on podman < 4.6 ignores `service_healthy`, does not check that a
        `service_completed_successfully` one-shot exited 0, and its `--requires` links make
        podman 4.3 fail to start a service whose dependency has dependencies. So each stage is
        started with `up -d --no-deps` once the conditions of its services hold, as Docker
        Compose would wait for them. Returns the stages, in order.
        """
        graph = self.service_graph()
        deadline = time.monotonic() + timeout
        stages = start_stages(graph)
        for stage in stages:
            for name in stage:
                for dep, condition in graph[name].items():
                    self.wait_condition(dep, condition, deadline)
            self.run("up", "-d", "--no-deps", "--no-build", *stage, timeout=1800)
        return stages

    def run_healthcheck(self, name: str) -> bool:
        """One run of the container's healthcheck (podman applies its timeout); a podman
        call that itself hangs counts as not healthy yet."""
        try:
            return podman("healthcheck", "run", name, check=False, timeout=600).returncode == 0
        except subprocess.TimeoutExpired:
            return False

    def has_healthcheck(self, name: str) -> bool:
        config = self.inspect(name).get("Config") or {}
        assert isinstance(config, dict)
        test = (config.get("Healthcheck") or {}).get("Test") or []
        return bool(test) and test[0] != "NONE"

    def service_containers(self, service: str) -> list[str]:
        return [self.name_of(c) for c in self.containers() if self.service_of(c) == service]

    def wait_condition(self, service: str, condition: str, deadline: float) -> None:
        """Block until every container of `service` meets a depends_on condition."""
        names = self.service_containers(service)
        if not names:
            raise StackError(f"{service} has no container to wait for")
        while True:
            waiting = [n for n in names if not self._meets(n, condition)]
            if not waiting:
                return
            if time.monotonic() > deadline:
                details = "\n".join(f"--- {n}\n{self.logs(n, 60)}" for n in waiting)
                raise StackError(f"{waiting} not {condition} in time\n{details}")
            time.sleep(2)

    def _meets(self, name: str, condition: str) -> bool:
        state = self.inspect(name)["State"]
        assert isinstance(state, dict)
        status = str(state.get("Status"))
        if condition == "service_completed_successfully":
            if status != "exited":
                return False
            code = int(state.get("ExitCode", -1))
            if code != 0:
                raise StackError(f"{name} exited {code}:\n{self.logs(name)}")
            return True
        if status != "running":
            if status == "exited":
                raise StackError(f"{name} exited:\n{self.logs(name)}")
            return False
        if condition == "service_healthy" and self.has_healthcheck(name):
            # No systemd timer runs it here: run the healthcheck now.
            return self.run_healthcheck(name)
        return True

    def down(self) -> None:
        """`compose down -v`, plus the anonymous volumes podman-compose leaves behind.

        Docker Compose's `down -v` removes the named volumes and the anonymous ones attached
        to the containers (an image's VOLUME without a mount, like redis's /data);
        podman-compose 1.6 removes only the named ones, so the others are removed here.
        """
        self.volumes_seen |= set(self.mounted_volumes())
        self.run("down", "-v", "-t", "20", check=False, timeout=600)
        existing = set(podman("volume", "ls", "--format", "{{.Name}}").stdout.split())
        for volume in sorted(self.volumes_seen & existing):
            podman("volume", "rm", volume, check=False)

    def mounted_volumes(self) -> list[str]:
        """Every volume (named or anonymous) a container of this project mounts."""
        found: list[str] = []
        for container in self.containers():
            mounts = self.inspect(self.name_of(container)).get("Mounts") or []
            assert isinstance(mounts, list)
            found += [str(m["Name"]) for m in mounts if m.get("Type") == "volume"]
        return found

    # -- inspecting it

    def containers(self, all_states: bool = True) -> list[dict[str, object]]:
        args = [
            "ps",
            "--format",
            "json",
            "--filter",
            f"label=io.podman.compose.project={self.project}",
        ]
        if all_states:
            args.insert(1, "-a")
        out = podman(*args).stdout.strip()
        return list(json.loads(out)) if out else []

    def inspect(self, name: str) -> dict[str, object]:
        data = json.loads(podman("inspect", "--type", "container", name).stdout)
        return dict(data[0])

    @staticmethod
    def name_of(container: dict[str, object]) -> str:
        names = container.get("Names")
        return str(names[0]) if isinstance(names, list) and names else "?"

    def service_of(self, container: dict[str, object]) -> str:
        labels = container.get("Labels") or {}
        assert isinstance(labels, dict)
        return str(labels.get("com.docker.compose.service", ""))

    def logs(self, name: str, tail: int = 200) -> str:
        result = podman("logs", "--tail", str(tail), name, check=False)
        return result.stdout + result.stderr

    def wait_healthy(
        self, timeout: float = 900, one_shot: Sequence[str] = ("airflow-init",)
    ) -> dict[str, float]:
        """Run every container's healthcheck until all are healthy; one-shots must exit 0.

        Podman without systemd schedules no healthcheck: this loop is the timer. A container
        that is healthy once is not checked again (each Airflow check costs an Airflow
        import). Returns the seconds each container took to become healthy. Raises with the
        container's log when a one-shot fails, a service exits, or time runs out.
        """
        started = time.monotonic()
        healthy: dict[str, float] = {}
        while True:
            pending: list[str] = []
            for container in self.containers():
                name = self.name_of(container)
                service = self.service_of(container)
                state = self.inspect(name)["State"]
                assert isinstance(state, dict)
                status = str(state.get("Status"))
                if service in one_shot:
                    if status == "exited":
                        code = int(state.get("ExitCode", -1))
                        if code != 0:
                            raise StackError(f"{name} exited {code}:\n{self.logs(name)}")
                        healthy.setdefault(name, time.monotonic() - started)
                    else:
                        pending.append(name)
                    continue
                if status != "running":
                    raise StackError(f"{name} is {status}, not running:\n{self.logs(name)}")
                if name in healthy:
                    continue
                if not self.has_healthcheck(name):
                    healthy[name] = time.monotonic() - started  # no healthcheck defined
                    continue
                if self.run_healthcheck(name):
                    healthy[name] = time.monotonic() - started
                else:
                    pending.append(name)
            if not pending:
                return healthy
            if time.monotonic() - started > timeout:
                details = "\n".join(f"--- {n}\n{self.logs(n, 60)}" for n in pending)
                raise StackError(f"not healthy after {timeout:.0f}s: {pending}\n{details}")
            time.sleep(3)

    def leftovers(self) -> Leftovers:
        """Everything of this project that still exists: containers, volumes, networks, pods,
        and any conmon/container process still running for one of its containers."""
        label = f"label=io.podman.compose.project={self.project}"
        found = Leftovers()
        found.containers = podman(
            "ps", "-a", "--format", "{{.Names}}", "--filter", label
        ).stdout.split()
        volumes = podman("volume", "ls", "--format", "{{.Name}}").stdout.split()
        found.volumes = [
            v for v in volumes if v.startswith(f"{self.project}_") or v in self.volumes_seen
        ]

        found.networks = [
            n
            for n in podman("network", "ls", "--format", "{{.Name}}").stdout.split()
            if n.startswith(f"{self.project}_")
        ]
        found.pods = [
            p
            for p in podman("pod", "ps", "--format", "{{.Name}}").stdout.split()
            if p == f"pod_{self.project}" or p.startswith(f"{self.project}_")
        ]
        ps = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
        found.processes = [
            line.strip()
            for line in ps.splitlines()
            if "conmon" in line and f"{self.project}_" in line
        ]
        return found


def dependency_graph(
    config: Mapping[str, object], profiles: Sequence[str]
) -> dict[str, dict[str, str]]:
    """Services active under `profiles` -> {dependency: condition} (compose's defaults:
    a list form means `service_started`; dependencies outside the profiles are dropped)."""
    services = config.get("services")
    assert isinstance(services, dict)
    active = {
        name: service
        for name, service in services.items()
        if not service.get("profiles") or set(service["profiles"]) & set(profiles)
    }
    graph: dict[str, dict[str, str]] = {}
    for name, service in active.items():
        depends = service.get("depends_on") or {}
        if isinstance(depends, list):
            depends = {dep: {} for dep in depends}
        graph[name] = {
            dep: str((spec or {}).get("condition", "service_started"))
            for dep, spec in depends.items()
            if dep in active
        }
    return graph


def start_stages(graph: Mapping[str, Mapping[str, str]]) -> list[list[str]]:
    """Services grouped into stages: each stage depends only on earlier ones."""
    started: set[str] = set()
    stages: list[list[str]] = []
    while len(started) < len(graph):
        ready = sorted(
            name for name, deps in graph.items() if name not in started and set(deps) <= started
        )
        if not ready:
            raise StackError(f"depends_on has a cycle among {sorted(set(graph) - started)}")
        started |= set(ready)
        stages.append(ready)
    return stages


def host_free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def dotenv_values(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            values[key.strip()] = value.strip().strip('"').strip("'")
    return values


# --------------------------------------------------------------------------- command line


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("images", help="build (or reuse) the stand-in images and print their tags")
    for name in ("up", "down"):
        cmd = sub.add_parser(name)
        cmd.add_argument("--project", default=DEFAULT_PROJECT)
        cmd.add_argument("--celery", action="store_true", help="CeleryExecutor + profile celery")
    args = parser.parse_args(argv)

    problem = podman_problem()
    if problem and args.command != "down":
        print(f"podman is not usable here: {problem}", file=sys.stderr)
        return 2
    if args.command == "images":
        for var, tag in build_standins().items():
            print(f"{var}={tag}")
        return 0

    env_path = REPO / ".env"
    state = REPO / ".state" / "compose"
    saved = state / f"{args.project}.env"  # what the last `up` used, for `down` without .env
    if env_path.is_file():
        variables = dotenv_values(env_path)
    elif args.command == "down" and saved.is_file():
        variables = dotenv_values(saved)
    else:
        print("no .env: cp .env.example .env and set every secret first", file=sys.stderr)
        return 2
    profiles = ("celery",) if args.celery else ()
    if args.celery:
        variables["AIRFLOW_EXECUTOR"] = "CeleryExecutor"
    if args.command == "up":
        variables |= build_standins()
    stack = ComposeStack(args.project, variables, saved, profiles=profiles)
    if args.command == "down":
        stack.profiles = ("celery",)  # take the workers and Redis down too, if they run
        stack.down()
        left = stack.leftovers()
        if not left.empty():
            print(f"still there after down: {left}", file=sys.stderr)
            return 1
        print(f"compose project {args.project}: nothing left (containers, volumes, network)")
        return 0
    log(f"product image built in {stack.build():.0f}s")
    stack.up()
    took = stack.wait_healthy()
    for name, seconds in sorted(took.items(), key=lambda item: item[1]):
        log(f"{name}: healthy after {seconds:.0f}s")
    port = variables.get("AIRFLOW_API_PORT", "8080")
    print(
        f"UI and REST API: http://127.0.0.1:{port}  (user admin, AIRFLOW_ADMIN_PASSWORD from .env)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
