"""A website: an index (sitemap, RSS, Atom or JSON Feed) listing pages fetched over HTTP."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urljoin, urlsplit

from paywall.articles import Format, RawArticle
from paywall.config import HttpSource
from paywall.connections import get_connection
from paywall.errors import ConfigError
from paywall.feeds import Entry, IndexParseError, parse_index
from paywall.fetch import Fetcher
from paywall.http_auth import HttpAccess, access_from_connection
from paywall.sources.base import (
    ArticleRef,
    FetchError,
    Interval,
    NotModified,
    SourceError,
    iso,
    sort_refs,
)

log = logging.getLogger("paywall.sources.http")
MAX_SITEMAPS = 200  # a sitemap index may not fan out without bound
INDEX_TYPES = ("application/xml", "text/xml", "application/rss+xml", "application/atom+xml",
               "application/json", "application/feed+json", "text/plain", "text/html",
               "application/x-gzip", "application/gzip", "application/octet-stream",
               "application/rdf+xml")  # fmt: skip


_DEFAULT_PORTS = {"http": 80, "https": 443}


def source_id_for(url: str) -> str:
    """A stable id from the URL: host, port and path exactly (query kept, fragment dropped).

    Injective over the pages a site can serve: ``/`` and ``/index``, ``/a`` and ``/a/``,
    two ports of one host are different ids (the layout encodes any path injectively).
    What URL syntax itself equates is one id: the scheme's default port, an empty path and
    ``/``, the host's case.
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"  # an IPv6 literal: its colons must not read as a port
    if parts.port is not None and parts.port != _DEFAULT_PORTS.get(parts.scheme.lower()):
        host += f":{parts.port}"
    path = parts.path or "/"
    return f"{host}{path}" + (f"?{parts.query}" if parts.query else "")


def source_access(settings: HttpSource) -> HttpAccess | None:
    """The source's HTTP Connection (credentials bound to their origin), or None."""
    if not settings.http_conn_id:
        return None
    try:
        access = access_from_connection(get_connection(settings.http_conn_id))
    except ConfigError as exc:
        raise SourceError(f"source {settings.name!r}: {exc}") from None
    return access.bound_to(settings.index_url)


class HttpSiteSource:
    def __init__(self, settings: HttpSource, fetcher: Fetcher | None = None) -> None:
        self.settings = settings
        self.name = settings.name
        self.fetcher = fetcher or Fetcher(
            settings.limits,
            settings.user_agent,
            settings.allow_private_addresses,
            access=source_access(settings),
            proxy_resolves_names=settings.proxy_resolves_names,
        )

    def _read_index(self, url: str) -> tuple[list[Entry], list[str]]:
        try:
            response = self.fetcher.get(url, accept=INDEX_TYPES)
        except FetchError as exc:
            raise SourceError(
                f"source {self.name!r}: cannot read index {url}: {exc.reason}"
            ) from None
        try:
            index = parse_index(
                response.body, self.settings.index_type, self.settings.limits.max_bytes
            )
        except IndexParseError as exc:
            raise SourceError(f"source {self.name!r}: index {url} is not usable: {exc}") from None
        return index.entries, [urljoin(url, c) for c in index.children if c]

    def list(self, interval: Interval | None) -> list[ArticleRef]:
        pending = [self.settings.index_url]
        seen: set[str] = set()
        entries: list[Entry] = []
        while pending:
            url = pending.pop(0)
            if url in seen:
                continue
            seen.add(url)
            if len(seen) > MAX_SITEMAPS:
                raise SourceError(f"source {self.name!r}: more than {MAX_SITEMAPS} sitemaps")
            found, children = self._read_index(url)
            entries.extend(found)
            pending.extend(children)
        refs: dict[str, ArticleRef] = {}
        undated = 0
        for entry in entries:
            if entry.timestamp is None:
                undated += 1
                continue
            if interval is not None and not interval.contains(entry.timestamp):
                continue
            url = urljoin(self.settings.index_url, entry.url)
            ref = ArticleRef(self.name, source_id_for(url), iso(entry.timestamp), url)
            refs.setdefault(ref.source_id, ref)  # the first listing of a URL wins
        if undated:
            log.warning(
                "source %s: %d index entries without a date were skipped", self.name, undated
            )
        return sort_refs(list(refs.values()))

    def fetch(self, ref: ArticleRef, previous: dict[str, Any] | None = None) -> RawArticle:
        previous = previous or {}
        response = self.fetcher.get(
            ref.locator, etag=previous.get("etag"), last_modified=previous.get("last_modified")
        )
        if response.not_modified:
            raise NotModified(ref.locator)
        origin = {
            "url": response.url,
            "etag": response.headers.get("etag"),
            "last_modified": response.headers.get("last-modified"),
        }
        return RawArticle(
            source=self.name,
            source_id=ref.source_id,
            data=response.body,
            format=Format(self.settings.format),
            content_type=response.content_type,
            published_at=ref.timestamp,
            origin={k: v for k, v in origin.items() if v},
            extract=True,
            body_selector=self.settings.body_selector,
            title_selector=self.settings.title_selector,
        )
