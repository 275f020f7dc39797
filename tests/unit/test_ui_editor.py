"""paywall.editor: recorded actions, overrides and retract-now, on the memory store."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from paywall.editor import (
    MAX_NOTE,
    EditorAction,
    EditorLog,
    Kind,
    delete_override,
    new_action,
    read_override,
    record_action,
    retract_now,
    write_override,
)
from paywall.errors import PaywallError, PreconditionFailed
from paywall.model import Override, OverrideAction, Role
from paywall.store import Blob
from tests.unit.test_ui_support import Page, aid, make_page


@pytest.fixture
def page(tmp_path: Path) -> Page:
    return make_page(tmp_path)


def state(page: Page, name: str):  # type: ignore[no-untyped-def]
    return page.services.index().snapshot().articles[aid(name)]


def test_an_action_is_recorded_once_in_the_private_log_with_who_when_what(page: Page) -> None:
    store, layout = page.ctx.store, page.ctx.layout
    record = state(page, "story.txt").record
    when = datetime(2026, 11, 21, 9, 30, 1, 5, tzinfo=UTC)
    action = new_action(Kind.REPROCESS, record, "eddie", details={"dag_run_id": "r1"},
                        note="  please\x00 check\x1b  ", now=when)  # fmt: skip
    key = record_action(store, layout, action)
    assert key.startswith("editor-log/ui_pipeline/2026-11-21/2026-11-21T093001.000005Z-")
    assert store.get(layout.public_bucket, key) is None  # private only
    stored = json.loads(store.get(layout.private_bucket, key) or b"")
    assert stored["by"] == "eddie" and stored["kind"] == "reprocess"
    assert stored["at"] == when.isoformat() and stored["article_id"] == aid("story.txt")
    assert stored["note"] == "please check"  # control characters dropped
    with pytest.raises(PreconditionFailed):  # a log entry is never replaced
        record_action(store, layout, action)
    assert EditorAction.from_json(stored) == action
    long = new_action(Kind.RETRACT, record, "eddie", note="x" * 5000)
    assert len(long.note or "") == MAX_NOTE
    with pytest.raises(PaywallError):
        new_action(Kind.RETRACT, record, "")


def test_the_log_reads_each_entry_once_and_skips_foreign_files(page: Page) -> None:
    store, layout = page.ctx.store, page.ctx.layout
    story, plain = state(page, "story.txt").record, state(page, "plain.txt").record
    for record in (story, plain, story):
        record_action(store, layout, new_action(Kind.REPROCESS, record, "eddie"))
    store.put(Blob.of(layout.private_bucket, layout.editor_log_prefix() + "junk.json", b"{",
                      "application/json"))  # fmt: skip
    log = EditorLog(store, layout)
    assert len(log.actions()) == 3
    assert [a.article_id for a in log.actions(aid("story.txt"))] == [aid("story.txt")] * 2
    before = len(store.calls)  # type: ignore[attr-defined]
    log.actions()
    assert [op for op, _b, _k in store.calls[before:]] == ["LIST"]  # type: ignore[attr-defined]


def test_an_override_never_carries_a_note_into_the_public_manifest(page: Page) -> None:
    store, layout = page.ctx.store, page.ctx.layout
    noted = Override(OverrideAction.ALL_FREE, "eddie", "t", note="paid words")
    with pytest.raises(PaywallError):
        write_override(store, layout, "desk", "a.txt", noted)
    key = write_override(
        store, layout, "desk", "a.txt", Override(OverrideAction.ALL_PAID, "eddie", "t")
    )
    assert key == layout.override("desk", "a.txt") and store.get(layout.public_bucket, key) is None
    found = read_override(store, layout, "desk", "a.txt")
    assert found == Override(OverrideAction.ALL_PAID, "eddie", "t")
    delete_override(store, layout, "desk", "a.txt")
    assert read_override(store, layout, "desk", "a.txt") is None
    store.put(Blob.of(layout.private_bucket, key, b'{"action": "publish_everything"}', "x"))
    with pytest.raises(PaywallError):  # unreadable: never shown as "no override"
        read_override(store, layout, "desk", "a.txt")


def test_retract_now_deletes_every_public_and_paid_key_the_article_could_have(page: Page) -> None:
    store, layout = page.ctx.store, page.ctx.layout
    record = state(page, "story.txt").record
    src, sid = record.source, record.source_id
    # a stray free .html half the stale record does not list is deleted too
    stray = layout.free(src, sid, "html")
    store.put(Blob.of(layout.public_bucket, stray, b"<p>old</p>", "text/html"))
    done = retract_now(store, layout, record, "eddie")
    assert stray in done.deleted_public and layout.meta(src, sid) in done.deleted_public
    for key in done.deleted_public:
        assert store.get(layout.public_bucket, key) is None
    for ext in ("txt", "html"):
        assert store.get(layout.private_bucket, layout.paid(src, sid, ext)) is None
    override = read_override(store, layout, src, sid)
    assert override is not None and override.action is OverrideAction.RETRACT
    assert override.by == "eddie" and override.note is None
    assert done.catalog == "absent"  # no catalog built yet: nothing to change
    # the override is written before anything is deleted: a failed delete leaves it on
    other = state(page, "page.html").record
    store.fail = lambda op, bucket, key: (  # type: ignore[attr-defined]
        RuntimeError("down") if op == "DELETE" else None
    )
    with pytest.raises(RuntimeError):
        retract_now(store, layout, other, "eddie")
    store.fail = None  # type: ignore[attr-defined]
    assert read_override(store, layout, other.source, other.source_id) is not None
    assert any(o.role is Role.FREE for o in other.objects)


def test_retract_now_leaves_a_catalog_it_cannot_read_alone(page: Page) -> None:
    store, layout = page.ctx.store, page.ctx.layout
    store.put(Blob.of(layout.public_bucket, layout.catalog(), b'["a list"]', "application/json"))
    done = retract_now(store, layout, state(page, "story.txt").record, "eddie")
    assert done.catalog.startswith("not updated")
    assert store.get(layout.public_bucket, layout.catalog()) == b'["a list"]'
