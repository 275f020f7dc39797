"""Connections read without Airflow parse exactly as Airflow parses them."""

from __future__ import annotations

import json

import pytest
from airflow.sdk import Connection

from paywall.connections import from_env, parse_connection
from paywall.errors import ConfigError
from paywall.http_auth import access_from_connection, origin_of

URIS = [
    "http://user:p%40ss@news.example.com:8443/https?Cookie=sess%3D1&X-Api-Key=k",
    "http://news.example.com",
    "aws://KEY:SECRET@/?region_name=eu-west-1&endpoint_url=http%3A%2F%2F127.0.0.1%3A9000",
    "http://https%3A%2F%2Fnews.example.com%2Fbase",
    "my-type://h/s?__extra__=%7B%22a%22%3A+%7B%22b%22%3A+1%7D%7D",
    "http://https://news.example.com:443/path",
]


@pytest.mark.parametrize("uri", URIS)
def test_uri_form_matches_airflow(uri: str) -> None:
    ours = parse_connection("c", uri)
    theirs = Connection.from_uri(uri, conn_id="c")
    assert (ours.conn_type, ours.host, ours.schema, ours.login, ours.password, ours.port) == (
        theirs.conn_type,
        theirs.host or None,
        theirs.schema or None,
        theirs.login,
        theirs.password,
        theirs.port,
    )
    assert ours.extra == (theirs.extra_dejson or {})


def test_json_form_and_env() -> None:
    value = json.dumps(
        {
            "conn_type": "http",
            "host": "h",
            "password": "s3cret-x",
            "extra": {"Authorization": "Bearer t0ken-x"},
        }
    )
    conn = from_env("site", {"AIRFLOW_CONN_SITE": value})
    assert conn.host == "h" and conn.extra["Authorization"] == "Bearer t0ken-x"
    assert "s3cret-x" not in repr(conn) and "t0ken-x" not in repr(conn)
    assert set(conn.secrets()) == {"s3cret-x", "Bearer t0ken-x"}
    with pytest.raises(ConfigError, match="AIRFLOW_CONN_NOPE"):
        from_env("nope", {})


def test_http_origin_follows_httphook_base_url_rules() -> None:
    cases = {
        "http://news.example.com/https": ("https", "news.example.com", 443),
        "http://news.example.com:8080": ("http", "news.example.com", 8080),
        "http://https://news.example.com": ("https", "news.example.com", 443),
    }
    for uri, origin in cases.items():
        assert access_from_connection(parse_connection("c", uri)).origin == origin
    access = access_from_connection(parse_connection("c", "http://?Cookie=a%3Db"))
    assert access.origin is None
    bound = access.bound_to("https://n.example/sitemap.xml")
    assert bound.credentials_for("https://n.example/a") == {"Cookie": "a=b"}
    for other in ("http://n.example/a", "https://n.example:8443/a", "https://x.n.example/a"):
        assert bound.credentials_for(other) == {}  # scheme, port and host all count
    assert origin_of("ftp://x/") is None
