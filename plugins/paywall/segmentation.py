"""Find paid regions in text and split it into a free and a paid half, failing closed.

A paid region starts at a begin marker and ends at the next end marker. Anything ambiguous
(an end without a begin, a begin inside an open region, a damaged marker) is refused: the
caller quarantines the article, so not one paid character can reach a public output.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import operator
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache
from typing import NamedTuple

from paywall.skeleton import Runs, runs_pattern, skeleton, skeleton_of, table

DEFAULT_BEGIN = "##paidbegin##"
DEFAULT_END = "##paidend##"

_FULLWIDTH = {chr(c): chr(c + 0xFEE0) for c in range(0x21, 0x7F)}
_INNER_SPACE = r"[ \t\u3000]*"
# Warnings of one kind listed per article (they are public): the rest are counted.
MAX_WARNINGS = 20


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
        # Markers are told apart from look-alikes on their skeletons: those must differ too.
        begin, end = skeleton_of(self.begin), skeleton_of(self.end)
        if not begin or not end:
            raise ValueError("markers must have visible characters")
        if begin in end or end in begin:
            raise ValueError("the markers must not look alike (or one contain the other)")


class MarkerHit(NamedTuple):  # a tuple: hundreds of thousands are made for hostile input
    kind: str  # "begin" | "end"
    start: int  # offsets in the scanned text
    end: int


class Segment(NamedTuple):
    kind: str  # "free" | "paid"
    start: int  # offsets in the article text with the markers removed
    end: int

    def to_dict(self) -> dict[str, int | str]:
        return {"kind": self.kind, "start": self.start, "end": self.end}


def segment_dicts(segments: Iterable[Segment]) -> tuple[dict[str, int | str], ...]:
    """``Segment.to_dict`` for many segments at once (no method call per segment)."""
    names = Segment._fields
    return tuple(dict(zip(names, segment, strict=True)) for segment in segments)


# Bulk constructors at C speed (NamedTuple._make is a Python-level function).
_new_hit = functools.partial(tuple.__new__, MarkerHit)
_new_segment = functools.partial(tuple.__new__, Segment)


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


def _fragments(marker: str) -> list[str]:
    """Skeleton strings that only a marker, or what is left of one, contains: the whole
    marker, its word ("paidbegin") and its punctuated edges ("#paid", "gin#")."""
    shape = skeleton_of(marker)
    found = [shape]
    word = _keyword(shape)
    if len(word) >= 4:
        lead = shape[: shape.index(word[0])]
        trail = shape[shape.rindex(word[-1]) + 1 :]
        found.append(word)
        if lead:
            found.append(lead[-1] + word[:4])
        if trail:
            found.append(word[-3:] + trail[0])
    return found


@dataclass(frozen=True, slots=True)
class Scanner:
    """How one marker pair is found, and how anything else that looks like one is found."""

    pattern: re.Pattern[str]  # the markers themselves (lenient: their accepted variants)
    # Runs of code points that can make up marker-like skeleton text (see skeleton.py): a
    # look-alike is always inside one run, so only runs are ever normalised.
    runs: Runs
    fragments: tuple[str, ...]  # marker-like skeleton strings, longest first
    shortest: int
    # Joins runs for one normalisation pass: ASCII (the fast path), mapped to itself and
    # absent from every fragment, so no fragment is formed across two runs.
    joiner: str


@lru_cache(maxsize=64)
def compile_scanner(markers: Markers) -> Scanner:
    """The marker pattern and the look-alike detector for a marker pair."""
    if markers.lenient:
        begin, end = _lenient_pattern(markers.begin), _lenient_pattern(markers.end)
    else:
        begin, end = re.escape(markers.begin), re.escape(markers.end)
    pattern = re.compile(f"(?P<begin>{begin})|(?P<end>{end})")
    fragments = sorted(
        {f for m in (markers.begin, markers.end) for f in _fragments(m)}, key=len, reverse=True
    )
    alphabet = frozenset("".join(fragments))
    mapping = table()
    joiner = next(
        c
        for c in "~;,/!?@$^&*()_+=[]{}<>" + "".join(map(chr, range(0x21, 0x7F)))
        if c not in alphabet and ord(c) not in mapping and skeleton(c) == c
    )
    return Scanner(pattern, runs_pattern(alphabet), tuple(fragments), len(fragments[-1]), joiner)


def find_markers(text: str, markers: Markers) -> tuple[list[MarkerHit], str | None]:
    """All marker hits in order, plus a reason when anything else in the text looks like a
    marker or a piece of one.

    A look-alike is judged on the text's skeleton (:mod:`paywall.skeleton`): NFKC-style
    folding, invisible code points dropped, case folded, confusable letters mapped. So
    ``##paid\u200bbegin##``, ``##pаidbegin##`` (Cyrillic а), ``##𝐩𝐚𝐢𝐝begin##``,
    ``##paid begin##`` or ``##PaidBegin##`` are refused in strict mode; lenient mode accepts
    case, full-width and inner space/tab/U+3000 variants and refuses the rest the same way.
    """
    scanner = compile_scanner(markers)
    hits, overlapped = _hits(text, markers, scanner)
    if not hits:
        remainder = text
    elif markers.lenient:
        remainder = scanner.pattern.sub(_SEP, text)
    elif overlapped or _SEP in markers.begin or _SEP in markers.end:
        bounds = [0, *(x for h in hits for x in (h.start, h.end)), len(text)]
        remainder = _SEP.join(text[a:b] for a, b in zip(bounds[0::2], bounds[1::2], strict=True))
    else:  # the same as cutting each hit out, at C speed
        remainder = text.replace(markers.begin, _SEP).replace(markers.end, _SEP)
    return hits, _look_alike(text, hits, remainder, scanner)


def marker_hits(text: str, markers: Markers) -> list[MarkerHit]:
    """The markers in a text, in order, without judging anything else (the last gate's raw
    scan uses this on whole documents)."""
    return _hits(text, markers, compile_scanner(markers))[0]


_KINDS = ("begin", "end")
_START_END = operator.itemgetter(1, 2)


def _hits(text: str, markers: Markers, scanner: Scanner) -> tuple[list[MarkerHit], bool]:
    if markers.lenient:
        found = [
            MarkerHit("begin" if m.lastgroup == "begin" else "end", m.start(), m.end())
            for m in scanner.pattern.finditer(text)
        ]
        return found, False
    # Strict markers: str.split finds them at C speed, far faster than a regex alternation;
    # the merge below stays in C too (no begin and end can start at the same offset: one
    # would have to be a prefix of the other, which Markers refuses).
    begin, end = markers.begin, markers.end
    kind_at = dict.fromkeys(_positions(text, begin), 0)
    kind_at.update(dict.fromkeys(_positions(text, end), 1))
    starts = sorted(kind_at)
    kinds = list(map(kind_at.__getitem__, starts))
    lengths = (len(begin), len(end))
    ends = list(map(operator.add, starts, map(lengths.__getitem__, kinds)))
    # Leftmost wins, as in a regex scan; overlaps need a begin and an end sharing characters.
    overlapped = any(map(operator.lt, starts[1:], ends[:-1]))
    if overlapped:
        hits: list[MarkerHit] = []
        for at, kind, stop in zip(starts, kinds, ends, strict=True):
            if not hits or at >= hits[-1].end:
                hits.append(MarkerHit(_KINDS[kind], at, stop))
        return hits, True
    kind_names = map(_KINDS.__getitem__, kinds)
    return list(map(_new_hit, zip(kind_names, starts, ends, strict=True))), False


def _positions(text: str, marker: str) -> list[int]:
    """Start offsets of the non-overlapping occurrences of ``marker``, left to right."""
    parts = text.split(marker)
    before = itertools.accumulate(map(len, parts[:-1]))  # text before each, markers excluded
    return list(map(operator.add, before, range(0, len(marker) * (len(parts) - 1), len(marker))))


# Stands for each marker cut out of the text: U+FFFF maps to itself in the skeleton and
# belongs to no marker, so no look-alike is formed across a cut.
_SEP = "\uffff"


def _look_alike(
    text: str, hits: Sequence[MarkerHit], remainder: str, scanner: Scanner
) -> str | None:
    """The first marker-like skeleton text in ``remainder`` (the text with each hit replaced
    by one ``_SEP``), described with offsets in ``text``.

    C-speed in the common case: the candidate runs are found by one regex pass, joined and
    normalised in one go; only when a look-alike is there is it located run by run.
    """
    runs = scanner.runs.findall(remainder)
    if not runs:
        return None
    shape = skeleton(scanner.joiner.join(runs))
    if not any(fragment in shape for fragment in scanner.fragments):
        return None
    mapping = table()
    for run in scanner.runs.finditer(remainder):
        run_shape = run.group().translate(mapping)
        for fragment in scanner.fragments:
            at = run_shape.find(fragment)
            while at >= 0 and _ordinary_words(remainder, run, run_shape, at, fragment):
                at = run_shape.find(fragment, at + 1)
            if at < 0:
                continue
            start = run.start()
            for hit in hits:  # back from the remainder to the text (once, on refusal)
                if hit.start > start:
                    break
                start += hit.end - hit.start - 1
            return _describe(text, start, run.group(), at)
    return None


def _span(run: str, at: int, length: int) -> tuple[int, int]:
    """The code points of ``run`` (first, last index) whose skeleton is ``at:at+length``."""
    mapping = table()
    produced = 0
    first = 0
    found = False
    for index, char in enumerate(run):
        produced += len(mapping.get(ord(char), char))
        if not found and produced > at:
            first, found = index, True
        if produced >= at + length:
            return first, index
    return first, len(run) - 1


def _ordinary_words(remainder: str, run: re.Match[str], shape: str, at: int, fragment: str) -> bool:
    """Whether a fragment found in a run is ordinary writing, not a damaged marker.

    Only plain ASCII writing can be ordinary (a full-width, homoglyph, invisible or NBSP
    code point is a disguise). The marker's word alone is a look-alike only when written
    as one word: with a whitespace between its parts ("He paid end-to-end", "unpaid begin
    dates") it is English. An edge fragment ("#paid", "end#") is ordinary only as a lone
    hashtag-like word: its punctuation once in the whole run, and a word break inside it
    ("weekend #paid", "# paid") or no letter or digit on its open side ("#paid content").
    The whole marker's shape, the word written solid ("paidend"), doubled or two-sided
    punctuation ("##paid end", "#paid end#") and a word running on ("#paidcontent") stay
    look-alikes.
    """
    text = run.group()
    first, last = _span(text, at, len(fragment))
    written = text[first : last + 1]
    if any(c not in _BREAKS and not (c.isascii() and c.isprintable()) for c in written):
        return False
    if fragment.isalnum():
        return any(c in _BREAKS for c in written)
    lead, trail = not fragment[0].isalnum(), not fragment[-1].isalnum()
    if lead == trail or shape.count(fragment[0] if lead else fragment[-1]) != 1:
        return False  # the whole marker's shape, or its punctuation more than once
    if any(c in _BREAKS for c in written):
        return True  # the punctuation belongs to another word ("weekend #paid", "# paid")
    where = run.start() + last + 1 if lead else run.start() + first - 1
    neighbour = remainder[where] if 0 <= where < len(remainder) else ""
    return not neighbour.isalnum()


# Word breaks of ordinary writing: ASCII whitespace only (any other space inside a
# marker's words is a disguise).
_BREAKS = " \t\n\r"


def _describe(text: str, run_start: int, run: str, at: int) -> str:
    """Where a look-alike starts in the original text: an offset and a line, nothing else.

    Reasons are public (manifest, catalog, alerts) and a look-alike may lie inside a paid
    region, so a reason never names the code points or the fragment it found: any of those
    would describe paid text. The editor finds the spot by its offset.
    """
    mapping = table()
    produced = 0
    first = 0
    for index, char in enumerate(run):
        produced += len(mapping.get(ord(char), char))
        if produced > at:
            first = index
            break
    return f"damaged marker or marker look-alike at {where(text, run_start + first)}"


def count_markers(text: str, markers: Markers) -> int:
    """How many markers a text holds (str.count for strict markers: C speed)."""
    if markers.lenient:
        return len(compile_scanner(markers).pattern.findall(text))
    return text.count(markers.begin) + text.count(markers.end)


class LineIndex:
    """Line numbers for offsets, counted once per text (not from offset 0 per question)."""

    __slots__ = ("_starts", "_text")

    def __init__(self, text: str) -> None:
        self._text = text
        self._starts: list[int] | None = None

    def where(self, offset: int) -> str:
        if self._starts is None:
            self._starts = [m.end() for m in re.finditer("\n", self._text)]
        return f"offset {offset} (line {bisect.bisect_right(self._starts, offset) + 1})"


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
    lines = LineIndex(text)
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
    empty = 0
    open_at: int | None = None
    for hit in hits:
        if hit.kind == "begin":
            if open_at is not None:
                return Plan(
                    Status.NESTED_BEGIN,
                    f"begin marker at {lines.where(hit.start)} inside the region opened at "
                    f"{lines.where(open_at)}",
                    hits,
                )
            open_at = hit.start
            content_start = hit.end
        else:
            if open_at is None:
                context = "before any begin marker" if not regions else "after a closed region"
                return Plan(
                    Status.UNMATCHED_END,
                    f"end marker at {lines.where(hit.start)} without a begin marker ({context})",
                    hits,
                )
            if hit.start == content_start:
                empty += 1
                if empty <= MAX_WARNINGS:
                    warnings.append(f"empty paid region at {lines.where(open_at)}")
            regions.append((content_start, hit.start))
            open_at = None
    if empty > MAX_WARNINGS:
        warnings.append(f"{empty - MAX_WARNINGS} more empty paid regions")
    if open_at is not None:
        regions.append((content_start, len(text)))
        warnings.append(
            f"begin marker at {lines.where(open_at)} has no end marker: "
            "paid to the end of the article"
        )
        return Plan(Status.UNCLOSED, None, hits, tuple(regions), tuple(warnings))
    return Plan(Status.OK, None, hits, tuple(regions), tuple(warnings))


def _cms_spans(hits: Sequence[MarkerHit], length: int) -> list[tuple[int, int, int, int]]:
    """Regions as the CMS pairs markers: a begin opens one, the next end closes it (a begin
    inside an open region and an end without one are plain text to it); an unclosed region
    runs to the end. Each as (begin start, content start, content end, end end)."""
    spans: list[tuple[int, int, int, int]] = []
    opened: MarkerHit | None = None
    for hit in hits:
        if hit.kind == "begin":
            opened = opened or hit
        elif opened is not None:
            spans.append((opened.start, opened.end, hit.start, hit.end))
            opened = None
    if opened is not None:
        spans.append((opened.start, opened.end, length, length))
    return spans


def lenient_shortfall(text: str, markers: Markers) -> str | None:
    """With lenient markers: why the accepted variants shorten a region the CMS reads, or
    None. The CMS honours only the exact markers, so a variant end (``##PAIDEND##``,
    full-width) inside an exact region would close it early and publish the rest. Leniency
    may widen a paid region, never shorten one: every exact region must lie inside the
    lenient regions (markers included), or the article is refused."""
    if not markers.lenient:
        return None
    exact = marker_hits(text, Markers(markers.begin, markers.end))
    if not exact:
        return None
    covered = _cms_spans(marker_hits(text, markers), len(text))
    lines = LineIndex(text)
    starts = [span[0] for span in covered]
    for _, content_start, content_end, _ in _cms_spans(exact, len(text)):
        at = content_start
        while at < content_end:
            index = bisect.bisect_right(starts, at) - 1
            if index < 0 or covered[index][3] <= at:
                return (
                    f"a marker variant closes a paid region early: the exact markers (the "
                    f"only ones the CMS honours) keep it open from {lines.where(content_start)} "
                    f"past {lines.where(at)}; leniency may widen a paid region, never shorten one"
                )
            at = covered[index][3]
    return None


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
    if plan.reason is None and (short := lenient_shortfall(text, markers)):
        plan = Plan(Status.BROKEN_MARKER, short, plan.hits)
    if plan.reason is not None:
        return TextSplit(plan.status, plan.reason, "", "", (), len(hits))

    # Cut at every hit: pieces alternate free, paid, free, ... (plan_regions made sure that
    # hits alternate begin, end, begin, ...); all_paid has no hits and one region.
    if hits:
        bounds = [0, *itertools.chain.from_iterable(map(_START_END, hits)), len(text)]
        pieces = list(map(text.__getitem__, map(slice, bounds[0::2], bounds[1::2])))
    else:
        pieces = ["", text] if plan.regions else [text]
    free_pieces, paid_pieces = pieces[0::2], pieces[1::2]
    cut = placeholder or ""
    free = cut.join(free_pieces) + (cut if len(paid_pieces) == len(free_pieces) else "")
    lengths = list(map(len, pieces))
    offsets = list(itertools.accumulate(lengths, initial=0))
    # Empty paid regions keep a zero-length segment so each cut stays on record; empty free
    # pieces leave none.
    keep = list(map(bool, lengths))
    keep[1::2] = itertools.repeat(True, len(keep[1::2]))
    segments = tuple(
        map(
            _new_segment,
            itertools.compress(zip(itertools.cycle(("free", "paid")), offsets, offsets[1:]), keep),
        )
    )
    return TextSplit(
        plan.status, None, free, "".join(paid_pieces), segments, len(hits), plan.warnings
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
