"""`make bench` still runs: a small `bench/run.py` over a real embedded S3 server.

The benchmark is not part of `make test` (timings stay out of the suite), but its code is:
this runs every per-size phase at N = 40 in three chunks and checks what it reports, never
how fast anything was.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_the_bench_runs_every_phase_and_reports_what_it_measured(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    env = dict(os.environ) | {"BENCH_RESULTS": str(tmp_path / "results"), "BENCH_CHUNK_SIZE": "15"}
    done = subprocess.run(
        [sys.executable, str(REPO / "bench" / "run.py"), "--sizes", "40", "--no-dag",
         "--no-celery", "--json", str(out)],
        env=env, capture_output=True, text=True, timeout=400, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    (result,) = json.loads(out.read_text())["results"]
    assert result["n"] == 40
    first, rerun = result["pipeline"], result["rerun"]
    assert first["articles"] == rerun["articles"] == 40
    assert first["actions"] == {"written": 40}
    assert rerun["actions"] == {"unchanged": 40}  # nothing changed: nothing rewritten
    assert set(first["steps"]) == {"plan", "process", "chunks_sum", "publish"}
    bare = result["bare"]
    # The bare side PUTs exactly the objects the pipeline wrote, with both clients.
    assert bare["objects"] > 40 * 2 and {"fast", "boto3"} <= set(bare)
    assert set(result["ratios"]) >= {
        "pipeline_vs_fast_bare",
        "pipeline_vs_boto3_bare",
        "rerun_vs_pipeline_time",
    }
    assert result["split"]["pages"] > 0 and result["split"]["texts"] > 0
    assert "| 40 |" in done.stdout  # the table a reader sees
