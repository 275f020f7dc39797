"""The Store contract on every S3 backend, for the boto3 store and the obstore one alike.

Each test runs once per backend (SeaweedFS, MinIO where built) and per store:

- ``boto3``: :class:`paywall.storage.S3Store`, the Store protocol over boto3;
- ``obstore``: :class:`paywall.fast_store.FastStore`.

What a consumer sees is checked through boto3 whatever store wrote it (HEAD: content type and
``x-amz-meta-sha256``), and what goes over the wire through a recording proxy on loopback
(the integrity checksum, the user metadata, SSE); a proxy that changes one byte of a body
shows the server refuses it.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import pickle
import socket
import subprocess
import sys
import textwrap
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from botocore.exceptions import ClientError

from paywall.config import StorageSettings
from paywall.errors import ErrorCode, PreconditionFailed, StorageError
from paywall.fast_store import FastStore, check_key, obstore_options
from paywall.s3 import S3Endpoint, make_client
from paywall.storage import S3Store
from paywall.store import Blob, Store
from paywall_dev.servers import S3Server

pytestmark = pytest.mark.s3
TEXT = "text/plain; charset=utf-8"
JSON = "application/json; charset=utf-8"


def _boto3_store(endpoint: S3Endpoint, settings: StorageSettings) -> Store:
    return S3Store.connect(endpoint, settings)


def _fast_store(endpoint: S3Endpoint, settings: StorageSettings) -> Store:
    return FastStore(endpoint, settings)


FACTORIES: dict[str, Callable[[S3Endpoint, StorageSettings], Store]] = {
    "boto3": _boto3_store,
    "obstore": _fast_store,
}


# ----------------------------------------------------------------------------- fixtures
class Env:
    def __init__(self, server: S3Server, kind: str, settings: StorageSettings) -> None:
        self.server, self.kind, self.settings = server, kind, settings
        self.endpoint = server.endpoint
        self.client = make_client(self.endpoint)
        self.bucket = settings.public_bucket
        self.private = settings.private_bucket
        for bucket in (self.bucket, self.private):
            self.client.create_bucket(Bucket=bucket)
        self.store = FACTORIES[kind](self.endpoint, settings)

    def make(self, endpoint: S3Endpoint | None = None, **settings: Any) -> Store:
        merged = self.settings.model_copy(update=settings)
        return FACTORIES[self.kind](endpoint or self.endpoint, merged)

    def boto_head(self, key: str, bucket: str | None = None) -> dict[str, Any]:
        return dict(self.client.head_object(Bucket=bucket or self.bucket, Key=key))


def _settings(**overrides: Any) -> StorageSettings:
    suffix = os.urandom(3).hex()
    return StorageSettings(
        public_bucket=f"fs-pub-{suffix}", private_bucket=f"fs-priv-{suffix}", **overrides
    )


@pytest.fixture(params=sorted(FACTORIES))
def env(request: pytest.FixtureRequest, s3_server: S3Server) -> Env:
    return Env(s3_server, request.param, _settings(max_concurrency=8))


@pytest.fixture
def fast(s3_server: S3Server) -> Env:
    return Env(s3_server, "obstore", _settings(max_concurrency=8))


def blob(env: Env, key: str, body: bytes, ctype: str = TEXT, **kw: Any) -> Blob:
    return Blob.of(kw.pop("bucket", env.bucket), key, body, ctype, **kw)


# --------------------------------------------------------------------- the contract
def test_put_get_head_as_consumers_see_it(env: Env) -> None:
    body = "免费预览：正文。\n".encode()
    b = blob(env, "free/src/a.txt", body, metadata={"origin": "abc123"})
    etag = env.store.put(b)
    assert etag == b.md5  # a plain PUT's ETag is the MD5: verify proves objects by listing
    assert env.store.get(env.bucket, b.key) == body
    assert env.store.get_with_etag(env.bucket, b.key) == (body, b.md5)

    # What any S3 client (here boto3) sees in a HEAD.
    head = env.boto_head(b.key)
    assert head["ContentType"] == TEXT
    assert head["Metadata"] == {"sha256": hashlib.sha256(body).hexdigest(), "origin": "abc123"}
    assert head["ContentLength"] == len(body)

    listed = env.store.head(env.bucket, b.key)
    assert listed is not None
    assert (listed.key, listed.etag, listed.size) == (b.key, b.md5, len(body))
    assert listed.metadata["sha256"] == b.sha256
    assert listed.metadata["origin"] == "abc123"


def test_missing_objects_are_none(env: Env) -> None:
    assert env.store.get(env.bucket, "nope/x.txt") is None
    assert env.store.get_with_etag(env.bucket, "nope/x.txt") is None
    assert env.store.head(env.bucket, "nope/x.txt") is None


def test_byte_ranges(env: Env) -> None:
    """A chunk reads its line of the plan by range: exact bytes, a short tail, nothing past
    the end, None for a missing key, and a bad range refused before any request."""
    body = "头行\n第一行\n第二行\n".encode()
    env.store.put(blob(env, "staging/plan.jsonl", body))
    assert env.store.get_range(env.bucket, "staging/plan.jsonl", 0, 7) == body[:7]
    assert env.store.get_range(env.bucket, "staging/plan.jsonl", 7, 17) == body[7:17]
    assert env.store.get_range(env.bucket, "staging/plan.jsonl", 17, 10**6) == body[17:]
    assert env.store.get_range(env.bucket, "staging/plan.jsonl", len(body), 10**6) == b""
    assert env.store.get_range(env.bucket, "nope/plan.jsonl", 0, 10) is None
    with pytest.raises(ValueError, match="bad range"):
        env.store.get_range(env.bucket, "staging/plan.jsonl", 5, 5)


def test_empty_object(env: Env) -> None:
    b = blob(env, "meta/empty.json", b"", JSON)
    assert env.store.put(b) == hashlib.md5(b"").hexdigest()
    assert env.store.get(env.bucket, b.key) == b""
    listed = env.store.head(env.bucket, b.key)
    assert listed is not None and listed.size == 0


def test_conditional_create(env: Env) -> None:
    first = blob(env, "runs/p/manifest.jsonl", b"one\n", "application/x-ndjson; charset=utf-8")
    env.store.put(first, if_none_match=True)
    with pytest.raises(PreconditionFailed) as info:
        env.store.put(replace(first, body=b"two\n"), if_none_match=True)
    assert info.value.code is ErrorCode.PRECONDITION_FAILED
    assert info.value.status == 412
    assert env.store.get(env.bucket, first.key) == b"one\n"


def test_conditional_replace(env: Env) -> None:
    one = blob(env, "runs/p/manifest.jsonl", b"one\n")
    etag = env.store.put(one)
    two = blob(env, one.key, b"two\n")
    new_etag = env.store.put(two, if_match=etag)
    assert new_etag == two.md5
    stale = blob(env, one.key, b"three\n")
    with pytest.raises(PreconditionFailed):
        env.store.put(stale, if_match=etag)  # the version it names is gone
    assert env.store.get(env.bucket, one.key) == b"two\n"


def test_if_match_on_a_missing_key_writes_nothing(env: Env) -> None:
    missing = blob(env, "runs/p/never.jsonl", b"x\n")
    with pytest.raises(StorageError) as info:
        env.store.put(missing, if_match=hashlib.md5(b"x\n").hexdigest())
    assert info.value.status in (404, 412)  # AWS answers 404, MinIO and SeaweedFS 412
    assert env.store.get(env.bucket, missing.key) is None


def test_list_prefix_start_after_and_pages(env: Env) -> None:
    # No key is also a "folder" of another: MinIO stores both but lists only one of them.
    keys = ["p/aa", "p/ab", "p/abc", "p/abd/y", "p/ac/x", "p/b", "q/ab"]
    env.store.put_groups([[blob(env, k, k.encode())] for k in keys])
    listed = list(env.store.list(env.bucket, "p/ab"))
    assert [i.key for i in listed] == ["p/ab", "p/abc", "p/abd/y"]
    assert all(i.etag == hashlib.md5(i.key.encode()).hexdigest() for i in listed)
    assert [i.size for i in listed] == [len(i.key) for i in listed]
    assert [i.key for i in env.store.list(env.bucket, "p/")] == keys[:6]
    assert [i.key for i in env.store.list(env.bucket, "p/ab", start_after="p/abc")] == ["p/abd/y"]
    assert [i.key for i in env.store.list(env.bucket, "p/ab", start_after="p/aa")] == [
        "p/ab",
        "p/abc",
        "p/abd/y",
    ]
    assert [i.key for i in env.store.list(env.bucket, "p/", start_after="p/abd/y")] == [
        "p/ac/x",
        "p/b",
    ]
    assert [i.key for i in env.store.list(env.bucket, "p/abd/")] == ["p/abd/y"]
    assert [i.key for i in env.store.list(env.bucket, "")] == keys
    assert list(env.store.list(env.bucket, "p/zz")) == []
    assert list(env.store.list(env.bucket, "nothing/")) == []


def test_many_objects_list_and_delete_in_batches(env: Env) -> None:
    # More than one LIST page and more than one DeleteObjects batch (1,000 each).
    keys = [f"meta/bulk/{i:05d}.json" for i in range(1100)]
    groups = [[blob(env, k, b"{}", JSON)] for k in keys]
    env.store.put_groups(groups)
    assert [i.key for i in env.store.list(env.bucket, "meta/bulk/")] == keys
    assert [i.key for i in env.store.list(env.bucket, "meta/bulk/", start_after=keys[1049])] == (
        keys[1050:]
    )
    env.store.delete(env.bucket, [*keys, "meta/bulk/not-there.json"])
    assert list(env.store.list(env.bucket, "meta/bulk/")) == []


def test_delete_missing_is_not_an_error(env: Env) -> None:
    env.store.delete(env.bucket, ["free/none.txt"])
    env.store.delete(env.bucket, [])


def test_put_groups_writes_each_group_in_order_and_reports_the_failure(env: Env) -> None:
    ok = [[blob(env, f"free/g{i}/a.txt", b"a"), blob(env, f"meta/g{i}.json", b"{}", JSON)]
          for i in range(5)]  # fmt: skip
    failing = [
        blob(env, "paid/x/a.txt", b"paid", bucket=env.private),
        # SeaweedFS creates a missing bucket on PUT: an invalid bucket name fails everywhere.
        blob(env, "free/x/a.txt", b"free", bucket="Invalid_Bucket_Name"),
        blob(env, "meta/x.json", b"{}", JSON),  # must never be written: its group failed
    ]
    with pytest.raises(StorageError) as info:
        env.store.put_groups([*ok, failing])
    assert info.value.status == 400
    assert "Invalid_Bucket_Name" in str(info.value)
    assert env.store.get(env.private, "paid/x/a.txt") == b"paid"
    assert env.store.get(env.bucket, "meta/x.json") is None
    env.store.put_groups(ok)  # and a clean batch goes through
    for group in ok:
        for b in group:
            assert env.store.get(b.bucket, b.key) == b.body


def test_keys_are_written_verbatim(env: Env) -> None:
    keys = [
        "free/src/%E4%B8%AD%E6%96%87.txt",  # what key_for makes of non-ASCII ids
        "free/src/中文 空格+plus~tilde.txt",
        "free/src/q?x#y&z=1.txt",
        "free/src/{braces}[brackets]'quote'.txt",
        "free/src/a%2Fb%25c%zz 100%.txt",  # percent signs stay literal, never decoded
        # 700+ bytes of UTF-8 (SeaweedFS allows 255 bytes per path segment).
        "free/src/" + "/".join(["長" * 80] * 3) + ".txt",
    ]
    for key in keys:
        env.store.put(blob(env, key, key.encode()))
        assert env.client.get_object(Bucket=env.bucket, Key=key)["Body"].read() == key.encode()
    assert sorted(i.key for i in env.store.list(env.bucket, "free/src/")) == sorted(keys)


def test_presigned_get_works_and_expires(env: Env) -> None:
    key = "paid/src/付费 文章.txt"
    env.store.put(blob(env, key, "付费".encode(), bucket=env.private))
    url = env.store.presign_get(env.private, key, 60)
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.read() == "付费".encode()
    short = env.store.presign_get(env.private, key, 1)
    time.sleep(2.5)
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(short, timeout=10)
    assert info.value.code == 403
    # Anonymous requests get nothing from the private bucket.
    with pytest.raises(urllib.error.HTTPError) as anon:
        urllib.request.urlopen(url.split("?")[0], timeout=10)
    assert anon.value.code == 403


def test_wrong_secret_is_refused(env: Env) -> None:
    wrong = S3Endpoint(env.endpoint.endpoint_url, env.endpoint.access_key, "not-the-secret")
    store = env.make(wrong)
    with pytest.raises(StorageError) as info:
        store.put(blob(env, "free/x.txt", b"x"))
    assert info.value.status == 403
    assert info.value.s3_code in ("SignatureDoesNotMatch", "AccessDenied", "InvalidAccessKeyId")
    assert "not-the-secret" not in str(info.value)
    with pytest.raises(StorageError):
        store.get(env.bucket, "free/x.txt")
    assert env.store.get(env.bucket, "free/x.txt") is None


def test_errors_name_what_failed_and_pickle(env: Env) -> None:
    with pytest.raises(StorageError) as info:
        env.store.put(blob(env, "free/y.txt", b"y", bucket="Invalid_Bucket_zz"))
    error = info.value
    assert "Invalid_Bucket_zz" in str(error) and "free/y.txt" in str(error)
    assert error.status == 400
    assert env.endpoint.describe() in str(error)
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is type(error)
    assert (again.code, again.status, again.s3_code, str(again)) == (
        error.code,
        error.status,
        error.s3_code,
        str(error),
    )


# -------------------------------------------------------- the obstore store's own rules
@pytest.mark.parametrize(
    "key", ["", "/lead", "trail/", "a//b", "a/./b", "a/../b", "tab\tkey", "back\\slash", "nul\0"]
)
def test_keys_obstore_would_alter_are_refused(fast: Env, key: str) -> None:
    assert check_key(key) is not None
    with pytest.raises(StorageError) as info:
        fast.store.put(blob(fast, key, b"x"))
    assert info.value.details["reason"] == "unsupported_key"
    with pytest.raises(StorageError):
        fast.store.put_groups([[blob(fast, "free/fine.txt", b"x")], [blob(fast, key, b"x")]])
    # Refused before any request: not even the valid object of the batch was written.
    assert fast.store.get(fast.bucket, "free/fine.txt") is None
    assert [
        o["Key"] for o in fast.client.list_objects_v2(Bucket=fast.bucket).get("Contents", [])
    ] == []


@pytest.mark.parametrize(
    "metadata",
    [
        {"Content-Type": "text/html"},  # would replace the blob's content type
        {"cache-control": "public"},
        {"sha256": "0" * 64},  # would contradict the body's hash
        {"title": "中文标题"},  # non-ASCII: keep titles in the JSON
        {"bad key": "x"},
        {"x": "line\r\nbreak"},
    ],
)
def test_metadata_that_is_not_plain_ascii_user_metadata_is_refused(
    fast: Env, metadata: dict[str, str]
) -> None:
    with pytest.raises(StorageError) as info:
        fast.store.put(blob(fast, "free/m.txt", b"m", metadata=metadata))
    assert info.value.details["reason"] == "bad_metadata"
    assert fast.store.get(fast.bucket, "free/m.txt") is None


def test_listing_keys_another_client_wrote_never_confuses_them(fast: Env) -> None:
    # Keys obstore cannot represent, written by boto3: a listing must fail or skip them,
    # never report one of them under another object's name.
    for key in ("odd/a", "odd/a//b", "odd/./c", "odd/tab\tx"):
        with contextlib.suppress(ClientError):
            fast.client.put_object(Bucket=fast.bucket, Key=key, Body=key.encode())
    try:
        listed = list(fast.store.list(fast.bucket, "odd/"))
    except StorageError:
        return
    for item in listed:
        body = fast.client.get_object(Bucket=fast.bucket, Key=item.key)["Body"].read()
        assert hashlib.md5(body).hexdigest() == item.etag


def test_presign_expiry_is_bounded(fast: Env) -> None:
    for expires in (0, -1, 7 * 24 * 3600 + 1):
        with pytest.raises(ValueError):
            fast.store.presign_get(fast.bucket, "free/x.txt", expires)


def test_options_follow_the_endpoint() -> None:
    plain = obstore_options(S3Endpoint("http://127.0.0.1:9000", "K", "S", "eu-west-1"))
    assert plain["endpoint"] == "http://127.0.0.1:9000"
    assert (plain["access_key_id"], plain["secret_access_key"], plain["region"]) == (
        "K",
        "S",
        "eu-west-1",
    )
    assert plain["virtual_hosted_style_request"] is False  # path style, as for boto3
    assert plain["client_options"]["allow_http"] is True
    aws = obstore_options(S3Endpoint(None, "K", "S"))
    assert "endpoint" not in aws and "allow_http" not in aws["client_options"]
    tls = obstore_options(S3Endpoint("https://s3.internal:9000", "K", "S"))
    assert "allow_http" not in tls["client_options"]


# ------------------------------------------------------- what goes over the wire
class RecordingProxy:
    """A loopback TCP proxy that records what the client sends and can rewrite bytes."""

    def __init__(self, target_port: int, swap: tuple[bytes, bytes] | None = None) -> None:
        self.target_port = target_port
        self.swap = swap
        self.sent = bytearray()
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(client,), daemon=True).start()

    def _handle(self, client: socket.socket) -> None:
        upstream = socket.create_connection(("127.0.0.1", self.target_port))

        def pipe(src: socket.socket, dst: socket.socket, record: bool) -> None:
            try:
                while data := src.recv(1 << 20):
                    if record:
                        with self._lock:
                            self.sent += data
                        if self.swap and self.swap[0] in data:
                            data = data.replace(*self.swap)
                    dst.sendall(data)
            except OSError:
                pass
            finally:
                for end in (src, dst):
                    with contextlib.suppress(OSError):
                        end.shutdown(socket.SHUT_RDWR)

        threading.Thread(target=pipe, args=(client, upstream, True), daemon=True).start()
        pipe(upstream, client, False)

    def headers_of(self, path: str) -> dict[str, str]:
        """The headers of the last request whose request line names ``path``."""
        text = bytes(self.sent).decode("latin-1")
        start = text.rfind(f" {path} HTTP/1.1\r\n")
        assert start >= 0, f"no request for {path}"
        head = text[start:].split("\r\n\r\n", 1)[0].split("\r\n")[1:]
        return {k.strip().lower(): v.strip() for k, v in (h.split(":", 1) for h in head)}

    def close(self) -> None:
        self._listener.close()


def _via(env: Env, proxy: RecordingProxy, **settings: Any) -> Store:
    endpoint = S3Endpoint(proxy.url, env.endpoint.access_key, env.endpoint.secret_key)
    return env.make(endpoint, **settings)


def test_every_put_carries_a_checksum_the_server_verifies(env: Env) -> None:
    port = int((env.endpoint.endpoint_url or "").rsplit(":", 1)[1])
    proxy = RecordingProxy(port)
    try:
        store = _via(env, proxy)
        body = "付费正文 paid body".encode()
        b = blob(env, "paid/w/a.txt", body, bucket=env.private, metadata={"origin": "x1"})
        store.put(b)
        headers = proxy.headers_of(f"/{env.private}/paid/w/a.txt")
    finally:
        proxy.close()
    md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
    sha = base64.b64encode(hashlib.sha256(body).digest()).decode()
    assert headers.get("content-md5") == md5 or headers.get("x-amz-checksum-sha256") == sha
    assert headers["content-type"] == TEXT
    assert headers["x-amz-meta-sha256"] == hashlib.sha256(body).hexdigest()
    assert headers["x-amz-meta-origin"] == "x1"
    assert "x-amz-server-side-encryption" not in headers  # not configured

    # One byte changed on the way: the server must refuse the body, and nothing is stored.
    tamper = RecordingProxy(port, swap=(b"paid body", b"paid bodY"))
    try:
        with pytest.raises(StorageError) as info:
            _via(env, tamper).put(blob(env, "paid/w/b.txt", body, bucket=env.private))
    finally:
        tamper.close()
    assert info.value.status == 400
    assert info.value.s3_code in ("BadDigest", "XAmzContentSHA256Mismatch", "InvalidDigest")
    assert env.store.get(env.private, "paid/w/b.txt") is None


def test_sse_header_only_for_blobs_that_ask_for_it(env: Env) -> None:
    port = int((env.endpoint.endpoint_url or "").rsplit(":", 1)[1])
    proxy = RecordingProxy(port)
    try:
        store = _via(env, proxy, server_side_encryption="AES256")
        # The local servers may refuse SSE-S3 without a KMS: the request is what counts here.
        with contextlib.suppress(StorageError):
            store.put(blob(env, "paid/s/a.txt", b"secret", bucket=env.private, encrypt=True))
        with contextlib.suppress(StorageError):
            store.put(blob(env, "free/s/a.txt", b"free"))
        paid = proxy.headers_of(f"/{env.private}/paid/s/a.txt")
        free = proxy.headers_of(f"/{env.bucket}/free/s/a.txt")
    finally:
        proxy.close()
    assert paid.get("x-amz-server-side-encryption") == "AES256"
    assert "x-amz-server-side-encryption" not in free


# ----------------------------------------------------------------------- fork safety
def test_forked_child_never_hangs(fast: Env) -> None:
    """A child forked after obstore ran here uses the fallback store, or fails closed."""
    fast.store.put(blob(fast, "free/parent.txt", b"parent"))  # obstore's runtime is running
    fallback_calls: list[str] = []

    def fallback() -> Store:
        fallback_calls.append("built")
        return S3Store.connect(fast.endpoint, fast.settings)

    with_fallback = FastStore(fast.endpoint, fast.settings, fallback=fallback)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report through the pipe, never return into pytest
        try:
            import signal

            signal.alarm(20)
            out = []
            try:
                fast.store.get(fast.bucket, "free/parent.txt")
                out.append("no-error")
            except StorageError as exc:
                out.append(exc.details.get("reason", "?"))
            got = with_fallback.get(fast.bucket, "free/parent.txt")
            with_fallback.put(blob(fast, "free/child.txt", b"child"))
            out += [repr(got), str(len(fallback_calls))]
            os.write(write, "|".join(out).encode())
        finally:
            os._exit(0)
    os.close(write)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        done, _status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        time.sleep(0.1)
    else:
        os.kill(pid, 9)
        pytest.fail("the forked child hung")
    report = os.read(read, 1000).decode()
    os.close(read)
    assert report == "forked_after_use|b'parent'|1", report
    assert fast.store.get(fast.bucket, "free/child.txt") == b"child"


def test_child_forked_before_first_request_uses_obstore(fast: Env) -> None:
    # A fresh interpreter builds the store, forks (as Celery's prefork pool does before any
    # task ran), and the child writes through obstore itself.
    ep = fast.endpoint
    script = textwrap.dedent(f"""
        import os, sys
        from paywall.config import StorageSettings
        from paywall.fast_store import FastStore, _Process
        from paywall.s3 import S3Endpoint
        from paywall.store import Blob
        store = FastStore(S3Endpoint({ep.endpoint_url!r}, {ep.access_key!r}, {ep.secret_key!r}),
                          StorageSettings())
        pid = os.fork()
        if pid == 0:
            import signal; signal.alarm(20)
            store.put(Blob.of({fast.bucket!r}, "free/prefork.txt", b"pre", "text/plain"))
            os._exit(0 if _Process.started_pid == os.getpid() else 3)
        sys.exit(os.waitpid(pid, 0)[1] >> 8)
    """)
    result = subprocess.run([sys.executable, "-c", script], timeout=60, check=False)
    assert result.returncode == 0
    assert fast.store.get(fast.bucket, "free/prefork.txt") == b"pre"


def test_unreachable_endpoint_fails_fast_naming_it(fast: Env) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    store = fast.make(S3Endpoint(f"http://127.0.0.1:{port}", "k", "s"))
    started = time.monotonic()
    with pytest.raises(StorageError) as info:
        store.put(blob(fast, "free/x.txt", b"x"))
    assert time.monotonic() - started < 30
    assert f"127.0.0.1:{port}" in str(info.value)
