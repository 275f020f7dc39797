"""`make bench`: the pipeline against the storage limit, side by side, on the embedded S3 server.

For each corpus size N it runs, each in its own process (so peak RSS is per phase):

  bare      exactly the objects the pipeline writes (same bytes, same headers), PUT twice
            into fresh buckets: by the fastest client here (paywall.fast_store.FastStore on
            obstore, chosen by bench/clients.py), what the S3 server can take; and by a boto3
            thread pool (the pipeline's layout), the previous yardstick, as a second column;
  pipeline  the library's process step over the corpus (read, decode, split, store, manifest);
  rerun     the same again over the unchanged corpus;
  split     text and HTML splitting without storage, beside one BeautifulSoup(page, "lxml")
            parse of the same pages and a plain str.find scan of the same texts.

Then once, at the end:

  dag       the DAG under `airflow dags test` at the largest N (at most 10,000), against the
            library in one process;
  celery    the DAG on PostgreSQL + Redis + CeleryExecutor with one, then two workers.

Usage: python bench/run.py [--sizes 1000,10000] [--big] [--json FILE] [--no-dag]
                           [--no-celery] [--celery-n 5000] [--phases bare,pipeline,...]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import secrets
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from datetime import UTC, datetime
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import corpus as corpus_mod
from rss import peak_rss_mb

REPO = Path(__file__).resolve().parents[1]
# Corpora (kept between runs: generating 100,000 articles takes minutes) and latest.json.
RESULTS = Path(os.environ.get("BENCH_RESULTS") or REPO / "bench" / "results")
DAY_START = datetime(2026, 11, 20, tzinfo=UTC)
CHUNK_SIZE = int(os.environ.get("BENCH_CHUNK_SIZE", "1000"))
CONCURRENCY = 16
# Chunk processes at once, like two mapped tasks on a 2-core LocalExecutor.
WORKERS = int(os.environ.get("BENCH_WORKERS", "2"))
# The fastest bare layout bench/clients.py measured here: obstore, one process, 64 in flight.
FAST_WORKERS = int(os.environ.get("BENCH_FAST_WORKERS", "1"))
FAST_IN_FLIGHT = int(os.environ.get("BENCH_FAST_IN_FLIGHT", "64"))
PHASES = ("bare", "pipeline", "rerun", "split")


def write_config(path: Path, corpus: Path, tag: str) -> Path:
    data = {
        "pipeline": {"name": f"bench_{tag}".replace("-", "_"), "chunk_size": CHUNK_SIZE},
        "storage": {
            "public_bucket": f"bench-pub-{tag}",
            "private_bucket": f"bench-priv-{tag}",
            "max_concurrency": CONCURRENCY,
        },
        "sources": [{"name": "bench", "kind": "local", "path": str(corpus), "timestamp": "path"}],
    }
    path.write_text(yaml.safe_dump(data))
    return path


def _context(config: Path, *, init: bool = True) -> Any:
    from paywall.config import load_settings
    from paywall.pipeline import build_context
    from paywall.s3 import endpoint_from_env
    from paywall.storage import init_buckets

    settings = load_settings(config)
    ctx = build_context(settings, endpoint_from_env)
    if init:  # once per phase, as a deployment does once; a DAG's tasks never do
        init_buckets(ctx.s3_client_for(None), settings.storage)  # the boto3 client
    return ctx


def _interval() -> Any:
    from paywall.model import Interval

    return Interval(DAY_START, DAY_START.replace(day=21))


# ------------------------------------------------------------------------------ phases
def _process_job(config: str, job: dict[str, Any]) -> tuple[dict[str, Any], float]:
    from paywall.model import ChunkJob
    from paywall.pipeline import process_chunk

    result = process_chunk(_context(Path(config), init=False), ChunkJob.from_json(job))
    return result.to_json(), peak_rss_mb()


def phase_pipeline(config: Path) -> dict[str, Any]:
    """Plan, then the process step over the chunks in WORKERS processes (as the DAG's mapped
    tasks run under LocalExecutor), then publish."""
    from paywall.model import ChunkResult
    from paywall.pipeline import plan_run, publish_run

    ctx = _context(config)
    started = time.perf_counter()
    plan = plan_run(ctx, _interval())
    planned = time.perf_counter()
    jobs = [job.to_json() for job in plan.jobs()]
    with ProcessPoolExecutor(max_workers=WORKERS, mp_context=get_context("spawn")) as pool:
        done = list(pool.map(_process_job, [str(config)] * plan.chunks, jobs))
    processed = time.perf_counter()
    chunks = [ChunkResult.from_json(result) for result, _rss in done]
    process_rss = max(rss for _result, rss in done)
    summary = publish_run(ctx, plan, chunks)
    seconds = time.perf_counter() - started
    # Where the time went: plan, the process step (wall; and the chunks' own seconds summed,
    # so the rest of the step is process start-up, imports and clients), publish.
    steps = {"plan": planned - started, "process": processed - planned,
             "chunks_sum": sum(c.seconds for c in chunks),
             "publish": time.perf_counter() - processed}  # fmt: skip
    return {"seconds": seconds, "steps": {k: round(v, 2) for k, v in steps.items()},
            "articles": summary.counts.articles,
            "actions": dict(summary.counts.actions), "statuses": dict(summary.counts.statuses),
            "outcomes": dict(summary.counts.outcomes), "process_peak_rss_mb": process_rss,
            "peak_rss_mb": max(process_rss, peak_rss_mb())}  # fmt: skip


def phase_bare(config: Path) -> dict[str, Any]:
    """The pipeline's objects (recorded from a dry pass), PUT by the fastest client and by
    boto3, each into its own fresh buckets, one after the other in this run."""
    from clients import rebucket, record_objects

    ctx = _context(config)
    blobs = record_objects(config, _interval())
    total_bytes = sum(b.size for b in blobs)
    sides: dict[str, Any] = {}
    for side, workers, in_flight in (
        ("fast", FAST_WORKERS, FAST_IN_FLIGHT),
        ("boto3", WORKERS, CONCURRENCY),
    ):
        tag = secrets.token_hex(3)
        buckets = {
            ctx.layout.public_bucket: f"bare-pub-{tag}",
            ctx.layout.private_bucket: f"bare-priv-{tag}",
        }
        for bucket in dict.fromkeys(buckets.values()):
            ctx.s3_client_for(None).create_bucket(Bucket=bucket)
        objects = rebucket(blobs, buckets)
        shares = [objects[i::workers] for i in range(workers)]
        started = time.perf_counter()
        with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
            cpu = sum(
                pool.map(
                    _put_share,
                    [side] * workers,
                    [str(config)] * workers,
                    shares,
                    [in_flight] * workers,
                )
            )
        seconds = time.perf_counter() - started
        sides[side] = {
            "seconds": seconds,
            "workers": workers,
            "in_flight": in_flight,
            "client_cpu_ms_per_put": 1000 * cpu / max(len(objects), 1),
        }
    return {
        "seconds": sides["fast"]["seconds"],
        "objects": len(blobs),
        "bytes": total_bytes,
        "fast": sides["fast"],
        "boto3": sides["boto3"],
        "peak_rss_mb": peak_rss_mb(),
    }


def _put_share(side: str, config: str, blobs: list[Any], in_flight: int) -> float:
    """PUT one process's share; return the CPU seconds it took (native threads included)."""
    from clients import cpu_seconds, md5_b64

    ctx = _context(Path(config))
    if side == "fast":
        from paywall.fast_store import FastStore
        from paywall.s3 import endpoint_from_env

        store = FastStore(
            endpoint_from_env(ctx.settings.storage.connection_id),
            ctx.settings.storage,
            max_in_flight=in_flight,
        )
        store.put_groups([blobs[:8]])  # warm-up: connections, the runtime
        cpu = cpu_seconds()
        store.put_groups([[b] for b in blobs[8:]])
        return cpu_seconds() - cpu
    client = ctx.s3_client_for(None)

    def put(blob: Any) -> None:
        args: dict[str, Any] = {
            "Bucket": blob.bucket,
            "Key": blob.key,
            "Body": blob.body,
            "ContentType": blob.content_type,
            "Metadata": {"sha256": blob.sha256},
            "ContentMD5": md5_b64(blob),
        }
        if blob.encrypt and ctx.settings.storage.server_side_encryption:
            args["ServerSideEncryption"] = ctx.settings.storage.server_side_encryption
        client.put_object(**args)

    cpu = cpu_seconds()
    with ThreadPoolExecutor(max_workers=in_flight) as pool:
        list(pool.map(put, blobs))
    return cpu_seconds() - cpu


def phase_split(corpus: Path, limit: int) -> dict[str, Any]:
    from bs4 import BeautifulSoup

    from paywall.decoding import decode
    from paywall.htmlsplit import split_html
    from paywall.segmentation import split_text

    files = sorted(p for p in corpus.rglob("*.*") if p.is_file() and not p.name.startswith("."))
    files = files[:limit]
    texts = [decode(p.read_bytes()).text for p in files if p.suffix == ".txt"]
    pages = [decode(p.read_bytes()).text for p in files if p.suffix == ".html"]

    def once(fn: Any, items: list[str]) -> float:
        # The garbage collector is paused: bs4 trees are large object graphs, and a
        # collection triggered by one side would be charged to the other.
        gc.collect()
        gc.disable()
        started = time.perf_counter()
        for item in items:
            fn(item)
        elapsed = time.perf_counter() - started
        gc.enable()
        return elapsed

    def side_by_side(**sides: tuple[Any, list[str]]) -> dict[str, float]:
        # Interleaved rounds, best of five per side: a slow spell of a shared machine then
        # hits both sides alike instead of whichever happened to run during it.
        best = dict.fromkeys(sides, float("inf"))
        for _ in range(5):
            for name, (fn, items) in sides.items():
                best[name] = min(best[name], once(fn, items))
        return best

    def per_page_minima(rounds: int = 7) -> dict[str, float]:
        # Each page parsed, then split, right after each other, seven times; each side's
        # cost is the sum of its per-page minima. A hiccup of the machine then spoils one
        # sample of one page instead of a whole pass (whole passes swung 1.2-2.1x here).
        parse = [float("inf")] * len(pages)
        split = [float("inf")] * len(pages)
        clock = time.perf_counter
        gc.collect()
        gc.disable()
        for _ in range(rounds):
            for i, page in enumerate(pages):
                started = clock()
                BeautifulSoup(page, "lxml")
                parse[i] = min(parse[i], clock() - started)
                started = clock()
                split_html(page)
                split[i] = min(split[i], clock() - started)
            gc.collect()
        gc.enable()
        return {"lxml_parse_page_min_s": sum(parse), "html_split_page_min_s": sum(split)}

    text = side_by_side(
        text_split_s=(split_text, texts),
        text_find_s=(lambda t: (t.find("##paidbegin##"), t.find("##paidend##")), texts),
    )
    html = side_by_side(
        lxml_parse_s=(lambda p: BeautifulSoup(p, "lxml"), pages),
        html_split_s=(split_html, pages),
    )
    return {"texts": len(texts), "pages": len(pages)} | text | html | per_page_minima()


def bench_dag(n: int, corpus: Path, server: Any, work: Path) -> dict[str, Any]:
    """The pipeline DAG under `airflow dags test` over the same corpus, and the library run
    it compares with: one process, chunks one after another, as `dags test` runs tasks."""
    import sqlite3

    from paywall_dev import devstack

    tag = f"{n}-{secrets.token_hex(2)}"
    env_base = dict(os.environ) | {"AIRFLOW_CONN_PAYWALL_S3": server.connection_json()}
    lib_cfg = write_config(work / f"lib-{tag}.yaml", corpus, "l" + tag)
    library = run_phase("pipeline", env_base | {"BENCH_WORKERS": "1"}, str(lib_cfg))
    dag_cfg = write_config(work / f"dag-{tag}.yaml", corpus, "d" + tag)
    from paywall.config import load_settings
    from paywall.s3 import make_client
    from paywall.storage import init_buckets

    init_buckets(make_client(server.endpoint), load_settings(dag_cfg).storage)
    home = work / f"airflow-{tag}"
    env = devstack.airflow_env(home, server, config=dag_cfg)
    devstack.migrate(env, home)
    dag_id = f"bench_d{tag}".replace("-", "_")
    started = time.perf_counter()
    result = devstack.airflow(
        env, "dags", "test", dag_id, "2026-11-21T00:00:00+00:00", check=False, capture_output=True
    )
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"dags test failed:\n{(result.stdout + result.stderr)[-3000:]}")
    db = sqlite3.connect(home / "airflow.db")
    task_instances = db.execute("select count(*) from task_instance").fetchone()[0]
    per_task = dict(
        db.execute(
            "select task_id, sum((julianday(end_date) - julianday(start_date)) * 86400) "
            "from task_instance group by task_id"
        ).fetchall()
    )
    return {
        "n": n,
        "dag_seconds": seconds,
        "library_sequential_seconds": library["seconds"],
        "ratio": seconds / library["seconds"],
        "task_instances": task_instances,
        "task_seconds": {k: round(v or 0, 1) for k, v in per_task.items()},
    }


def bench_celery(n: int, corpus: Path, server: Any, work: Path) -> dict[str, Any] | None:
    """The DAG on PostgreSQL + Redis + CeleryExecutor: the same interval with one worker, then
    with two (2 task slots each), both forced to do the full work. Wall time of the DAG run."""
    import shutil

    from paywall.config import load_settings
    from paywall.s3 import make_client
    from paywall.storage import init_buckets
    from paywall_dev.cluster import Cluster, Ports

    if not shutil.which("redis-server") or not (
        shutil.which("pg_ctl") or list(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    ):
        print("[bench] celery: PostgreSQL or Redis missing (scripts/install-cluster-deps.sh)")
        return None
    tag = f"{n}-{secrets.token_hex(2)}"
    config = write_config(work / f"celery-{tag}.yaml", corpus, "c" + tag)
    data = yaml.safe_load(config.read_text())
    chunk = max(n // 24, 10)  # ~24 chunks: enough to keep 4 task slots busy
    data["pipeline"] |= {"chunk_size": chunk, "process_parallelism": 8, "max_active_tasks": 16}
    config.write_text(yaml.safe_dump(data))
    settings = load_settings(config)
    init_buckets(make_client(server.endpoint), settings.storage)
    # PostgreSQL runs as the postgres user: its folder must be reachable by others.
    root = Path(tempfile.mkdtemp(prefix="paywall-bench-celery-"))
    root.chmod(0o755)
    cluster = Cluster(root, server, settings, config, ports=Ports.free(), workers=2)
    dag_id = settings.pipeline.name
    interval = {
        "data_interval_start": "2026-11-20T00:00:00Z",
        "data_interval_end": "2026-11-21T00:00:00Z",
    }
    results: dict[str, Any] = {"n": n, "chunk_size": chunk, "slots_per_worker": 2}
    try:
        api = cluster.start()
        api.unpause(dag_id)
        for workers, logical in ((1, "2026-11-21T00:00:00Z"), (2, "2026-11-21T00:00:01Z")):
            if workers == 1:
                cluster.stop_worker("worker-2")
            else:
                cluster.start_worker("worker-2")
                time.sleep(15)  # let it join the broker before the run starts
            body = {"logical_date": logical, "conf": {"force": True}} | interval
            run, tis = api.wait_run(dag_id, api.trigger(dag_id, body), timeout=3600)
            if run["state"] != "success":
                raise SystemExit(f"celery run with {workers} worker(s) failed: {run}")
            seconds = (
                datetime.fromisoformat(run["end_date"]) - datetime.fromisoformat(run["start_date"])
            ).total_seconds()
            hosts = sorted({t["hostname"] for t in tis if t["task_id"] == "process"})
            results[f"workers_{workers}"] = {
                "seconds": seconds,
                "articles_per_s": n / seconds,
                "process_hosts": hosts,
            }
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)
    results["speedup"] = results["workers_1"]["seconds"] / results["workers_2"]["seconds"]
    return results


# -------------------------------------------------------------------------------- driver
def run_phase(name: str, env: dict[str, str], *args: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--phase", name, *args],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if out.returncode != 0:
        raise SystemExit(f"phase {name} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench_size(
    n: int, env: dict[str, str], work: Path, phases: tuple[str, ...] = PHASES
) -> dict[str, Any]:
    corpus = corpus_mod.generate(RESULTS / f"corpus-{n}", n)
    corpus_bytes = sum(p.stat().st_size for p in corpus.rglob("*.*") if p.is_file())
    tag = f"{n}-{secrets.token_hex(2)}"
    out: dict[str, Any] = {"n": n, "corpus_mb": corpus_bytes / 1e6, "ratios": {}}
    if "bare" in phases:
        cfg = write_config(work / f"bare-{tag}.yaml", corpus, "b" + tag)
        out["bare"] = run_phase("bare", env, str(cfg))
    pipe_cfg = write_config(work / f"pipe-{tag}.yaml", corpus, "p" + tag)
    if "pipeline" in phases or "rerun" in phases:
        out["pipeline"] = run_phase("pipeline", env, str(pipe_cfg))
    if "rerun" in phases:
        out["rerun"] = run_phase("pipeline", env, str(pipe_cfg))
    if "split" in phases:
        out["split"] = run_phase("split", env, str(corpus), str(min(n, 3000)))
    ratios = out["ratios"]
    pipeline, bare = out.get("pipeline"), out.get("bare")
    if pipeline and bare:
        # Time to PUT the same objects bare over the pipeline's time: throughput ratios.
        ratios["pipeline_vs_fast_bare"] = bare["fast"]["seconds"] / pipeline["seconds"]
        ratios["pipeline_vs_boto3_bare"] = bare["boto3"]["seconds"] / pipeline["seconds"]
        ratios["pipeline_vs_bare_throughput"] = ratios["pipeline_vs_fast_bare"]
    if pipeline and "rerun" in out:
        ratios["rerun_vs_pipeline_time"] = out["rerun"]["seconds"] / pipeline["seconds"]
    if "split" in out:
        split = out["split"]
        ratios["html_split_vs_lxml_parse"] = (
            split["html_split_page_min_s"] / split["lxml_parse_page_min_s"]
        )
        ratios["html_split_vs_lxml_parse_whole_passes"] = (
            split["html_split_s"] / split["lxml_parse_s"]
        )
        ratios["text_split_vs_str_find"] = split["text_split_s"] / max(split["text_find_s"], 1e-9)
        if pipeline:
            per_article = pipeline["seconds"] / max(n, 1)
            text_per = split["text_split_s"] / max(split["texts"], 1)
            ratios["text_split_share_of_article_cost"] = text_per / per_article
    return out


def _cell(value: Any, fmt: str, suffix: str = "") -> str:
    return "-" if value is None else format(value, fmt) + suffix


def table(results: list[dict[str, Any]]) -> str:
    rows = [
        "| N | corpus MB | bare PUT obj/s fastest (obstore) | bare PUT obj/s boto3"
        " | pipeline art/s | pipeline MB/s | pipeline/fastest-bare | pipeline/boto3-bare"
        " | rerun/pipeline | HTML split/lxml | text split share | process RSS MB | run RSS MB |",
        "|" + "---|" * 13,
    ]
    for r in results:
        q, bare, pipe = r["ratios"], r.get("bare"), r.get("pipeline")
        fast_rate = bare["objects"] / bare["fast"]["seconds"] if bare else None
        boto_rate = bare["objects"] / bare["boto3"]["seconds"] if bare else None
        rows.append(
            f"| {r['n']:,} | {r['corpus_mb']:.1f}"
            f" | {_cell(fast_rate, '.0f')} | {_cell(boto_rate, '.0f')}"
            f" | {_cell(pipe and r['n'] / pipe['seconds'], '.0f')}"
            f" | {_cell(pipe and r['corpus_mb'] / pipe['seconds'], '.2f')}"
            f" | {_cell(q.get('pipeline_vs_fast_bare'), '.2f', 'x')}"
            f" | {_cell(q.get('pipeline_vs_boto3_bare'), '.2f', 'x')}"
            f" | {_cell(q.get('rerun_vs_pipeline_time'), '.3f', 'x')}"
            f" | {_cell(q.get('html_split_vs_lxml_parse'), '.2f', 'x')}"
            f" | {_cell(q.get('text_split_share_of_article_cost'), '.2%')}"
            f" | {_cell(pipe and pipe['process_peak_rss_mb'], '.0f')}"
            f" | {_cell(pipe and pipe['peak_rss_mb'], '.0f')} |"
        )
    timed = [r for r in results if r.get("pipeline")]
    if len(timed) >= 2:
        a, b = timed[0], timed[-1]
        growth = (b["pipeline"]["seconds"] / a["pipeline"]["seconds"]) / (b["n"] / a["n"])
        rss = b["pipeline"]["process_peak_rss_mb"] / a["pipeline"]["process_peak_rss_mb"]
        rows.append(
            f"\nScaling {a['n']:,} → {b['n']:,}: time grew "
            f"{b['pipeline']['seconds'] / a['pipeline']['seconds']:.1f}x"
            f" for {b['n'] / a['n']:.0f}x the articles ({growth:.2f} of linear);"
            f" peak RSS of the process step {rss:.2f}x."
        )
    return "\n".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--big", action="store_true", help="also N = 100,000")
    parser.add_argument("--json", help="write the results as JSON here")
    parser.add_argument(
        "--no-dag", action="store_true", help="skip the `airflow dags test` run at the largest N"
    )
    parser.add_argument(
        "--no-celery", action="store_true", help="skip the one vs two Celery workers run"
    )
    parser.add_argument(
        "--celery-n", type=int, default=5000, help="articles for the Celery run (default 5,000)"
    )
    parser.add_argument(
        "--phases", default=",".join(PHASES), help=f"per-size phases (default {','.join(PHASES)})"
    )
    parser.add_argument("rest", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase == "pipeline":
        print(json.dumps(phase_pipeline(Path(args.rest[0]))))
        return 0
    if args.phase == "bare":
        print(json.dumps(phase_bare(Path(args.rest[0]))))
        return 0
    if args.phase == "split":
        print(json.dumps(phase_split(Path(args.rest[0]), int(args.rest[1]))))
        return 0

    from paywall_dev.servers import S3Server

    sizes = [int(s) for s in args.sizes.split(",")] + ([100_000] if args.big else [])
    phases = tuple(p for p in args.phases.split(",") if p)
    if unknown := set(phases) - set(PHASES):
        parser.error(f"unknown phases {sorted(unknown)} (known: {', '.join(PHASES)})")
    RESULTS.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="paywall-bench-") as tmp:
        work = Path(tmp)
        with S3Server("seaweedfs", work / "s3") as server:
            env = dict(os.environ) | {"AIRFLOW_CONN_PAYWALL_S3": server.connection_json()}
            results = []
            for n in sizes:
                print(f"[bench] N = {n:,} ...", flush=True)
                results.append(bench_size(n, env, work, phases))
            dag = None
            if not args.no_dag:
                n = min(max(sizes), 10_000)
                print(f"[bench] airflow dags test over N = {n:,} ...", flush=True)
                dag = bench_dag(n, RESULTS / f"corpus-{n}", server, work)
            celery = None
            if not args.no_celery:
                n = args.celery_n
                print(f"[bench] CeleryExecutor, 1 then 2 workers, N = {n:,} ...", flush=True)
                corpus = corpus_mod.generate(RESULTS / f"corpus-{n}", n)
                celery = bench_celery(n, corpus, server, work)
    machine = (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, SeaweedFS weed mini"
    )
    report = {
        "machine": machine,
        "date": datetime.now(UTC).isoformat(),
        "results": results,
        "dag": dag,
        "celery": celery,
    }
    print(f"\nMachine: {machine}\n")
    print(table(results))
    if dag:
        print(
            f"\nDAG under `airflow dags test`, N = {dag['n']:,}: {dag['dag_seconds']:.0f}s, "
            f"{dag['task_instances']} task instances; library in one process "
            f"{dag['library_sequential_seconds']:.0f}s; ratio {dag['ratio']:.2f}x. "
            f"Task seconds: {dag['task_seconds']}"
        )
    if celery:
        one, two = celery["workers_1"], celery["workers_2"]
        print(
            f"\nCeleryExecutor, N = {celery['n']:,} ({celery['chunk_size']} per chunk, "
            f"2 task slots per worker): 1 worker {one['seconds']:.0f}s "
            f"({one['articles_per_s']:.0f} art/s), 2 workers {two['seconds']:.0f}s "
            f"({two['articles_per_s']:.0f} art/s, chunks on {', '.join(two['process_hosts'])}); "
            f"speed-up {celery['speedup']:.2f}x"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    (RESULTS / "latest.json").write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
