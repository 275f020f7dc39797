"""From raw article bytes to the publishable outputs and the public record (pure functions).

:func:`split_article` never raises: bad input is quarantined with a reason, and an
unexpected error while splitting one article quarantines that article (``internal_error``,
the traceback's frames in the log) so the rest of its chunk goes on.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from paywall.decoding import DecodeError, charset_from_content_type, decode, hidden_markers
from paywall.gate import find_paid_text, html_parts, raw_paid_regions, record_strings
from paywall.htmlsplit import split_html, visible_text
from paywall.metadata import (
    ArticleRecord,
    news_article_json_ld,
    sha256_hex,
    text_stats,
)
from paywall.segmentation import (
    Markers,
    NoMarkersPolicy,
    Segment,
    Status,
    count_markers,
    find_markers,
    lenient_shortfall,
    segment_dicts,
    split_text,
)

__all__ = [
    "Format",
    "Outputs",
    "RawArticle",
    "SplitOptions",
    "article_id",
    "detect_format",
    "name_bytes",
    "safe_id",
    "split_article",
]

log = logging.getLogger("paywall.articles")

# Encodings a begin marker may be written in (as decoding.hidden_markers counts them).
_MARKER_CODECS = ("utf-8", "utf-16-le", "utf-16-be", "gb18030", "big5hkscs")
_HTML_SNIFF = re.compile(rb"^\s*(<!doctype html|<html|<head|<body|<article|<div|<p[\s>])", re.I)
_TITLE_LIMIT = 300


class Format(StrEnum):
    AUTO = "auto"
    TEXT = "text"
    HTML = "html"


@dataclass(frozen=True, slots=True)
class SplitOptions:
    markers: Markers = field(default_factory=Markers)
    no_markers: NoMarkersPolicy = NoMarkersPolicy.QUARANTINE
    text_placeholder: str | None = None
    cut_class: str = "paywall-paid"


@dataclass(frozen=True, slots=True)
class RawArticle:
    """An article as a source hands it over."""

    source: str
    source_id: str
    data: bytes
    format: Format = Format.AUTO
    content_type: str | None = None
    published_at: str | None = None
    origin: dict[str, Any] = field(default_factory=dict)
    extract: bool = False  # web pages: split only the article element, drop the chrome
    body_selector: str | None = None
    title_selector: str | None = None


@dataclass(frozen=True, slots=True)
class Outputs:
    """What gets stored: public files, private files and the public record."""

    record: ArticleRecord
    free: dict[str, bytes]  # extension -> bytes, e.g. {"txt": ..., "html": ...}
    paid: dict[str, bytes]
    # Private digests (never in the public record): sha256 of the original input, and of the
    # main free and paid halves when published. For manifests kept private and for reruns.
    digests: dict[str, str | None] = field(default_factory=dict)

    @property
    def published(self) -> bool:
        return self.record.reason is None


def detect_format(article: RawArticle) -> Format:
    if article.format is not Format.AUTO:
        return article.format
    name = article.source_id.lower()
    if name.endswith((".html", ".htm", ".xhtml")):
        return Format.HTML
    if name.endswith((".txt", ".text", ".md")):
        return Format.TEXT
    ctype = (article.content_type or "").lower()
    if "html" in ctype:
        return Format.HTML
    if ctype.startswith("text/plain"):
        return Format.TEXT
    return Format.HTML if _HTML_SNIFF.match(article.data[:1024]) else Format.TEXT


@functools.lru_cache(maxsize=8192)  # a chunk asks for each of its articles' ids a few times
def article_id(source: str, source_id: str) -> str:
    """A stable, short, URL-safe id for an article: the same input always gives the same id,
    and distinct (source, source id) pairs distinct ids.

    A name that is the bytes it stands for (text, or text with ``os.fsdecode``'s escapes of
    bytes that are not UTF-8) is hashed by its :func:`safe_id`, which is reversible. Any other
    string (a lone surrogate, escapes that spell valid UTF-8) would share those bytes with a
    different name, so it is hashed in a separate domain, code point by code point.
    """
    if _canonical(source) and _canonical(source_id):
        return sha256_hex(f"{safe_id(source)}\x00{safe_id(source_id)}")[:20]
    # safe_id never yields a control character, so "\x01" cannot begin the other domain.
    exact = json.dumps([source, source_id], ensure_ascii=True)
    return sha256_hex(f"\x01{exact}")[:20]


def _canonical(name: str) -> bool:
    """Whether ``name`` round-trips through its bytes (so its bytes identify it)."""
    try:
        return name.encode("utf-8", "surrogateescape").decode("utf-8", "surrogateescape") == name
    except UnicodeEncodeError:
        return False


_ESCAPE = re.compile(r"\\(\\|x[0-9a-f]{2}|u[0-9a-f]{4}|U[0-9a-f]{8})")


def safe_id(name: str | bytes) -> str:
    """A printable, valid-Unicode id for a file name or object key, stable and reversible.

    Names that are valid UTF-8 and printable are kept as they are (a backslash is doubled);
    a byte that is not UTF-8 becomes ``\\xNN`` and a control, format, separator (but the
    space) or unassigned character ``\\uNNNN``. :func:`name_bytes` gives the original bytes back.
    """
    raw = name if isinstance(name, bytes) else _to_bytes(name)
    text = raw.decode("utf-8", "surrogateescape")
    if "\\" not in text and text.isprintable():
        return text
    out = []
    for char in text:
        if char == "\\":
            out.append("\\\\")
        elif "\udc80" <= char <= "\udcff":
            out.append(f"\\x{ord(char) - 0xDC00:02x}")
        elif not char.isprintable():  # control, format, separator (but " "), unassigned
            out.append(f"\\u{ord(char):04x}" if ord(char) < 0x10000 else f"\\U{ord(char):08x}")
        else:
            out.append(char)
    return "".join(out)


def _to_bytes(name: str) -> bytes:
    try:
        return name.encode("utf-8", "surrogateescape")  # os.fsdecode's escapes -> bytes
    except UnicodeEncodeError:  # a lone surrogate that is no escaped byte
        return name.encode("utf-8", "surrogatepass")


def name_bytes(identifier: str) -> bytes:
    """The original name's bytes for an id made by :func:`safe_id`."""

    def undo(match: re.Match[str]) -> str:
        code = match.group(1)
        if code == "\\":
            return "\\"
        if code[0] == "x":
            return chr(0xDC00 + int(code[1:], 16))  # a raw byte, as surrogateescape keeps it
        return chr(int(code[1:], 16))

    return _ESCAPE.sub(undo, identifier).encode("utf-8", "surrogateescape")


def _text_title(free: str, first_is_free: bool) -> str | None:
    # Only a line that lies wholly in the leading free segment may become public metadata.
    if not first_is_free:
        return None
    for line in free.splitlines():
        if line.strip():
            return line.strip()[:_TITLE_LIMIT]
    return None


def marker_problem(ext: str, text: str, markers: Markers) -> str | None:
    """Why a public text may not be published: a marker (in any case, width or spacing) or
    a marker fragment in what a reader would see; None when it is clean."""
    if ext in ("html", "htm"):
        text = visible_text(text)  # marker-like strings in scripts or attributes are inert
    hits, damage = find_markers(text, Markers(markers.begin, markers.end, lenient=True))
    if hits:
        return f"contains a {hits[0].kind} marker at offset {hits[0].start}"
    return f"contains a {damage}" if damage else None


def split_article(article: RawArticle, options: SplitOptions) -> Outputs:
    """Decode and split one article. Never raises: bad input is quarantined with a reason,
    and so is an article whose split fails unexpectedly (``internal_error``)."""
    try:
        return _split_article(article, options)
    except Exception as exc:  # one poisoned article must not fail its chunk on every retry
        return _internal_error(article, exc)


def _base(article: RawArticle, fmt: Format) -> dict[str, Any]:
    return {
        "article_id": article_id(article.source, article.source_id),
        "source": safe_id(article.source),
        "source_id": safe_id(article.source_id),
        "format": fmt.value,
        "published_at": article.published_at,
        # The page's address only: its validators stay private (an S3 ETag is the MD5 of
        # the raw input, paid text included -- a confirmation oracle).
        "origin": {"url": str(article.origin["url"])} if article.origin.get("url") else {},
    }


def _internal_error(article: RawArticle, exc: Exception) -> Outputs:
    """Quarantine after an unexpected error. The log gets the exception's type and the
    frames (file, line, function, source line): never its message or locals, which can quote
    the article."""
    frames = "".join(traceback.format_list(traceback.extract_tb(exc.__traceback__)))
    kind = f"{type(exc).__module__}.{type(exc).__qualname__}"
    try:
        base = _base(article, Format.TEXT if article.format is Format.AUTO else article.format)
    except Exception:  # the article's own fields are unusable: name it by a digest only
        base = {
            "article_id": sha256_hex(repr((article.source, article.source_id)))[:20],
            "source": "?",
            "source_id": "?",
            "format": "text",
            "published_at": None,
            "origin": {},
        }
    log.error(
        "internal error while splitting article %s (%s/%s): %s; traceback (frames only):\n%s",
        base["article_id"], base["source"], base["source_id"], kind, frames,
    )  # fmt: skip
    record = ArticleRecord(
        **base,
        status=Status.INTERNAL_ERROR.value,
        title=None,
        reason=f"internal error ({type(exc).__name__}) while splitting; see the task log",
    )
    return Outputs(record, {}, {}, {"original": _digest(article.data)})


def _digest(data: bytes) -> str | None:
    try:
        return sha256_hex(data)
    except Exception:  # not bytes at all
        return None


def _regions(paid: str, segments: Sequence[Segment]) -> list[str]:
    """The paid half cut back into its regions (by the paid segments' lengths); the whole
    half when the lengths do not add up."""
    lengths = [s.end - s.start for s in segments if s.kind == "paid"]
    if sum(lengths) != len(paid):
        return [paid]
    out, at = [], 0
    for length in lengths:
        out.append(paid[at : at + length])
        at += length
    return out


# Attribute names the splitter writes into free HTML itself (the cut marker's).
_OWN_MARKUP = ("data-paywall-section",)
# JSON-LD keys whose values are fixed vocabulary or come from the source, not the article.
_FIXED_LD_KEYS = frozenset({"@context", "@type", "hasPart", "url", "datePublished"})


def _record_text(record: ArticleRecord) -> list[str]:
    """The public record's strings that can carry article text: title, JSON-LD (headline and
    anything added later), warnings, reason. Fixed vocabulary (status, format, the marker
    names, encodings, CSS selectors) and source-given fields (ids, origin, dates) are left
    out: they hold no article text, and "paidbegin" would trip every tiny region."""
    ld = {k: v for k, v in (record.json_ld or {}).items() if k not in _FIXED_LD_KEYS}
    return record_strings([record.title, list(record.warnings), record.reason, ld])


def _paid_from(data: bytes, markers: Markers) -> int | None:
    """The first byte where a begin marker may be written (exact, in any encoding an article
    may use; with lenient markers also its ASCII case and spacing variants), or None."""
    found = []
    for codec in _MARKER_CODECS:
        try:
            at = data.find(markers.begin.encode(codec))
        except UnicodeError:
            continue
        if at >= 0:
            found.append(at)
    if markers.lenient and markers.begin.isascii():
        spaced = b"[ \t]*".join(re.escape(bytes([c])) for c in markers.begin.encode())
        if match := re.search(spaced, data, re.IGNORECASE):
            found.append(match.start())
    return min(found, default=None)


def _split_article(article: RawArticle, options: SplitOptions) -> Outputs:
    fmt = detect_format(article)
    base = _base(article, fmt)
    digests: dict[str, str | None] = {"original": sha256_hex(article.data)}
    markers = options.markers
    try:
        decoded = decode(
            article.data,
            charset_from_content_type(article.content_type),
            html=fmt is Format.HTML,
            paid_from=_paid_from(article.data, markers),
        )
    except DecodeError as exc:
        record = ArticleRecord(**base, status=exc.reason, title=None, reason=exc.detail)
        return Outputs(record, {}, {}, digests)
    if problem := hidden_markers(
        article.data,
        decoded.text,
        (markers.begin, markers.end),
        functools.partial(count_markers, markers=markers),
    ):
        record = ArticleRecord(**base, status=Status.UNDECODABLE.value, title=None, reason=problem)
        return Outputs(record, {}, {}, digests)

    common: dict[str, Any] = {
        "encoding": decoded.encoding,
        "encoding_evidence": decoded.evidence,
    }
    if fmt is Format.HTML and (short := lenient_shortfall(decoded.text, markers)):
        # The CMS splits the raw source at the exact markers (wherever they are written):
        # the lenient regions of the raw source must cover every one of them.
        record = ArticleRecord(
            **base, **common, status=Status.BROKEN_MARKER.value, title=None, reason=short
        )
        return Outputs(record, {}, {}, digests)
    if fmt is Format.HTML:
        try:
            result = split_html(
                decoded.text,
                markers,
                no_markers=options.no_markers,
                cut_class=options.cut_class,
                extract=article.extract,
                body_selector=article.body_selector,
                title_selector=article.title_selector,
            )
        except (ValueError, RecursionError) as exc:  # lxml refuses some hostile pages
            record = ArticleRecord(
                **base,
                **common,
                status=Status.INVALID_HTML.value,
                title=None,
                # The type only: a parser's message can quote the page.
                reason=f"the HTML could not be parsed ({type(exc).__name__})",
            )
            return Outputs(record, {}, {}, digests)
        status, reason, warnings = result.status, result.reason, result.warnings
        free_text, paid_text, segments = result.free_text, result.paid_text, result.segments
        title = result.title[:_TITLE_LIMIT] if result.title else None
        found = result.markers_found
        free_files = {"html": result.free_html, "txt": free_text}
        paid_files = {"html": result.paid_html, "txt": paid_text}
        json_ld = news_article_json_ld(
            title=title,
            url=article.origin.get("url"),
            published_at=article.published_at,
            sections=result.sections,
            cut_class=options.cut_class,
        )
        free_chars, paid_chars = len(result.free_visible), len(result.paid_visible)
        paid_regions = [*_regions(result.paid_visible, segments), paid_text]
    else:
        split = split_text(
            decoded.text,
            markers,
            no_markers=options.no_markers,
            placeholder=options.text_placeholder,
        )
        status, reason, warnings = split.status, split.reason, split.warnings
        free_text, paid_text, segments = split.free, split.paid, split.segments
        title = _text_title(split.free, bool(segments) and segments[0].kind == "free")
        found = split.markers_found
        free_files = {"txt": free_text}
        paid_files = {"txt": paid_text}
        json_ld = None
        free_chars = sum(s.end - s.start for s in segments if s.kind == "free")
        paid_chars = sum(s.end - s.start for s in segments if s.kind == "paid")
        paid_regions = _regions(paid_text, segments)

    marker_info = {"begin": markers.begin, "end": markers.end, "found": found}
    if reason is not None:
        record = ArticleRecord(
            **base,
            **common,
            status=status.value,
            title=None,
            reason=reason,
            warnings=warnings,
            markers=marker_info,
        )
        return Outputs(record, {}, {}, digests)

    def refuse(status: Status, reason: str) -> Outputs:
        record = ArticleRecord(
            **base,
            **common,
            status=status.value,
            title=None,
            reason=reason,
            markers=marker_info,
        )
        return Outputs(record, {}, {}, digests)

    # The last gates before anything is public. First, each free output, as it will be
    # stored, must hold no marker and no marker fragment: a splitter bug then quarantines,
    # never leaks; `verify` relies on this scan (it proves stored bytes are the scanned ones).
    for ext, body in free_files.items():
        if problem := marker_problem(ext, body, markers):
            return refuse(
                Status.BROKEN_MARKER,
                f"the free {ext} output {problem}: refused before publication",
            )

    free_bytes = {ext: body.encode("utf-8") for ext, body in free_files.items()}
    paid_bytes = {ext: body.encode("utf-8") for ext, body in paid_files.items()}
    main = "html" if fmt is Format.HTML else "txt"
    total = free_chars + paid_chars
    paid_stats = text_stats(paid_text)
    free_stats = text_stats(free_text)
    record = ArticleRecord(
        **base,
        **common,
        status=status.value,
        title=title,
        warnings=warnings,
        markers=marker_info,
        segments=segment_dicts(segments),
        # Public: the free half's digest only. A digest of the paid half or of the original
        # is a confirmation oracle (a short paid region falls to brute force).
        sha256={"free": sha256_hex(free_bytes[main])},
        stats={
            "chars": total,
            "free": free_stats | {"chars": free_chars},
            "paid": {"chars": paid_chars, "paragraphs": paid_stats["paragraphs"]},
            "reading_minutes": round(
                free_stats["reading_minutes"] + paid_stats["reading_minutes"], 1
            ),
            "paid_regions": sum(1 for s in segments if s.kind == "paid"),
        },
        free_ratio=round(free_chars / total, 4) if total else None,
        json_ld=json_ld,
    )

    # Second, no run of the paid text in any public output: the free files as stored (HTML
    # with its attributes, head and comments) and the record's text. The paid text is the
    # splitter's half plus, for HTML, an independent raw scan of the source between markers.
    public: dict[str, list[str]] = {
        f"free {ext}": html_parts(body, (*_OWN_MARKUP, options.cut_class))
        if ext == "html"
        else [body]
        for ext, body in free_files.items()
    }
    public["metadata"] = _record_text(record)
    # (For plain text the raw scan would find the very hits split_text used, paired the same
    # way: the splitter's regions are the raw scan there.)
    protected = paid_regions
    if fmt is Format.HTML:
        protected = paid_regions + raw_paid_regions(decoded.text, markers, markup=True)
    if hit := find_paid_text(protected, public):
        return refuse(Status.PAID_TEXT_IN_FREE, hit.reason())

    digests |= {"free": sha256_hex(free_bytes[main]), "paid": sha256_hex(paid_bytes[main])}
    return Outputs(record, free_bytes, paid_bytes, digests)
