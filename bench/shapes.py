"""Hostile input shapes: does `split_article` stay linear, fast and bounded in memory?

    python bench/shapes.py            # every shape at 1x, 4x, 16x and one 5 MB article each
    python bench/shapes.py --quick    # smaller base size, no 5 MB articles
    python bench/shapes.py --only text_regions,html_nesting

Each measurement runs in a fresh child process (so one shape cannot slow or bloat the
next, and a runaway one is stopped at --timeout): the child builds the article, splits it
once to warm up on a tiny article (tables, caches, imports), then times one call of the
public `paywall.articles.split_article` and reports its CPU and wall time, the status, and
its peak RSS above the warmed-up baseline. The table shows, per shape, CPU seconds at
1x/4x/16x (CPU, not wall: the machine is shared, and a busy neighbour stretches wall time
but not the work done), the growth from 1x to 16x (linear is ~16x; the target is at most
~20x), and the 5 MB article's CPU and wall time (target: within 5 s) and memory growth.
Results, wall times included, go to bench/results/shapes.json.
Timings are never asserted in tests; this script is where they are read.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from rss import peak_rss_mb  # bench/ is the script's folder

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results" / "shapes.json"
B, E = "##paidbegin##", "##paidend##"
FIVE_MB = 5 * 1024 * 1024
CHINESE = "县域经济高质量发展座谈会坚持规划引领一张蓝图绘到底突出创新务入脑入心之实"
PAID = "订阅用户可读的正文部分讲述具体做法与数据细节以及下一步工作安排"


def _fill(unit: str, size: int) -> str:
    """``unit`` repeated up to about ``size`` bytes of UTF-8."""
    return unit * max(1, size // len(unit.encode("utf-8")))


def _page(body: str) -> str:
    return f"<!DOCTYPE html><html><head><title>t</title></head><body>{body}</body></html>"


# name -> (format, builder(size in bytes) -> article text)
SHAPES: dict[str, tuple[str, Callable[[int], str]]] = {
    # A realistic Chinese article: the baseline every other shape is read against.
    "text_plain": ("txt", lambda n: "标题\n" + _fill(CHINESE + "。\n", n // 2) + B
                   + _fill(PAID + "，", n // 2) + E + "\n"),
    "text_regions": ("txt", lambda n: "free\n" + _fill(f"{B}付费内容{E}免费内容\n", n)),
    "text_empty_regions": ("txt", lambda n: "free\n" + _fill(f"{B}{E}\n", n)),
    "text_markers_only": ("txt", lambda n: "free\n" + _fill(f"{B}{E}", n)),
    # Near-misses: runs of marker letters, invisible and full-width characters that never
    # form a marker or a piece of one (the look-alike scan must look at all of them).
    "text_look_alikes": ("txt", lambda n: f"free{B}订阅正文{E}\n"
                         + _fill("bead ping gain\u200bed bid ｂｅｇ\u00adgin aged nab #bag ", n)),
    "text_english": ("txt", lambda n: "Title\n" + _fill("The prepaid plan began and ended; a "
                     "big bad dog, a pig in a bag. ", n // 2) + B
                     + _fill("Paid words follow here for subscribers. ", n // 2) + E),
    "html_plain": ("html", lambda n: _page("<h1>标题</h1>" + _fill(f"<p>{CHINESE}。</p>", n // 2)
                   + f"<p>{B}" + _fill(f"{PAID}，</p><p>", n // 2) + f"{E}</p>")),
    "html_regions": ("html", lambda n: _page("<p>free</p>"
                     + _fill(f"<p>{B}付费内容{E}免费内容</p>", n))),
    "html_empty_regions": ("html", lambda n: _page("<p>free</p>" + _fill(f"<p>{B}{E}</p>", n))),
    "html_nesting": ("html", lambda n: _page(f"<p>free{B}订阅正文{E}</p>"
                     + "<div>" * (n // 5) + "x" + "</div>" * (n // 5))),
    "html_lt_noise": ("html", lambda n: _page(f"<p>free{B}订阅正文{E}</p><p>"
                      + _fill("&#169;<", n) + "</p>")),
    "html_attributes": ("html", lambda n: _page(f"<p>free{B}订阅正文{E}</p><p "
                        + " ".join(f'data-a{i}="v{i}"' for i in range(n // 14)) + ">x</p>")),
    "html_look_alikes": ("html", lambda n: _page(f"<p>free{B}订阅正文{E}</p>"
                         + _fill("<p>bead ping gain\u200bed bid ｂｅｇ\u00adgin aged</p>", n))),
}  # fmt: skip


def _child(shape: str, size: int) -> dict[str, object]:
    sys.path.insert(0, str(REPO / "plugins"))
    from paywall.articles import RawArticle, SplitOptions, split_article

    fmt, build = SHAPES[shape]
    options = SplitOptions()
    split_article(RawArticle("bench", f"warm.{fmt}", f"a{B}b{E}c".encode()), options)
    data = build(size).encode("utf-8")
    baseline = peak_rss_mb()
    article = RawArticle("bench", f"{shape}.{fmt}", data)
    start = time.perf_counter()
    cpu = time.process_time()
    out = split_article(article, options)
    seconds = time.perf_counter() - start
    cpu = time.process_time() - cpu
    peak = peak_rss_mb()
    return {
        "shape": shape,
        "bytes": len(data),
        "seconds": round(seconds, 4),
        "cpu_seconds": round(cpu, 4),
        "status": out.record.status,
        "peak_rss_mb": round(peak, 1),
        "rss_growth_mb": round(peak - baseline, 1),
    }


def _measure(shape: str, size: int, timeout: float) -> dict[str, object]:
    command = [sys.executable, __file__, "--child", shape, str(size)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"shape": shape, "bytes": size, "seconds": None, "status": f"timeout {timeout}s"}
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-1:] or ["?"]
        return {"shape": shape, "bytes": size, "seconds": None, "status": f"crash: {tail[0]}"}
    return dict(json.loads(done.stdout))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", nargs=2, metavar=("SHAPE", "BYTES"), help=argparse.SUPPRESS)
    parser.add_argument("--base", type=int, default=64 * 1024, help="1x size in bytes")
    parser.add_argument("--quick", action="store_true", help="base 16 KB, no 5 MB articles")
    parser.add_argument("--only", help="comma-separated shape names")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per measurement")
    parser.add_argument("--json", type=Path, default=RESULTS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_child(args.child[0], int(args.child[1]))))
        return 0

    base = 16 * 1024 if args.quick else args.base
    names = args.only.split(",") if args.only else list(SHAPES)
    rows = []
    header = (
        f"{'shape (CPU s)':<20} {'1x':>7} {'4x':>7} {'16x':>7} {'16x/1x':>7} "
        f"{'5MB':>7} {'wall':>7} {'MB':>6}  status"
    )
    print(f"base size {base // 1024} KB; {os.cpu_count()} cores; load {os.getloadavg()[0]:.1f}")
    print(header)
    print("-" * len(header), flush=True)
    for name in names:
        runs = {f"{k}x": _measure(name, base * k, args.timeout) for k in (1, 4, 16)}
        if not args.quick:
            runs["5MB"] = _measure(name, FIVE_MB, args.timeout)
        first, last = runs["1x"].get("cpu_seconds"), runs["16x"].get("cpu_seconds")
        growth = round(last / first, 1) if first and last else None
        row = {"shape": name, "format": SHAPES[name][0], "growth_16x": growth, "runs": runs}
        rows.append(row)

        def cell(key: str, field: str = "cpu_seconds", runs: dict = runs) -> str:
            value = runs.get(key, {}).get(field)
            if value is None:
                return "-"
            return f"{value:.2f}" if field.endswith("seconds") else f"{value}"

        statuses = sorted({str(r.get("status")) for r in runs.values()})
        print(
            f"{name:<20} {cell('1x'):>7} {cell('4x'):>7} {cell('16x'):>7} "
            f"{growth if growth is not None else '-':>7} {cell('5MB'):>7} "
            f"{cell('5MB', 'seconds'):>7} {cell('5MB', 'rss_growth_mb'):>6}  "
            f"{', '.join(statuses)}",
            flush=True,
        )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "base_bytes": base,
        "cores": os.cpu_count(),
        "load_average": os.getloadavg(),
        "targets": {"growth_16x_at_most": 20, "five_mb_seconds_at_most": 5},
        "shapes": rows,
    }
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
