"""A folder of article files; ids are paths relative to the folder.

Names that are not UTF-8 or hold control characters get printable, reversible ids
(:func:`paywall.articles.safe_id`), so a plan can always be stored as JSON; a file that
vanishes or cannot be read while listing is skipped with a warning, never fails the plan.
"""

from __future__ import annotations

import logging
import os
import re
import stat
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
    concurrent_fetch = False  # a local read: inline (see Source)

    def __init__(self, settings: LocalSource) -> None:
        self.settings = settings
        self.name = settings.name
        self._pattern = re.compile(settings.date_pattern)
        self._root: str | None = None  # the folder, resolved once (fetch)

    def _timestamp(self, relative: str, mtime: float) -> datetime | None:
        if self.settings.timestamp == "path":
            return date_from_text(relative, self._pattern)
        return datetime.fromtimestamp(mtime, UTC)

    def list(self, interval: Interval | None) -> list[ArticleRef]:
        root = self.settings.path
        if not root.is_dir():
            raise SourceError(f"source {self.name!r}: folder {root} does not exist")
        refs = []
        prefix = str(root).rstrip("/") + "/"
        for path in root.glob(self.settings.glob):
            if path.name.startswith("."):
                continue
            name = str(path)
            inner = name[len(prefix) :] if name.startswith(prefix) else None
            relative = safe_id(inner if inner is not None else path.relative_to(root).as_posix())
            try:
                info = path.stat()  # one call: follows links, as is_file() did
                if not stat.S_ISREG(info.st_mode):
                    continue
                mtime = info.st_mtime
            except FileNotFoundError:
                continue  # a dangling link, or gone since the folder was read
            except OSError as exc:  # unreadable since the folder was read
                log.warning("source %s: skipping %s: %s", self.name, relative, exc.strerror)
                continue
            moment = self._timestamp(relative, mtime)
            if moment is None or (interval is not None and not interval.contains(moment)):
                continue
            refs.append(ArticleRef(self.name, relative, iso(moment), safe_id(name)))
        return sort_refs(refs)

    def _inside(self, relative: str) -> str | None:
        """The file's path when it lies inside the source folder (symbolic links followed),
        else None. The common case (plain names, no link on the way) costs one ``lstat`` per
        path part; anything else is decided by resolving the whole path."""
        if self._root is None:
            self._root = os.path.realpath(self.settings.path)
        root = self._root
        path = os.path.join(root, relative)
        parts = relative.split("/")
        plain = not relative.startswith("/") and not {"", ".", ".."} & set(parts)
        if plain:
            current = root
            for part in parts:
                current = os.path.join(current, part)
                if os.path.islink(current):
                    break
            else:
                return path
        resolved = os.path.realpath(path)
        return resolved if resolved.startswith(root.rstrip("/") + "/") else None

    def fetch(self, ref: ArticleRef, previous: dict[str, Any] | None = None) -> RawArticle:
        # Resolve from the configured root, never from a stored absolute path: the plan may
        # have been made on another machine.
        relative = os.fsdecode(name_bytes(ref.source_id))
        if "\x00" in relative:  # only a tampered plan can name one: no file has such a name
            raise FetchError(f"path {ref.source_id!r} holds a NUL byte")
        path = self._inside(relative)
        if path is None:
            raise FetchError(f"path {ref.source_id!r} leaves the source folder")
        try:
            with open(path, "rb") as file:
                data = file.read()
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
