"""The HTTP source against a real server on 127.0.0.1: indexes, intervals, faults, guards."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from paywall.config import HttpLimits, HttpSource
from paywall.fetch import Fetcher
from paywall.pipeline import Context, run_interval
from paywall.sources import ArticleRef, FetchError, Interval, SourceError
from paywall.sources.http import HttpSiteSource
from tests.fixtures.site import SiteServer

DAY1 = Interval(datetime(2026, 11, 20, tzinfo=UTC), datetime(2026, 11, 21, tzinfo=UTC))
DAY2 = Interval(datetime(2026, 11, 21, tzinfo=UTC), datetime(2026, 11, 22, tzinfo=UTC))
LIMITS = {
    "connect_timeout": 2.0,
    "read_timeout": 1.0,
    "total_timeout": 4.0,
    "retries": 2,
    "backoff_seconds": 0.05,
    "max_bytes": 200_000,
    "requests_per_second": 200.0,
}


@pytest.fixture(scope="module")
def site():
    with SiteServer() as server:
        yield server


def source_settings(site: SiteServer, **overrides: Any) -> HttpSource:
    data: dict[str, Any] = {
        "name": "web",
        "kind": "http",
        "index_url": f"{site.base}/sitemap_index.xml",
        "allow_private_addresses": True,  # the fixture site lives on loopback
        "limits": LIMITS,
    }
    return HttpSource.model_validate(data | overrides)


def test_sitemap_index_and_adjacent_intervals(site: SiteServer) -> None:
    source = HttpSiteSource(source_settings(site))
    day1 = [r.locator.removeprefix(site.base) for r in source.list(DAY1)]
    day2 = [r.locator.removeprefix(site.base) for r in source.list(DAY2)]
    assert day1[:3] == ["/a/utf8.html", "/a/gbk-header.html", "/a/gbk-meta.html"]
    assert len(day1) == 13 and not set(day1) & set(day2)
    assert day2 == ["/a/boundary.html", "/a/next-day.html", "/a/next-day-2.html"]
    # Deterministic: listing again gives the same refs in the same order.
    assert [r.locator for r in source.list(DAY1)] == [site.base + p for p in day1]
    assert "/a/undated.html" not in day1 + day2


def test_rss_feed(site: SiteServer) -> None:
    source = HttpSiteSource(source_settings(site, index_url=f"{site.base}/rss.xml",
                                            index_type="rss"))  # fmt: skip
    assert [r.locator for r in source.list(DAY1)] == [f"{site.base}/a/utf8.html"]
    assert [r.locator for r in source.list(DAY2)] == [f"{site.base}/a/next-day.html"]


def test_unreadable_index_fails_the_source_naming_it(site: SiteServer) -> None:
    broken = HttpSiteSource(source_settings(site, index_url=f"{site.base}/broken-sitemap.xml"))
    with pytest.raises(SourceError, match=r"source 'web'.*broken-sitemap\.xml"):
        broken.list(DAY1)
    missing = HttpSiteSource(source_settings(site, index_url=f"{site.base}/nope.xml"))
    with pytest.raises(SourceError, match=r"cannot read index .*nope\.xml: HTTP 404"):
        missing.list(DAY1)


@pytest.mark.s3
def test_interval_run_records_every_failure_and_continues(make_ctx, site: SiteServer) -> None:
    ctx: Context = make_ctx(
        sources=[source_settings(site).model_dump(mode="json")],
        pipeline={"max_failure_ratio": 0.5},
    )
    site.hits.clear()  # the site outlives one backend's run: count this run's hits only
    summary = run_interval(ctx, DAY1)
    manifest = ctx.store.get(ctx.layout.public_bucket, summary.manifest_key or "") or b""
    records = {
        json.loads(line)["source_id"].split("/", 1)[1]: json.loads(line)
        for line in manifest.splitlines()
    }
    reasons = {k: r.get("reason") for k, r in records.items() if r["status"] == "fetch_failed"}
    assert reasons == {
        "a/missing": "HTTP 404",
        "a/slow": reasons["a/slow"],
        "a/huge": "too large: Content-Length 300007 over 200000 bytes",
        "a/image": "content type 'image/png' is not allowed",
    }
    assert reasons["a/slow"].startswith("timeout")
    ok = {k for k, r in records.items() if r["status"] == "ok"}
    assert {"a/utf8.html", "a/gbk-header.html", "a/gbk-meta.html", "a/gbk-undeclared.html",
            "a/plain.txt", "a/redirect", "a/flaky", "a/throttled", "a/etag.html"} == ok  # fmt: skip
    # Each failed once (503, 429 with Retry-After) and succeeded on the retry.
    assert site.hits["/a/flaky"] == 2 and site.hits["/a/throttled"] == 2

    # GBK pages decode the same whether declared in the header, in <meta> or not at all.
    host = {json.loads(line)["source_id"].split("/", 1)[0] for line in manifest.splitlines()}
    assert len(host) == 1 and host.pop().startswith("127.0.0.1:")  # the site's own port
    origin = json.loads(manifest.splitlines()[0])["source_id"].split("/", 1)[0]
    for name in ("gbk-header", "gbk-meta", "gbk-undeclared"):
        key = ctx.layout.free("web", f"{origin}/a/{name}.html", "txt")
        free = (ctx.store.get(ctx.layout.public_bucket, key) or b"").decode()
        assert "乡村振兴需要产业支撑" in free and "独家数据" not in free
        assert "首页" not in free and "版权所有" not in free  # chrome stripped
    meta = json.loads(
        ctx.store.get(
            ctx.layout.public_bucket, ctx.layout.meta("web", f"{origin}/a/gbk-header.html")
        )
        or b""
    )
    assert meta["encoding"] == "gb18030" and meta["encoding_evidence"] == "declared"
    assert meta["title"] == "乡村振兴调研"

    # Conditional GET: the second run sends the stored ETag and gets a 304.
    site.requests.clear()
    second = run_interval(ctx, DAY1)
    etag_requests = [h for p, h in site.requests if p == "/a/etag.html"]
    assert etag_requests and etag_requests[-1].get("If-None-Match") == '"v1"'
    assert second.counts.actions["unchanged"] >= 9


@pytest.mark.s3
def test_failure_threshold_fails_without_committing(make_ctx, site: SiteServer) -> None:
    from paywall.pipeline import PipelineError

    ctx: Context = make_ctx(
        sources=[source_settings(site).model_dump(mode="json")],
        pipeline={"max_failure_ratio": 0.1},
    )
    with pytest.raises(PipelineError, match="over the configured max_failure_ratio of 10%"):
        run_interval(ctx, DAY1)
    assert (
        ctx.store.get(
            ctx.layout.public_bucket, ctx.layout.commit_marker(ctx.layout.manifest(DAY1.slug))
        )
        is None
    )


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/a/loop", "more than 5 redirects"),
        ("/a/drip", "timeout: total deadline of 4s"),
        ("/a/truncated", "connection failed: body cut short"),
        ("/a/huge-chunked", "too large: body over 200000 bytes"),
        ("/a/reset", "connection failed"),
    ],
)
def test_hostile_responses_fail_fast_with_a_reason(site: SiteServer, path: str, reason: str):
    fetcher = Fetcher(HttpLimits.model_validate(LIMITS | {"retries": 0}), "t", True)
    with pytest.raises(FetchError) as error:
        fetcher.get(site.base + path)
    assert error.value.reason.startswith(reason)


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://127.0.0.1/x", "gopher://x/"])
def test_only_http_and_https(url: str) -> None:
    fetcher = Fetcher(HttpLimits(), "t", True)
    with pytest.raises(FetchError, match=r"scheme .* is not allowed"):
        fetcher.get(url)


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "192.168.0.8",
        "172.16.5.5",
        "169.254.169.254",
        "::1",
        "fd00::1",
        "::ffff:10.0.0.1",
        "0.0.0.0",
    ],
)
def test_private_addresses_are_refused_at_resolution(address: str) -> None:
    """The guard is checked at name resolution: the resolver is patched, no packet leaves."""
    calls: list[str] = []

    def resolver(host: str, port: int) -> list[str]:
        calls.append(host)
        return [address]

    fetcher = Fetcher(HttpLimits(), "t", allow_private=False, resolver=resolver)
    with pytest.raises(FetchError, match=r"refused: news\.example\.test resolves to a non-public"):
        fetcher.get("http://news.example.test/a.html")
    assert calls == ["news.example.test"]


def test_a_feed_entry_on_a_private_address_is_an_article_failure(site: SiteServer) -> None:
    settings = source_settings(site, allow_private_addresses=False)
    source = HttpSiteSource(settings)
    source.fetcher.resolver = lambda host, port: ["10.0.0.7"]  # no connection is attempted
    ref = ArticleRef("web", "x", "2026-11-20T00:00:00Z", "http://intranet.example.test/secret")
    with pytest.raises(FetchError, match=r"refused: intranet\.example\.test .*10\.0\.0\.7"):
        source.fetch(ref)
    with pytest.raises(SourceError, match="refused"):
        source.list(DAY1)


def test_connection_goes_to_the_resolved_address_with_the_host_header(site: SiteServer) -> None:
    port = site.server_address[1]
    fetcher = Fetcher(HttpLimits.model_validate(LIMITS), "paywall-test/1", allow_private=True,
                      resolver=lambda host, _port: ["127.0.0.1"])  # fmt: skip
    site.requests.clear()
    response = fetcher.get(f"http://news.example.test:{port}/a/utf8.html")
    assert response.status == 200
    _path, headers = site.requests[-1]
    assert headers["Host"] == f"news.example.test:{port}"
    assert headers["User-Agent"] == "paywall-test/1"
