"""Find paid regions in text and split it into a free and a paid half, failing closed.

A paid region starts at a begin marker and ends at the next end marker. Anything ambiguous
(an end without a begin, a begin inside an open region, a damaged marker) is refused: the
caller quarantines the article, so not one paid character can reach a public output.
"""

from __future__ import annotations

import bisect
import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache

DEFAULT_BEGIN = "##paidbegin##"
DEFAULT_END = "##paidend##"

_FULLWIDTH = {chr(c): chr(c + 0xFEE0) for c in range(0x21, 0x7F)}
_INNER_SPACE = r"[ \t\u3000]*"


class Status(StrEnum):
    OK = "ok"
    UNCLOSED = "unclosed"
    NO_MARKERS = "no_markers"
    UNMATCHED_END = "unmatched_end"
    NESTED_BEGIN = "nested_begin"
    BROKEN_MARKER = "broken_marker"
    EMPTY = "empty"
    UNDECODABLE = "undecodable"
    BINARY = "binary"
    INVALID_HTML = "invalid_html"
    FETCH_FAILED = "fetch_failed"
    # The last gate found a run of the paid text in a public output.
    PAID_TEXT_IN_FREE = "paid_text_in_free"
    # A marker sits in content a browser never renders (iframe/noembed fallback, ...).
    HIDDEN_MARKER = "hidden_marker"
    # Nesting deeper than the documented limit.
    TOO_DEEP = "too_deep"
    # An unexpected error while splitting this one article (traceback in the task log).
    INTERNAL_ERROR = "internal_error"
    # An editor retracted the article (an override in the private bucket): nothing public.
    RETRACTED = "retracted"


class NoMarkersPolicy(StrEnum):
    QUARANTINE = "quarantine"
    ALL_FREE = "all_free"
    ALL_PAID = "all_paid"


@dataclass(frozen=True, slots=True)
class Markers:
    begin: str = DEFAULT_BEGIN
    end: str = DEFAULT_END
    lenient: bool = False

    def __post_init__(self) -> None:
        if not self.begin.strip() or not self.end.strip():
            raise ValueError("markers must not be empty")
        if self.begin == self.end:
            raise ValueError("begin and end markers must differ")
        if self.begin in self.end or self.end in self.begin:
            raise ValueError("one marker must not contain the other")


@dataclass(frozen=True, slots=True)
class MarkerHit:
    kind: str  # "begin" | "end"
    start: int  # offsets in the scanned text
    end: int


@dataclass(frozen=True, slots=True)
class Segment:
    kind: str  # "free" | "paid"
    start: int  # offsets in the article text with the markers removed
    end: int

    def to_dict(self) -> dict[str, int | str]:
        return {"kind": self.kind, "start": self.start, "end": self.end}


@dataclass(frozen=True, slots=True)
class Plan:
    """Where the regions are, before any text is copied."""

    status: Status
    reason: str | None = None
    hits: tuple[MarkerHit, ...] = ()
    # Regions as (content_start, content_end) in scanned-text offsets, markers excluded.
    regions: tuple[tuple[int, int], ...] = ()
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class TextSplit:
    status: Status
    reason: str | None
    free: str
    paid: str
    segments: tuple[Segment, ...]
    markers_found: int
    warnings: tuple[str, ...] = field(default=())

    @property
    def published(self) -> bool:
        """A split without a refusal reason may have its free half published."""
        return self.reason is None


def variants(char: str) -> set[str]:
    """A character in both cases and both widths."""
    variants = {char, char.lower(), char.upper(), _FULLWIDTH.get(char, char)}
    return variants | {_FULLWIDTH.get(v, v) for v in list(variants)}


def _lenient_pattern(marker: str) -> str:
    parts = ["[" + "".join(re.escape(v) for v in sorted(variants(c))) + "]" for c in marker]
    return _INNER_SPACE.join(parts)


def _keyword(marker: str) -> str:
    """The word inside a marker (``paidbegin``), used to spot damaged markers."""
    return "".join(ch for ch in marker if ch.isalnum())


@dataclass(frozen=True, slots=True)
class Scanner:
    pattern: re.Pattern[str]  # the markers themselves
    damaged: re.Pattern[str] | None  # leftovers of a marker: word or punctuated edge
    # A cheap necessary condition for `damaged`: every leftover contains one of these
    # characters, or one of these (first letter, two-letter snippet) pairs.
    single_chars: frozenset[str] = frozenset()
    pairs: tuple[tuple[frozenset[str], re.Pattern[str]], ...] = ()

    def may_be_damaged(self, text: str) -> bool:
        """False only when `damaged` cannot match: str.find at C speed for the first letter,
        the snippet pattern only where that letter occurs -- far cheaper than the full
        pattern over a long article."""
        if self.damaged is None:
            return False
        if any(ch in text for ch in self.single_chars):
            return True
        for firsts, snippet in self.pairs:
            for first in firsts:
                at = text.find(first)
                while at >= 0:
                    if snippet.match(text, at):
                        return True
                    at = text.find(first, at + 1)
        return False


@lru_cache(maxsize=64)
def compile_scanner(markers: Markers) -> Scanner:
    """The marker pattern and the damaged-marker detectors for a marker pair."""
    if markers.lenient:
        begin, end = _lenient_pattern(markers.begin), _lenient_pattern(markers.end)
    else:
        begin, end = re.escape(markers.begin), re.escape(markers.end)
    pattern = re.compile(f"(?P<begin>{begin})|(?P<end>{end})")
    # Any leftover marker word ("paidbegin"), or a marker's edge with its punctuation
    # ("##paid", "end##"), in any case or width, means a damaged marker: ambiguous, so the
    # article is refused rather than guessed at.
    fragments: list[str] = []
    for marker in (markers.begin, markers.end):
        word = _keyword(marker)
        if len(word) < 4:
            continue
        lead = marker[: marker.index(word[0])]
        trail = marker[marker.rindex(word[-1]) + 1 :]
        fragments.append(word)
        if lead:
            fragments.append(lead[-1] + word[:4])
        if trail:
            fragments.append(word[-3:] + trail[0])
    damaged = None
    if fragments:
        damaged = re.compile(
            "|".join(_INNER_SPACE.join(_lenient_pattern(ch) for ch in f) for f in fragments)
        )
    # Every damaged fragment contains one of these short snippets (its punctuation, or the
    # first two letters of the word, in any case, width or inner spacing): a text without any
    # of them, once its valid markers are removed, needs no scan by the slower full pattern.
    snippets = {next((ch for ch in f if not ch.isalnum()), f[:2]) for f in fragments}
    singles = frozenset(v for s in snippets if len(s) == 1 for v in variants(s))
    pairs = tuple(
        (frozenset(variants(s[0])), re.compile(_lenient_pattern(s)))
        for s in sorted(snippets)
        if len(s) > 1
    )
    return Scanner(pattern, damaged, singles, pairs)


def find_markers(text: str, markers: Markers) -> tuple[list[MarkerHit], str | None]:
    """All marker hits in order, plus a reason when a damaged marker is present."""
    scanner = compile_scanner(markers)
    pattern, damaged = scanner.pattern, scanner.damaged
    if markers.lenient:
        hits = [
            MarkerHit("begin" if m.lastgroup == "begin" else "end", m.start(), m.end())
            for m in pattern.finditer(text)
        ]
        if scanner.may_be_damaged(text):
            # One pass; a match that uses a valid marker's characters is that marker.
            ends = [hit.end for hit in hits]
            position = 0
            while bad := damaged.search(text, position):
                index = bisect.bisect_right(ends, bad.start())
                if index < len(hits) and hits[index].start < bad.end():
                    position = bad.start() + 1
                    continue
                return hits, f"damaged marker {bad.group()!r} at {where(text, bad.start())}"
        return hits, None

    # Strict markers: str.find runs at C speed, far faster than a regex alternation.
    found = _find_all(text, markers.begin, "begin") + _find_all(text, markers.end, "end")
    hits = []
    for hit in sorted(found, key=lambda h: h.start):
        if not hits or hit.start >= hits[-1].end:  # leftmost wins, as in a regex scan
            hits.append(hit)
    if damaged is None:
        return hits, None
    # Scan what lies between the valid markers, each piece on its own (a NUL keeps a
    # fragment from being formed across a removed marker): one regex pass, no re-scans.
    piece_starts = [0, *(h.end for h in hits)]
    pieces = [
        text[a:b] for a, b in zip(piece_starts, [*(h.start for h in hits), len(text)], strict=True)
    ]
    remainder = "\x00".join(pieces)
    if not scanner.may_be_damaged(remainder):
        return hits, None
    bad = damaged.search(remainder)
    if bad is None:
        return hits, None
    # Map the remainder offset back into the text (each piece is followed by one NUL).
    in_remainder = list(itertools.accumulate((len(p) + 1 for p in pieces), initial=0))
    piece = bisect.bisect_right(in_remainder, bad.start()) - 1
    at = piece_starts[piece] + bad.start() - in_remainder[piece]
    return hits, f"damaged marker {bad.group()!r} at {where(text, at)}"


def _find_all(text: str, marker: str, kind: str) -> list[MarkerHit]:
    found = []
    at = text.find(marker)
    while at >= 0:
        found.append(MarkerHit(kind, at, at + len(marker)))
        at = text.find(marker, at + len(marker))
    return found


def count_markers(text: str, markers: Markers) -> int:
    """How many markers a text holds (str.count for strict markers: C speed)."""
    if markers.lenient:
        return len(compile_scanner(markers).pattern.findall(text))
    return text.count(markers.begin) + text.count(markers.end)


def where(text: str, offset: int) -> str:
    """'offset 14 (line 2)': enough for an editor to find the spot."""
    return f"offset {offset} (line {text.count(chr(10), 0, offset) + 1})"


def plan_regions(
    text: str,
    hits: Sequence[MarkerHit],
    damage: str | None,
    no_markers: NoMarkersPolicy = NoMarkersPolicy.QUARANTINE,
) -> Plan:
    """Apply the region rules to marker hits; the one place statuses are decided."""
    hits = tuple(hits)
    if damage:
        return Plan(Status.BROKEN_MARKER, damage, hits)
    if not hits:
        if no_markers is NoMarkersPolicy.ALL_PAID:
            return Plan(Status.NO_MARKERS, None, hits, ((0, len(text)),), ("no markers: all paid",))
        if no_markers is NoMarkersPolicy.ALL_FREE:
            return Plan(Status.NO_MARKERS, None, hits, (), ("no markers: all free",))
        return Plan(
            Status.NO_MARKERS,
            "no paywall markers found; the article is probably paid and lost its markers",
            hits,
        )
    regions: list[tuple[int, int]] = []
    warnings: list[str] = []
    open_at: int | None = None
    for hit in hits:
        if hit.kind == "begin":
            if open_at is not None:
                return Plan(
                    Status.NESTED_BEGIN,
                    f"begin marker at {where(text, hit.start)} inside the region opened at "
                    f"{where(text, open_at)}",
                    hits,
                )
            open_at = hit.start
            content_start = hit.end
        else:
            if open_at is None:
                context = "before any begin marker" if not regions else "after a closed region"
                return Plan(
                    Status.UNMATCHED_END,
                    f"end marker at {where(text, hit.start)} without a begin marker ({context})",
                    hits,
                )
            if hit.start == content_start:
                warnings.append(f"empty paid region at {where(text, open_at)}")
            regions.append((content_start, hit.start))
            open_at = None
    if open_at is not None:
        regions.append((content_start, len(text)))
        warnings.append(
            f"begin marker at {where(text, open_at)} has no end marker: "
            "paid to the end of the article"
        )
        return Plan(Status.UNCLOSED, None, hits, tuple(regions), tuple(warnings))
    return Plan(Status.OK, None, hits, tuple(regions), tuple(warnings))


def split_text(
    text: str,
    markers: Markers | None = None,
    *,
    no_markers: NoMarkersPolicy = NoMarkersPolicy.QUARANTINE,
    placeholder: str | None = None,
) -> TextSplit:
    """Split plain text into free and paid halves (or refuse, with the halves empty)."""
    markers = markers or Markers()
    if not text.strip():
        return TextSplit(Status.EMPTY, "the article has no text", "", "", (), 0)
    hits, damage = find_markers(text, markers)
    plan = plan_regions(text, hits, damage, no_markers)
    if plan.reason is not None:
        return TextSplit(plan.status, plan.reason, "", "", (), len(hits))

    # Walk the pieces between markers: outside regions is free, inside is paid.
    free_parts: list[str] = []
    paid_parts: list[str] = []
    segments: list[Segment] = []
    clean = 0
    cursor = 0
    hit_iter = iter(hits)

    def take(kind: str, start: int, end: int) -> None:
        nonlocal clean
        # Empty paid regions keep a zero-length segment so each cut stays on record.
        if end < start or (end == start and kind == "free"):
            return
        piece = text[start:end]
        (free_parts if kind == "free" else paid_parts).append(piece)
        segments.append(Segment(kind, clean, clean + len(piece)))
        clean += len(piece)

    for region_start, region_end in plan.regions:
        # The begin marker sits right before region_start (absent for all_paid).
        begin_at = region_start
        for hit in hit_iter:
            if hit.kind == "begin" and hit.end == region_start:
                begin_at = hit.start
                break
        take("free", cursor, begin_at)
        if placeholder:
            free_parts.append(placeholder)
        take("paid", region_start, region_end)
        cursor = region_end
        if region_end < len(text):
            end_hit = next(hit_iter, None)
            cursor = end_hit.end if end_hit is not None else region_end
    take("free", cursor, len(text))
    return TextSplit(
        plan.status,
        None,
        "".join(free_parts),
        "".join(paid_parts),
        tuple(segments),
        len(hits),
        plan.warnings,
    )


def rebuild(
    free: str, paid: str, segments: Sequence[Segment], placeholder: str | None = None
) -> str:
    """Rebuild the marker-free article from its halves and segment offsets."""
    skip = len(placeholder or "")
    out: list[str] = []
    free_at = paid_at = 0
    for seg in segments:
        length = seg.end - seg.start
        if seg.kind == "free":
            out.append(free[free_at : free_at + length])
            free_at += length
        else:
            free_at += skip  # the placeholder that marks this cut in the free half
            out.append(paid[paid_at : paid_at + length])
            paid_at += length
    return "".join(out)
