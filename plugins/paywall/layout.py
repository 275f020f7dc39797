"""Where every object lives: the one module that makes keys and prefixes.

Layout version 2 (README "Output contract"); ``<a>`` is an article's folder, its source id
encoded (:func:`article_folder`):

public bucket   free/<source>/<a>/free.txt, free.html     free halves
                meta/<source>/<a>/meta.json               public metadata
                runs/<pipeline>/<interval>/manifest.jsonl  public manifest: one record per article
                runs/<pipeline>/<interval>/_COMMITTED      the commit point
                runs/<pipeline>/<interval>/partial/<plan>.jsonl (+ .committed)  runs over some ids
                catalog/<pipeline>/catalog.json           catalog root index (its commit point)
                catalog/<pipeline>/months/<YYYY-MM>/<sha256>.json   month indexes (immutable)
                catalog/<pipeline>/days/<YYYY-MM-DD>/<sha256>.json  day partitions (immutable)
                catalog/<pipeline>/locators/<id[:2]>/<id>.json     days an article has been in
                catalog/<pipeline>/_lease.json            the updater's lease
                iceberg/<pipeline>/...                    the Iceberg warehouse (metadata only)
private bucket  paid/<source>/<a>/paid.txt, paid.html     paid halves
                quarantine/<source>/<a>/input, reason.json  a quarantined article's input, reason
                overrides/<source>/<a>/override.json      an editor's decision for an article
                editor-log/<pipeline>/<date>/...          every editor action: who, when, what
                runs/<pipeline>/<interval>/manifest.private.jsonl  digests of private objects
                staging/<pipeline>/<interval>/...         plans and per-chunk manifest parts

**Article keys are injective**: :func:`article_key` encodes a source id reversibly (see
:func:`decode_article_key`), so two different ids of one source never share a key. The
encoding keeps ASCII letters, digits, ``.``, ``_``, ``-`` and CJK ideographs, keeps ``/`` as the
folder separator, and writes every other character as ``%XX`` escapes of its UTF-8 bytes; an
empty path segment becomes ``~``, a ``.`` or ``..`` segment ``%2E``/``%2E%2E``. Keys therefore
contain no empty, ``.`` or ``..`` segment and no control character. An id whose encoding
would pass :data:`MAX_ENCODED_BYTES`, or one segment of it :data:`MAX_SEGMENT_BYTES` (SeaweedFS
refuses path segments over 255 bytes), becomes a readable prefix plus a ``~<128-bit hash>``
segment (``~`` never appears inside an encoded segment, so these never equal an encoded id).

**An article's objects sit in a folder of their own** whose name ends in ``~``, which no
encoded segment does: no object key is ever the folder of another one. (A key that is both an
object and a folder -- ``a.txt`` beside ``a.txt/b`` -- is storable on AWS and SeaweedFS, but a
file-system backed server such as MinIO keeps only one of the two, and listings lose the
other.)
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

__all__ = [
    "LAYOUT_VERSION",
    "MAX_ENCODED_BYTES",
    "Layout",
    "article_folder",
    "article_key",
    "decode_article_key",
    "interval_slug",
]

LAYOUT_VERSION = 2
# S3 keys stop at 1,024 bytes: this leaves room for the longest prefix and suffix
# ("quarantine/" + a 63-character source name + "/" + key + "~/reason.json").
MAX_ENCODED_BYTES = 900
MAX_SEGMENT_BYTES = 200
_HASHED_SEGMENT_BYTES = 64  # each segment of a hashed key's readable prefix
_HASHED_PREFIX_BYTES = 600
_ASCII_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-")
_HEX = "0123456789ABCDEF"
_OBJECT_NAMES = {
    "free": ("free.txt", "free.html"),
    "paid": ("paid.txt", "paid.html"),
    "meta": ("meta.json",),
    "quarantine": ("input", "reason.json"),
    "overrides": ("override.json",),
}
EXTENSIONS = {
    "txt": "text/plain; charset=utf-8",
    "html": "text/html; charset=utf-8",
    "json": "application/json; charset=utf-8",
    "jsonl": "application/x-ndjson; charset=utf-8",
    "bin": "application/octet-stream",
}


def _keep(char: str) -> bool:
    if char in _ASCII_SAFE:
        return True
    code = ord(char)
    # CJK Unified Ideographs and Extension A: readable keys for Chinese file names. A fixed
    # range, so the encoding does not change with the Unicode database of a Python release.
    return 0x4E00 <= code <= 0x9FFF or 0x3400 <= code <= 0x4DBF


# Every character of such a segment is kept as it is (see _keep): one C-level match.
_ALL_KEPT = re.compile("[A-Za-z0-9._\\-\u4e00-\u9fff\u3400-\u4dbf]+")


def _encode_segment(segment: str) -> str:
    if segment == "":
        return "~"
    if _ALL_KEPT.fullmatch(segment) and segment not in (".", ".."):
        return segment
    out: list[str] = []
    for char in segment:
        if _keep(char):
            out.append(char)
        else:
            for byte in char.encode("utf-8", "surrogatepass"):
                out.append("%" + _HEX[byte >> 4] + _HEX[byte & 15])
    encoded = "".join(out)
    if encoded in (".", ".."):
        encoded = encoded.replace(".", "%2E")
    return encoded


def _cut(segment: str, limit: int) -> str:
    """The longest start of an encoded segment within ``limit`` bytes: never half a character
    or half an escape."""
    cut = segment.encode("utf-8")[:limit].decode("utf-8", "ignore")
    percent = cut.rfind("%", max(0, len(cut) - 2))
    return cut[:percent] if percent >= 0 else cut


def article_key(source_id: str) -> str:
    """The key path of an article inside its source's folders (injective, readable)."""
    segments = [_encode_segment(s) for s in source_id.split("/")]
    encoded = "/".join(segments)
    if len(encoded.encode("utf-8")) <= MAX_ENCODED_BYTES and all(
        len(s.encode("utf-8")) <= MAX_SEGMENT_BYTES for s in segments
    ):
        return encoded
    digest = hashlib.sha256(source_id.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    prefix: list[str] = []
    size = 0
    for segment in segments:
        cut = _cut(segment, _HASHED_SEGMENT_BYTES)
        size += len(cut.encode("utf-8")) + 1
        if size > _HASHED_PREFIX_BYTES:
            break
        prefix.append(cut)
    return "/".join([*prefix, f"~{digest}"])


@lru_cache(maxsize=1024)  # each article asks for it once per object it writes
def article_folder(source_id: str) -> str:
    """The folder of an article's objects: its key plus ``~``, never a folder of another."""
    return article_key(source_id) + "~"


def decode_article_key(key: str) -> str | None:
    """The source id an article key encodes, or None for a hashed (truncated) key or a
    string that no source id encodes to."""
    segments: list[str] = []
    for segment in key.split("/"):
        if segment == "~":
            segments.append("")
            continue
        if segment.startswith("~"):
            return None  # the hash segment of a long id
        data = bytearray()
        index = 0
        while index < len(segment):
            char = segment[index]
            if char == "%":
                pair = segment[index + 1 : index + 3]
                if len(pair) != 2 or any(c not in _HEX for c in pair):
                    return None
                data.append(int(pair, 16))
                index += 3
            elif _keep(char):
                data.extend(char.encode("utf-8"))
                index += 1
            else:
                return None
        try:
            segments.append(data.decode("utf-8", "surrogatepass"))
        except UnicodeDecodeError:
            return None
    source_id = "/".join(segments)
    return source_id if article_key(source_id) == key else None


def interval_slug(start: datetime, end: datetime) -> str:
    fmt = "%Y%m%dT%H%M%SZ"
    return f"{start.astimezone(UTC).strftime(fmt)}_{end.astimezone(UTC).strftime(fmt)}"


@dataclass(frozen=True, slots=True)
class Layout:
    """Every key and prefix of one pipeline's outputs."""

    public_bucket: str
    private_bucket: str
    pipeline: str
    version: int = LAYOUT_VERSION

    # ---------------------------------------------------------------- article objects
    def free(self, source: str, source_id: str, ext: str) -> str:
        return f"free/{source}/{article_folder(source_id)}/free.{ext}"

    def paid(self, source: str, source_id: str, ext: str) -> str:
        return f"paid/{source}/{article_folder(source_id)}/paid.{ext}"

    def meta(self, source: str, source_id: str) -> str:
        return f"meta/{source}/{article_folder(source_id)}/meta.json"

    def quarantine_input(self, source: str, source_id: str) -> str:
        return f"quarantine/{source}/{article_folder(source_id)}/input"

    def quarantine_reason(self, source: str, source_id: str) -> str:
        return f"quarantine/{source}/{article_folder(source_id)}/reason.json"

    def override(self, source: str, source_id: str) -> str:
        """An editor's decision for one article (private): see ``model.Override``."""
        return f"overrides/{source}/{article_folder(source_id)}/override.json"

    def overrides_prefix(self, source: str) -> str:
        return f"overrides/{source}/"

    def editor_log(self, stamp: str, action_id: str) -> str:
        """One recorded editor action (private): who, when, what."""
        return f"editor-log/{self.pipeline}/{stamp[:10]}/{stamp}-{action_id}.json"

    def editor_log_prefix(self) -> str:
        """Where every recorded editor action of the pipeline is (private)."""
        return f"editor-log/{self.pipeline}/"

    def article_keys(self, source: str, source_id: str) -> frozenset[str]:
        """Every key this layout could give the article (any extension)."""
        return frozenset(
            {
                self.free(source, source_id, "txt"),
                self.free(source, source_id, "html"),
                self.paid(source, source_id, "txt"),
                self.paid(source, source_id, "html"),
                self.meta(source, source_id),
                self.quarantine_input(source, source_id),
                self.quarantine_reason(source, source_id),
                self.override(source, source_id),
            }
        )

    def owner_of(self, key: str) -> tuple[str, str] | None:
        """(source, source_id) whose article object this key is in this layout, or None."""
        prefix, _, rest = key.partition("/")
        source, _, path = rest.partition("/")
        folder, _, name = path.rpartition("/")
        if not source or not folder.endswith("~") or name not in _OBJECT_NAMES.get(prefix, ()):
            return None
        source_id = decode_article_key(folder[:-1])
        return None if source_id is None else (source, source_id)

    @staticmethod
    def is_public(key: str) -> bool:
        """Whether an article object's key belongs in the public bucket."""
        return key.startswith(("free/", "meta/"))

    # --------------------------------------------------------------------- run objects
    def runs_prefix(self) -> str:
        return f"runs/{self.pipeline}/"

    def run_prefix(self, slug: str) -> str:
        return f"{self.runs_prefix()}{slug}/"

    def manifest(self, slug: str) -> str:
        return self.run_prefix(slug) + "manifest.jsonl"

    def partial_manifest(self, slug: str, plan_id: str) -> str:
        """A run over some ids, a limit or some sources: never the interval's own manifest."""
        return self.run_prefix(slug) + f"partial/{plan_id}.jsonl"

    @staticmethod
    def commit_marker(manifest_key: str) -> str:
        """``_COMMITTED`` beside an interval's manifest; ``<key>.committed`` for a partial."""
        if manifest_key.endswith("/manifest.jsonl"):
            return manifest_key.removesuffix("manifest.jsonl") + "_COMMITTED"
        return manifest_key + ".committed"

    @staticmethod
    def manifest_of(marker_key: str) -> str | None:
        """The manifest a commit marker commits, or None when the key is not a marker."""
        if marker_key.endswith("/_COMMITTED"):
            return marker_key.removesuffix("_COMMITTED") + "manifest.jsonl"
        if marker_key.endswith(".jsonl.committed"):
            return marker_key.removesuffix(".committed")
        return None

    @staticmethod
    def is_commit_marker(key: str) -> bool:
        return key.endswith(("/_COMMITTED", ".jsonl.committed"))

    @staticmethod
    def private_manifest(manifest_key: str) -> str:
        """The private counterpart of a public manifest (in the private bucket)."""
        return manifest_key.removesuffix(".jsonl") + ".private.jsonl"

    # ------------------------------------------------------------------- staging, catalog
    def staging(self, slug: str, name: str) -> str:
        return f"staging/{self.pipeline}/{slug}/{name}"

    def plan(self, slug: str, plan_id: str) -> str:
        return self.staging(slug, f"plans/{plan_id}.jsonl")

    def chunk_part(self, slug: str, plan_id: str, index: int) -> str:
        return self.staging(slug, f"parts/{plan_id}/{index:05d}.jsonl")

    def catalog_prefix(self) -> str:
        return f"catalog/{self.pipeline}/"

    def catalog(self) -> str:
        """The catalog's root index: the one mutable object, its commit point."""
        return self.catalog_prefix() + "catalog.json"

    def catalog_month(self, month: str, sha256: str) -> str:
        """A month index (``YYYY-MM``), content-addressed: never rewritten in place."""
        return f"{self.catalog_prefix()}months/{month}/{sha256}.json"

    def catalog_day(self, day: str, sha256: str) -> str:
        """A day partition (``YYYY-MM-DD`` of article timestamps), content-addressed."""
        return f"{self.catalog_prefix()}days/{day}/{sha256}.json"

    def catalog_locator(self, article_id: str) -> str:
        """The days whose partitions have ever held an article (found again when it moves)."""
        return f"{self.catalog_prefix()}locators/{article_id[:2]}/{article_id}.json"

    def catalog_lease(self) -> str:
        return self.catalog_prefix() + "_lease.json"

    def iceberg_warehouse(self) -> str:
        """Where the Iceberg tables of articles live (public metadata only, no text)."""
        return f"s3://{self.public_bucket}/iceberg/{self.pipeline}"
