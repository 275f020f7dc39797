"""The Store protocol on any S3-compatible server (boto3), and bucket set-up.

Every call names what it touched when it fails (operation, ``s3://bucket/key``, endpoint) and
raises :class:`paywall.errors.StorageError` with the server's error code, or
:class:`paywall.errors.PreconditionFailed` when a conditional write loses (HTTP 412).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from enum import StrEnum
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from paywall.config import StorageSettings
from paywall.errors import PreconditionFailed, StorageError
from paywall.s3 import S3Endpoint, make_client
from paywall.store import Blob, Listed

__all__ = [
    "PUBLIC_PREFIXES",
    "ProbeResult",
    "S3Store",
    "init_buckets",
    "public_read_policy",
]

PUBLIC_PREFIXES = ("free/", "meta/")
_NOT_FOUND = frozenset({"NoSuchKey", "404", "NotFound"})
_LOST_CONDITION = frozenset({"PreconditionFailed", "412", "ConditionalRequestConflict"})


class ProbeResult(StrEnum):
    """What an anonymous GET of an object got."""

    REFUSED = "refused"  # AccessDenied / HTTP 403: the only answer that proves privacy
    READABLE = "readable"
    INCONCLUSIVE = "inconclusive"  # anything else: a timeout, a 404, a redirect, ...


def storage_error(
    action: str, bucket: str, key: str, where: str, exc: BaseException
) -> StorageError:
    """A StorageError naming the call, with the server's code and status when it answered."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", "?"))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        detail = f"{code}: {error.get('Message', '')}".strip().rstrip(":")
        cls = PreconditionFailed if code in _LOST_CONDITION or status == 412 else StorageError
        return cls(
            f"{action} s3://{bucket}/{key} at {where} failed ({detail})",
            s3_code=code,
            status=status,
            operation=action,
            bucket=bucket,
            key=key,
        )
    return StorageError(
        f"{action} s3://{bucket}/{key} at {where} failed ({type(exc).__name__}: {exc})",
        operation=action,
        bucket=bucket,
        key=key,
    )


class S3Store:
    """The Store protocol over a boto3 client (thread-safe; one per process is plenty)."""

    def __init__(
        self,
        client: Any,
        settings: StorageSettings,
        endpoint: S3Endpoint | None = None,
    ) -> None:
        self.client = client
        self.settings = settings
        self.endpoint = endpoint or S3Endpoint(
            endpoint_url=getattr(getattr(client, "meta", None), "endpoint_url", None)
        )
        self.where = self.endpoint.describe()

    @classmethod
    def connect(cls, endpoint: S3Endpoint, settings: StorageSettings) -> S3Store:
        client = make_client(endpoint, max_pool=max(10, settings.max_concurrency * 2))
        return cls(client, settings, endpoint)

    # -------------------------------------------------------------------------- writes
    def _put_args(self, blob: Blob) -> dict[str, Any]:
        args: dict[str, Any] = {
            "Bucket": blob.bucket,
            "Key": blob.key,
            "Body": blob.body,
            "ContentType": blob.content_type,
            "Metadata": {"sha256": blob.sha256, **blob.metadata},
        }
        if self.settings.checksum == "md5":
            args["ContentMD5"] = base64.b64encode(bytes.fromhex(blob.md5)).decode("ascii")
        elif self.settings.checksum == "sha256":
            args["ChecksumSHA256"] = base64.b64encode(bytes.fromhex(blob.sha256)).decode("ascii")
        if blob.encrypt and self.settings.server_side_encryption:
            args["ServerSideEncryption"] = self.settings.server_side_encryption
        return args

    def put(self, blob: Blob, *, if_none_match: bool = False, if_match: str | None = None) -> str:
        args = self._put_args(blob)
        if if_none_match:
            args["IfNoneMatch"] = "*"
        if if_match:
            args["IfMatch"] = if_match if if_match.startswith('"') else f'"{if_match}"'
        try:
            return str(self.client.put_object(**args)["ETag"]).strip('"')
        except (ClientError, BotoCoreError, OSError) as exc:
            raise storage_error("PUT", blob.bucket, blob.key, self.where, exc) from exc

    def put_groups(self, groups: Sequence[Sequence[Blob]]) -> None:
        groups = [g for g in groups if g]
        if not groups:
            return
        if len(groups) == 1 or self.settings.max_concurrency == 1:
            for group in groups:
                for blob in group:
                    self.put(blob)
            return

        def write(group: Sequence[Blob]) -> None:
            for blob in group:
                self.put(blob)

        workers = min(self.settings.max_concurrency, len(groups))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="s3-put") as pool:
            futures: list[Future[None]] = [pool.submit(write, g) for g in groups]
            done, _ = wait(futures, return_when=FIRST_EXCEPTION)
            failed = next((f for f in done if f.exception() is not None), None)
            if failed is not None:
                for future in futures:
                    future.cancel()
                wait(futures)
                error = failed.exception()
                assert error is not None
                raise error

    # --------------------------------------------------------------------------- reads
    def get(self, bucket: str, key: str) -> bytes | None:
        found = self.get_with_etag(bucket, key)
        return None if found is None else found[0]

    def get_with_etag(self, bucket: str, key: str) -> tuple[bytes, str] | None:
        try:
            response = self.client.get_object(Bucket=bucket, Key=key)
            return response["Body"].read(), str(response["ETag"]).strip('"')
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _NOT_FOUND:
                return None
            raise storage_error("GET", bucket, key, self.where, exc) from exc
        except (BotoCoreError, OSError) as exc:
            raise storage_error("GET", bucket, key, self.where, exc) from exc

    def get_range(self, bucket: str, key: str, start: int, end: int) -> bytes | None:
        if not 0 <= start < end:
            raise ValueError(f"get_range: bad range {start}-{end}")
        try:
            span = f"bytes={start}-{end - 1}"
            response = self.client.get_object(Bucket=bucket, Key=key, Range=span)
            return bytes(response["Body"].read())
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code in _NOT_FOUND:
                return None
            if code == "InvalidRange":  # starts at or after the end
                return b""
            raise storage_error("GET", bucket, key, self.where, exc) from exc
        except (BotoCoreError, OSError) as exc:
            raise storage_error("GET", bucket, key, self.where, exc) from exc

    def head(self, bucket: str, key: str) -> Listed | None:
        try:
            response = self.client.head_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _NOT_FOUND:
                return None
            raise storage_error("HEAD", bucket, key, self.where, exc) from exc
        except (BotoCoreError, OSError) as exc:
            raise storage_error("HEAD", bucket, key, self.where, exc) from exc
        return Listed(
            key,
            str(response["ETag"]).strip('"'),
            int(response.get("ContentLength", 0)),
            response.get("LastModified"),
            dict(response.get("Metadata") or {}),
        )

    def list(self, bucket: str, prefix: str, *, start_after: str = "") -> Iterator[Listed]:
        paginator = self.client.get_paginator("list_objects_v2")
        args: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix}
        if start_after:
            args["StartAfter"] = start_after
        try:
            for page in paginator.paginate(**args):
                for item in page.get("Contents", []):
                    yield Listed(
                        item["Key"],
                        str(item.get("ETag", "")).strip('"'),
                        int(item.get("Size", 0)),
                        item.get("LastModified"),
                    )
        except (ClientError, BotoCoreError, OSError) as exc:
            raise storage_error("LIST", bucket, prefix, self.where, exc) from exc

    def delete(self, bucket: str, keys: Sequence[str]) -> None:
        for start in range(0, len(keys), 1000):
            batch = [{"Key": k} for k in keys[start : start + 1000]]
            if not batch:
                continue
            try:
                response = self.client.delete_objects(
                    Bucket=bucket, Delete={"Objects": batch, "Quiet": True}
                )
            except (ClientError, BotoCoreError, OSError) as exc:
                raise storage_error("DELETE", bucket, batch[0]["Key"], self.where, exc) from exc
            errors = response.get("Errors") or []
            if errors:
                first = errors[0]
                raise StorageError(
                    f"DELETE s3://{bucket}/{first.get('Key')} at {self.where} failed "
                    f"({first.get('Code')}: {first.get('Message', '')}); "
                    f"{len(errors)} key(s) not deleted",
                    s3_code=first.get("Code"),
                    operation="DELETE",
                    bucket=bucket,
                    key=first.get("Key"),
                )

    def presign_get(self, bucket: str, key: str, expires: int) -> str:
        return str(
            self.client.generate_presigned_url(
                "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=expires
            )
        )

    # ------------------------------------------------------------------ anonymous probe
    def anonymous_probe(self, bucket: str, key: str) -> tuple[ProbeResult, str]:
        """GET the object without credentials, on the same endpoint and region.

        Only AccessDenied (HTTP 403) proves the object is private; a 404, a timeout, a
        redirect or a DNS error proves nothing, so it is inconclusive, never "refused".
        """
        anonymous = make_client(self.endpoint, anonymous=True, timeout=10.0)
        try:
            anonymous.get_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", "?"))
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if code == "AccessDenied" or status == 403:
                return ProbeResult.REFUSED, f"{code} (HTTP {status})"
            return ProbeResult.INCONCLUSIVE, f"{code} (HTTP {status})"
        except (BotoCoreError, OSError) as exc:
            return ProbeResult.INCONCLUSIVE, f"{type(exc).__name__}: {exc}"
        return ProbeResult.READABLE, "HTTP 200"


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
        policy: dict[str, Any] = json.loads(client.get_bucket_policy(Bucket=bucket)["Policy"])
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("NoSuchBucketPolicy", "404"):
            return None
        raise
    return policy


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
