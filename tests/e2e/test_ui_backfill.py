"""The user flow "trigger a backfill from the Airflow UI", in headless Chromium."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.e2e.conftest import Standalone
from tests.e2e.test_scheduler import wait_backfill

pytestmark = pytest.mark.slow
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


def chromium() -> str:
    path = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        pytest.skip("Debian's chromium is not installed (scripts/install-chromium.sh needs root)")
    return path


def set_datetime(page, index: int, date: str, clock: str) -> None:  # type: ignore[no-untyped-def]
    page.get_by_test_id("datetime-input").nth(index).click()
    date_box = page.get_by_placeholder("YYYY/MM/DD").last
    date_box.click()
    date_box.fill(date)
    time_box = page.get_by_placeholder("HH:mm").last
    time_box.click()
    time_box.fill(clock)
    page.keyboard.press("Escape")


def test_backfill_two_days_from_the_ui(standalone: Standalone, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    st, ctx = standalone, standalone.airflow.ctx
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        page.set_default_timeout(30_000)
        try:
            page.goto(st.base + "/")
            page.get_by_label("Username").fill("admin")
            page.get_by_label("Password").fill(st.password)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(lambda url: "login" not in url)
            page.goto(f"{st.base}/dags/{st.airflow.dag_id}")
            page.get_by_test_id("trigger-dag-button").click()
            page.get_by_text("Backfill", exact=True).click()
            set_datetime(page, 0, "2026/11/21", "00:00")
            set_datetime(page, 1, "2026/11/22", "00:00")
            expect(page.get_by_text("2 runs will be triggered")).to_be_visible()
            page.screenshot(path=str(ARTIFACTS / "ui-backfill-dialog.png"))
            page.get_by_role("button", name="Run Backfill").click()
            page.wait_for_timeout(1500)
            page.screenshot(path=str(ARTIFACTS / "ui-backfill-submitted.png"))
        except Exception:
            page.screenshot(path=str(ARTIFACTS / "ui-backfill-failure.png"), full_page=True)
            raise
        finally:
            browser.close()

    backfills = st.api.get(f"/api/v2/backfills?dag_id={st.airflow.dag_id}")["backfills"]
    mine = [b for b in backfills if b["from_date"].startswith("2026-11-21")]
    assert len(mine) == 1, backfills
    runs = wait_backfill(st, mine[0]["id"], 2)
    assert sorted(r["state"] for r in runs) == ["success", "success"]
    for day in ("21", "22"):
        slug = f"202611{day}T000000Z_202611{int(day) + 1}T000000Z"
        marker = ctx.store.get(
            ctx.layout.public_bucket, ctx.layout.commit_marker(ctx.layout.manifest(slug))
        )
        assert marker is not None and json.loads(marker)["articles"] == 3
        free = ctx.store.get(
            ctx.layout.public_bucket, ctx.layout.free("desk", f"2026/11/{day}/story-0.txt", "txt")
        )
        assert free and b"SENTINEL" not in free
