"""A folder of article files; ids are paths relative to the folder.

Names that are not UTF-8 or hold control characters get printable, reversible ids
(:func:`paywall.articles.safe_id`), so a plan can always be stored as JSON; a file that
vanishes or cannot be read while listing is skipped with a warning, never fails the plan.
"""

from __future__ import annotations

import logging
import os
import re
from datetime import UTC, datetime
from typing import Any

from paywall.articles import Format, RawArticle, name_bytes, safe_id
from paywall.config import LocalSource
from paywall.sources.base import (
    ArticleRef,
    FetchError,
    Interval,
    SourceError,
    date_from_text,
    iso,
    sort_refs,
)

log = logging.getLogger("paywall.sources.local")


class LocalFolderSource:
    def __init__(self, settings: LocalSource) -> None:
        self.settings = settings
        self.name = settings.name
        self._pattern = re.compile(settings.date_pattern)

    def _timestamp(self, relative: str, mtime: float) -> datetime | None:
        if self.settings.timestamp == "path":
            return date_from_text(relative, self._pattern)
        return datetime.fromtimestamp(mtime, UTC)

    def list(self, interval: Interval | None) -> list[ArticleRef]:
        root = self.settings.path
        if not root.is_dir():
            raise SourceError(f"source {self.name!r}: folder {root} does not exist")
        refs = []
        for path in root.glob(self.settings.glob):
            if path.name.startswith("."):
                continue
            relative = safe_id(path.relative_to(root).as_posix())
            try:
                if not path.is_file():
                    continue
                mtime = path.stat().st_mtime
            except OSError as exc:  # vanished or unreadable since the folder was read
                log.warning("source %s: skipping %s: %s", self.name, relative, exc.strerror)
                continue
            moment = self._timestamp(relative, mtime)
            if moment is None or (interval is not None and not interval.contains(moment)):
                continue
            refs.append(ArticleRef(self.name, relative, iso(moment), safe_id(str(path))))
        return sort_refs(refs)

    def fetch(self, ref: ArticleRef, previous: dict[str, Any] | None = None) -> RawArticle:
        # Resolve from the configured root, never from a stored absolute path: the plan may
        # have been made on another machine.
        root = self.settings.path.resolve()
        path = (root / os.fsdecode(name_bytes(ref.source_id))).resolve()
        if not path.is_relative_to(root):
            raise FetchError(f"path {ref.source_id!r} leaves the source folder")
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise FetchError(f"file {ref.source_id} no longer exists") from None
        except OSError as exc:
            raise FetchError(f"cannot read {ref.source_id}: {exc.strerror}") from None
        return RawArticle(
            source=self.name,
            source_id=ref.source_id,
            data=data,
            format=Format(self.settings.format),
            published_at=ref.timestamp,
        )
