"""Shared set-up of the Paywall page's unit tests (no tests here): a corpus, a committed run in
the page app with fake Airflow services (auth manager, REST trigger, DAG runs)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from paywall.articles import article_id
from paywall.config import load_settings
from paywall.model import Interval
from paywall.pipeline import Context, run_interval
from paywall_ui.access import (
    Access,
    DagRunInfo,
    NotAuthenticated,
    TriggerResult,
    Viewer,
)
from paywall_ui.app import Services, create_app
from tests.conftest import memory_context, write_config

DAY = "2026/11/20"
INTERVAL = Interval(datetime(2026, 11, 20, tzinfo=UTC), datetime(2026, 11, 21, tzinfo=UTC))
SLUG = INTERVAL.slug
PAID = "SENTINEL-PAID"  # only ever inside paid regions (or a quarantined raw input)
TOKENS = {
    "editor-token": ("eddie", Access.EDIT),
    "reader-token": ("rita", Access.READ),
    "outsider-token": ("otto", Access.NONE),
}
ARTICLES = {
    "story.txt": (
        "头条标题\n公开导语，人人可读。\n##paidbegin##SENTINEL-PAID-TEXT 会员正文第一段。\n"
        "第二段。##paidend##\n结尾公开。\n"
    ),
    "broken.txt": (
        "损坏标记\n免费内容。\n##paidbegin SENTINEL-PAID-BROKEN 缺少结尾井号。\n##paidend##\n"
    ),
    "plain.txt": "没有标记的文章\nNOMARKER-BODY 全文没有付费标记。\n",
    "page.html": (
        "<!DOCTYPE html><html><head><title>脚本测试</title></head><body><article>"
        "<h1>脚本测试</h1><p>免费部分<script>window.top.__pwned_free = 1</script>"
        '<img src="x" onerror="window.top.__pwned_img = 1"></p>'
        '<p>##paidbegin##SENTINEL-PAID-HTML 付费<a href="javascript:top.__pwned_a=1">链接</a>'
        "<script>window.top.__pwned_paid = 1</script>##paidend##</p><p>尾巴。</p>"
        "</article></body></html>"
    ),
}


def aid(name: str) -> str:
    return article_id("desk", f"{DAY}/{name}")


class FakeAuthorizer:
    async def viewer(self, token: str, *, via_cookie: bool) -> Viewer:
        if token not in TOKENS:
            raise NotAuthenticated("unknown token")
        name, access = TOKENS[token]
        return Viewer(name, access, token, via_cookie)


@dataclass
class FakeTrigger:
    calls: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    status: int = 200

    async def __call__(self, token: str, dag_id: str, body: Mapping[str, Any]) -> TriggerResult:
        self.calls.append((token, dag_id, dict(body)))
        if self.status != 200:
            return TriggerResult(self.status, {"detail": "refused by the fake"})
        return TriggerResult(200, {"dag_run_id": f"manual__{len(self.calls)}"})


@dataclass
class FakeDagRuns:
    runs: list[DagRunInfo] = field(default_factory=list)

    def __call__(self, dag_id: str, limit: int = 200) -> Sequence[DagRunInfo]:
        return self.runs


@dataclass
class Page:
    ctx: Context
    services: Services
    trigger: FakeTrigger
    app: Any

    def run(self) -> None:
        """A scheduled run of the interval (what the DAG would do)."""
        run_interval(self.ctx, INTERVAL)

    def rerun(self, name: str) -> None:
        """The reprocess run the page triggers: the article's ids, force."""
        run_interval(self.ctx, INTERVAL, article_ids=[aid(name)], force=True)


def make_page(tmp_path: Path, articles: Mapping[str, str] | None = None) -> Page:
    folder = tmp_path / "articles" / DAY
    folder.mkdir(parents=True)
    for name, text in (articles or ARTICLES).items():
        (folder / name).write_text(text, encoding="utf-8")
    config = write_config(
        tmp_path / "pipeline.yaml",
        pipeline={"name": "ui_pipeline"},
        sources=[
            {"name": "desk", "kind": "local", "path": str(tmp_path / "articles"),
             "timestamp": "path"}
        ],
    )  # fmt: skip
    ctx = memory_context(load_settings(config))
    trigger = FakeTrigger()
    runs = FakeDagRuns(
        [
            DagRunInfo(
                "scheduled__2026-11-20T00:00:00+00:00", "success", "scheduled",
                INTERVAL.start.isoformat(), INTERVAL.end.isoformat(), {}, None, "success",
                {"objects_checked": 9, "problems": 0},
            )
        ]
    )  # fmt: skip
    services = Services(ctx.settings, lambda: ctx.store, FakeAuthorizer(), trigger, runs)
    page = Page(ctx, services, trigger, create_app(services))
    page.run()
    return page
