"""Editors' actions on one article, and their record: Airflow-free, on any :class:`Store`.

Every action is recorded in the private bucket (``layout.editor_log``: who, when, what) before
its effect is reported, and never holds article text: a note an editor types stays in the
private log only, never in an override (the pipeline copies an override's note into the public
manifest's ``reason``).

- :func:`write_override` / :func:`delete_override` -- an editor's decision the next run of the
  article applies (``overrides/<source>/<key>.json``, see :class:`paywall.model.Override`);
- :func:`retract_now` -- take a published article off the public side at once: the retract
  override is written first (so every later run keeps it off), then the metadata, the free
  halves and the paid halves are deleted, then the article leaves the catalog.

The UI (``plugins/paywall_ui``) calls these after checking the user's permission; nothing here
knows about users beyond the name it records.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from paywall.catalog import withdraw
from paywall.errors import PaywallError
from paywall.layout import EXTENSIONS, Layout
from paywall.model import ManifestRecord, Override, OverrideAction, Role, dumps
from paywall.store import Blob, Store

__all__ = [
    "MAX_NOTE",
    "EditorAction",
    "EditorLog",
    "Kind",
    "delete_override",
    "new_action",
    "read_override",
    "record_action",
    "retract_now",
    "write_override",
]

MAX_NOTE = 500  # characters of an editor's note (private log only)
_HALF_EXTS = ("txt", "html")


class Kind(StrEnum):
    """What an editor did."""

    REPROCESS = "reprocess"  # a DAG run for the article, force=true
    RESOLVE = "resolve"  # an all_free / all_paid override for a no-marker article
    RETRACT = "retract"  # public side deleted now, retract override written
    CLEAR_OVERRIDE = "clear_override"  # the override deleted; the next run decides again


@dataclass(frozen=True, slots=True)
class EditorAction:
    """One recorded editor action. ``details`` holds keys, run ids and outcomes, never text
    of the article; ``note`` is the editor's own words (private)."""

    action_id: str
    at: str  # ISO 8601, UTC
    by: str
    kind: Kind
    article_id: str
    source: str
    source_id: str
    details: Mapping[str, Any] = field(default_factory=dict)
    note: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "action_id": self.action_id,
            "at": self.at,
            "by": self.by,
            "kind": self.kind.value,
            "article_id": self.article_id,
            "source": self.source,
            "source_id": self.source_id,
            "details": dict(self.details),
            "note": self.note,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> EditorAction:
        return cls(
            str(data["action_id"]),
            str(data["at"]),
            str(data["by"]),
            Kind(data["kind"]),
            str(data["article_id"]),
            str(data["source"]),
            str(data["source_id"]),
            dict(data.get("details") or {}),
            data.get("note"),
        )

    @property
    def stamp(self) -> str:
        """The ``at`` time as the log key's sortable stamp (``2026-11-20T101500.123456Z``:
        the date first, which names the log's day folder)."""
        return datetime.fromisoformat(self.at).astimezone(UTC).strftime("%Y-%m-%dT%H%M%S.%fZ")


def _clean_note(note: str | None) -> str | None:
    if note is None:
        return None
    note = "".join(ch for ch in note if ch.isprintable() or ch in "\n\t").strip()
    return note[:MAX_NOTE] or None


def new_action(
    kind: Kind,
    record: ManifestRecord,
    by: str,
    *,
    details: Mapping[str, Any] | None = None,
    note: str | None = None,
    now: datetime | None = None,
) -> EditorAction:
    """An action on ``record``'s article by ``by``, stamped now (UTC, microseconds)."""
    if not by:
        raise PaywallError("an editor action needs the name of who did it")
    at = (now or datetime.now(UTC)).astimezone(UTC).isoformat()
    return EditorAction(
        secrets.token_hex(6),
        at,
        by,
        kind,
        record.article_id,
        record.source,
        record.source_id,
        dict(details or {}),
        _clean_note(note),
    )


def record_action(store: Store, layout: Layout, action: EditorAction) -> str:
    """Write the action to the private editor log (create-only: a log entry never changes)."""
    key = layout.editor_log(action.stamp, action.action_id)
    store.put(
        Blob.of(layout.private_bucket, key, dumps(action.to_json()), EXTENSIONS["json"]),
        if_none_match=True,
    )
    return key


class EditorLog:
    """Reads the editor log. Entries never change once written, so each key is read once per
    process and kept (a LIST per look, a GET per new entry)."""

    def __init__(self, store: Store, layout: Layout) -> None:
        self.store, self.layout = store, layout
        self._seen: dict[str, EditorAction | None] = {}

    def actions(self, article_id: str | None = None) -> list[EditorAction]:
        """Every recorded action (of one article), oldest first."""
        found: list[EditorAction] = []
        for listed in self.store.list(self.layout.private_bucket, self.layout.editor_log_prefix()):
            if listed.key not in self._seen:
                body = self.store.get(self.layout.private_bucket, listed.key)
                action = None
                if body is not None:
                    try:
                        action = EditorAction.from_json(json.loads(body))
                    except (ValueError, KeyError, TypeError):
                        action = None  # not ours or damaged: never shown as an action
                self._seen[listed.key] = action
            entry = self._seen[listed.key]
            if entry is not None and (article_id is None or entry.article_id == article_id):
                found.append(entry)
        return sorted(found, key=lambda a: (a.at, a.action_id))


# -------------------------------------------------------------------------------- overrides


def read_override(store: Store, layout: Layout, source: str, source_id: str) -> Override | None:
    """The article's override, or None. An unreadable one raises (the pipeline refuses it
    too), so a page never shows "no override" for a file the next run will fail on."""
    key = layout.override(source, source_id)
    body = store.get(layout.private_bucket, key)
    if body is None:
        return None
    try:
        return Override.from_json(json.loads(body))
    except (ValueError, KeyError, TypeError) as exc:
        raise PaywallError(f"override s3://{layout.private_bucket}/{key} is unreadable") from exc


def write_override(
    store: Store, layout: Layout, source: str, source_id: str, override: Override
) -> str:
    """Write (or replace) the article's override; the next run of the article applies it."""
    if override.note is not None:
        raise PaywallError(
            "an override's note is copied into the public manifest: keep notes in the editor log"
        )
    key = layout.override(source, source_id)
    store.put(Blob.of(layout.private_bucket, key, dumps(override.to_json()), EXTENSIONS["json"]))
    return key


def delete_override(store: Store, layout: Layout, source: str, source_id: str) -> str:
    key = layout.override(source, source_id)
    store.delete(layout.private_bucket, [key])
    return key


# ---------------------------------------------------------------------------------- retract


@dataclass(frozen=True, slots=True)
class Retraction:
    override_key: str
    deleted_public: tuple[str, ...]
    deleted_private: tuple[str, ...]
    catalog: str  # "removed", "absent", "unchanged" or why it could not be updated


def _keys(record: ManifestRecord, layout: Layout, roles: Iterable[Role]) -> list[str]:
    """The record's objects of these roles, plus every key the layout could give them: a
    stale record must not leave an object behind."""
    wanted = set(roles)
    keys = {o.key for o in record.objects if o.role in wanted}
    src, sid = record.source, record.source_id
    if Role.META in wanted:
        keys.add(layout.meta(src, sid))
    if Role.FREE in wanted:
        keys.update(layout.free(src, sid, ext) for ext in _HALF_EXTS)
    if Role.PAID in wanted:
        keys.update(layout.paid(src, sid, ext) for ext in _HALF_EXTS)
    return sorted(keys)


def retract_now(
    store: Store, layout: Layout, record: ManifestRecord, by: str, *, now: datetime | None = None
) -> Retraction:
    """Take the article off the public side now, and keep it off.

    Order: the retract override (later runs delete everything and publish nothing), then the
    metadata (which points at the halves), the free halves, the paid halves, and the catalog
    entry. A run already in flight may still write the article once; the run the UI triggers
    after this (and every later one) sees the override and deletes it again.
    """
    at = (now or datetime.now(UTC)).astimezone(UTC).isoformat()
    override_key = write_override(
        store,
        layout,
        record.source,
        record.source_id,
        Override(OverrideAction.RETRACT, by, at),
    )
    meta = _keys(record, layout, [Role.META])
    free = _keys(record, layout, [Role.FREE])
    paid = _keys(record, layout, [Role.PAID])
    store.delete(layout.public_bucket, meta)
    store.delete(layout.public_bucket, free)
    store.delete(layout.private_bucket, paid)
    return Retraction(
        override_key, tuple(meta + free), tuple(paid), _drop_from_catalog(store, layout, record)
    )


def _drop_from_catalog(store: Store, layout: Layout, record: ManifestRecord) -> str:
    """Take the article out of the partitioned catalog now (:func:`paywall.catalog.withdraw`:
    the run the page triggers records the retraction, and the catalog follows it)."""
    return withdraw(store, layout, record.article_id, record.timestamp)
