"""An in-memory Store: the pipeline's logic tested in milliseconds, without a server.

It keeps S3's semantics where the pipeline relies on them: ETags are the MD5 of a plain PUT,
conditional writes (``If-None-Match: *``, ``If-Match``) raise PreconditionFailed, listings are
in key order with ``StartAfter``, deleting a missing key is not an error, unknown buckets are
errors. ``fail`` lets a test make any call fail, to prove what a failure leaves behind.
Anonymous reads follow ``public_prefixes`` of the public bucket, like the bucket policy.
"""

from __future__ import annotations

import builtins
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from paywall.errors import PreconditionFailed, StorageError
from paywall.storage import PUBLIC_PREFIXES, ProbeResult
from paywall.store import Blob, Listed

__all__ = ["MemoryStore", "StoredObject"]


@dataclass(frozen=True, slots=True)
class StoredObject:
    body: bytes
    etag: str
    content_type: str
    metadata: dict[str, str]
    last_modified: datetime
    encrypted: bool


@dataclass
class MemoryStore:
    buckets: dict[str, dict[str, StoredObject]] = field(default_factory=dict)
    public_bucket: str | None = None  # anonymous GET of PUBLIC_PREFIXES here, as the policy
    where: str = "memory://"
    # A hook called before every operation with (operation, bucket, key); an exception it
    # returns is raised instead of performing the call.
    fail: Callable[[str, str, str], BaseException | None] | None = None
    calls: list[tuple[str, str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    @classmethod
    def with_buckets(cls, *names: str, public: str | None = None) -> MemoryStore:
        store = cls(public_bucket=public)
        for name in names:
            store.buckets.setdefault(name, {})
        return store

    def _enter(self, operation: str, bucket: str, key: str) -> dict[str, StoredObject]:
        self.calls.append((operation, bucket, key))
        if self.fail is not None and (error := self.fail(operation, bucket, key)) is not None:
            raise error
        objects = self.buckets.get(bucket)
        if objects is None:
            raise StorageError(
                f"{operation} s3://{bucket}/{key} at {self.where} failed "
                "(NoSuchBucket: The specified bucket does not exist)",
                s3_code="NoSuchBucket",
                status=404,
                operation=operation,
                bucket=bucket,
                key=key,
            )
        return objects

    def put(self, blob: Blob, *, if_none_match: bool = False, if_match: str | None = None) -> str:
        with self._lock:
            objects = self._enter("PUT", blob.bucket, blob.key)
            current = objects.get(blob.key)
            lost = (if_none_match and current is not None) or (
                if_match is not None and (current is None or current.etag != if_match.strip('"'))
            )
            if lost:
                raise PreconditionFailed(
                    f"PUT s3://{blob.bucket}/{blob.key} at {self.where} failed "
                    "(PreconditionFailed: At least one of the pre-conditions you specified "
                    "did not hold)",
                    s3_code="PreconditionFailed",
                    status=412,
                    operation="PUT",
                    bucket=blob.bucket,
                    key=blob.key,
                )
            objects[blob.key] = StoredObject(
                blob.body,
                blob.md5,
                blob.content_type,
                {"sha256": blob.sha256, **blob.metadata},
                datetime.now(UTC),
                blob.encrypt,
            )
            return blob.md5

    def put_groups(self, groups: Sequence[Sequence[Blob]]) -> None:
        for group in groups:
            for blob in group:
                self.put(blob)

    def get(self, bucket: str, key: str) -> bytes | None:
        found = self.get_with_etag(bucket, key)
        return None if found is None else found[0]

    def get_with_etag(self, bucket: str, key: str) -> tuple[bytes, str] | None:
        with self._lock:
            stored = self._enter("GET", bucket, key).get(key)
            return None if stored is None else (stored.body, stored.etag)

    def get_range(self, bucket: str, key: str, start: int, end: int) -> bytes | None:
        if not 0 <= start < end:
            raise ValueError(f"get_range: bad range {start}-{end}")
        with self._lock:
            stored = self._enter("GET", bucket, key).get(key)
            return None if stored is None else stored.body[start:end]

    def head(self, bucket: str, key: str) -> Listed | None:
        with self._lock:
            stored = self._enter("HEAD", bucket, key).get(key)
            if stored is None:
                return None
            return Listed(
                key, stored.etag, len(stored.body), stored.last_modified, dict(stored.metadata)
            )

    def list(self, bucket: str, prefix: str, *, start_after: str = "") -> Iterator[Listed]:
        with self._lock:
            objects = self._enter("LIST", bucket, prefix)
            found = [
                Listed(k, o.etag, len(o.body), o.last_modified)
                for k, o in sorted(objects.items())
                if k.startswith(prefix) and k > start_after
            ]
        yield from found

    def delete(self, bucket: str, keys: Sequence[str]) -> None:
        with self._lock:
            for key in keys:
                self._enter("DELETE", bucket, key).pop(key, None)

    def presign_get(self, bucket: str, key: str, expires: int) -> str:
        return f"memory://{bucket}/{key}?expires={expires}"

    def anonymous_probe(self, bucket: str, key: str) -> tuple[ProbeResult, str]:
        with self._lock:
            self._enter("ANON", bucket, key)
        if bucket == self.public_bucket and key.startswith(PUBLIC_PREFIXES):
            return ProbeResult.READABLE, "HTTP 200"
        return ProbeResult.REFUSED, "AccessDenied (HTTP 403)"

    # ------------------------------------------------------------------ test conveniences
    def keys(self, bucket: str) -> builtins.list[str]:
        return sorted(self.buckets.get(bucket, {}))

    def snapshot(self) -> dict[str, Any]:
        """Every object's (bucket/key -> etag): compare states before and after a run."""
        return {
            f"{bucket}/{key}": stored.etag
            for bucket, objects in self.buckets.items()
            for key, stored in objects.items()
        }
