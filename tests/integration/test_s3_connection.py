"""The aws Connection through the Amazon provider (the Airflow side) on real S3 servers:
config_kwargs, verify (TLS with our own CA), session tokens and role_arn assume-role; and the
same resolved value read by both clients."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from paywall import airflow_adapter as adapter
from paywall.errors import ConfigError, StorageError
from paywall.fast_store import FastStore, obstore_options
from paywall.s3 import S3Endpoint, endpoint_from_env, make_client
from paywall.storage import S3Store
from tests.fixtures.proxy import FaultyProxy
from tests.fixtures.tls import TlsProxy

pytestmark = pytest.mark.s3


def aws_conn(monkeypatch: pytest.MonkeyPatch, conn_id: str, server: Any, **extra: Any) -> None:
    data = {
        "conn_type": "aws",
        "login": server.access_key,
        "password": server.secret_key,
        "extra": {"endpoint_url": server.endpoint.endpoint_url, "region_name": "us-east-1"} | extra,
    }
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(data))


def test_config_kwargs_take_effect(monkeypatch, s3_server) -> None:
    port = int(str(s3_server.endpoint.endpoint_url).rsplit(":", 1)[1])
    proxy = FaultyProxy(port, stall=1, hang=4.0)  # the first connection never answers
    try:
        data = {
            "conn_type": "aws",
            "login": s3_server.access_key,
            "password": s3_server.secret_key,
            "extra": {
                "endpoint_url": proxy.url,
                "region_name": "us-east-1",
                "config_kwargs": {
                    "read_timeout": 1,
                    "connect_timeout": 1,
                    "retries": {"max_attempts": 0, "mode": "standard"},
                },
            },
        }
        monkeypatch.setenv("AIRFLOW_CONN_TIMEOUTS", json.dumps(data))
        endpoint = adapter.endpoint_for("timeouts")
        assert (endpoint.read_timeout, endpoint.connect_timeout) == (1.0, 1.0)
        client = make_client(endpoint)
        assert client.meta.config.read_timeout == 1
        started = time.monotonic()
        with pytest.raises(Exception, match=r"(?i)timeout"):
            client.list_buckets()  # one attempt, one second: not 4 x 30 s
        assert time.monotonic() - started < 3.5
        client.list_buckets()  # the next connection is served
        # obstore is configured from the same value.
        options = obstore_options(endpoint)
        assert options["client_options"]["timeout"].total_seconds() == 1.0
        assert options["virtual_hosted_style_request"] is False
    finally:
        proxy.close()


def test_verify_takes_effect_on_tls(monkeypatch, s3_server, tmp_path: Path) -> None:
    port = int(str(s3_server.endpoint.endpoint_url).rsplit(":", 1)[1])
    tls = TlsProxy(port, tmp_path)
    try:

        def attempt(conn_id: str, **extra: Any) -> S3Endpoint:
            aws_conn(
                monkeypatch,
                conn_id,
                s3_server,
                endpoint_url=tls.url,
                config_kwargs={"retries": {"max_attempts": 0}},
                **extra,
            )
            return adapter.endpoint_for(conn_id)

        untrusted = attempt("tls_default")
        with pytest.raises(Exception, match=r"(?i)ssl|certificate"):
            make_client(untrusted).list_buckets()  # our CA is not trusted by default
        trusted = attempt("tls_ca", verify=str(tls.cert))
        assert trusted.verify == str(tls.cert) and trusted.ca_bundle == str(tls.cert)
        make_client(trusted).list_buckets()
        unchecked = attempt("tls_off", verify=False)
        assert unchecked.verify is False
        make_client(unchecked).list_buckets()
        assert tls.handshakes >= 2
        # obstore (the data path's default client) reads the same value: a real request
        # through TLS succeeds with the CA bundle, and fails without it.
        assert "root_certificate" in obstore_options(trusted)["client_options"]
        bucket = f"tls-{uuid.uuid4().hex[:12]}"
        make_client(trusted).create_bucket(Bucket=bucket)
        assert FastStore(trusted, _storage()).head(bucket, "absent") is None
        assert FastStore(unchecked, _storage()).head(bucket, "absent") is None
        with pytest.raises(StorageError, match="HEAD"):  # the same URL, our CA not trusted
            FastStore(untrusted, _storage()).head(bucket, "absent")
    finally:
        tls.close()


def test_session_tokens_are_sent(monkeypatch, s3_server) -> None:
    aws_conn(monkeypatch, "tokened", s3_server, aws_session_token="not-a-real-session-token")
    endpoint = adapter.endpoint_for("tokened")
    assert endpoint.session_token == "not-a-real-session-token"
    assert "not-a-real-session-token" not in repr(endpoint)
    client = make_client(endpoint)
    assert client._request_signer._credentials.token == "not-a-real-session-token"
    assert obstore_options(endpoint)["session_token"] == "not-a-real-session-token"
    with pytest.raises(Exception, match=r"(?i)token|denied|invalid|signature"):
        client.list_buckets()  # the server checks it: a made-up token is refused


def test_role_arn_assumes_a_role_through_sts(monkeypatch, s3_server, tmp_path: Path) -> None:
    """MinIO implements STS AssumeRole: the provider's assume-role path, end to end."""
    if s3_server.backend != "minio":
        pytest.skip("STS AssumeRole needs MinIO (SeaweedFS has no STS)")
    url = s3_server.endpoint.endpoint_url
    aws_conn(
        monkeypatch,
        "assumed",
        s3_server,
        role_arn="arn:aws:iam::123456789012:role/paywall-writer",
        assume_role_kwargs={"DurationSeconds": 900},
        service_config={"sts": {"endpoint_url": url}},
    )
    endpoint = adapter.endpoint_for("assumed")
    assert endpoint.session_token and endpoint.access_key != s3_server.access_key
    assert endpoint.expires_at is not None
    store = S3Store(make_client(endpoint), _storage(), endpoint)
    make_client(endpoint).list_buckets()  # temporary credentials work
    assert store.where == url


def _storage() -> Any:
    from paywall.config import StorageSettings

    return StorageSettings()


def test_the_cli_keeps_its_environment_path(s3_server) -> None:
    env = {
        "AIRFLOW_CONN_PAYWALL_S3": json.dumps(
            {
                "conn_type": "aws",
                "login": "K",
                "password": "S",
                "extra": {
                    "endpoint_url": "http://127.0.0.1:9",
                    "aws_session_token": "T",
                    "verify": "false",
                    "config_kwargs": {"read_timeout": 3},
                },
            }
        )
    }
    endpoint = endpoint_from_env("paywall_s3", env)
    assert (endpoint.session_token, endpoint.verify, endpoint.read_timeout) == ("T", False, 3.0)
    role = json.dumps({"conn_type": "aws", "extra": {"role_arn": "arn:aws:iam::1:role/x"}})
    with pytest.raises(ConfigError, match="role_arn"):
        endpoint_from_env("paywall_s3", {"AIRFLOW_CONN_PAYWALL_S3": role})


def test_a_missing_connection_is_an_error_not_the_default_chain() -> None:
    with pytest.raises(ConfigError, match="not defined in Airflow"):
        adapter.endpoint_for("no_such_connection_anywhere")


def test_endpoints_are_hashable_and_keep_secrets_out_of_repr() -> None:
    one = S3Endpoint("http://h", "K", "SECRET-1", session_token="TOKEN-1", config_json="{}")
    assert hash(one) == hash(
        S3Endpoint("http://h", "K", "SECRET-1", session_token="TOKEN-1", config_json="{}")
    )
    assert "SECRET-1" not in repr(one) and "TOKEN-1" not in repr(one)
    assert StorageError  # the storage errors name the endpoint, never a key
