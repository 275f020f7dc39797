"""Deterministic corpus of realistic Chinese articles for the benchmarks.

Sentences come from the bundled sample article, recombined by a seeded RNG into articles of
2-20 KB with a title, headings and paragraphs, one to three paid regions, a share of HTML
pages with site chrome around the article, and a few quarantine cases.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "samples" / "articles" / "2026" / "11" / "20" / "000_ef8617fb664c5123.txt"
B, E = "##paidbegin##", "##paidend##"
DAY = "2026/11/20"


def sentences() -> list[str]:
    text = SAMPLE.read_text(encoding="utf-8").replace(B, "").replace(E, "")
    parts = [s.strip() for s in re.split(r"(?<=[。；！？])", text) if len(s.strip()) > 8]
    return parts


def _paragraphs(rng: random.Random, pool: list[str], size: int) -> list[str]:
    out: list[str] = []
    total = 0
    while total < size:
        para = "".join(rng.choice(pool) for _ in range(rng.randint(2, 6)))
        out.append(para)
        total += len(para.encode("utf-8"))
    return out


def make_article(rng: random.Random, everything: list[str], index: int) -> tuple[str, bytes]:
    # Free and paid text come from disjoint halves of the sentences: a sentence repeated in
    # both halves is what the last gate refuses (paid_text_in_free), which real articles
    # rarely do and a benchmark of the publishing path must not do at all.
    pool, paid_pool = everything[0::2], everything[1::2]
    size = rng.randint(2_000, 20_000)
    paras = _paragraphs(rng, pool, size)
    title = rng.choice(pool)[:30]
    regions = rng.choice((1, 1, 1, 2, 3))
    while len(paras) < 2 * regions + 2:
        paras.append(rng.choice(pool))
    # Place the regions' begin/end around paragraph boundaries, keeping a free preview first.
    cuts = sorted(rng.sample(range(1, len(paras)), 2 * regions))
    for start, stop in zip(cuts[0::2], cuts[1::2], strict=True):
        for at in range(start, stop):
            paras[at] = "".join(rng.choice(paid_pool) for _ in range(rng.randint(2, 6)))
    kind = rng.random()
    broken = rng.random() < 0.02  # a few quarantine cases
    if kind < 0.25:  # an HTML page with chrome
        blocks = [f"<p>{p}</p>" for p in paras]
        for n, at in enumerate(reversed(cuts)):
            marker = E if n % 2 == 0 else B
            blocks[at] = blocks[at].replace("<p>", f"<p>{marker}", 1)
        if broken:
            blocks[cuts[0]] = blocks[cuts[0]].replace(B, "##paid<b>begin</b>##")
        body = "".join(blocks[:2]) + f"<h2>{rng.choice(pool)[:20]}</h2>" + "".join(blocks[2:])
        page = (
            f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{title}</title>'
            f"<script>var cfg={{id:{index}}};</script></head><body>"
            "<nav><a href='/'>首页</a> | <a href='/news'>新闻</a></nav>"
            f"<article><h1>{title}</h1>{body}</article>"
            "<aside>相关阅读</aside><footer>版权所有</footer></body></html>"
        )
        return f"{DAY}/page-{index:06d}.html", page.encode("utf-8")
    lines = list(paras)
    for n, at in enumerate(reversed(cuts)):
        marker = E if n % 2 == 0 else B
        lines[at] = marker + lines[at]
    text = title + "\n" + "\n".join(lines) + "\n"
    if broken:
        text = text.replace(E, "##paidend", 1)
    data = text.encode("gb18030") if rng.random() < 0.1 else text.encode("utf-8")
    return f"{DAY}/text-{index:06d}.txt", data


def generate(root: Path, count: int, seed: int = 7) -> Path:
    """Write ``count`` articles under root (idempotent for the same count and seed)."""
    stamp = root / f".generated-{count}-{seed}"
    if stamp.exists():
        return root
    rng = random.Random(seed)
    pool = sentences()
    for index in range(count):
        name, data = make_article(rng, pool, index)
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    stamp.write_text("ok")
    return root
