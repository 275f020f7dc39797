"""Audit committed outputs: present, untampered, marker-free, and private where they must be."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from paywall.articles import marker_problem
from paywall.metadata import sha256_hex
from paywall.pipeline import Context
from paywall.s3 import make_client

ANONYMOUS_PROBES = 3  # private objects probed anonymously per manifest
SPOT_CHECKS = 16  # free objects read back and scanned per manifest, whatever their ETag


class VerifyError(RuntimeError):
    pass


@dataclass
class Report:
    manifest_key: str
    objects_checked: int = 0
    anonymous_probes: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def counts(self) -> dict[str, Any]:
        return {
            "manifest_key": self.manifest_key,
            "objects_checked": self.objects_checked,
            "anonymous_probes": self.anonymous_probes,
            "problems": len(self.problems),
        }

    def text(self) -> str:
        head = (
            f"{self.manifest_key}: {self.objects_checked} object(s) checked, "
            f"{self.anonymous_probes} anonymous probe(s), {len(self.problems)} problem(s)"
        )
        return "\n".join([head, *(f"  - {p}" for p in self.problems)])

    def raise_for_problems(self) -> None:
        if self.problems:
            raise VerifyError(self.text())


def verify_run(ctx: Context, manifest_key: str, spot_checks: int = SPOT_CHECKS) -> Report:
    """Check every object a committed manifest names; return a report of every problem.

    Presence and integrity come from listings: each object's ETag must be the MD5 the
    manifest recorded, which proves the stored bytes are the ones the pipeline wrote -- and
    free outputs were scanned for markers just before (``articles.marker_problem``). Objects
    the listing cannot prove (no MD5 recorded, an ETag that is not a plain MD5) are read
    back and hashed, free ones scanned again; so are ``spot_checks`` free objects per run,
    end to end, whatever their ETag.
    """
    layout, store, settings = ctx.layout, ctx.store, ctx.settings
    report = Report(manifest_key)
    manifest = store.get(layout.public_bucket, manifest_key)
    if manifest is None:
        report.problems.append(f"manifest s3://{layout.public_bucket}/{manifest_key} is missing")
        return report
    marker_key = layout.marker_for(manifest_key)
    marker = store.get(layout.public_bucket, marker_key)
    if marker is None:
        report.problems.append(f"commit marker {marker_key} is missing")
    elif json.loads(marker).get("manifest_sha256") != sha256_hex(manifest):
        report.problems.append(f"commit marker {marker_key} does not match the manifest")

    expected: list[_Expected] = []
    private_keys: list[tuple[str, str]] = []
    for line in manifest.splitlines():
        if not line.strip():
            continue
        record = json.loads(line)
        objects = (record.get("sha256") or {}).get("objects") or {}
        md5s = record.get("md5") or {}
        keys = record.get("keys") or {}
        free = set(keys.get("free", []))
        meta = keys.get("meta")
        for key, sha in objects.items():
            public = key in free or key == meta
            bucket = layout.public_bucket if public else layout.private_bucket
            expected.append(_Expected(bucket, key, sha, md5s.get(key), key in free))
            if not public:
                private_keys.append((bucket, key))

    markers = settings.markers.build()
    listed = _list_etags(store, expected)
    free_keys = sorted(item.key for item in expected if item.is_free)
    # Spread over the run, the same ones every time (reruns audit the same objects).
    step = max(1, len(free_keys) // spot_checks) if spot_checks else 1
    spot = set(free_keys[::step][:spot_checks])

    def check(item: _Expected) -> list[str]:
        etag = listed.get((item.bucket, item.key))
        if etag is None:
            return [f"s3://{item.bucket}/{item.key} is missing"]
        if item.md5 is not None and etag == item.md5 and item.key not in spot:
            return []  # the bytes the pipeline wrote (and scanned): proven without a read
        body = store.get(item.bucket, item.key)
        if body is None:
            return [f"s3://{item.bucket}/{item.key} is missing"]
        problems = []
        # A marker in a public object is the worst finding: report it even when tampered.
        if item.is_free:
            ext = item.key.rsplit(".", 1)[-1]
            text = body.decode("utf-8", errors="replace")
            if problem := marker_problem(ext, text, markers):
                problems.append(f"free object s3://{item.bucket}/{item.key} {problem}")
        if sha256_hex(body) != item.sha256:
            problems.append(
                f"s3://{item.bucket}/{item.key} does not match its recorded sha256 "
                "(tampered or stale)"
            )
        return problems

    with ThreadPoolExecutor(max_workers=settings.storage.max_concurrency) as pool:
        for problems in pool.map(check, expected):
            report.objects_checked += 1
            report.problems.extend(problems)

    anonymous = make_client(_endpoint_of(ctx), anonymous=True, timeout=10.0)
    for bucket, key in private_keys[:ANONYMOUS_PROBES] + _first_quarantine(private_keys):
        report.anonymous_probes += 1
        try:
            anonymous.get_object(Bucket=bucket, Key=key)
        except Exception:  # noqa: S112 - a refusal is the expected outcome
            continue
        report.problems.append(f"s3://{bucket}/{key} is readable without credentials")
    return report


@dataclass(frozen=True)
class _Expected:
    bucket: str
    key: str
    sha256: str
    md5: str | None
    is_free: bool


def _list_etags(store: Any, expected: list[_Expected]) -> dict[tuple[str, str], str]:
    """ETags of the expected objects, by LIST: one listing per folder, over the key range
    the manifest names only (a folder may hold other intervals' objects too)."""
    ranges: dict[tuple[str, str], list[str]] = {}
    for item in expected:
        folder = item.key.rsplit("/", 1)[0] + "/"
        ranges.setdefault((item.bucket, folder), []).append(item.key)
    found: dict[tuple[str, str], str] = {}
    for (bucket, folder), keys in ranges.items():
        first, last = min(keys), max(keys)
        # StartAfter is exclusive: a proper prefix of the first key sorts just before it.
        for obj in store.list(bucket, folder, start_after=first[:-1]):
            if obj["Key"] > last:
                break
            found[(bucket, obj["Key"])] = obj["ETag"].strip('"')
    return found


def _first_quarantine(keys: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [k for k in keys if k[1].startswith("quarantine/")][:1]


def _endpoint_of(ctx: Context) -> Any:
    from paywall.s3 import S3Endpoint

    url = ctx.store.client.meta.endpoint_url
    return S3Endpoint(endpoint_url=url)


def verify_interval_manifests(ctx: Context) -> list[Report]:
    """Verify every committed manifest of the pipeline (the ``paywall verify`` command)."""
    layout = ctx.layout
    prefix = f"runs/{layout.pipeline}/"
    keys = [
        o["Key"]
        for o in ctx.store.list(layout.public_bucket, prefix)
        if o["Key"].endswith(".jsonl")  # interval manifests and partial ones
    ]
    return [verify_run(ctx, key) for key in sorted(keys)]
