"""Object layout and the storage operations the pipeline needs, on any S3-compatible server.

Layout (the public contract, see README "Output contract"):

public bucket   free/<source>/<key>.<ext>         free halves (txt, and html for HTML input)
                meta/<source>/<key>.json          public metadata per article
                runs/<pipeline>/<interval>/manifest.jsonl   one record per article considered
                runs/<pipeline>/<interval>/_COMMITTED       the commit point of the manifest
private bucket  paid/<source>/<key>.<ext>         paid halves
                quarantine/<source>/<key>/input   raw input of refused articles
                quarantine/<source>/<key>/reason.json
                staging/<pipeline>/<interval>/... plans and per-chunk manifest parts
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

from botocore.exceptions import ClientError

from paywall.config import StorageSettings

CONTENT_TYPES = {
    "txt": "text/plain; charset=utf-8",
    "html": "text/html; charset=utf-8",
    "json": "application/json; charset=utf-8",
    "jsonl": "application/x-ndjson; charset=utf-8",
    "bin": "application/octet-stream",
}
PUBLIC_PREFIXES = ("free/", "meta/")
MAX_KEY_ID = 600  # leaves room for prefixes, source names and extensions under 1,024 bytes
_SAFE_KEY = re.compile(r"[^A-Za-z0-9._/-]")
_EXTENSION = re.compile(r"\.(txt|text|md|html?|xhtml)$", re.IGNORECASE)


class StorageError(RuntimeError):
    """A storage operation failed; the message names the endpoint, bucket and key."""


def key_for(source_id: str) -> str:
    """A safe object-key path for a source id (deterministic, no '..', no leading slash)."""
    stem = _EXTENSION.sub("", source_id.strip())
    parts = [p for p in stem.replace("\\", "/").split("/") if p not in ("", ".", "..")]
    safe = _SAFE_KEY.sub(lambda m: quote(m.group(0), safe=""), "/".join(parts) or "_")
    if len(safe) > MAX_KEY_ID:
        # S3 keys stop at 1,024 bytes: keep a readable prefix and make it unique with a hash.
        digest = hashlib.sha256(safe.encode()).hexdigest()[:16]
        safe = f"{safe[: MAX_KEY_ID - 17]}~{digest}"
    return safe


def interval_slug(start: datetime, end: datetime) -> str:
    fmt = "%Y%m%dT%H%M%SZ"
    return f"{start.strftime(fmt)}_{end.strftime(fmt)}"


@dataclass(frozen=True, slots=True)
class Layout:
    public_bucket: str
    private_bucket: str
    pipeline: str

    @classmethod
    def from_settings(cls, storage: StorageSettings, pipeline: str) -> Layout:
        return cls(storage.public_bucket, storage.private_bucket, pipeline)

    def free(self, source: str, key: str, ext: str) -> str:
        return f"free/{source}/{key}.{ext}"

    def paid(self, source: str, key: str, ext: str) -> str:
        return f"paid/{source}/{key}.{ext}"

    def meta(self, source: str, key: str) -> str:
        return f"meta/{source}/{key}.json"

    def quarantine(self, source: str, key: str) -> tuple[str, str]:
        return f"quarantine/{source}/{key}/input", f"quarantine/{source}/{key}/reason.json"

    def run_prefix(self, slug: str) -> str:
        return f"runs/{self.pipeline}/{slug}/"

    def manifest(self, slug: str) -> str:
        return self.run_prefix(slug) + "manifest.jsonl"

    def commit_marker(self, slug: str) -> str:
        return self.marker_for(self.manifest(slug))

    def partial_manifest(self, slug: str, plan_id: str) -> str:
        """A run over some ids, a limit or some sources: never the interval's own manifest."""
        return self.run_prefix(slug) + f"partial/{plan_id}.jsonl"

    @staticmethod
    def marker_for(manifest_key: str) -> str:
        """The commit marker of a manifest: ``_COMMITTED`` beside an interval's manifest,
        ``<key>.committed`` for a partial one."""
        if manifest_key.endswith("/manifest.jsonl"):
            return manifest_key.removesuffix("manifest.jsonl") + "_COMMITTED"
        return manifest_key + ".committed"

    @staticmethod
    def manifest_for(marker_key: str) -> str:
        if marker_key.endswith("/_COMMITTED"):
            return marker_key.removesuffix("_COMMITTED") + "manifest.jsonl"
        return marker_key.removesuffix(".committed")

    def staging(self, slug: str, name: str) -> str:
        return f"staging/{self.pipeline}/{slug}/{name}"


def md5_b64(body: bytes) -> str:
    return base64.b64encode(hashlib.md5(body, usedforsecurity=False).digest()).decode("ascii")


class ObjectStore:
    """Thin, explicit wrapper over a boto3 client: every call names what it touched on error."""

    def __init__(self, client: Any, settings: StorageSettings, where: str = "") -> None:
        self.client = client
        self.settings = settings
        self.where = where or getattr(getattr(client, "meta", None), "endpoint_url", "") or "S3"

    def _fail(self, action: str, bucket: str, key: str, exc: Exception) -> StorageError:
        if isinstance(exc, ClientError):
            code = exc.response.get("Error", {}).get("Code", "?")
            detail = f"{code}: {exc.response.get('Error', {}).get('Message', '')}".strip()
        else:
            detail = f"{type(exc).__name__}: {exc}"
        return StorageError(f"{action} s3://{bucket}/{key} at {self.where} failed ({detail})")

    def put(
        self,
        bucket: str,
        key: str,
        body: bytes,
        ext: str,
        *,
        encrypt: bool = False,
        if_none_match: bool = False,
        if_match: str | None = None,
    ) -> str:
        args: dict[str, Any] = {
            "Bucket": bucket,
            "Key": key,
            "Body": body,
            "ContentType": CONTENT_TYPES[ext],
            "Metadata": {"sha256": hashlib.sha256(body).hexdigest()},
        }
        if self.settings.checksum == "md5":
            args["ContentMD5"] = md5_b64(body)
        elif self.settings.checksum == "sha256":
            args["ChecksumSHA256"] = base64.b64encode(hashlib.sha256(body).digest()).decode()
        if encrypt and self.settings.server_side_encryption:
            args["ServerSideEncryption"] = self.settings.server_side_encryption
        if if_none_match:
            args["IfNoneMatch"] = "*"
        if if_match:
            args["IfMatch"] = if_match
        try:
            return self.client.put_object(**args)["ETag"]
        except ClientError as exc:
            raise self._fail("PUT", bucket, key, exc) from exc
        except Exception as exc:  # connection errors after botocore's own retries
            raise self._fail("PUT", bucket, key, exc) from exc

    def get(self, bucket: str, key: str) -> bytes | None:
        """The object's bytes, or None when it does not exist."""
        found = self.get_with_etag(bucket, key)
        return None if found is None else found[0]

    def get_with_etag(self, bucket: str, key: str) -> tuple[bytes, str] | None:
        """The object's bytes and ETag, or None when it does not exist."""
        try:
            response = self.client.get_object(Bucket=bucket, Key=key)
            return response["Body"].read(), response["ETag"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
                return None
            raise self._fail("GET", bucket, key, exc) from exc
        except Exception as exc:
            raise self._fail("GET", bucket, key, exc) from exc

    def list(self, bucket: str, prefix: str, start_after: str = "") -> Iterator[dict[str, Any]]:
        """Objects under prefix in key order (after ``start_after``, when given)."""
        paginator = self.client.get_paginator("list_objects_v2")
        args = {"Bucket": bucket, "Prefix": prefix} | (
            {"StartAfter": start_after} if start_after else {}
        )
        try:
            for page in paginator.paginate(**args):
                yield from page.get("Contents", [])
        except Exception as exc:
            raise self._fail("LIST", bucket, prefix, exc) from exc

    def delete(self, bucket: str, keys: list[str]) -> None:
        for start in range(0, len(keys), 1000):
            batch = [{"Key": k} for k in keys[start : start + 1000]]
            if not batch:
                continue
            try:
                self.client.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
            except Exception as exc:
                raise self._fail("DELETE", bucket, batch[0]["Key"], exc) from exc

    def put_json(self, bucket: str, key: str, data: Any, **kwargs: Any) -> str:
        return self.put(bucket, key, dumps(data), "json", **kwargs)


def dumps(data: Any) -> bytes:
    """Canonical JSON bytes: sorted keys, UTF-8, so equal data gives equal bytes and hashes."""
    return json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def public_read_policy(bucket: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "PublicReadFreeAndMeta",
                "Effect": "Allow",
                "Principal": {"AWS": ["*"]},
                "Action": ["s3:GetObject"],
                "Resource": [f"arn:aws:s3:::{bucket}/{p}*" for p in PUBLIC_PREFIXES],
            }
        ],
    }


def init_buckets(client: Any, settings: StorageSettings) -> list[str]:
    """Create the buckets and apply the read policy; idempotent. Returns what it changed."""
    changes: list[str] = []
    existing = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
    for bucket in dict.fromkeys((settings.public_bucket, settings.private_bucket)):
        if bucket not in existing:
            client.create_bucket(Bucket=bucket)
            changes.append(f"created bucket {bucket}")
    wanted = public_read_policy(settings.public_bucket) if settings.public_read else None
    current = _get_policy(client, settings.public_bucket)
    if wanted is not None and _normalize_policy(current) != _normalize_policy(wanted):
        client.put_bucket_policy(Bucket=settings.public_bucket, Policy=json.dumps(wanted))
        changes.append(f"public read of {', '.join(PUBLIC_PREFIXES)} on {settings.public_bucket}")
    elif wanted is None and current is not None:
        client.delete_bucket_policy(Bucket=settings.public_bucket)
        changes.append(f"removed the public policy of {settings.public_bucket}")
    private = settings.private_bucket
    if private != settings.public_bucket and _get_policy(client, private) is not None:
        client.delete_bucket_policy(Bucket=private)
        changes.append(f"removed a policy from the private bucket {private}")
    return changes


def _get_policy(client: Any, bucket: str) -> dict[str, Any] | None:
    try:
        return json.loads(client.get_bucket_policy(Bucket=bucket)["Policy"])
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("NoSuchBucketPolicy", "404"):
            return None
        raise


def _listify(value: str | list[str]) -> list[str]:
    return sorted([value] if isinstance(value, str) else value)


def _normalize_policy(policy: dict[str, Any] | None) -> Any:
    if policy is None:
        return None
    out = []
    for statement in policy.get("Statement", []):
        principal = statement.get("Principal")
        if isinstance(principal, dict):
            principal = principal.get("AWS")
        if isinstance(principal, str):
            principal = [principal]
        out.append(
            (
                statement.get("Effect"),
                tuple(sorted(principal or [])),
                tuple(_listify(statement.get("Action", []))),
                tuple(_listify(statement.get("Resource", []))),
            )
        )
    return sorted(out)
