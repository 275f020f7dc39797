"""Authenticated HTTP sources, the webhook and forward proxies, against real servers on loopback.

The publisher (``tests/fixtures/members.py``) serves the paid page only to a subscriber; the
credentials come from an Airflow Connection (here ``AIRFLOW_CONN_<ID>``, as the CLI reads it),
never from the YAML. The proxy (``tests/fixtures/forward_proxy.py``) is a real CONNECT proxy.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from paywall import connections
from paywall.config import HttpSource, WebhookSettings, load_settings
from paywall.errors import ConfigError, FetchError, SourceError
from paywall.model import Interval
from paywall.pipeline import run_interval
from paywall.sources.http import HttpSiteSource
from paywall.webhook import send_records
from tests.conftest import memory_context, write_config
from tests.fixtures import members
from tests.fixtures.forward_proxy import ForwardProxy
from tests.fixtures.members import MembersSite

DAY1 = Interval(datetime(2026, 11, 20, tzinfo=UTC), datetime(2026, 11, 21, tzinfo=UTC))
LIMITS = {
    "connect_timeout": 2.0,
    "read_timeout": 2.0,
    "total_timeout": 6.0,
    "retries": 0,
    "requests_per_second": 200.0,
}


@pytest.fixture(scope="module")
def site():
    with MembersSite() as server:
        yield server


@pytest.fixture(autouse=True)
def _env_backend():
    connections.set_backend(None)  # the environment, as the CLI reads it
    yield
    connections.set_backend(None)


def source(site: MembersSite, conn_id: str | None = "members", **extra: Any) -> HttpSource:
    data: dict[str, Any] = {
        "name": "members",
        "kind": "http",
        "index_url": f"{site.base}/sitemap.xml",
        "allow_private_addresses": True,  # the fixture lives on loopback
        "http_conn_id": conn_id,
        "limits": LIMITS,
    }
    return HttpSource.model_validate(data | extra)


def set_conn(monkeypatch: pytest.MonkeyPatch, conn_id: str, value: Any) -> None:
    text = value if isinstance(value, str) else json.dumps(value)
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", text)


def fetch_page(settings: HttpSource) -> bytes:
    web = HttpSiteSource(settings)
    (ref,) = web.list(DAY1)
    return web.fetch(ref).data


@pytest.mark.parametrize(
    "conn",
    [
        {"conn_type": "http", "extra": {"Authorization": f"Bearer {members.TOKEN}"}},
        {"conn_type": "http", "extra": {"Cookie": members.COOKIE}},
        {"conn_type": "http", "login": members.USER, "password": members.PASSWORD},
        # Airflow's URI form: query parameters are the extra (the headers).
        f"http://?Cookie={quote(members.COOKIE)}",
        f"http://{members.USER}:{quote(members.PASSWORD)}@",
    ],
    ids=["bearer", "cookie", "basic", "uri-cookie", "uri-basic"],
)
def test_connection_credentials_fetch_the_paid_page(monkeypatch, site: MembersSite, conn) -> None:
    set_conn(monkeypatch, "members", conn)
    assert members.PAID_SENTINEL.encode() in fetch_page(source(site))


def test_without_credentials_the_article_fails_with_401_and_nothing_is_published(
    tmp_path: Path, site: MembersSite
) -> None:
    settings = load_settings(
        write_config(
            tmp_path / "p.yaml",
            sources=[source(site, None).model_dump(mode="json")],
            pipeline={"max_failure_ratio": 1.0},
        )
    )
    ctx = memory_context(settings)
    summary = run_interval(ctx, DAY1)
    assert summary.counts.failed == 1 and summary.counts.published == 0
    manifest = ctx.store.get(ctx.layout.public_bucket, summary.manifest_key or "") or b""
    (record,) = [json.loads(line) for line in manifest.splitlines()]
    assert (record["outcome"], record["status"], record["reason"]) == (
        "failed",
        "fetch_failed",
        "HTTP 401",
    )
    assert list(ctx.store.list(ctx.layout.public_bucket, "free/")) == []


def test_a_teaser_served_to_an_anonymous_fetch_is_never_published_as_whole(
    tmp_path: Path, site: MembersSite
) -> None:
    """Some publishers answer 200 with a teaser instead of 401: without markers it is
    quarantined (no_markers), never published as the whole article."""
    site.teaser_for_anonymous = True
    try:
        settings = load_settings(
            write_config(tmp_path / "p.yaml", sources=[source(site, None).model_dump(mode="json")])
        )
        ctx = memory_context(settings)
        summary = run_interval(ctx, DAY1)
    finally:
        site.teaser_for_anonymous = False
    assert summary.counts.published == 0 and summary.counts.quarantined == 1
    assert dict(summary.counts.statuses) == {"no_markers": 1}


def test_credentials_go_only_to_their_origin(monkeypatch, site: MembersSite) -> None:
    # A redirect to another origin would drop the credentials: refused, not followed.
    set_conn(monkeypatch, "members", {"extra": {"Authorization": f"Bearer {members.TOKEN}"}})
    web = HttpSiteSource(source(site))
    ref = web.list(DAY1)[0]
    away = type(ref)(ref.source, ref.source_id, ref.timestamp, f"{site.base}/members/away")
    with pytest.raises(FetchError, match="redirect leaves the origin"):
        web.fetch(away)
    # A Connection bound to another host sends nothing to this one.
    set_conn(
        monkeypatch,
        "members",
        {
            "host": "other.example",
            "schema": "https",
            "extra": {"Authorization": f"Bearer {members.TOKEN}"},
        },
    )
    site.requests.clear()
    with pytest.raises(FetchError, match="HTTP 401"):
        fetch_page(source(site))
    assert all("Authorization" not in headers for _, headers in site.requests)


def test_secrets_never_reach_errors_or_logs(
    monkeypatch, site: MembersSite, caplog: pytest.LogCaptureFixture
) -> None:
    set_conn(monkeypatch, "members", {"extra": {"Authorization": "Bearer wrong-token-123"}})
    caplog.set_level(logging.DEBUG)
    with pytest.raises(FetchError) as failure:
        fetch_page(source(site))
    text = caplog.text + str(failure.value) + repr(failure.value.details)
    assert "wrong-token-123" not in text
    access = HttpSiteSource(source(site)).fetcher.access
    assert access is not None and "wrong-token-123" not in repr(access)
    assert "wrong-token-123" not in repr(connections.from_env("members"))


@pytest.mark.parametrize(
    ("conn", "match"),
    [
        ({"extra": {"Bad Header": "x"}}, "is not a header"),
        ({"extra": {"X-Evil": "a\r\nInjected: 1"}}, "control character"),
        ({"extra": {"auth_type": "kerberos"}}, "not supported"),
        ({"extra": {"Host": "intranet.local"}}, "cannot come from a Connection"),
        ({"extra": {"transfer-encoding": "chunked"}}, "cannot come from a Connection"),
        ({"extra": {"proxies": {"https": "socks5://127.0.0.1:1080"}}}, "http://host:port"),
        ({"login": "u", "password": "p", "extra": {"Authorization": "Bearer x"}}, "both"),
        ("not a connection", "not a connection URI"),
    ],
)
def test_unusable_connections_fail_the_source_naming_the_key(
    monkeypatch, site: MembersSite, conn: Any, match: str
) -> None:
    set_conn(monkeypatch, "members", conn)
    with pytest.raises((SourceError, ConfigError), match=match):
        HttpSiteSource(source(site))


def test_a_missing_connection_names_the_variable(site: MembersSite) -> None:
    with pytest.raises(SourceError, match="AIRFLOW_CONN_NOWHERE"):
        HttpSiteSource(source(site, "nowhere"))


# ---------------------------------------------------------------------- forward proxy


def named(mapping: dict[str, str]):
    """A resolver for test host names (no DNS query ever leaves the machine)."""

    def resolve(host: str, port: int) -> list[str]:
        if host not in mapping:
            raise OSError(f"unknown test host {host}")
        return [mapping[host]]

    return resolve


def proxied(site: MembersSite, proxy: ForwardProxy, **extra: Any) -> dict[str, Any]:
    url = proxy.url.replace("http://", "http://pxuser:px%40pass@")
    return {"extra": {"Authorization": f"Bearer {members.TOKEN}", "proxies": {"http": url}} | extra}


def test_fetch_through_an_authenticating_proxy_tunnels_to_the_checked_address(
    monkeypatch, site: MembersSite
) -> None:
    with ForwardProxy(user="pxuser", password="px@pass") as proxy:
        set_conn(monkeypatch, "members", proxied(site, proxy))
        settings = source(site, index_url=f"http://news.test:{site.port}/sitemap.xml")
        web = HttpSiteSource(settings)
        web.fetcher.resolver = named({"news.test": "127.0.0.1"})
        (ref,) = web.list(DAY1)  # the index, fetched by name
        page = ref.locator.replace("127.0.0.1", "news.test")  # the page too
        named_ref = type(ref)(ref.source, ref.source_id, ref.timestamp, page)
        assert members.PAID_SENTINEL.encode() in web.fetch(named_ref).data
    # The proxy was asked for the address the guard checked, never the name it resolved.
    assert proxy.requests[0] == f"CONNECT 127.0.0.1:{site.port} HTTP/1.0"
    assert all(line.startswith("CONNECT 127.0.0.1:") for line in proxy.requests)
    assert all(seen and seen.startswith("Basic ") for seen in proxy.auth_seen)
    # The origin server got the Host name and the credentials through the tunnel.
    page_requests = [h for p, h in site.requests if p == "/members/a.html"]
    assert page_requests[-1]["Authorization"] == f"Bearer {members.TOKEN}"


def test_the_guard_refuses_before_the_proxy_is_asked(monkeypatch, site: MembersSite) -> None:
    with ForwardProxy() as proxy:
        set_conn(monkeypatch, "members", {"extra": {"proxies": {"http": proxy.url}}})
        settings = source(
            site, index_url="http://intranet.test/sitemap.xml", allow_private_addresses=False
        )
        web = HttpSiteSource(settings)
        web.fetcher.resolver = named({"intranet.test": "10.20.30.40"})
        with pytest.raises(SourceError, match="non-public address"):
            web.list(DAY1)
        assert proxy.requests == []


def test_a_wrong_proxy_password_is_a_fetch_failure_with_the_reason(
    monkeypatch, site: MembersSite
) -> None:
    with ForwardProxy(user="pxuser", password="other") as proxy:
        set_conn(monkeypatch, "members", proxied(site, proxy))
        with pytest.raises(SourceError, match=r"proxy refused the tunnel \(HTTP 407\)"):
            HttpSiteSource(source(site)).list(DAY1)


def test_proxy_resolves_names_is_an_explicit_opt_out(monkeypatch, site: MembersSite) -> None:
    with ForwardProxy() as proxy:
        set_conn(
            monkeypatch,
            "members",
            {"extra": {"proxies": {"http": proxy.url}, "Cookie": members.COOKIE}},
        )
        settings = source(
            site, index_url=f"http://localhost:{site.port}/sitemap.xml", proxy_resolves_names=True
        )
        web = HttpSiteSource(settings)

        def no_dns(host: str, port: int) -> list[str]:
            raise AssertionError("the worker must not resolve names in this mode")

        web.fetcher.resolver = no_dns
        assert web.list(DAY1)
        assert proxy.requests[0] == f"CONNECT localhost:{site.port} HTTP/1.0"
        # Address literals are still checked, even when the proxy resolves names.
        strict = HttpSiteSource(
            source(
                site,
                index_url="http://10.1.2.3/sitemap.xml",
                proxy_resolves_names=True,
                allow_private_addresses=False,
            )
        )
        with pytest.raises(SourceError, match="non-public address"):
            strict.list(DAY1)


# --------------------------------------------------------------------------- webhook


def test_webhook_takes_the_connection_and_the_proxy(monkeypatch, site: MembersSite) -> None:
    with ForwardProxy() as proxy:
        set_conn(
            monkeypatch,
            "hook",
            {
                "host": site.base,
                "extra": {
                    "Authorization": f"Bearer {members.TOKEN}",
                    "proxies": {"http": proxy.url},
                },
            },
        )
        settings = WebhookSettings(url="/hooks/paywall", http_conn_id="hook", retries=0)
        site.posts.clear()
        result = send_records(
            settings, [{"article_id": "a"}], manifest_key="k", manifest_sha256="0" * 64
        )
        assert result == {"batches": 1, "records": 1}
        ((path, headers, body),) = site.posts
        assert path == "/hooks/paywall" and headers["Authorization"] == f"Bearer {members.TOKEN}"
        assert json.loads(body)["records"] == [{"article_id": "a"}]
        assert proxy.requests and proxy.requests[0].startswith("POST http://127.0.0.1:")


@pytest.mark.s3
def test_the_cli_reads_the_same_connection_from_the_environment(s3_server, tmp_path: Path, site):
    """`paywall run` outside Airflow: the HTTP Connection comes from AIRFLOW_CONN_<ID>."""
    import os
    import subprocess
    import sys

    config = write_config(tmp_path / "cli.yaml", sources=[source(site).model_dump(mode="json")])
    env = dict(os.environ) | {
        "AIRFLOW_CONN_PAYWALL_S3": s3_server.connection_json(),
        "AIRFLOW_CONN_MEMBERS": json.dumps({"extra": {"Authorization": f"Bearer {members.TOKEN}"}}),
    }
    for name in ("S3_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        env.pop(name, None)
    paywall = [sys.executable, "-m", "paywall.cli", "--config", str(config)]
    for args in (["storage", "init"], ["run", "2026-11-20"]):
        result = subprocess.run([*paywall, *args], env=env, capture_output=True, text=True,
                                timeout=180)  # fmt: skip
        assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["published"], summary["failed"]) == (1, 0)
    assert members.TOKEN not in result.stdout + result.stderr
