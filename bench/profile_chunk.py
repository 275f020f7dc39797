"""Where one article's milliseconds go in the pipeline's process step.

Runs ``paywall.pipeline.process_chunk`` over one chunk of a generated corpus (``corpus.py``)
against an embedded ``weed mini``, first run (everything written), and reports per article:

- by stage, with every call of the stage's functions timed (thread CPU time, exclusive of
  nested timed calls, summed over the chunk's threads; and wall time): read, decode, split
  (text and HTML), the free-output marker gate, metadata (text stats, JSON-LD), hash (every
  sha256/MD5, including the two inside each boto3 PUT), JSON, PUT (the client's own work);
- the process's total CPU (all threads), so "other" is what no stage claims;
- a cProfile of the same chunk run inline (no thread pool) with the top functions.

``--store fast`` (the default data path, ``storage.client: fast``) runs the chunk on
``paywall.fast_store.FastStore``; ``--store boto3`` on ``paywall.storage.S3Store``.

Usage: python bench/profile_chunk.py [--n 1000] [--store boto3|fast] [--top 25] [--json FILE]
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import io
import json
import pstats
import resource
import sys
import tempfile
import threading
import time
import types
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import corpus as corpus_mod  # noqa: E402

DAY = datetime(2026, 11, 20, tzinfo=UTC)


class Stages:
    """Exclusive wall and thread-CPU time per stage, across threads."""

    def __init__(self) -> None:
        self.wall: defaultdict[str, float] = defaultdict(float)
        self.cpu: defaultdict[str, float] = defaultdict(float)
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._local = threading.local()

    def wrap(self, stage: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            stack = self._local.__dict__.setdefault("stack", [])
            frame = [0.0, 0.0]
            stack.append(frame)
            wall, cpu = time.perf_counter(), time.thread_time()
            try:
                return fn(*args, **kwargs)
            finally:
                dw, dc = time.perf_counter() - wall, time.thread_time() - cpu
                stack.pop()
                if stack:
                    stack[-1][0] += dw
                    stack[-1][1] += dc
                with self._lock:
                    self.wall[stage] += dw - frame[0]
                    self.cpu[stage] += dc - frame[1]
                    self.calls[stage] += 1

        return timed


def instrument(stages: Stages) -> Callable[[], None]:
    """Patch the stage functions where the pipeline looks them up; return an undo."""
    import paywall.articles as articles
    import paywall.pipeline as pipeline
    import paywall.store as store_module
    from paywall.fast_store import FastStore
    from paywall.sources.local import LocalFolderSource
    from paywall.storage import S3Store

    patches: list[tuple[Any, str, Any]] = []

    def patch(owner: Any, name: str, stage: str) -> None:
        original = getattr(owner, name)
        patches.append((owner, name, original))
        setattr(owner, name, stages.wrap(stage, original))

    patch(LocalFolderSource, "fetch", "read")
    patch(articles, "decode", "decode")
    patch(articles, "split_text", "split")
    patch(articles, "split_html", "split")
    patch(articles, "marker_problem", "gate")
    patch(articles, "find_paid_text", "gate")
    patch(articles, "text_stats", "metadata")
    patch(articles, "news_article_json_ld", "metadata")
    for module in (articles, pipeline):
        patch(module, "sha256_hex", "hash")
    patch(pipeline, "dumps", "json")
    patch(S3Store, "put", "put")
    patch(FastStore, "put", "put")
    # Blob.of hashes each object once (sha256 and MD5): count it as hashing.
    fake = types.SimpleNamespace(
        sha256=stages.wrap("hash", hashlib.sha256), md5=stages.wrap("hash", hashlib.md5)
    )
    patches.append((store_module, "hashlib", store_module.hashlib))
    setattr(store_module, "hashlib", fake)  # noqa: B010

    def undo() -> None:
        for owner, name, original in reversed(patches):
            setattr(owner, name, original)

    return undo


def _context(config: Path, store_kind: str, endpoint: Any) -> Any:
    from paywall.config import load_settings
    from paywall.pipeline import build_context
    from paywall.s3 import make_client
    from paywall.storage import init_buckets

    settings = load_settings(config)
    settings = settings.model_copy(
        update={"storage": settings.storage.model_copy(update={"client": store_kind})}
    )
    init_buckets(make_client(endpoint), settings.storage)
    return build_context(settings, lambda _conn: endpoint)


def cpu_now() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="articles in the chunk")
    parser.add_argument("--store", choices=("boto3", "fast"), default="fast")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--json", help="write the figures here")
    args = parser.parse_args()

    from paywall.model import Interval
    from paywall.pipeline import plan_run, process_chunk
    from paywall_dev.servers import S3Server

    corpus = corpus_mod.generate(HERE / "results" / f"corpus-{args.n}", args.n)
    interval = Interval(DAY, DAY.replace(day=21))
    report: dict[str, Any] = {"n": args.n, "store": args.store}
    with tempfile.TemporaryDirectory(prefix="paywall-profile-") as tmp:
        work = Path(tmp)
        with S3Server("seaweedfs", work / "s3") as server:

            def config(tag: str) -> Path:
                path = work / f"{tag}.yaml"
                path.write_text(
                    yaml.safe_dump(
                        {
                            "pipeline": {"name": f"prof_{tag}", "chunk_size": args.n},
                            "storage": {
                                "public_bucket": f"prof-pub-{tag}",
                                "private_bucket": f"prof-priv-{tag}",
                                "max_concurrency": args.concurrency,
                            },
                            "sources": [
                                {
                                    "name": "bench",
                                    "kind": "local",
                                    "path": str(corpus),
                                    "timestamp": "path",
                                }
                            ],
                        }
                    )
                )
                return path

            # 1. Stages, with the chunk's thread pool as the pipeline runs it.
            ctx = _context(config("stages"), args.store, server.endpoint)
            plan = plan_run(ctx, interval)
            stages = Stages()
            undo = instrument(stages)
            cpu, wall = cpu_now(), time.perf_counter()
            try:
                result = process_chunk(ctx, plan.jobs()[0])
            finally:
                undo()
            wall, cpu = time.perf_counter() - wall, cpu_now() - cpu
            n = result.counts.articles
            report |= {"articles": n, "writes": result.writes, "wall_s": wall, "cpu_s": cpu}
            claimed = sum(stages.cpu.values())
            rows = {
                stage: {
                    "cpu_ms": 1000 * stages.cpu[stage] / n,
                    "wall_ms": 1000 * stages.wall[stage] / n,
                    "calls_per_article": stages.calls[stage] / n,
                }
                for stage in stages.cpu
            }
            rows["other (GIL waits not counted)"] = {
                "cpu_ms": 1000 * (cpu - claimed) / n,
                "wall_ms": float("nan"),
                "calls_per_article": float("nan"),
            }
            report["stages"] = rows

            # 2. cProfile, inline (cProfile sees only the thread that enables it).
            import paywall.pipeline as pipeline

            class Inline:
                def __init__(self, *a: Any, **kw: Any) -> None:
                    pass

                def __enter__(self) -> Inline:
                    return self

                def __exit__(self, *exc: Any) -> None:
                    return None

                def map(self, fn: Callable[..., Any], items: Any) -> Iterator[Any]:
                    return map(fn, items)

            ctx2 = _context(config("cprofile"), args.store, server.endpoint)
            plan2 = plan_run(ctx2, interval)
            real_pool = pipeline.ThreadPoolExecutor
            setattr(pipeline, "ThreadPoolExecutor", Inline)  # noqa: B010
            profiler = cProfile.Profile()
            try:
                profiler.enable()
                process_chunk(ctx2, plan2.jobs()[0])
                profiler.disable()
            finally:
                setattr(pipeline, "ThreadPoolExecutor", real_pool)  # noqa: B010
            out = io.StringIO()
            stats = pstats.Stats(profiler, stream=out)
            stats.sort_stats("tottime").print_stats(args.top)
            report["cprofile_tottime"] = out.getvalue()
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(args.top)
            report["cprofile_cumulative"] = out.getvalue()

    print(
        f"N = {report['articles']:,} articles, {report['writes']:,} objects written, "
        f"store {args.store}, {args.concurrency} threads: wall {report['wall_s']:.1f}s, "
        f"process CPU {report['cpu_s']:.1f}s "
        f"({1000 * report['cpu_s'] / report['articles']:.2f} ms/article)\n"
    )
    print("| stage | CPU ms/article | share of CPU | wall ms/article (summed over threads) |")
    print("|---|---|---|---|")
    total_cpu = sum(r["cpu_ms"] for r in report["stages"].values())
    for stage, r in sorted(report["stages"].items(), key=lambda kv: -kv[1]["cpu_ms"]):
        print(
            f"| {stage} | {r['cpu_ms']:.2f} | {r['cpu_ms'] / total_cpu:.0%} | {r['wall_ms']:.2f} |"
        )
    print("\ncProfile (inline run), by own time:\n")
    print(report["cprofile_tottime"])
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
