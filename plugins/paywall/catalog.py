"""The catalog: one JSON object with the latest public metadata of every published article.

Built only from committed manifests (see :mod:`paywall.reader`), so it never lists an article
whose run has not been committed. Rebuilding it from the same manifests gives the same bytes.
"""

from __future__ import annotations

from typing import Any

from paywall.pipeline import Context
from paywall.reader import committed_runs
from paywall.storage import dumps

PUBLISHED = ("ok", "unclosed", "no_markers")


def build_catalog(ctx: Context) -> dict[str, Any]:
    articles: dict[str, dict[str, Any]] = {}
    runs = 0
    for run in committed_runs(ctx):
        runs += 1
        for record in run.records:
            article = record["article_id"]
            if record["status"] in PUBLISHED:
                articles[article] = {
                    "article_id": article,
                    "source": record["source"],
                    "source_id": record["source_id"],
                    "title": record.get("title"),
                    "timestamp": record["timestamp"],
                    "status": record["status"],
                    "revision": record.get("revision"),
                    "free": record["keys"]["free"],
                    "meta": record["keys"]["meta"],
                    "manifest": run.manifest_key,
                }
            elif record["status"] != "fetch_failed":
                articles.pop(article, None)  # quarantined now: no longer published
    ordered = sorted(articles.values(), key=lambda a: (a["timestamp"], a["article_id"]))
    return {"pipeline": ctx.layout.pipeline, "runs": runs, "articles": ordered}


def catalog_key(ctx: Context) -> str:
    return f"catalog/{ctx.layout.pipeline}/catalog.json"


def update_catalog(ctx: Context) -> dict[str, Any]:
    """Rebuild the catalog object; write it only when it changed. Returns counts."""
    catalog = build_catalog(ctx)
    body = dumps(catalog)
    key = catalog_key(ctx)
    changed = ctx.store.get(ctx.layout.public_bucket, key) != body
    if changed:
        ctx.store.put(ctx.layout.public_bucket, key, body, "json")
    return {
        "catalog_key": key,
        "articles": len(catalog["articles"]),
        "runs": catalog["runs"],
        "changed": changed,
    }
