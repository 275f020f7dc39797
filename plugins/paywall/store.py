"""The object-store protocol the pipeline, reader, verify and catalog depend on.

Implementations: :class:`paywall.storage.S3Store` (boto3, any S3-compatible server) and
:class:`paywall.memstore.MemoryStore` (in memory, for fast tests of the pipeline's logic).
Errors are :class:`paywall.errors.StorageError` (a lost conditional write is its subclass
:class:`paywall.errors.PreconditionFailed`), never a client library's own exception.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from types import MappingProxyType
from typing import Any, Protocol, runtime_checkable

__all__ = ["Blob", "Listed", "Store"]

_EMPTY: Mapping[str, str] = MappingProxyType({})


def _no_metadata() -> Mapping[str, str]:
    # A mappingproxy is not hashable, so dataclasses refuse it as a plain default.
    return _EMPTY


def _rebuild(cls: Any, values: tuple[Any, ...], metadata: dict[str, str]) -> Any:
    return cls(*values, MappingProxyType(metadata) if metadata else _EMPTY)


def _reduce(obj: Any) -> tuple[Any, ...]:
    # A mappingproxy does not pickle; blobs and listings cross process pools and Celery.
    values = tuple(getattr(obj, f.name) for f in fields(obj)[:-1])
    return (_rebuild, (type(obj), values, dict(obj.metadata)))


@dataclass(frozen=True, slots=True)
class Blob:
    """One object to write, hashed exactly once (the hashes go to the manifest, the
    Content-MD5 header and the ``x-amz-meta-sha256`` user metadata)."""

    bucket: str
    key: str
    body: bytes = field(repr=False)
    content_type: str
    md5: str  # hex
    sha256: str  # hex
    encrypt: bool = False  # server-side encryption, when the settings ask for it
    metadata: Mapping[str, str] = field(default_factory=_no_metadata)  # x-amz-meta-*, ASCII

    __reduce__ = _reduce

    @classmethod
    def of(
        cls,
        bucket: str,
        key: str,
        body: bytes,
        content_type: str,
        *,
        encrypt: bool = False,
        metadata: Mapping[str, str] | None = None,
    ) -> Blob:
        return cls(
            bucket,
            key,
            body,
            content_type,
            hashlib.md5(body, usedforsecurity=False).hexdigest(),
            hashlib.sha256(body).hexdigest(),
            encrypt,
            MappingProxyType(dict(metadata)) if metadata else _EMPTY,
        )

    @property
    def size(self) -> int:
        return len(self.body)


@dataclass(frozen=True, slots=True)
class Listed:
    """An object as a listing (or HEAD) reports it."""

    key: str
    etag: str  # without the surrounding quotes
    size: int
    last_modified: datetime | None = None
    metadata: Mapping[str, str] = field(default_factory=_no_metadata)  # filled by head() only

    __reduce__ = _reduce


@runtime_checkable
class Store(Protocol):
    """What the pipeline needs from object storage."""

    where: str  # the endpoint, for messages (never a secret)

    def put(self, blob: Blob, *, if_none_match: bool = False, if_match: str | None = None) -> str:
        """Write one object; return its ETag (unquoted). ``if_none_match`` creates only;
        ``if_match`` replaces only that version. A refused condition raises
        PreconditionFailed."""
        ...

    def put_groups(self, groups: Sequence[Sequence[Blob]]) -> None:
        """Write many objects: each group in its order (a later one only after the earlier
        ones succeeded), different groups concurrently. Raises StorageError for the first
        failure, after every write in flight has settled."""
        ...

    def get(self, bucket: str, key: str) -> bytes | None:
        """The object's bytes, or None when it does not exist."""
        ...

    def get_with_etag(self, bucket: str, key: str) -> tuple[bytes, str] | None:
        """The object's bytes and ETag (unquoted), or None when it does not exist."""
        ...

    def get_range(self, bucket: str, key: str, start: int, end: int) -> bytes | None:
        """Bytes ``start`` to ``end`` (exclusive) of the object, fewer when it ends sooner,
        or None when it does not exist. ``0 <= start < end``."""
        ...

    def head(self, bucket: str, key: str) -> Listed | None:
        """Size, ETag and user metadata of an object, or None when it does not exist."""
        ...

    def list(self, bucket: str, prefix: str, *, start_after: str = "") -> Iterator[Listed]:
        """Objects whose key starts with ``prefix``, in key order, after ``start_after``."""
        ...

    def delete(self, bucket: str, keys: Sequence[str]) -> None:
        """Delete these keys (missing ones are not an error)."""
        ...

    def presign_get(self, bucket: str, key: str, expires: int) -> str:
        """A GET URL valid for ``expires`` seconds."""
        ...
