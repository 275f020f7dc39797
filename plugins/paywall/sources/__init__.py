"""Sources list the articles of a data interval and fetch their bytes.

Every source kind implements the same two calls, so segmentation and storage never care where
an article came from:

- ``list(interval)`` returns the interval's articles in a deterministic order (sorted by
  timestamp, then id), so a backfill selects exactly what the original run selected;
- ``fetch(ref)`` returns a :class:`~paywall.articles.RawArticle` or raises :class:`FetchError`
  with a specific reason, which the pipeline records as ``fetch_failed`` for that article only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from paywall.config import HttpSource, LocalSource, S3Source, SourceSettings
from paywall.sources.base import ArticleRef, FetchError, Interval, Source, SourceError

__all__ = ["ArticleRef", "FetchError", "Interval", "Source", "SourceError", "build_source"]


def build_source(settings: SourceSettings, s3_client_for: Callable[[str | None], Any]) -> Source:
    """Make the source object for one configured source.

    ``s3_client_for(connection_id)`` returns an S3 client; S3 sources use it so that the one
    client factory (and, under Airflow, the Connection) decides credentials.
    """
    if isinstance(settings, LocalSource):
        from paywall.sources.local import LocalFolderSource

        return LocalFolderSource(settings)
    if isinstance(settings, S3Source):
        from paywall.sources.s3inbox import S3InboxSource

        return S3InboxSource(settings, s3_client_for(settings.connection_id))
    if isinstance(settings, HttpSource):
        from paywall.sources.http import HttpSiteSource

        return HttpSiteSource(settings)
    raise TypeError(f"unknown source settings {type(settings).__name__}")
