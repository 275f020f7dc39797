"""The Paywall page in a real Airflow UI, in headless Chromium, as an editor and as a viewer.

`airflow standalone` with two SimpleAuthManager users (``admin``: edit access to the DAG,
``viewer``: read only), the pipeline run over the samples plus a no-marker article and an
HTML article whose halves carry scripts. Checked: the page lists the run and the quarantine,
the side-by-side view shows both halves, no article script runs, *reprocess* creates a DAG
run with the right conf, an override releases the no-marker article on the next run, retract
takes the public side down at once; the viewer sees no paid text (every response of the
page is scanned) and gets 403 on direct URLs; no cookie at all gets 401.
"""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from paywall.articles import article_id
from paywall.model import Outcome, OverrideAction
from paywall.reader import interval_runs
from paywall_dev import devstack
from tests.conftest import REPO
from tests.e2e.conftest import AirflowEnv, build_airflow_env
from tests.e2e.test_ui_backfill import CHROMIUM_ARGS, chromium

# Starting `airflow standalone` alone can take minutes on a loaded 2-core machine.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]
ARTIFACTS = REPO / "test-artifacts"
DAY = "2026/11/20"
START, END = "2026-11-20T00:00:00+00:00", "2026-11-21T00:00:00+00:00"
SLUG = "20261120T000000Z_20261121T000000Z"
SAMPLE = f"{DAY}/000_ef8617fb664c5123.txt"
EXTRA = {
    "no-marker-demo.txt": "没有标记的稿件\nNOMARKER-BODY 编辑忘了插入付费标记。\n",
    "script-demo.html": (
        "<!DOCTYPE html><html><head><title>脚本稿件</title></head><body><article>"
        "<h1>脚本稿件</h1><p>免费导语。<script>window.top.__pwned = 'free';"
        "document.title = 'PWNED'</script><img src=\"x\" onerror=\"window.top.__pwned = 'img'\">"
        "</p><p>##paidbegin##SENTINEL-PAID-UI 付费正文<script>window.top.__pwned = 'paid'"
        "</script>。##paidend##</p><p>欢迎订阅。</p></article></body></html>"
    ),
}


def aid(name: str) -> str:
    return article_id("desk", name if "/" in name else f"{DAY}/{name}")


def paid_sentinels() -> list[str]:
    """Strings that exist only in paid regions (or quarantined input) of the corpus."""
    text = (REPO / "samples" / "articles" / SAMPLE).read_text(encoding="utf-8")
    region = text.split("##paidbegin##", 1)[1].split("##paidend##", 1)[0]
    sample_bits = [region[i : i + 12] for i in (40, 900, 2000)]
    # (NOMARKER-BODY is not one: the editor resolves that article as all free.)
    return ["SENTINEL-PAID", "这里的付费内容缺少标记", *sample_bits]


@dataclass
class Stack:
    airflow: AirflowEnv
    base: str
    admin: devstack.ApiClient
    passwords: dict[str, str]


@pytest.fixture(scope="module")
def stack(e2e_s3, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """`airflow standalone` with an editor and a viewer, the pipeline run once for a day."""
    from paywall_dev.servers import free_port, stop_process_group

    tmp = tmp_path_factory.mktemp("ui-page")
    env = build_airflow_env(tmp, e2e_s3)
    for name, text in EXTRA.items():
        (tmp / "articles" / DAY / name).write_text(text, encoding="utf-8")
    dags = tmp / "dags"
    dags.mkdir()
    for dag_file in (REPO / "dags").glob("*.py"):
        shutil.copy(dag_file, dags / dag_file.name)
    port = free_port()
    env.env |= {
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin,viewer:viewer",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
    }
    # The users' passwords, written before the start (SimpleAuthManager keeps a file's).
    passwords = {user: secrets.token_urlsafe(12) for user in ("admin", "viewer")}
    (env.home / "simple_auth_manager_passwords.json.generated").write_text(json.dumps(passwords))
    log = (tmp / "standalone.log").open("ab")
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "airflow"), "standalone"],
        env=env.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=tmp,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        admin = devstack.ApiClient(base, "admin", passwords["admin"])
        admin.wait_healthy(600)  # a shared 2-core machine under load: minutes
        admin.wait_for_dag(env.dag_id, 600)
        patient(admin.unpause, env.dag_id)
        body = {"dag_run_id": "ui-page-first-run", "logical_date": START,
                "data_interval_start": START, "data_interval_end": END}  # fmt: skip
        try:
            patient(admin.trigger, env.dag_id, body)
        except urllib.error.HTTPError as exc:
            if exc.code != 409:  # 409: a retried POST had created it
                raise
        stack = Stack(env, base, admin, passwords)
        run = wait_run(stack, "ui-page-first-run")
        assert run["state"] == "success", run
        yield stack
    finally:
        stop_process_group(proc.pid, grace=20)
        log.close()
        if ARTIFACTS.exists():
            shutil.copy(tmp / "standalone.log", ARTIFACTS / "ui-page-standalone.log")


def latest_record(st: Stack, name: str) -> Any:
    ctx = st.airflow.ctx
    runs = interval_runs(ctx.store, ctx.layout, SLUG)
    return [r for run in runs for r in run.records if r.article_id == aid(name)][-1]


def patient(call: Any, *args: Any, tries: int = 10) -> Any:
    """A REST call that may time out while a loaded machine's api-server (SQLite) is busy."""
    for attempt in range(tries):
        try:
            return call(*args)
        except (TimeoutError, ConnectionError) as exc:
            error: Exception = exc
        except urllib.error.URLError as exc:
            if isinstance(exc, urllib.error.HTTPError):
                raise
            error = exc
        time.sleep(2 + attempt)
    raise AssertionError(f"Airflow's API kept failing: {error!r}")


def wait_run(st: Stack, run_id: str, timeout: float = 900) -> dict[str, Any]:
    path = f"/api/v2/dags/{st.airflow.dag_id}/dagRuns/{urllib.parse.quote(run_id)}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = patient(st.admin.get, path)
        if run["state"] in ("success", "failed"):
            return dict(run)
        time.sleep(2)
    raise AssertionError(f"run {run_id} did not finish in {timeout:.0f}s")


def triggered(done: Any) -> str:
    """The run id the page reports after an action (its banner links to the run)."""
    from playwright.sync_api import expect

    expect(done).to_contain_text("triggered")
    return str(done.get_by_test_id("run-link").inner_text()).strip()


def login(pw: Any, st: Stack, user: str) -> tuple[Any, Any, list[tuple[str, int, bytes]]]:
    """A browser context signed in as ``user``; every response of the page is recorded."""
    browser = pw.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
    context = browser.new_context(viewport={"width": 1500, "height": 1100})
    seen: list[tuple[str, int, bytes]] = []

    def record(response: Any) -> None:
        if "/paywall" in response.url:
            try:
                seen.append((response.url, response.status, response.body()))
            except Exception:  # a redirect has no body
                seen.append((response.url, response.status, b""))

    context.on("response", record)
    page = context.new_page()
    page.set_default_timeout(90_000)
    page.goto(st.base + "/")
    page.get_by_label("Username").fill(user)
    page.get_by_label("Password").fill(st.passwords[user])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "login" not in url)
    return browser, page, seen


def test_the_page_as_an_editor_and_as_a_viewer(stack: Stack) -> None:
    from playwright.sync_api import expect, sync_playwright

    st = stack
    ctx = st.airflow.ctx
    ARTIFACTS.mkdir(exist_ok=True)
    expect.set_options(timeout=90_000)  # a loaded machine renders slowly; never a finding
    with sync_playwright() as pw:
        # ------------------------------------------------------------ no session: 401
        browser = pw.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
        anonymous = browser.new_context().request
        for path in ("/paywall/", f"/paywall/article/{aid(SAMPLE)}", "/paywall/static/paywall.css"):
            r = anonymous.get(st.base + path)
            assert r.status == 401, path
            assert "no-store" in r.headers["cache-control"] and r.text().strip() == (
                "not authenticated"
            )
        browser.close()

        # ------------------------------------------------------------------ the editor
        browser, page, _seen = login(pw, st, "admin")
        try:
            page.goto(st.base + "/plugin/paywall")
            frame = page.frame_locator("iframe[title='Paywall']")
            runs = frame.get_by_test_id("runs-table")
            expect(runs).to_contain_text("2026-11-20T00:00:00+00:00")
            expect(runs).to_contain_text("committed")
            expect(runs).to_contain_text("verify: success")
            queue = frame.get_by_test_id("quarantine-table")
            expect(queue).to_contain_text("broken-marker-demo.txt")
            expect(queue).to_contain_text("broken_marker")
            expect(queue).to_contain_text("no-marker-demo.txt")
            page.screenshot(path=str(ARTIFACTS / "ui-paywall-runs.png"))
            # a run's link opens the DAG run in the UI (through its router: the frame may
            # not navigate the top window)
            frame.locator(".dagrun a").first.click()
            page.wait_for_url(f"**/dags/{st.airflow.dag_id}/runs/**")
            page.goto(st.base + "/plugin/paywall")
            frame = page.frame_locator("iframe[title='Paywall']")
            queue = frame.get_by_test_id("quarantine-table")

            # the quarantined article: the raw input, the damage highlighted
            frame.get_by_role("link", name=f"{DAY}/broken-marker-demo.txt").click()
            damaged = frame.locator("mark.hl.damaged")
            expect(damaged).to_have_text("##paidbegin")
            page.screenshot(path=str(ARTIFACTS / "ui-paywall-quarantine.png"))

            # the user's sample side by side (a deep link into the page, inside the UI)
            page.goto(f"{st.base}/plugin/paywall/paywall/article/{aid(SAMPLE)}")
            frame = page.frame_locator("iframe[title='Paywall']")
            sample = (REPO / "samples" / "articles" / SAMPLE).read_text(encoding="utf-8")
            free_text = sample.split("##paidbegin##", 1)[0].splitlines()[1][:15]
            paid_text = sample.split("##paidbegin##", 1)[1][:15]
            expect(frame.get_by_test_id("free-half")).to_contain_text(free_text)
            expect(frame.get_by_test_id("free-half")).to_contain_text("✂ paid region 1")
            expect(frame.get_by_test_id("paid-half")).to_contain_text(paid_text)
            expect(frame.get_by_test_id("free-half")).not_to_contain_text(paid_text)
            page.screenshot(path=str(ARTIFACTS / "ui-paywall-article.png"))

            # reprocess: a DAG run with the right conf, as admin, for the article's interval
            frame.get_by_test_id("reprocess").click()
            run = wait_run(st, triggered(frame.get_by_test_id("done")))
            assert run["state"] == "success", run
            assert run["conf"] == {"article_ids": [aid(SAMPLE)], "force": True, "sources": ["desk"]}
            assert run["data_interval_start"].startswith("2026-11-20T00:00:00")
            assert run["data_interval_end"].startswith("2026-11-21T00:00:00")
            assert run["triggering_user_name"] == "admin"
            assert latest_record(st, SAMPLE).outcome is Outcome.PUBLISHED

            # scripts of an article never run: sanitised, sandboxed, under a strict CSP
            page.goto(f"{st.base}/plugin/paywall/paywall/article/{aid('script-demo.html')}")
            frame = page.frame_locator("iframe[title='Paywall']")
            expect(frame.get_by_test_id("paid-frame")).to_have_attribute("sandbox", "")
            expect(frame.get_by_test_id("free-frame")).to_have_attribute("sandbox", "")
            inner = frame.frame_locator("[data-testid='paid-frame']")
            expect(inner.locator("body")).to_contain_text("SENTINEL-PAID-UI")
            page.wait_for_timeout(1000)
            for f in page.frames:
                assert f.evaluate("() => window.__pwned === undefined"), f.url
            assert page.title() != "PWNED"

            # resolve the no-marker article as all free: the next run releases it
            page.goto(f"{st.base}/paywall/article/{aid('no-marker-demo.txt')}")
            page.get_by_label("all free").check()
            page.get_by_test_id("resolve").click()
            run = wait_run(st, triggered(page.get_by_test_id("done")))
            assert run["state"] == "success", run
            record = latest_record(st, "no-marker-demo.txt")
            assert record.outcome is Outcome.PUBLISHED
            assert record.override is OverrideAction.ALL_FREE
            page.reload()
            expect(page.locator(".facts")).to_contain_text("published")
            expect(page.locator(".facts")).to_contain_text("override: all_free")

            # retract: the public side is gone at once, and the run records it
            state = latest_record(st, "script-demo.html")
            public = [o.key for o in state.public_objects]
            assert all(ctx.store.get(ctx.layout.public_bucket, k) for k in public)
            page.goto(f"{st.base}/paywall/article/{aid('script-demo.html')}")
            page.get_by_label("delete the public side now and keep it off").check()
            page.get_by_test_id("retract").click()
            expect(page.get_by_test_id("done")).to_contain_text("Deleted now")
            assert all(ctx.store.get(ctx.layout.public_bucket, k) is None for k in public)
            run = wait_run(st, triggered(page.get_by_test_id("done")))
            assert run["state"] == "success", run
            assert latest_record(st, "script-demo.html").status == "retracted"
            expect(page.get_by_test_id("editor-log")).to_contain_text("retract")
        except Exception:
            page.screenshot(path=str(ARTIFACTS / "ui-paywall-failure.png"), full_page=True)
            raise
        finally:
            browser.close()

        # ------------------------------------------------------------------ the viewer
        browser, page, seen = login(pw, st, "viewer")
        try:
            page.goto(st.base + "/plugin/paywall")
            frame = page.frame_locator("iframe[title='Paywall']")
            expect(frame.get_by_test_id("runs-table")).to_contain_text("committed")
            queue = frame.get_by_test_id("quarantine-table")
            expect(queue).to_contain_text("broken-marker-demo.txt")
            expect(frame.locator("header")).to_contain_text("reader")
            frame.get_by_role("link", name=f"{DAY}/broken-marker-demo.txt").click()
            expect(frame.get_by_test_id("raw-locked")).to_be_visible()
            page.goto(f"{st.base}/plugin/paywall/paywall/article/{aid(SAMPLE)}")
            frame = page.frame_locator("iframe[title='Paywall']")
            expect(frame.get_by_test_id("paid-locked")).to_be_visible()
            expect(frame.locator("form[method='post']")).to_have_count(0)
            expect(frame.locator("button")).to_have_count(0)
            page.screenshot(path=str(ARTIFACTS / "ui-paywall-viewer.png"))
            # direct requests with the viewer's session
            api = page.context.request
            for name in (SAMPLE, "broken-marker-demo.txt"):
                for suffix in ("/paid", "/raw"):
                    r = api.get(f"{st.base}/paywall/article/{aid(name)}{suffix}")
                    assert r.status == 403, (name, suffix)
                    seen.append((r.url, r.status, r.body()))
            for action in ("reprocess", "retract", "resolve", "clear-override"):
                r = api.post(
                    f"{st.base}/paywall/article/{aid(SAMPLE)}/{action}",
                    form={"confirm": "yes", "action": "all_free"},
                )
                assert r.status == 403, action
            # the viewer's Bearer token through the API gets the same answer
            token = devstack.ApiClient(st.base, "viewer", st.passwords["viewer"])
            token.login()
            req = urllib.request.Request(
                f"{st.base}/paywall/article/{aid(SAMPLE)}/paid",
                headers={"Authorization": f"Bearer {token.token}"},
            )
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(req, timeout=30)
            assert refused.value.code == 403
        finally:
            browser.close()
    assert seen and any(status == 200 for _u, status, _b in seen)
    for url, _status, body in seen:
        text = body.decode("utf-8", "replace")
        for sentinel in paid_sentinels():
            assert sentinel not in text, (url, sentinel)
    for name in ("ui-paywall-runs.png", "ui-paywall-article.png"):
        assert (ARTIFACTS / name).stat().st_size > 10_000
