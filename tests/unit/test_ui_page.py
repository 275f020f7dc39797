"""The Paywall page app with fake Airflow services: tiers, headers, CSRF, actions.

Every response a reader (or anyone less) can get is scanned for the paid sentinel."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from paywall.editor import EditorLog, read_override
from paywall.model import Outcome, OverrideAction, Role
from paywall.reader import interval_runs
from paywall_ui.access import csrf_token
from paywall_ui.app import SECURITY_HEADERS
from tests.unit.test_ui_support import (
    ARTICLES,
    INTERVAL,
    PAID,
    SLUG,
    Page,
    aid,
    make_page,
)


@pytest.fixture
def page(tmp_path: Path) -> Page:
    return make_page(tmp_path)


def client(page: Page, token: str | None = None, *, bearer: bool = False) -> TestClient:
    c = TestClient(page.app, base_url="http://airflow.test", follow_redirects=False)
    if token and bearer:
        c.headers["Authorization"] = f"Bearer {token}"
    elif token:
        c.cookies.set("_token", token)
    return c


GETS = [
    "/",
    "/?reason=broken_marker",
    f"/manifest?key=runs/ui_pipeline/{SLUG}/manifest.jsonl",
    *(f"/article/{aid(n)}" for n in ARTICLES),
    *(f"/article/{aid(n)}/paid" for n in ARTICLES),
    *(f"/article/{aid(n)}/raw" for n in ARTICLES),
    "/article/00000000000000000000",
    "/static/paywall.css",
    "/static/paywall.js",
]
POSTS = [
    f"/article/{aid('story.txt')}/reprocess",
    f"/article/{aid('plain.txt')}/resolve",
    f"/article/{aid('story.txt')}/retract",
    f"/article/{aid('story.txt')}/clear-override",
]


def assert_headers(response) -> None:  # type: ignore[no-untyped-def]
    for name, value in SECURITY_HEADERS:
        assert response.headers.get(name) == value, (response.url, name)
    assert "no-store" in response.headers["cache-control"]


# ----------------------------------------------------------------------------------- tiers


@pytest.mark.parametrize("token", [None, "forged-token"])
def test_unauthenticated_gets_401_and_nothing_else(page: Page, token: str | None) -> None:
    for bearer in (False, True):
        c = client(page, token, bearer=bearer)
        for path in GETS:
            r = c.get(path)
            assert r.status_code == 401, path
            assert r.text.strip() == "not authenticated"
            assert_headers(r)
        for path in POSTS:
            r = c.post(path, data={"confirm": "yes", "action": "all_free"})
            assert r.status_code == 401, path
    assert page.trigger.calls == []


def test_a_user_without_read_access_gets_403_everywhere(page: Page) -> None:
    c = client(page, "outsider-token")
    for path in GETS:
        r = c.get(path)
        assert r.status_code == 403, path
        assert PAID not in r.text
        assert_headers(r)
    for path in POSTS:
        assert c.post(path, data={"csrf": csrf_token("outsider-token")}).status_code == 403


def test_a_reader_sees_runs_quarantine_and_reasons_but_no_paid_text(page: Page) -> None:
    c = client(page, "reader-token")
    seen = []
    for path in GETS:
        r = c.get(path)
        seen.append(r)
        assert PAID not in r.text, path
        assert_headers(r)
    overview = c.get("/").text
    assert SLUG in overview and "committed" in overview
    assert "broken_marker" in overview and "no_markers" in overview
    assert "damaged marker" in overview  # the reason, as the public manifest says it
    assert "2026/11/20/broken.txt" in overview and "2026/11/20/plain.txt" in overview
    assert 'verify: <span class="state success">success</span>' in overview
    story = c.get(f"/article/{aid('story.txt')}").text
    assert "公开导语" in story  # the free half
    assert 'data-testid="paid-locked"' in story
    assert "<form" not in story and "csrf" not in story  # no buttons
    broken = c.get(f"/article/{aid('broken.txt')}").text
    assert 'data-testid="raw-locked"' in broken and "缺少结尾井号" not in broken
    # the reader's direct requests for private things are refused
    for path in GETS:
        if path.endswith(("/paid", "/raw")):
            assert c.get(path).status_code == 403, path
    for path in POSTS:
        r = c.post(path, data={"csrf": csrf_token("reader-token"), "confirm": "yes"})
        assert r.status_code == 403, path
    assert page.trigger.calls == []
    assert EditorLog(page.ctx.store, page.ctx.layout).actions() == []


def test_an_editor_sees_both_halves_side_by_side_with_the_cuts(page: Page) -> None:
    c = client(page, "editor-token")
    story = c.get(f"/article/{aid('story.txt')}").text
    assert "SENTINEL-PAID-TEXT" in story and "公开导语" in story
    assert "✂ paid region 1" in story and "region 1 ·" in story
    assert 'data-testid="reprocess"' in story and 'data-testid="retract"' in story
    assert 'data-testid="resolve"' not in story  # it has markers: nothing to resolve
    page_html = html.unescape(c.get(f"/article/{aid('page.html')}").text)
    json_ld = page_html.split('data-testid="json-ld">', 1)[1].split("</pre>", 1)[0]
    assert '"isAccessibleForFree": false' in json_ld and '".paywall-paid-1"' in json_ld
    paid = c.get(f"/article/{aid('story.txt')}/paid")
    assert paid.status_code == 200 and "SENTINEL-PAID-TEXT" in paid.json()["txt"]
    assert_headers(paid)


def test_the_quarantined_raw_input_is_shown_with_the_damage_located(page: Page) -> None:
    c = client(page, "editor-token")
    text = c.get(f"/article/{aid('broken.txt')}").text
    raw = text.split('data-testid="raw-input">', 1)[1].split("</pre>", 1)[0]
    assert '<mark class="hl damaged" title="damaged">##paidbegin</mark> SENTINEL' in raw
    assert '<mark class="hl end" title="end">##paidend##</mark>' in raw
    assert "SENTINEL-PAID-BROKEN" in raw
    download = c.get(f"/article/{aid('broken.txt')}/raw")
    assert download.status_code == 200
    assert download.content == ARTICLES["broken.txt"].encode()
    assert download.headers["content-type"] == "application/octet-stream"
    plain = c.get(f"/article/{aid('plain.txt')}").text
    assert 'data-testid="resolve"' in plain
    assert c.get(f"/article/{aid('story.txt')}/raw").status_code == 404


def test_html_halves_are_sanitised_into_script_less_sandboxed_frames(page: Page) -> None:
    text = client(page, "editor-token").get(f"/article/{aid('page.html')}").text
    frames = re.findall(r"<iframe ([^>]*)>", text)
    assert len(frames) == 2
    for attrs in frames:
        assert 'sandbox=""' in attrs  # every restriction: no allow-scripts, no same-origin
        assert "allow-" not in attrs
        doc = html.unescape(re.search(r'srcdoc="([^"]*)"', attrs).group(1))  # type: ignore[union-attr]
        assert "<script" not in doc.lower() and "onerror" not in doc and "javascript:" not in doc
        assert "__pwned" not in doc
        assert "script-src 'none'" in doc  # the frame document's own CSP
    paid_doc = html.unescape(re.findall(r'srcdoc="([^"]*)"', text)[1])
    assert "SENTINEL-PAID-HTML" in paid_doc
    free_doc = html.unescape(re.findall(r'srcdoc="([^"]*)"', text)[0])
    assert 'class="paywall-paid paywall-paid-1"' in free_doc and PAID not in free_doc
    # a reader gets the free frame only
    reader = client(page, "reader-token").get(f"/article/{aid('page.html')}").text
    assert len(re.findall(r"<iframe ", reader)) == 1 and PAID not in reader


def test_every_response_carries_the_headers_even_errors(page: Page) -> None:
    c = client(page, "editor-token")
    c._transport.raise_server_exceptions = False  # type: ignore[attr-defined]
    assert_headers(c.get("/article/nope"))
    assert_headers(c.get("/manifest?key=runs/../../paid/x"))
    assert c.get("/manifest?key=paid/desk/x.txt").status_code == 404
    assert_headers(c.get("/no/such/page"))

    def boom() -> list:  # type: ignore[type-arg]
        raise RuntimeError("boom")

    page.services.dag_runs = lambda dag_id, limit=200: boom()  # the page survives that
    assert c.get("/").status_code == 200
    page.services.store_factory = lambda: (_ for _ in ()).throw(RuntimeError("x"))
    page.services._store = None
    page.services._index = None
    r = c.get("/")
    assert r.status_code == 500 and "boom" not in r.text
    assert_headers(r)


# ------------------------------------------------------------------------------------ CSRF


def test_a_browser_post_needs_the_page_token_and_the_same_origin(page: Page) -> None:
    c = client(page, "editor-token")
    path = f"/article/{aid('story.txt')}/reprocess"
    assert c.post(path).status_code == 403
    assert c.post(path, data={"csrf": csrf_token("reader-token")}).status_code == 403
    good = {"csrf": csrf_token("editor-token")}
    assert c.post(path, data=good, headers={"Origin": "http://evil.test"}).status_code == 403
    assert c.post(path, data=good, headers={"Sec-Fetch-Site": "cross-site"}).status_code == 403
    assert c.post(path, data=good, headers={"Sec-Fetch-Site": "same-site"}).status_code == 403
    refused = {"Sec-Fetch-Site": "cross-site", "Origin": "http://airflow.test"}
    assert c.post(path, data=good, headers=refused).status_code == 403
    assert c.post(path, data=good, headers={"Origin": "null"}).status_code == 403
    assert page.trigger.calls == []
    # what Chromium sends for the page's own form (found by the browser test)
    browser = {"Sec-Fetch-Site": "same-origin", "Origin": "null"}
    assert c.post(path, data=good, headers=browser).status_code == 303
    page.trigger.calls.clear()
    ok = c.post(path, data=good, headers={"Origin": "http://airflow.test"})
    assert ok.status_code == 303
    # an API client with a Bearer token sends no cookie, so it needs no form token
    api = client(page, "editor-token", bearer=True)
    assert api.post(path).status_code == 303
    assert len(page.trigger.calls) == 2


# --------------------------------------------------------------------------------- actions


def test_reprocess_triggers_the_dag_for_the_articles_interval_as_the_user(page: Page) -> None:
    c = client(page, "editor-token")
    r = c.post(f"/article/{aid('story.txt')}/reprocess", data={"csrf": csrf_token("editor-token")})
    assert r.status_code == 303
    token, dag_id, body = page.trigger.calls[0]
    assert (token, dag_id) == ("editor-token", "ui_pipeline")
    assert body["conf"] == {"article_ids": [aid("story.txt")], "force": True, "sources": ["desk"]}
    assert body["data_interval_start"] == INTERVAL.start.isoformat()
    assert body["data_interval_end"] == INTERVAL.end.isoformat()
    assert body["logical_date"]  # unique per DAG: never the scheduled run's
    (action,) = EditorLog(page.ctx.store, page.ctx.layout).actions(aid("story.txt"))
    assert (action.kind.value, action.by) == ("reprocess", "eddie")
    assert action.details["dag_run_id"] == "manual__1"
    assert r.headers["location"].endswith(f"/article/{aid('story.txt')}?done={action.action_id}")
    shown = c.get(r.headers["location"]).text
    assert 'data-testid="done"' in shown and "manual__1" in shown
    assert "eddie" in shown.split('data-testid="editor-log"', 1)[1]


def test_a_refused_trigger_is_recorded_and_shown(page: Page) -> None:
    page.trigger.status = 403
    c = client(page, "editor-token")
    r = c.post(f"/article/{aid('story.txt')}/reprocess", data={"csrf": csrf_token("editor-token")})
    shown = c.get(r.headers["location"]).text
    assert "No DAG run: Airflow answered 403" in shown
    (action,) = EditorLog(page.ctx.store, page.ctx.layout).actions()
    assert action.details["triggered"] is False


def test_resolving_a_no_marker_article_releases_it_on_the_next_run(page: Page) -> None:
    c = client(page, "editor-token")
    path = f"/article/{aid('plain.txt')}/resolve"
    form = {"csrf": csrf_token("editor-token"), "action": "all_free", "reprocess": "yes",
            "note": "checked with the desk"}  # fmt: skip
    assert c.post(path, data=form).status_code == 303
    store, layout = page.ctx.store, page.ctx.layout
    override = read_override(store, layout, "desk", "2026/11/20/plain.txt")
    assert override is not None and override.action is OverrideAction.ALL_FREE
    assert override.by == "eddie" and override.note is None  # the note stays private
    (action,) = EditorLog(store, layout).actions()
    assert action.note == "checked with the desk"
    assert page.trigger.calls[0][2]["conf"]["article_ids"] == [aid("plain.txt")]
    page.rerun("plain.txt")  # the run the page triggered
    state = page.services.index().snapshot().articles[aid("plain.txt")]
    assert state.record.outcome is Outcome.PUBLISHED
    assert state.record.override is OverrideAction.ALL_FREE
    assert "/partial/" in state.manifest_key
    reader = client(page, "reader-token").get("/").text
    assert "2026/11/20/plain.txt" not in reader.split('id="quarantine"', 1)[1]
    shown = c.get(f"/article/{aid('plain.txt')}").text
    assert "NOMARKER-BODY" in shown and "override: all_free" in shown


def test_only_a_quarantined_no_marker_article_can_be_resolved(page: Page) -> None:
    c = client(page, "editor-token")
    form = {"csrf": csrf_token("editor-token"), "action": "all_free"}
    for name in ("story.txt", "broken.txt"):
        assert c.post(f"/article/{aid(name)}/resolve", data=form).status_code == 409
    bad = {"csrf": csrf_token("editor-token"), "action": "retract"}
    assert c.post(f"/article/{aid('plain.txt')}/resolve", data=bad).status_code == 400
    store, layout = page.ctx.store, page.ctx.layout
    assert read_override(store, layout, "desk", "2026/11/20/story.txt") is None
    assert EditorLog(store, layout).actions() == []


def test_retract_takes_the_public_side_down_at_once_and_keeps_it_off(page: Page) -> None:
    from paywall.catalog import read_catalog, update_catalog

    store, layout = page.ctx.store, page.ctx.layout
    update_catalog(store, layout)
    state = page.services.index().snapshot().articles[aid("page.html")]
    public = [o.key for o in state.record.public_objects]
    assert public and all(store.get(layout.public_bucket, k) for k in public)
    c = client(page, "editor-token")
    path = f"/article/{aid('page.html')}/retract"
    assert c.post(path, data={"csrf": csrf_token("editor-token")}).status_code == 400  # unticked
    r = c.post(path, data={"csrf": csrf_token("editor-token"), "confirm": "yes"})
    assert r.status_code == 303
    # at once: public objects and paid halves gone, the catalog no longer lists it
    assert all(store.get(layout.public_bucket, k) is None for k in public)
    for ext in ("txt", "html"):
        assert (
            store.get(layout.private_bucket, layout.paid("desk", "2026/11/20/page.html", ext))
            is None
        )
    catalog = {a["article_id"] for a in read_catalog(store, layout)}
    assert aid("page.html") not in catalog and aid("story.txt") in catalog
    override = read_override(store, layout, "desk", "2026/11/20/page.html")
    assert override is not None and override.action is OverrideAction.RETRACT
    (action,) = EditorLog(store, layout).actions()
    assert action.kind.value == "retract" and set(public) <= set(action.details["deleted_public"])
    assert action.details["reprocess"]["dag_run_id"] == "manual__1"
    # the triggered run records the retraction; a full run later keeps it off
    page.rerun("page.html")
    page.run()
    runs = interval_runs(store, layout, SLUG)
    last = [r for run in runs for r in run.records if r.article_id == aid("page.html")][-1]
    assert last.status == "retracted" and not last.live and last.override is OverrideAction.RETRACT
    assert all(store.get(layout.public_bucket, k) is None for k in public)


def test_clearing_an_override_deletes_it_and_reprocesses(page: Page) -> None:
    c = client(page, "editor-token")
    csrf = csrf_token("editor-token")
    c.post(f"/article/{aid('story.txt')}/retract", data={"csrf": csrf, "confirm": "yes"})
    page.rerun("story.txt")
    shown = c.get(f"/article/{aid('story.txt')}").text
    assert 'data-testid="clear-override"' in shown
    assert (
        c.post(f"/article/{aid('story.txt')}/clear-override", data={"csrf": csrf}).status_code
        == 303
    )
    store, layout = page.ctx.store, page.ctx.layout
    assert read_override(store, layout, "desk", "2026/11/20/story.txt") is None
    page.rerun("story.txt")  # force: the objects the retraction deleted are written again
    state = page.services.index().snapshot().articles[aid("story.txt")]
    assert state.record.outcome is Outcome.PUBLISHED and state.record.override is None
    free = state.record.object(Role.FREE, "txt")
    assert free is not None and store.get(layout.public_bucket, free.key) is not None
    kinds = [a.kind.value for a in EditorLog(store, layout).actions(aid("story.txt"))]
    assert kinds == ["retract", "clear_override"]


def test_history_lists_every_committed_record_and_the_quarantine_streak(page: Page) -> None:
    first = page.services.index().snapshot().articles[aid("broken.txt")]
    assert first.quarantined_since == first.committed_at
    page.rerun("broken.txt")
    later = page.services.index().snapshot().articles[aid("broken.txt")]
    assert len(later.history) == 2
    assert later.quarantined_since == first.committed_at  # still the first time it was seen
    shown = client(page, "reader-token").get(f"/article/{aid('broken.txt')}").text
    assert shown.split('data-testid="history"', 1)[1].count("<tr>") == 3  # head + 2


def test_the_index_reads_only_what_changed(page: Page) -> None:
    index = page.services.index()
    index.snapshot()
    store = page.ctx.store
    before = len(store.calls)  # type: ignore[attr-defined]
    index.snapshot()
    calls = store.calls[before:]  # type: ignore[attr-defined]
    assert [op for op, _b, _k in calls] == ["LIST"]  # one LIST, no GET
    page.rerun("story.txt")
    before = len(store.calls)  # type: ignore[attr-defined]
    snap = index.snapshot()
    gets = [k for op, _b, k in store.calls[before:] if op == "GET"]  # type: ignore[attr-defined]
    assert gets and all("/partial/" in k for k in gets)
    assert any(r.partial and r.committed for r in snap.runs)


def test_an_uncommitted_manifest_is_listed_as_not_committed(page: Page) -> None:
    store, layout = page.ctx.store, page.ctx.layout
    marker = layout.commit_marker(layout.manifest(SLUG))
    store.delete(layout.public_bucket, [marker])
    snap = page.services.index().snapshot()
    (row,) = snap.runs
    assert not row.committed and "no commit marker" in (row.problem or "")
    assert snap.articles == {}  # nothing uncommitted is trusted
    text = client(page, "reader-token").get("/").text
    assert "not committed" in text and "No quarantined article" in text
    assert client(page, "editor-token").get(f"/article/{aid('story.txt')}").status_code == 404


def test_hostile_titles_ids_and_reasons_are_escaped(tmp_path: Path) -> None:
    hostile = '"><script>top.x=1</script><img src=x onerror=top.x=2>'
    articles = {
        f"id{hostile.replace('/', '')}.txt": (
            f"{hostile}\n导语。\n##paidbegin##SENTINEL-PAID-X 正文。##paidend##\n"
        ),
        "broken.txt": f"{hostile}\n##paidend## SENTINEL-PAID-Y\n",
    }
    page = make_page(tmp_path, articles)
    c = client(page, "editor-token")
    texts = [c.get("/").text]
    texts += [c.get(f"/article/{a}").text for a in page.services.index().snapshot().articles]
    texts.append(c.get(f"/manifest?key=runs/ui_pipeline/{SLUG}/manifest.jsonl").text)
    for text in texts:
        assert "<script>top" not in text and "<img src=x" not in text
    assert sum("&lt;script&gt;top.x=1" in text for text in texts) >= 2  # shown, as text
