"""``make run`` / ``make up`` / ``make down``: the local stack on embedded defaults.

run   start the S3 server, set up storage, run the pipeline DAG once over the bundled
      sample articles as a real Airflow run (``airflow dags test``), print a summary, stop.
up    start the S3 server and ``airflow standalone`` on 127.0.0.1:8080 and leave them running.
down  stop exactly the processes ``up`` recorded in .state/pids.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

from paywall.config import load_settings
from paywall.layout import Layout
from paywall.reader import committed_runs
from paywall.s3 import make_client
from paywall.storage import S3Store, init_buckets
from paywall_dev import devstack

# The bundled samples live under samples/articles/2026/11/20/. `airflow dags test` with a
# date runs the interval that *ends* then, so 2026-11-21 covers [2026-11-20, 2026-11-21).
SAMPLE_RUN_AFTER = "2026-11-21"


def _snapshot(client, buckets: list[str]) -> dict[str, tuple[str, str]]:
    seen = {}
    for bucket in buckets:
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for item in page.get("Contents", []):
                seen[f"{bucket}/{item['Key']}"] = (item["ETag"], str(item["LastModified"]))
    return seen


def run(args: argparse.Namespace) -> int:
    state = devstack.STATE
    settings = load_settings(args.config)
    server = devstack.persistent_server(state)
    home = state / "airflow"
    print(f"[run] starting S3 server ({server.backend}) ...", flush=True)
    with server:
        client = make_client(server.endpoint)
        for change in init_buckets(client, settings.storage):
            print(f"[run] {change}")
        buckets = [settings.storage.public_bucket, settings.storage.private_bucket]
        before = _snapshot(client, buckets)
        env = devstack.airflow_env(home, server, config=Path(args.config) if args.config else None)
        print("[run] preparing the Airflow home (.state/airflow) ...", flush=True)
        devstack.migrate(env, home)
        devstack.ensure_pool(env)
        logical = f"{args.date}T00:00:00+00:00"
        print(f"[run] airflow dags test {devstack.DAG_ID} {logical}", flush=True)
        started = time.monotonic()
        result = devstack.airflow(
            env, "dags", "test", devstack.DAG_ID, logical, check=False, capture_output=True
        )
        log_path = state / "logs" / "make-run.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log_path.write_text(result.stdout + result.stderr)
        if result.returncode != 0 or (
            "DagRun Finished" in result.stdout and "state=failed" in result.stdout
        ):
            print(f"[run] the DAG run failed; log: {log_path}", file=sys.stderr)
            print("\n".join((result.stdout + result.stderr).splitlines()[-25:]), file=sys.stderr)
            return 1
        after = _snapshot(client, buckets)
        changed = sorted(k for k, v in after.items() if before.get(k) != v)
        _summary(client, settings, logical, changed, time.monotonic() - started, log_path)
    return 0


def _summary(
    client, settings, run_after: str, changed: list[str], seconds: float, log_path: Path
) -> None:
    """What was committed for the interval, read the way a consumer reads it (typed)."""
    storage = settings.storage
    layout = Layout(storage.public_bucket, storage.private_bucket, settings.pipeline.name)
    store = S3Store(client, storage)
    public = storage.public_bucket
    print(f"\nPipeline run finished in {seconds:.0f}s (Airflow log: {log_path})")
    for run in committed_runs(store, layout):
        if run.marker.interval.end != datetime.fromisoformat(run_after):
            continue  # another interval's commit, from an earlier run
        counts = run.marker.counts
        outcomes = Counter(r.outcome.value for r in run.records)
        assert outcomes == {k: v for k, v in counts.outcomes.items() if v}, "marker != manifest"
        interval = run.marker.interval
        print(f"  interval   {interval.start.isoformat()} .. {interval.end.isoformat()}")
        print(
            f"  articles   {counts.articles}: {counts.published} published, "
            f"{counts.quarantined} quarantined, {counts.failed} failed  {dict(counts.statuses)}"
        )
        print(f"  manifest   s3://{public}/{run.manifest_key}")
        print(f"  committed  s3://{public}/{layout.commit_marker(run.manifest_key)}")
    print(f"  free       s3://{public}/free/   metadata s3://{public}/meta/")
    print(f"  paid       s3://{storage.private_bucket}/paid/   "
          f"quarantine s3://{storage.private_bucket}/quarantine/")  # fmt: skip
    if changed:
        print(f"  objects written this run: {len(changed)}")
        for key in changed[:5]:
            print(f"    s3://{key}")
    else:
        print("  objects written this run: 0 (everything was already up to date)")


def up(args: argparse.Namespace) -> int:
    state = devstack.STATE
    if any(devstack.pid_dir(state).glob("*.pid")):
        print("[up] a stack is already running; `make down` first", file=sys.stderr)
        return 1
    settings = load_settings(args.config)
    server = devstack.persistent_server(state)
    if server.backend != "external":
        cmd, env = server.command()
        devstack.start_background("s3", cmd, env, state)
    server.wait_ready(60)
    print(f"[up] S3 ({server.backend}) at {server.endpoint.endpoint_url}")
    for change in init_buckets(make_client(server.endpoint), settings.storage):
        print(f"[up] {change}")
    home = state / "airflow"
    env = devstack.airflow_env(home, server, config=Path(args.config) if args.config else None)
    devstack.migrate(env, home)
    if pool := devstack.ensure_pool(env):
        print(f"[up] pool {pool} ready")
    airflow_bin = str(Path(sys.executable).parent / "airflow")
    devstack.start_background("airflow", [airflow_bin, "standalone"], env, state)
    api = devstack.ApiClient("http://127.0.0.1:8080", "admin", devstack.admin_password(home, 120))
    api.wait_healthy(180)
    api.wait_for_dag(devstack.DAG_ID, 180)
    for dag_id in (devstack.DAG_ID, "paywall_catalog"):
        api.unpause(dag_id)
    print(
        "\nAirflow UI: http://127.0.0.1:8080  login: admin / "
        f"{api.password}\nS3: {server.endpoint.endpoint_url} "
        f"(keys in {server.data_dir}/credentials.json)"
        "\nStop everything with `make down`."
    )
    return 0


def down(args: argparse.Namespace) -> int:
    stopped = devstack.stop_recorded(devstack.STATE)
    print("[down] stopped: " + (", ".join(stopped) if stopped else "nothing was running"))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["run", "up", "down"])
    parser.add_argument("--config", help="pipeline YAML (default config/pipeline.yaml)")
    parser.add_argument(
        "--date",
        default=SAMPLE_RUN_AFTER,
        help="run date: the interval that ends then is processed",
    )
    args = parser.parse_args()
    return {"run": run, "up": up, "down": down}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
