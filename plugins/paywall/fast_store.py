"""The :class:`~paywall.store.Store` protocol on obstore: S3 requests run outside the GIL.

obstore (Python bindings of the Rust ``object_store`` crate) signs, sends and checks each
request on its own native threads; Python spends about a tenth of botocore's CPU per PUT
(``bench/clients.py``, ``docs/performance.md``). This module keeps every promise of the
output contract on that client:

- integrity: every PUT carries ``x-amz-checksum-sha256`` (``storage.checksum`` ``md5`` or
  ``sha256``), which AWS, MinIO and SeaweedFS verify against the body (a mismatch is
  refused with ``BadDigest``); obstore cannot send a per-request Content-MD5. The ETag of a
  plain PUT stays the body's MD5, so verify-by-listing is unchanged;
- ``Content-Type`` as the blob gives it (with its charset), the ``sha256`` user metadata
  (arrives as ``x-amz-meta-sha256``), further ASCII user metadata, SSE when the blob asks
  for it and ``storage.server_side_encryption`` is set;
- conditional writes: ``If-None-Match: *`` and ``If-Match`` refused by the server raise
  :class:`~paywall.errors.PreconditionFailed`;
- keys are written verbatim or refused: obstore's paths cannot hold empty, ``.`` or ``..``
  segments, leading or trailing slashes or control characters and would drop or reject
  them, so such a key raises :class:`~paywall.errors.StorageError` before any request.

Sync callers (the pipeline, Airflow tasks): each call blocks; :meth:`FastStore.put_groups`
runs groups on a thread pool sized from the settings (obstore releases the GIL while a
request is in flight), which measured cheaper than an asyncio bridge on this machine.

Fork safety: Celery and LocalExecutor fork task processes. Pools, locks and obstore stores
are rebuilt in a forked child. obstore's tokio runtime, however, does not survive a fork
(https://github.com/tokio-rs/tokio/issues/4301): a child forked *after* this process sent an
obstore request would hang on its first one. Such a child uses the ``fallback`` store
given to the constructor (the boto3 one) and, without one, fails closed with a
StorageError instead of hanging. Spawned processes and children forked before the first
request (Celery's prefork pool, Airflow's task supervisor) use obstore normally.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import weakref
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from datetime import timedelta
from pathlib import Path
from typing import Any

import obstore
from obstore.exceptions import (
    AlreadyExistsError,
    NotFoundError,
    PermissionDeniedError,
    PreconditionError,
    UnauthenticatedError,
)
from obstore.store import S3Store as _ObS3Store

from paywall.config import StorageSettings
from paywall.errors import ErrorCode, PreconditionFailed, StorageError
from paywall.s3 import S3Endpoint
from paywall.store import Blob, Listed, Store

__all__ = ["FastStore", "check_key", "obstore_options"]

log = logging.getLogger("paywall.fast_store")

# Attribute names obstore sends as standard headers; every other key becomes x-amz-meta-*.
_STANDARD_ATTRIBUTES = frozenset(
    ("content-type", "content-encoding", "content-language", "content-disposition", "cache-control")
)
_META_KEY = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
_META_VALUE = re.compile(r"^[\x20-\x7e]{0,1024}$")
_STATUS = re.compile(r"status code: (\d{3})")
_S3_CODE = re.compile(r"<Code>([A-Za-z0-9.]{1,64})</Code>")
_BAD_KEY_CHAR = re.compile(r"[\x00-\x1f\x7f\\]")
MAX_KEY_BYTES = 1024
MAX_PRESIGN_SECONDS = 7 * 24 * 3600  # SigV4's limit


# ------------------------------------------------------------------------- process state
class _Process:
    """Whether obstore's runtime may be used in this process (see the module docstring)."""

    started_pid: int | None = None  # the process that sent the first obstore request

    @classmethod
    def note_request(cls) -> None:
        if cls.started_pid is None:
            cls.started_pid = os.getpid()

    @classmethod
    def usable(cls) -> bool:
        return cls.started_pid is None or cls.started_pid == os.getpid()


_INSTANCES: weakref.WeakSet[FastStore] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    # A lock held by another thread at fork time stays held forever in the child; pools'
    # threads and obstore's connections do not exist there.
    for store in list(_INSTANCES):
        store._reset()


os.register_at_fork(after_in_child=_after_fork_in_child)


# ----------------------------------------------------------------------------- helpers
def check_key(key: str) -> str | None:
    """Why ``key`` cannot be written verbatim through obstore, or None when it can."""
    if not key:
        return "empty key"
    if len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
        return f"key longer than {MAX_KEY_BYTES} bytes"
    if key.startswith("/") or key.endswith("/"):
        return "leading or trailing '/'"
    if _BAD_KEY_CHAR.search(key):
        return "control character or backslash"
    if any(part in ("", ".", "..") for part in key.split("/")):
        return "empty, '.' or '..' path segment"
    try:
        key.encode("utf-8")
    except UnicodeEncodeError:
        return "not valid UTF-8"
    return None


def _seconds(value: Any, default: float) -> timedelta:
    return timedelta(seconds=float(value if value is not None else default))


def obstore_options(
    endpoint: S3Endpoint, *, timeout: float = 30.0, connect_timeout: float = 5.0
) -> dict[str, Any]:
    """obstore S3Store keyword arguments for an endpoint, as ``paywall.s3`` configures boto3.

    The same endpoint, keys, region and path-style addressing as the boto3 client of the
    same Connection; TLS verification, a CA bundle, a session token and timeouts are read
    from the endpoint when it carries them (``verify``, ``ca_bundle``, ``session_token``,
    ``connect_timeout``, ``read_timeout``).
    """
    client: dict[str, Any] = {
        "connect_timeout": _seconds(getattr(endpoint, "connect_timeout", None), connect_timeout),
        "timeout": _seconds(getattr(endpoint, "read_timeout", None), timeout),
        "pool_idle_timeout": timedelta(seconds=50),
    }
    url = endpoint.endpoint_url
    if url and url.lower().startswith("http://"):
        client["allow_http"] = True
    verify = getattr(endpoint, "verify", None)
    ca_bundle = getattr(endpoint, "ca_bundle", None)
    if isinstance(verify, str) and not ca_bundle:
        ca_bundle = verify  # botocore's convention: verify may name a CA bundle
    if verify is False:
        client["allow_invalid_certificates"] = True
    if ca_bundle:
        client["root_certificate"] = Path(ca_bundle).read_text()
    options: dict[str, Any] = {
        "region": endpoint.region,
        # Path-style addressing, as paywall.s3 sets for boto3 (MinIO, SeaweedFS, AWS).
        "virtual_hosted_style_request": getattr(endpoint, "addressing_style", "path") == "virtual",
        "client_options": client,
        "conditional_put": "etag",
        # A server's 5xx under load (SeaweedFS answered InternalError for ~0.5 s on a machine
        # at load 10) is ridden out for up to ~8 s, as boto3's standard mode would.
        "retry_config": {
            "max_retries": 5,
            "retry_timeout": timedelta(seconds=60),
            "backoff": {
                "init_backoff": timedelta(milliseconds=250),
                "max_backoff": timedelta(seconds=5),
                "base": 2,
            },
        },
    }
    # A Connection without keys means "the default credential chain" for boto3; obstore
    # reads the same environment and instance metadata when no keys are given.
    if endpoint.access_key:
        options["access_key_id"] = endpoint.access_key
    if endpoint.secret_key:
        options["secret_access_key"] = endpoint.secret_key
    token = getattr(endpoint, "session_token", None)
    if token:
        options["session_token"] = token
    if url:
        options["endpoint"] = url
    return options


def _unquote(etag: str | None) -> str:
    return (etag or "").strip('"')


# --------------------------------------------------------------------------------- store
class FastStore:
    """Object storage on obstore; a :class:`paywall.store.Store`.

    ``FastStore(endpoint, settings)`` takes the same :class:`~paywall.s3.S3Endpoint` the
    boto3 client of the same Connection (or environment) is built from, and the storage
    settings (checksum, SSE, ``max_concurrency`` as the requests in flight of
    :meth:`put_groups`). ``fallback`` builds the store to use in a process where obstore
    cannot run (a child forked after this process used obstore); without it such a
    process fails closed. ``presigner`` may sign GET URLs instead of obstore (boto3).
    """

    def __init__(
        self,
        endpoint: S3Endpoint,
        settings: StorageSettings,
        *,
        max_in_flight: int | None = None,
        timeout: float = 30.0,
        connect_timeout: float = 5.0,
        fallback: Callable[[], Store] | None = None,
        presigner: Callable[[str, str, int], str] | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.settings = settings
        self.where = endpoint.describe()
        self.max_in_flight = max_in_flight or settings.max_concurrency
        self._options = obstore_options(endpoint, timeout=timeout, connect_timeout=connect_timeout)
        if settings.checksum != "none":
            # The server verifies it against the body; MD5 is not available per request.
            self._options["checksum_algorithm"] = "sha256"
        self._fallback_factory = fallback
        self._presigner = presigner
        self._reset()
        _INSTANCES.add(self)

    def __repr__(self) -> str:
        return f"FastStore({self.where!r})"

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._stores: dict[tuple[str, bool], _ObS3Store] = {}
        self._pool: ThreadPoolExecutor | None = None
        self._fallback: Store | None = None

    # -------------------------------------------------------------- plumbing
    def _store(self, bucket: str, encrypt: bool = False) -> _ObS3Store:
        sse = self.settings.server_side_encryption if encrypt else None
        key = (bucket, bool(sse))
        store = self._stores.get(key)
        if store is None:
            with self._lock:
                store = self._stores.get(key)
                if store is None:
                    options: dict[str, Any] = dict(self._options)
                    if sse:
                        options["server_side_encryption"] = sse
                    store = _ObS3Store(bucket, **options)
                    self._stores[key] = store
        _Process.note_request()
        return store

    def _other(self) -> Store | None:
        """The store to use instead of obstore in this process, or None to use obstore."""
        if _Process.usable():
            return None
        if self._fallback_factory is None:
            raise StorageError(
                f"obstore cannot run in process {os.getpid()}: it was forked after its parent "
                f"sent obstore requests (tokio is not fork-safe), and no fallback store is set "
                f"for {self.where}",
                code=ErrorCode.STORAGE,
                endpoint=self.where,
                reason="forked_after_use",
            )
        with self._lock:
            if self._fallback is None:
                log.warning(
                    "process %d was forked after obstore was used: using the fallback store",
                    os.getpid(),
                )
                self._fallback = self._fallback_factory()
            return self._fallback

    def _fail(self, op: str, bucket: str, key: str, exc: BaseException) -> StorageError:
        text = str(exc)
        status_match = _STATUS.search(text)
        code_match = _S3_CODE.search(text)
        status = int(status_match.group(1)) if status_match else None
        s3_code = code_match.group(1) if code_match else None
        if isinstance(exc, AlreadyExistsError | PreconditionError):
            status, s3_code = status or 412, s3_code or "PreconditionFailed"
        elif isinstance(exc, NotFoundError | FileNotFoundError):
            status, s3_code = status or 404, s3_code or "NoSuchKey"
        elif isinstance(exc, PermissionDeniedError):
            status = status or 403
        elif isinstance(exc, UnauthenticatedError):
            status = status or 401
        what = s3_code or type(exc).__name__
        detail = f"{what}, HTTP {status}" if status else f"{what}: {text.splitlines()[0][:200]}"
        cls = PreconditionFailed if status == 412 else StorageError
        return cls(
            f"{op} s3://{bucket}/{key} at {self.where} failed ({detail})",
            operation=op,
            endpoint=self.where,
            bucket=bucket,
            key=key,
            s3_code=s3_code,
            status=status,
        )

    def _checked(self, op: str, bucket: str, key: str) -> None:
        why = check_key(key)
        if why is not None:
            raise StorageError(
                f"{op} s3://{bucket}/{key!r} at {self.where} refused: {why} (obstore would "
                f"not write or read that key verbatim)",
                operation=op,
                endpoint=self.where,
                bucket=bucket,
                key=key,
                reason="unsupported_key",
            )

    def _attributes(self, blob: Blob) -> dict[str, str]:
        attributes = {"Content-Type": blob.content_type, "sha256": blob.sha256}
        for name, value in blob.metadata.items():
            lower = name.lower()
            problem = None
            if not _META_KEY.match(lower) or lower in _STANDARD_ATTRIBUTES:
                problem = f"user metadata key {name!r} is not a plain lowercase ASCII name"
            elif not _META_VALUE.match(value):
                problem = f"user metadata {name!r} is not printable ASCII (at most 1 KB)"
            elif lower == "sha256" and value != blob.sha256:
                problem = "user metadata 'sha256' differs from the body's sha256"
            if problem:
                raise StorageError(
                    f"PUT s3://{blob.bucket}/{blob.key} at {self.where} refused: {problem}",
                    operation="PUT",
                    endpoint=self.where,
                    bucket=blob.bucket,
                    key=blob.key,
                    reason="bad_metadata",
                )
            attributes[lower] = value
        if not _META_VALUE.match(blob.content_type) or not blob.content_type:
            raise StorageError(
                f"PUT s3://{blob.bucket}/{blob.key} at {self.where} refused: content type "
                f"{blob.content_type!r} is not printable ASCII",
                operation="PUT",
                endpoint=self.where,
                bucket=blob.bucket,
                key=blob.key,
                reason="bad_metadata",
            )
        return attributes

    # -------------------------------------------------------------- writes
    def put(self, blob: Blob, *, if_none_match: bool = False, if_match: str | None = None) -> str:
        if if_none_match and if_match:
            raise ValueError("put: if_none_match and if_match exclude each other")
        other = self._other()
        if other is not None:
            return other.put(blob, if_none_match=if_none_match, if_match=if_match)
        self._checked("PUT", blob.bucket, blob.key)
        mode: Any = None
        if if_none_match:
            mode = "create"
        elif if_match:
            mode = {"e_tag": f'"{_unquote(if_match)}"'}
        return self._send(blob, self._attributes(blob), mode)

    def _send(self, blob: Blob, attributes: dict[str, str], mode: Any = None) -> str:
        store = self._store(blob.bucket, blob.encrypt)
        try:
            result = obstore.put(
                store, blob.key, blob.body, attributes=attributes, mode=mode, use_multipart=False
            )
        except Exception as exc:
            raise self._fail("PUT", blob.bucket, blob.key, exc) from exc
        return _unquote(result.get("e_tag"))

    def _executor(self) -> ThreadPoolExecutor:
        pool = self._pool
        if pool is None:
            with self._lock:
                if self._pool is None:
                    self._pool = ThreadPoolExecutor(
                        max_workers=self.max_in_flight, thread_name_prefix="paywall-put"
                    )
                pool = self._pool
        return pool

    def put_groups(self, groups: Sequence[Sequence[Blob]]) -> None:
        other = self._other()
        if other is not None:
            other.put_groups(groups)
            return
        # Refuse the whole batch before the first request when any object cannot be written.
        batch: list[list[tuple[Blob, dict[str, str]]]] = []
        for group in groups:
            for blob in group:
                self._checked("PUT", blob.bucket, blob.key)
            batch.append([(blob, self._attributes(blob)) for blob in group])
        failed = threading.Event()
        errors: list[StorageError] = []

        def run(group: list[tuple[Blob, dict[str, str]]]) -> None:
            for blob, attributes in group:
                if failed.is_set():
                    return  # the batch has failed: start nothing new
                try:
                    self._send(blob, attributes)
                except StorageError as exc:
                    errors.append(exc)
                    failed.set()
                    return

        pool = self._executor()
        futures = [pool.submit(run, group) for group in batch if group]
        wait(futures)
        for future in futures:
            future.result()  # re-raise anything unexpected (never swallowed)
        if errors:
            raise errors[0]

    def delete(self, bucket: str, keys: Sequence[str]) -> None:
        other = self._other()
        if other is not None:
            other.delete(bucket, keys)
            return
        keys = list(dict.fromkeys(keys))
        for key in keys:
            self._checked("DELETE", bucket, key)
        store = self._store(bucket)
        for start in range(0, len(keys), 1000):
            batch = keys[start : start + 1000]
            try:
                obstore.delete(store, batch)
            except NotFoundError:
                continue  # already gone: deleting is idempotent
            except Exception as exc:
                raise self._fail("DELETE", bucket, batch[0], exc) from exc

    # --------------------------------------------------------------- reads
    def get(self, bucket: str, key: str) -> bytes | None:
        found = self.get_with_etag(bucket, key)
        return None if found is None else found[0]

    def get_with_etag(self, bucket: str, key: str) -> tuple[bytes, str] | None:
        other = self._other()
        if other is not None:
            return other.get_with_etag(bucket, key)
        self._checked("GET", bucket, key)
        try:
            result = obstore.get(self._store(bucket), key)
            body = result.bytes().to_bytes()
        except (NotFoundError, FileNotFoundError):
            return None
        except Exception as exc:
            raise self._fail("GET", bucket, key, exc) from exc
        return body, _unquote(result.meta.get("e_tag"))

    def get_range(self, bucket: str, key: str, start: int, end: int) -> bytes | None:
        if not 0 <= start < end:
            raise ValueError(f"get_range: bad range {start}-{end}")
        other = self._other()
        if other is not None:
            return other.get_range(bucket, key, start, end)
        self._checked("GET", bucket, key)
        try:
            return obstore.get_range(self._store(bucket), key, start=start, end=end).to_bytes()
        except (NotFoundError, FileNotFoundError):
            return None
        except Exception as exc:
            if self.head(bucket, key) is not None and "range" in str(exc).lower():
                return b""  # starts at or after the end
            raise self._fail("GET", bucket, key, exc) from exc

    def head(self, bucket: str, key: str) -> Listed | None:
        other = self._other()
        if other is not None:
            return other.head(bucket, key)
        self._checked("HEAD", bucket, key)
        try:
            # A HEAD through get(): unlike obstore.head() it also returns the attributes.
            result = obstore.get(self._store(bucket), key, options={"head": True})
        except (NotFoundError, FileNotFoundError):
            return None
        except Exception as exc:
            raise self._fail("HEAD", bucket, key, exc) from exc
        meta = result.meta
        user = {
            str(k).lower(): str(v)
            for k, v in result.attributes.items()
            if str(k).lower() not in _STANDARD_ATTRIBUTES
        }
        return Listed(
            key, _unquote(meta.get("e_tag")), int(meta["size"]), meta.get("last_modified"), user
        )

    def list(self, bucket: str, prefix: str, *, start_after: str = "") -> Iterator[Listed]:
        other = self._other()
        if other is not None:
            yield from other.list(bucket, prefix, start_after=start_after)
            return
        # obstore lists "directories": its prefix "a/b" means keys under "a/b/". Any other
        # prefix is listed from its directory, from just below it, and filtered here.
        directory = prefix[: prefix.rfind("/") + 1]
        if directory and check_key(directory.rstrip("/")) is not None:
            self._checked("LIST", bucket, directory.rstrip("/"))
        offset = start_after
        if prefix != directory and (not offset or offset < prefix[:-1]):
            offset = prefix[:-1]
        store = self._store(bucket)
        try:
            stream = obstore.list(
                store, directory.rstrip("/") or None, offset=offset or None, chunk_size=1000
            )
            for batch in stream:
                for meta in batch:
                    path = str(meta["path"])
                    if path.startswith(prefix):
                        if path > start_after:
                            yield Listed(
                                path,
                                _unquote(meta.get("e_tag")),
                                int(meta["size"]),
                                meta.get("last_modified"),
                            )
                    elif path > prefix:
                        return  # keys come in order: nothing further can match
        except StorageError:
            raise
        except Exception as exc:
            raise self._fail("LIST", bucket, prefix, exc) from exc

    def presign_get(self, bucket: str, key: str, expires: int) -> str:
        if not 0 < expires <= MAX_PRESIGN_SECONDS:
            raise ValueError(f"presign_get: expires must be 1..{MAX_PRESIGN_SECONDS} seconds")
        if self._presigner is not None:
            return self._presigner(bucket, key, expires)
        other = self._other()
        if other is not None:
            return other.presign_get(bucket, key, expires)
        self._checked("PRESIGN", bucket, key)
        try:
            return str(obstore.sign(self._store(bucket), "GET", key, timedelta(seconds=expires)))
        except Exception as exc:
            raise self._fail("PRESIGN", bucket, key, exc) from exc

    def close(self) -> None:
        """Stop the PUT threads (the store stays usable: they start again on demand)."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)
