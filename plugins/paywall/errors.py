"""Every exception the package raises on purpose, in one module.

Each carries a stable :class:`ErrorCode` (callers decide on codes, never on message text),
a message that names what failed and where, and keyword details. All survive pickling with
their code and details intact: Airflow and Celery move exceptions between processes.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

__all__ = [
    "CatalogError",
    "ConfigError",
    "DecodeError",
    "ErrorCode",
    "FetchError",
    "NotModified",
    "PaywallError",
    "PipelineError",
    "PreconditionFailed",
    "SourceError",
    "StorageError",
    "VerifyError",
    "WebhookError",
]


class ErrorCode(StrEnum):
    CONFIG = "config"
    SOURCE = "source"  # a source as a whole (index, folder, bucket) cannot be read
    FETCH = "fetch"  # one article could not be fetched
    NOT_MODIFIED = "not_modified"
    DECODE = "decode"
    STORAGE = "storage"
    PRECONDITION_FAILED = "precondition_failed"  # a conditional write lost (HTTP 412)
    NOT_FOUND = "not_found"
    PIPELINE = "pipeline"
    VERIFY = "verify"
    VERIFY_INCONCLUSIVE = "verify_inconclusive"
    WEBHOOK = "webhook"
    CATALOG = "catalog"  # the consumer's catalog or table cannot be updated as asked
    CATALOG_BUSY = "catalog_busy"  # another updater holds the catalog's lease: retry later


class PaywallError(Exception):
    """Base of every deliberate error. ``code`` is stable; ``details`` are JSON-able."""

    code: ErrorCode = ErrorCode.PIPELINE

    def __init__(self, message: str, *, code: ErrorCode | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details

    def __reduce__(self) -> tuple[Any, ...]:
        # The default reduce passes only ``args`` back to __init__, which would lose the
        # code and the details (and break subclasses whose __init__ takes other arguments).
        return (_rebuild, (type(self), self.message, self.code, self.details))

    def __str__(self) -> str:
        return self.message


def _rebuild(
    cls: type[PaywallError], message: str, code: ErrorCode, details: dict[str, Any]
) -> PaywallError:
    error = cls.__new__(cls)
    PaywallError.__init__(error, message, code=code, **details)
    return error


class ConfigError(PaywallError, ValueError):
    """The configuration cannot be used; the message names the file and the key."""

    code = ErrorCode.CONFIG


class SourceError(PaywallError):
    """A source as a whole cannot be read (its index, folder or bucket): fail the task."""

    code = ErrorCode.SOURCE


class FetchError(PaywallError):
    """One article (or URL) could not be fetched. ``reason`` is short and specific
    ('HTTP 404', 'timeout reading the response'); the pipeline records it for that article."""

    code = ErrorCode.FETCH

    def __init__(self, reason: str, url: str | None = None, **details: Any) -> None:
        super().__init__(f"{reason} ({url})" if url else reason, reason=reason, url=url, **details)

    @property
    def reason(self) -> str:
        return str(self.details.get("reason", self.message))

    @property
    def url(self) -> str | None:
        return self.details.get("url")

    @property
    def retryable(self) -> bool:
        return bool(self.details.get("retryable", False))


class NotModified(PaywallError):
    """The article is unchanged since the previous fetch (HTTP 304)."""

    code = ErrorCode.NOT_MODIFIED


class DecodeError(PaywallError, ValueError):
    """The bytes are not an article we can read; ``reason`` is a stable status name."""

    code = ErrorCode.DECODE

    def __init__(self, reason: str, detail: str, **details: Any) -> None:
        super().__init__(f"{reason}: {detail}", reason=reason, detail=detail, **details)

    @property
    def reason(self) -> str:
        return str(self.details["reason"])

    @property
    def detail(self) -> str:
        return str(self.details["detail"])


class StorageError(PaywallError):
    """A storage operation failed; the message names the endpoint, bucket and key.

    ``details['s3_code']`` holds the server's error code (``NoSuchKey``, ``AccessDenied``...)
    and ``details['status']`` the HTTP status, when the server answered at all.
    """

    code = ErrorCode.STORAGE

    @property
    def s3_code(self) -> str | None:
        return self.details.get("s3_code")

    @property
    def status(self) -> int | None:
        return self.details.get("status")


class PreconditionFailed(StorageError):
    """A conditional write (If-Match / If-None-Match) was refused: HTTP 412."""

    code = ErrorCode.PRECONDITION_FAILED


class PipelineError(PaywallError):
    """A step cannot complete; the message says which run, chunk or threshold."""

    code = ErrorCode.PIPELINE


class VerifyError(PaywallError):
    """Committed outputs failed the audit; deterministic, so retrying does not help."""

    code = ErrorCode.VERIFY


class WebhookError(PaywallError):
    """The webhook receiver did not take a batch after the configured retries."""

    code = ErrorCode.WEBHOOK


class CatalogError(PaywallError):
    """The catalog or the Iceberg table cannot be updated: corrupt or foreign state, or
    (``CATALOG_BUSY``) another updater holds the lease, which a retry waits out."""

    code = ErrorCode.CATALOG
