"""An S3 inbox prefix is a folder: prefix `inbox` lists `inbox/...`, never `inbox-other/...`.

Against the real S3 server the integration tests start (SeaweedFS, MinIO where built).
"""

from __future__ import annotations

import secrets
from typing import Any

import pytest

from paywall.config import S3Source
from paywall.s3 import make_client
from paywall.sources.s3inbox import S3InboxSource

BODY = "t\n免费##paidbegin##付费##paidend##".encode()


@pytest.mark.s3
@pytest.mark.parametrize("prefix", ["inbox", "inbox/"])
def test_prefix_is_a_folder(s3_server: Any, prefix: str) -> None:
    client = make_client(s3_server.endpoint)
    bucket = f"inbox-{secrets.token_hex(3)}"
    client.create_bucket(Bucket=bucket)
    for key in ("inbox/a.txt", "inbox/sub/b.txt", "inbox-other/x.txt", "inboxed.txt",
                "inbox\x1b[31m/odd.txt", "other/inbox/c.txt"):  # fmt: skip
        client.put_object(Bucket=bucket, Key=key, Body=BODY)
    source = S3InboxSource(S3Source(name="in", kind="s3", bucket=bucket, prefix=prefix), client)
    refs = source.list(None)
    assert sorted(r.source_id for r in refs) == ["a.txt", "sub/b.txt"]
    assert sorted(r.locator for r in refs) == ["inbox/a.txt", "inbox/sub/b.txt"]
    assert all(source.fetch(r).data == BODY for r in refs)


@pytest.mark.s3
def test_empty_prefix_lists_the_bucket_with_printable_ids(s3_server: Any) -> None:
    client = make_client(s3_server.endpoint)
    bucket = f"inbox-{secrets.token_hex(3)}"
    client.create_bucket(Bucket=bucket)
    for key in ("a.txt", "dir/\x07bell.txt"):
        client.put_object(Bucket=bucket, Key=key, Body=BODY)
    source = S3InboxSource(S3Source(name="in", kind="s3", bucket=bucket), client)
    refs = source.list(None)
    assert sorted(r.source_id for r in refs) == ["a.txt", "dir/\\u0007bell.txt"]
    assert all(source.fetch(r).data == BODY for r in refs)
