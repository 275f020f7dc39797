"""``make cluster-up`` / ``make cluster-down``: the pipeline on PostgreSQL + Redis + Celery.

up    start (whatever is not running yet) an S3 server, PostgreSQL, Redis, the scheduler,
      dag-processor, api-server and two Celery workers, each worker in its own empty
      directory; state in .state/cluster. The UI is on http://127.0.0.1:8081.
down  stop exactly what ``up`` recorded, and PostgreSQL.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from paywall import cluster, devstack
from paywall.config import load_settings
from paywall.s3 import make_client
from paywall.storage import init_buckets

ROOT = Path(os.environ.get("PAYWALL_CLUSTER_STATE", devstack.STATE / "cluster"))
DEFAULT_CONFIG = devstack.REPO / "config" / "pipeline.yaml"


def up(args: argparse.Namespace) -> int:
    config = Path(args.config or DEFAULT_CONFIG).resolve()
    settings = load_settings(config)
    server = devstack.persistent_server(ROOT)
    if devstack.recorded_alive(ROOT, "api-server"):
        print("[cluster] already running (UI on http://127.0.0.1:8081); "
              "`make cluster-down` first to restart it")  # fmt: skip
        return 0
    cluster.stop_everything(ROOT)  # leftovers of a deployment that died: start clean
    if server.backend != "external":
        cmd, env = server.command()
        devstack.start_background("s3", cmd, env, ROOT)
    server.wait_ready(60)
    for change in init_buckets(make_client(server.endpoint), settings.storage):
        print(f"[cluster] {change}")
    deployment = cluster.Cluster(ROOT, server, settings, config, workers=args.workers)
    print("[cluster] starting PostgreSQL, Redis, scheduler, dag-processor, api-server and "
          f"{args.workers} Celery workers ...", flush=True)  # fmt: skip
    try:
        api = deployment.start()
    except Exception:
        print(f"[cluster] start failed; process logs are in {ROOT / 'logs'}", file=sys.stderr)
        cluster.stop_everything(ROOT)
        raise
    for dag_id in (settings.pipeline.name, "paywall_catalog"):
        api.unpause(dag_id)
    print(
        f"\nAirflow UI: {deployment.base_url}  login: admin / {api.password}"
        f"\nWorkers: {', '.join(deployment.worker_names())} (directories under {ROOT / 'workers'})"
        f"\nS3: {server.endpoint.endpoint_url} (keys in {server.data_dir}/credentials.json)"
        "\nStop everything with `make cluster-down`."
    )
    return 0


def down(args: argparse.Namespace) -> int:
    stopped = cluster.stop_everything(ROOT)
    print("[cluster] stopped: " + (", ".join(stopped) if stopped else "nothing was running"))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["up", "down"])
    parser.add_argument("--config", help="pipeline YAML (default config/pipeline.yaml)")
    parser.add_argument("--workers", type=int, default=2, help="Celery workers (default 2)")
    args = parser.parse_args()
    return {"up": up, "down": down}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
