"""HTML split: hostile shapes (linear?) and realistic pages (what the parser costs).

    python bench/html_shapes.py              # both parts, table on stdout
    python bench/html_shapes.py --shapes     # only the hostile shapes
    python bench/html_shapes.py --pages      # only the realistic pages
    python bench/html_shapes.py --json FILE  # also write the numbers as JSON

Shapes: each at 1x, 4x and 16x (time growth for 16x input should stay near 16x, at most
~20x), then one 5 MB page of each shape in a fresh process (seconds, peak RSS). Shape
timings are CPU time (process_time): on a shared machine wall time measures the load. Pages:
`split_html` on the bundled HTML sample and on generated Chinese article pages of 2-20 KB
with site chrome, against one `BeautifulSoup(page, "lxml")` parse of the same page (the
old baseline) -- per-page minima over rounds, interleaved. Timings are never asserted in
tests; read them against docs/performance.md.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "plugins"))
sys.path.insert(0, str(REPO))

B, E = "##paidbegin##", "##paidend##"
WORDS = "县域经济高质量发展坚持规划引领改革创新激发内生动力优化营商环境提升服务效能"


def _text(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(WORDS) for _ in range(n))


def _page(body: str) -> str:
    head = '<meta charset="utf-8"><title>t</title>'
    return f"<!DOCTYPE html><html><head>{head}</head><body>{body}</body></html>"


# Each shape: units -> page. One unit is roughly 20-60 bytes.
SHAPES: dict[str, Callable[[int], str]] = {
    "regions": lambda n: _page("".join(f"<p>免费{i}{B}付费{i}{E}</p>" for i in range(n))),
    "empty_regions": lambda n: _page("<p>开头" + f"{B}{E}" * n + "结尾</p>"),
    "markers_one_text": lambda n: _page("<p>" + f"免费{B}付费{E}" * n + "</p>"),
    "deep_nesting": lambda n: "<div>" * n + f"免费{B}付费{E}" + "</div>" * n,
    "lt_noise": lambda n: "&#169;" + "<" * (8 * n) + f"<p>免费{B}付费{E}</p>",
    "lt_alpha_noise": lambda n: "<a" * (4 * n) + f"<p>免费{B}付费{E}</p>",
    "attributes": lambda n: _page(
        "<p " + " ".join(f'data-a{i}="v{i}"' for i in range(n)) + f">免费{B}付费{E}</p>"
    ),
    "attribute_elements": lambda n: _page(
        "".join(f'<span class="c{i}" data-x="{i}" title="t">字</span>' for i in range(n))
        + f"<p>免费{B}付费{E}</p>"
    ),
    "foster_tables": lambda n: _page(
        f"<p>免费{B}付费{E}</p>" + "<table>杂<tr><td>格</td></tr></table>" * n
    ),
    "hidden_containers": lambda n: _page(
        "<noscript>无</noscript><template><p>模</p></template>" * n + f"<p>免费{B}付费{E}</p>"
    ),
    "comments": lambda n: _page("<!-- 注释 -->" * n + f"<p>免费{B}付费{E}</p>"),
    "formatting_misnested": lambda n: _page("<b>甲<p>乙</b>丙</p>" * n + f"<p>免费{B}付费{E}</p>"),
    "character_references": lambda n: _page(
        "<p>" + "&#169;&amp;&nbsp;&#x4e2d;" * n + f"免费{B}付费{E}</p>"
    ),
    "article": lambda n: _page(
        "<article><h1>标题</h1>"
        + "".join(
            f'<p class="para">段落{i}<a href="/a/{i}">链接</a><strong>强调</strong></p>'
            + (B if i == 1 else E if i == n - 1 else "")
            for i in range(max(n, 3))
        )
        + "</article>"
    ),
}


def _time(
    fn: Callable[[], object], rounds: int = 3, clock: Callable[[], float] = time.perf_counter
) -> float:
    best = float("inf")
    for _ in range(rounds):
        gc.collect()
        gc.disable()
        start = clock()
        fn()
        best = min(best, clock() - start)
        gc.enable()
    return best


def _units_for(shape: str, size: int) -> int:
    """How many units make a page of about `size` bytes."""
    one = len(SHAPES[shape](100).encode()) / 100
    return max(1, int(size / one))


def run_shapes(base_bytes: int = 80_000) -> list[dict[str, object]]:
    from paywall.htmlsplit import split_html

    rows = []
    for shape in SHAPES:
        units = _units_for(shape, base_bytes)
        times = []
        for factor in (1, 4, 16):
            page = SHAPES[shape](units * factor)
            # CPU time: on a shared machine, wall time measures the neighbours.
            times.append(
                _time(lambda page=page: split_html(page), rounds=2, clock=time.process_time)
            )
        status = split_html(SHAPES[shape](units)).status.value
        big = _five_mb(shape)
        rows.append(
            {
                "shape": shape,
                "bytes_1x": len(SHAPES[shape](units).encode()),
                "status": status,
                "s_1x": times[0],
                "s_4x": times[1],
                "s_16x": times[2],
                "growth_16x": times[2] / times[0] if times[0] else None,
            }
            | big
        )
        print(
            f"{shape:22s} {status:14s} 1x {times[0] * 1000:8.1f} ms  4x {times[1] * 1000:8.1f} ms"
            f"  16x {times[2] * 1000:8.1f} ms  growth {times[2] / times[0]:5.1f}x"
            f"  | 5 MB {big['s_5mb']:6.2f} s CPU ({big.get('wall_s_5mb', 0):6.2f} s wall),"
            f" peak RSS {big['peak_rss_mb']:6.0f} MB"
            f" ({big['status_5mb']})",
            flush=True,
        )
    return rows


def _five_mb(shape: str) -> dict[str, object]:
    """Split one ~5 MB page of the shape in a fresh process: seconds and peak RSS."""
    code = f"""
import json, sys, time
sys.path.insert(0, {str(REPO)!r}); sys.path.insert(0, {str(REPO / "plugins")!r})
from bench.html_shapes import SHAPES, _units_for
from bench.rss import peak_rss_mb
from paywall.htmlsplit import split_html
page = SHAPES[{shape!r}](_units_for({shape!r}, 5_000_000))
before = peak_rss_mb()
start, cpu = time.perf_counter(), time.process_time()
result = split_html(page)
seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
print(json.dumps({{"s_5mb": cpu, "wall_s_5mb": seconds, "bytes_5mb": len(page.encode()),
    "peak_rss_mb": peak_rss_mb(),
    "rss_before_mb": before, "status_5mb": result.status.value}}))
"""
    try:
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=1800
        )
    except subprocess.TimeoutExpired:
        return {"s_5mb": float("inf"), "peak_rss_mb": float("nan"), "status_5mb": "> 1800 s wall"}
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def run_pages(count: int = 120, rounds: int = 7) -> dict[str, object]:
    from bench.corpus import make_article, sentences
    from bs4 import BeautifulSoup

    from paywall.htmlsplit import split_html

    rng = random.Random(7)
    pool = sentences()
    pages: list[str] = []
    index = 0
    while len(pages) < count:
        name, data = make_article(rng, pool, index)
        index += 1
        if name.endswith(".html"):
            pages.append(data.decode("utf-8"))
    sample = (REPO / "samples/articles/2026/11/20/html-demo.html").read_text(encoding="utf-8")
    result: dict[str, object] = {}
    for label, group in (("sample", [sample]), ("corpus_pages", pages)):
        parse = [float("inf")] * len(group)
        split = [float("inf")] * len(group)
        for _ in range(rounds):
            for i, page in enumerate(group):  # interleaved, page by page
                parse[i] = min(parse[i], _time(lambda p=page: BeautifulSoup(p, "lxml"), 1))
                split[i] = min(split[i], _time(lambda p=page: split_html(p), 1))
        ratio = sum(split) / sum(parse)
        result[label] = {
            "pages": len(group),
            "bs4_lxml_parse_s": sum(parse),
            "html_split_s": sum(split),
            "split_vs_parse": ratio,
        }
        print(
            f"{label:14s} {len(group):4d} pages  bs4+lxml parse {sum(parse) * 1000:8.1f} ms"
            f"  split_html {sum(split) * 1000:8.1f} ms  ratio {ratio:.2f}x",
            flush=True,
        )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--shapes", action="store_true")
    parser.add_argument("--pages", action="store_true")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    both = not (args.shapes or args.pages)
    out: dict[str, object] = {}
    if args.pages or both:
        out["pages"] = run_pages()
    if args.shapes or both:
        out["shapes"] = run_shapes()
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
