"""From raw article bytes to the publishable outputs and the public record (pure functions)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from paywall.decoding import DecodeError, charset_from_content_type, decode
from paywall.htmlsplit import split_html, visible_text
from paywall.metadata import (
    ArticleRecord,
    news_article_json_ld,
    sha256_hex,
    text_stats,
)
from paywall.segmentation import Markers, NoMarkersPolicy, Status, find_markers, split_text

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


def article_id(source: str, source_id: str) -> str:
    """A stable, short, URL-safe id for an article: the same input always gives the same id."""
    return sha256_hex(f"{source}\x00{source_id}")[:20]


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
    """Decode and split one article. Never raises for bad input: it quarantines instead."""
    fmt = detect_format(article)
    base: dict[str, Any] = {
        "article_id": article_id(article.source, article.source_id),
        "source": article.source,
        "source_id": article.source_id,
        "format": fmt.value,
        "published_at": article.published_at,
        "origin": dict(article.origin),
    }
    original_sha = sha256_hex(article.data)
    try:
        decoded = decode(
            article.data,
            charset_from_content_type(article.content_type),
            html=fmt is Format.HTML,
        )
    except DecodeError as exc:
        record = ArticleRecord(
            **base,
            status=exc.reason,
            title=None,
            reason=exc.detail,
            sha256={"original": original_sha, "free": None, "paid": None},
        )
        return Outputs(record, {}, {})

    markers = options.markers
    common = {
        "encoding": decoded.encoding,
        "encoding_evidence": decoded.evidence,
    }
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
                reason=f"the HTML could not be parsed: {exc}",
                sha256={"original": original_sha, "free": None, "paid": None},
            )
            return Outputs(record, {}, {})
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
            sha256={"original": original_sha, "free": None, "paid": None},
        )
        return Outputs(record, {}, {})

    # The last gate before anything is public: each free output, as it will be stored, must
    # hold no marker and no marker fragment. A splitter bug then quarantines, never leaks;
    # `verify` relies on this scan (it proves stored bytes are the scanned ones by MD5).
    for ext, body in free_files.items():
        if problem := marker_problem(ext, body, markers):
            record = ArticleRecord(
                **base,
                **common,
                status=Status.BROKEN_MARKER.value,
                title=None,
                reason=f"the free {ext} output {problem}: refused before publication",
                markers=marker_info,
                sha256={"original": original_sha, "free": None, "paid": None},
            )
            return Outputs(record, {}, {})

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
        segments=tuple(s.to_dict() for s in segments),
        sha256={
            "original": original_sha,
            "free": sha256_hex(free_bytes[main]),
            "paid": sha256_hex(paid_bytes[main]),
        },
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
    return Outputs(record, free_bytes, paid_bytes)
