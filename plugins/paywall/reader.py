"""A small reader API for applications that consume the outputs.

Consumers follow *committed* manifests: a manifest counts only when its ``_COMMITTED`` marker
names its sha256. Objects are fetched by the keys a record lists and checked against the
record's sha256, so a reader never takes a half-published or newer-than-committed object
for the committed one.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from paywall.metadata import sha256_hex
from paywall.pipeline import Context
from paywall.storage import key_for

MAX_PRESIGN_SECONDS = 3600


class StaleObject(RuntimeError):
    """The stored object no longer matches the committed manifest (a newer run is writing)."""


@dataclass(frozen=True, slots=True)
class CommittedRun:
    manifest_key: str
    commit: dict[str, Any]
    records: list[dict[str, Any]]


def committed_runs(ctx: Context) -> Iterator[CommittedRun]:
    """Every committed full-interval run of the pipeline, oldest interval first."""
    layout, store = ctx.layout, ctx.store
    prefix = f"runs/{layout.pipeline}/"
    markers = sorted(
        o["Key"]
        for o in store.list(layout.public_bucket, prefix)
        if o["Key"].endswith("/_COMMITTED")
    )
    for marker_key in markers:
        marker = store.get(layout.public_bucket, marker_key)
        manifest_key = layout.manifest_for(marker_key)
        manifest = store.get(layout.public_bucket, manifest_key)
        if marker is None or manifest is None:
            continue
        commit = json.loads(marker)
        if commit.get("manifest_sha256") != sha256_hex(manifest):
            continue  # a manifest being replaced right now: skip until its commit lands
        records = [json.loads(line) for line in manifest.splitlines() if line.strip()]
        yield CommittedRun(manifest_key, commit, records)


def read_public(ctx: Context, record: dict[str, Any], ext: str = "txt") -> bytes:
    """The free half of a committed record, checked against the committed sha256."""
    key = next((k for k in record["keys"]["free"] if k.endswith(f".{ext}")), None)
    if key is None:
        raise KeyError(f"{record['source_id']} has no free .{ext} output")
    body = ctx.store.get(ctx.layout.public_bucket, key)
    expected = record["sha256"]["objects"].get(key)
    if body is None or sha256_hex(body) != expected:
        raise StaleObject(f"{key} changed since its manifest was committed; re-read the manifest")
    return body


def presign_paid(
    ctx: Context, source: str, source_id: str, *, ext: str = "txt", expires: int = 300
) -> str:
    """A short-lived GET URL for a paid half: what an entitlement service hands a subscriber."""
    if not 1 <= expires <= MAX_PRESIGN_SECONDS:
        raise ValueError(f"expires must be between 1 and {MAX_PRESIGN_SECONDS} seconds")
    key = ctx.layout.paid(source, key_for(source_id), ext)
    return ctx.store.client.generate_presigned_url(
        "get_object",
        Params={"Bucket": ctx.layout.private_bucket, "Key": key},
        ExpiresIn=expires,
    )
