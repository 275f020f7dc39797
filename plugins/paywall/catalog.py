"""The catalog: one JSON object with the latest public metadata of every published article.

Built only from committed manifests (see :mod:`paywall.reader`), so it never lists an article
whose run has not been committed. Rebuilding it from the same manifests gives the same bytes.
An article is listed while its latest record is ``live`` (it has a public side); a quarantined
or retracted article leaves, a fetch failure (whose record carries the public side) keeps it.
"""

from __future__ import annotations

from typing import Any

from paywall.layout import EXTENSIONS, Layout
from paywall.model import ManifestRecord, Outcome, Role, dumps
from paywall.reader import committed_runs
from paywall.store import Blob, Store

__all__ = ["build_catalog", "update_catalog"]


def _entry(record: ManifestRecord, manifest_key: str) -> dict[str, Any]:
    meta = record.object(Role.META)
    return {
        "article_id": record.article_id,
        "source": record.source,
        "source_id": record.source_id,
        "title": record.title,
        "url": record.url,
        "timestamp": record.timestamp,
        "status": record.status,
        "revision": record.revision,
        "free": sorted(o.key for o in record.objects if o.role is Role.FREE),
        "meta": meta.key if meta is not None else None,
        "manifest": manifest_key,
    }


def build_catalog(store: Store, layout: Layout) -> dict[str, Any]:
    articles: dict[str, dict[str, Any]] = {}
    runs = 0
    for run in committed_runs(store, layout):
        runs += 1
        for record in run.records:
            if record.live:
                articles[record.article_id] = _entry(record, run.manifest_key)
            elif record.outcome is not Outcome.FAILED:
                articles.pop(record.article_id, None)  # quarantined now: no longer published
    ordered = sorted(articles.values(), key=lambda a: (a["timestamp"], a["article_id"]))
    return {"pipeline": layout.pipeline, "runs": runs, "articles": ordered}


def update_catalog(store: Store, layout: Layout) -> dict[str, Any]:
    """Rebuild the catalog object; write it only when it changed. Returns counts."""
    catalog = build_catalog(store, layout)
    body = dumps(catalog)
    key = layout.catalog()
    changed = store.get(layout.public_bucket, key) != body
    if changed:
        store.put(Blob.of(layout.public_bucket, key, body, EXTENSIONS["json"]))
    return {
        "catalog_key": key,
        "articles": len(catalog["articles"]),
        "runs": catalog["runs"],
        "changed": changed,
    }
