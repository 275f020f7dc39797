"""Where every object lives: the one module that makes keys and prefixes.

Layout version 2 (README "Output contract"):

public bucket   free/<source>/<article key>.<ext>        free halves (txt, and html for HTML)
                meta/<source>/<article key>.json         public metadata
                runs/<pipeline>/<interval>/manifest.jsonl  public manifest: one record per article
                runs/<pipeline>/<interval>/_COMMITTED      the commit point
                runs/<pipeline>/<interval>/partial/<plan>.jsonl (+ .committed)  runs over some ids
                catalog/<pipeline>/catalog.json           catalog root index (its commit point)
                catalog/<pipeline>/months/<YYYY-MM>/<sha256>.json   month indexes (immutable)
                catalog/<pipeline>/days/<YYYY-MM-DD>/<sha256>.json  day partitions (immutable)
                catalog/<pipeline>/locators/<id[:2]>/<id>.json     days an article has been in
                catalog/<pipeline>/_lease.json            the updater's lease
                iceberg/<pipeline>/...                    the Iceberg warehouse (metadata only)
private bucket  paid/<source>/<article key>.<ext>        paid halves
                quarantine/<source>/<article key>/input   raw input of a quarantined article
                quarantine/<source>/<article key>/reason.json
                overrides/<source>/<article key>.json     an editor's decision for an article
                editor-log/<pipeline>/<date>/...          every editor action: who, when, what
                runs/<pipeline>/<interval>/manifest.private.jsonl  digests of private objects
                staging/<pipeline>/<interval>/...         plans and per-chunk manifest parts

**Article keys are injective**: :func:`article_key` encodes a source id reversibly (see
:func:`decode_article_key`), so two different ids of one source never share a key. The
encoding keeps ASCII letters, digits, ``.``, ``_``, ``-`` and CJK ideographs, keeps ``/`` as the
folder separator, and writes every other character as ``%XX`` escapes of its UTF-8 bytes; an
empty path segment becomes ``~``, a ``.`` or ``..`` segment ``%2E``/``%2E%2E``. Keys therefore
contain no empty, ``.`` or ``..`` segment and no control character. Ids whose encoding would
pass :data:`MAX_ENCODED_BYTES` keep a readable prefix plus ``~`` and a 128-bit hash of the id
(``~`` never appears inside an encoded segment, so these never equal an encoded id).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

__all__ = [
    "LAYOUT_VERSION",
    "MAX_ENCODED_BYTES",
    "Layout",
    "article_key",
    "decode_article_key",
    "interval_slug",
]

LAYOUT_VERSION = 2
# S3 keys stop at 1,024 bytes: this leaves room for the longest prefix and suffix
# ("quarantine/" + a 63-character source name + "/" + key + "/reason.json").
MAX_ENCODED_BYTES = 900
_TRUNCATE_TO = 800
_ASCII_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-")
_HEX = "0123456789ABCDEF"
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


def _encode_segment(segment: str) -> str:
    if segment == "":
        return "~"
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


def article_key(source_id: str) -> str:
    """The key path of an article inside its source's folders (injective, readable)."""
    encoded = "/".join(_encode_segment(s) for s in source_id.split("/"))
    raw = encoded.encode("utf-8")
    if len(raw) <= MAX_ENCODED_BYTES:
        return encoded
    digest = hashlib.sha256(source_id.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    cut = raw[:_TRUNCATE_TO].decode("utf-8", "ignore")  # never half a character
    percent = cut.rfind("%", max(0, len(cut) - 2))
    if percent >= 0:
        cut = cut[:percent]  # never half an escape
    return f"{cut}~{digest}"


def decode_article_key(key: str) -> str | None:
    """The source id an article key encodes, or None for a hashed (truncated) key or a
    string that no source id encodes to."""
    segments: list[str] = []
    for segment in key.split("/"):
        if segment == "~":
            segments.append("")
            continue
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
        return f"free/{source}/{article_key(source_id)}.{ext}"

    def paid(self, source: str, source_id: str, ext: str) -> str:
        return f"paid/{source}/{article_key(source_id)}.{ext}"

    def meta(self, source: str, source_id: str) -> str:
        return f"meta/{source}/{article_key(source_id)}.json"

    def quarantine_input(self, source: str, source_id: str) -> str:
        return f"quarantine/{source}/{article_key(source_id)}/input"

    def quarantine_reason(self, source: str, source_id: str) -> str:
        return f"quarantine/{source}/{article_key(source_id)}/reason.json"

    def override(self, source: str, source_id: str) -> str:
        """An editor's decision for one article (private): see ``model.Override``."""
        return f"overrides/{source}/{article_key(source_id)}.json"

    def overrides_prefix(self, source: str) -> str:
        return f"overrides/{source}/"

    def editor_log(self, stamp: str, action_id: str) -> str:
        """One recorded editor action (private): who, when, what."""
        return f"editor-log/{self.pipeline}/{stamp[:10]}/{stamp}-{action_id}.json"

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
        if not source or not path:
            return None
        if prefix in ("free", "paid"):
            stem, dot, ext = path.rpartition(".")
            if not dot or ext not in ("txt", "html"):
                return None
        elif prefix in ("meta", "overrides"):
            if not path.endswith(".json"):
                return None
            stem = path.removesuffix(".json")
        elif prefix == "quarantine":
            stem, _, name = path.rpartition("/")
            if name not in ("input", "reason.json"):
                return None
        else:
            return None
        source_id = decode_article_key(stem)
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
        return self.staging(slug, f"plans/{plan_id}.json")

    def chunk_part(self, slug: str, plan_id: str, index: int) -> str:
        return self.staging(slug, f"parts/{plan_id}/{index:05d}.jsonl")

    def chunk_deferred(self, slug: str, plan_id: str, index: int) -> str:
        return self.staging(slug, f"parts/{plan_id}/{index:05d}.deferred.json")

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
