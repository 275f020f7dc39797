"""Split an HTML article at its paywall markers; the free half holds only what is proven free.

The page is parsed once into the tree a browser builds (:mod:`paywall.htmltree`, WHATWG,
scripting on) and flattened into one token stream. Markers count in the *visible* text only,
with the rules of plain text (:func:`paywall.segmentation.plan_regions`); anything that
could make a browser, the CMS (which splits the raw source) and this splitter read the page
differently is refused, never guessed:

* a marker in content a reader is not shown (``<noscript>``, ``<template>``, an
  ``<iframe>``'s fallback or ``srcdoc``, ``<select>``, ``<rp>``, SVG, ``hidden``...) is
  ``hidden_marker``; marker-like strings in code (scripts, styles, comments) and attribute
  values are inert for the page, and none of that reaches the free half -- but the CMS
  splits the raw source and honours them, so the source's markers are mapped onto the
  page (:func:`_source_markers`) and every region the CMS reads must be one the page reads,
  or bound no visible text; else ``hidden_marker``;
* a visible marker must be written literally in the source: one formed by character
  references, a dropped NUL, or text merged across a tag the parser ignores (``##paid</x>
  begin##``) is ``broken_marker``. Proved by parsing a *variant* of the source in which no
  reference decodes and every ``>`` is followed by a line break, so only literal markers
  survive, and comparing the markers both trees show;
* text the parser moves out of a ``<table>`` (foster parenting) moves across the markers
  around it: when a marker sits in such a table or in the moved text, ``invalid_html``;
* nesting deeper than :data:`paywall.htmltree.MAX_DEPTH` is ``too_deep``;
* a page the parser would re-create elements for out of proportion to its own tags
  (formatting elements left open, copied into every following block) is ``invalid_html``,
  by an estimate before parsing and a bound on the tree's elements per source tag: work
  and outputs stay linear in the input.

One pass over the tokens then writes both halves, opening an element in a half only when
content of that half appears inside it, so an element that crosses a cut appears in both
halves with only its own part (a DOM Range's ``cloneContents``). The free half is a pure
function of free text and allow-listed structure: its ``<head>`` is rebuilt (charset,
viewport, canonical and stylesheet links, the title), scripts, comments and hidden content
are left out, and its start tags keep only allow-listed attributes, and only those the
element's own start tag wrote in a free region of the *source* (:class:`_AttrPolicy`): the
parser's copies, merges and moves carry none.
"""

from __future__ import annotations

import bisect
import html
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from paywall.htmltree import (
    DOCTYPE,
    DOCTYPE_NODE,
    ELEMENT_NODE,
    EMPTY,
    END,
    HEAD,
    MAX_DEPTH,
    OPAQUE,
    START,
    TEXT,
    TURBOHTML_KINDS,
    Flat,
    NodeKinds,
    TooDeep,
    TooLarge,
    flatten,
    parse,
    tree_strings,
)
from paywall.segmentation import (
    MarkerHit,
    Markers,
    NoMarkersPolicy,
    Segment,
    Status,
    count_markers,
    find_markers,
    marker_hits,
    plan_regions,
)

__all__ = ["HtmlSplit", "split_html", "visible_text"]

BLOCKS = frozenset(
    {
        "address",
        "article",
        "aside",
        "blockquote",
        "dd",
        "details",
        "dialog",
        "div",
        "dl",
        "dt",
        "fieldset",
        "figcaption",
        "figure",
        "footer",
        "form",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "hr",
        "li",
        "main",
        "nav",
        "ol",
        "p",
        "pre",
        "section",
        "summary",
        "table",
        "tbody",
        "td",
        "tfoot",
        "th",
        "thead",
        "tr",
        "ul",
    }
)
# Attributes an element keeps in the free half, and only those its own start tag wrote in
# a free region of the source (see _AttrPolicy): structure and link targets (no data-*,
# no event handlers, no style, no value/srcdoc...); <html> and <body> only ROOT_ATTRS.
ROOT_ATTRS = frozenset({"class", "lang", "dir"})
FREE_ATTRS = ROOT_ATTRS | frozenset(
    {
        "abbr",
        "align",
        "alt",
        "cite",
        "colspan",
        "datetime",
        "decoding",
        "headers",
        "height",
        "href",
        "hreflang",
        "id",
        "loading",
        "rel",
        "reversed",
        "rowspan",
        "scope",
        "sizes",
        "span",
        "src",
        "srcset",
        "start",
        "target",
        "title",
        "type",
        "valign",
        "width",
    }
)
_URL_ATTRS = frozenset({"href", "src", "cite"})
# A URL's scheme as a browser reads it (WHATWG URL parser): leading and trailing C0
# controls and spaces stripped, every ASCII tab and newline removed anywhere, so
# "java<TAB>script:" and "jav&#x0D;ascript:" are javascript: URLs.
_URL_STRIP = "".join(map(chr, range(0x21)))
_URL_DROP = str.maketrans("", "", "\t\n\r")
_URL_SCHEME = re.compile(r"([a-zA-Z][a-zA-Z0-9+.\-]*):")
# Schemes whose URL runs code or carries a document of its own: never in the free half.
_UNSAFE_SCHEMES = frozenset({"javascript", "vbscript", "livescript", "data"})


def _unsafe_url(value: str) -> bool:
    """Whether a browser would read ``value`` as a URL with a script-running scheme."""
    url = value.strip(_URL_STRIP).translate(_URL_DROP)
    scheme = _URL_SCHEME.match(url)
    return scheme is not None and scheme.group(1).lower() in _UNSAFE_SCHEMES


# Element names the free half may carry; any other name (custom elements included: a
# name can spell text) is written as <span>.
_KNOWN_TAGS = BLOCKS | frozenset(
    {
        "a",
        "abbr",
        "area",
        "b",
        "bdi",
        "bdo",
        "big",
        "body",
        "br",
        "caption",
        "center",
        "code",
        "col",
        "colgroup",
        "data",
        "del",
        "dfn",
        "em",
        "font",
        "hgroup",
        "html",
        "i",
        "img",
        "ins",
        "kbd",
        "label",
        "legend",
        "listing",
        "map",
        "mark",
        "menu",
        "nobr",
        "picture",
        "plaintext",
        "q",
        "rb",
        "rt",
        "rtc",
        "ruby",
        "s",
        "samp",
        "search",
        "small",
        "source",
        "span",
        "strike",
        "strong",
        "sub",
        "sup",
        "time",
        "tt",
        "u",
        "var",
        "wbr",
        "xmp",
    }
)
_VOID = frozenset({"area", "br", "col", "hr", "img", "source", "track", "wbr"})
_VIEWPORT = re.compile(r"^[\w\s=,.:;-]{1,200}$", re.ASCII)
_SURROGATE = re.compile("[\ud800-\udfff]")
_TABLE_OPEN = re.compile(r"<table", re.IGNORECASE)
# Stands in for '&' and NUL in the variant: neither whitespace nor a marker character.
_PLACEHOLDER = "\ue000"


@dataclass(frozen=True, slots=True)
class HtmlSplit:
    status: Status
    reason: str | None
    free_html: str
    paid_html: str
    free_text: str
    paid_text: str
    segments: tuple[Segment, ...]  # offsets in the visible text, markers removed
    markers_found: int
    title: str | None
    sections: int
    free_visible: str = ""  # raw visible text of each half, for exact rebuilds
    paid_visible: str = ""
    warnings: tuple[str, ...] = field(default=())

    @property
    def published(self) -> bool:
        return self.reason is None


def _refuse(status: Status, reason: str, found: int = 0) -> HtmlSplit:
    return HtmlSplit(status, reason, "", "", "", "", (), found, None, 0)


def _attr_text(value: object) -> str:
    return " ".join(value) if isinstance(value, list) else str(value or "")


def _free_name(element: Any) -> str:
    tag: str = element.tag
    return tag if tag in _KNOWN_TAGS else "span"


class _AttrPolicy:
    """Which attributes an element may carry into an output.

    Into the free half: only those its own start tag wrote, and only when that tag lies in
    a free region *of the source*. The tree's order is not enough: the parser re-creates
    elements opened in a paid region after the end marker (reconstruction of the active
    formatting elements, adoption agency), merges the attributes of a later <html>/<body>
    tag onto the root, and moves a table's stray elements before it. An element's source
    position (line and column, CRLF counted once, as the parser counts them) is read per
    element (cheap; a copy shares its original's); the full source location (slow: ~14 us)
    only for <html> and <body>, whose merged attributes have no span of their own.

    Into either half: a parser-made copy of an element (a position already seen on another
    element) carries no attribute, so re-creating an element per block cannot make the
    outputs grow faster than the input.
    """

    __slots__ = ("_ends", "_first", "_lines", "_source", "_starts")

    def __init__(self, paid_source: list[tuple[int, int]], source: str) -> None:
        merged: list[list[int]] = []
        for start, end in sorted(paid_source):
            if merged and start <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([start, end])
        self._starts = [a for a, _ in merged]
        self._ends = [b for _, b in merged]
        self._source = source
        self._lines: list[int] | None = None
        self._first: dict[Any, Any] = {}

    def in_paid(self, offset: int) -> bool:
        at = bisect.bisect_right(self._starts, offset) - 1
        return at >= 0 and offset < self._ends[at]

    def tag_in_paid(self, element: Any, offset: int) -> bool:
        """Whether any character of the element's own start tag (from ``<`` to ``>``, its
        attribute values included) lies in a paid region of the source: a region may sit
        between two attributes of one tag (``<a data-a='BEGIN' href=... data-b='END'>``)."""
        if self.in_paid(offset):
            return True
        nxt = bisect.bisect_right(self._starts, offset)
        if nxt >= len(self._starts):
            return False
        # The tag ends at its own '>' (maybe one inside a quoted value): at or after the
        # first '>' from its start; the parser's span says where.
        gt = self._source.find(">", offset)
        end = len(self._source) if gt < 0 else gt + 1
        location = getattr(element, "source_location", None)
        span = getattr(location, "start_tag", None)
        if span is not None:
            end = max(end, offset + span.end_offset - span.start_offset)
        return self._starts[nxt] < end

    def own_offset(self, element: Any) -> int | None:
        """The source offset of the element's own start tag; None for an element the
        parser made itself (implied, or a copy of one seen before)."""
        position = getattr(element, "position", None)
        if position is None:
            return None
        first = self._first.setdefault(position, element)
        if first is not element and first != element:
            return None  # a copy: its original came first in the tree
        if self._lines is None:
            source = self._source
            lines, at = [0], source.find("\n")
            while at >= 0:
                lines.append(at + 1)
                at = source.find("\n", at + 1)
            self._lines = lines
        line, column = position
        if not 0 < line <= len(self._lines):
            return None
        return int(self._lines[line - 1] + column)

    def free_start(self, element: Any, opened_in_paid: bool) -> str:
        """A start tag for the free half: a known name and allow-listed attributes only."""
        name = _free_name(element)
        attrs = element.attrs
        if not attrs or opened_in_paid:
            return f"<{name}>"
        offset = self.own_offset(element)
        if offset is None or self.tag_in_paid(element, offset):
            return f"<{name}>"
        if name in ("html", "body"):
            location = getattr(element, "source_location", None)
            own = location.attrs if location is not None else {}
            allowed: frozenset[str] = ROOT_ATTRS
        else:
            own, allowed = attrs, FREE_ATTRS
        parts = [name]
        for key, value in attrs.items():
            if key in allowed and key in own:
                text = _attr_text(value)
                if key in _URL_ATTRS and _unsafe_url(text):
                    continue
                parts.append(f'{key}="{html.escape(text, quote=True)}"')
        return "<" + " ".join(parts) + ">"

    def full_start(self, element: Any) -> str:
        """A start tag with every attribute (the paid half is private); none for a copy
        the parser made (its attributes are its original's)."""
        attrs = element.attrs
        if not attrs or self.own_offset(element) is None:
            return f"<{element.tag}>"
        parts = [element.tag]
        for key, value in attrs.items():
            parts.append(f'{key}="{html.escape(_attr_text(value), quote=True)}"')
        return "<" + " ".join(parts) + ">"

    def head_child_is_free(self, element: Any) -> bool:
        offset = self.own_offset(element)
        return offset is not None and not self.tag_in_paid(element, offset)


class _Half:
    """One output document; elements are opened lazily when content arrives.

    Both halves walk the same element stack (shared, owned by the caller): entries are
    ``(element, opened_in_paid)``. Lazy opening means a half has always emitted the start
    tags of a bottom part of that stack: ``depth`` says how many.
    """

    __slots__ = ("depth", "free", "html", "policy", "stack", "text")

    def __init__(self, stack: list[tuple[Any, bool]], free: bool, policy: _AttrPolicy) -> None:
        self.html: list[str] = []
        self.text: list[str] = []
        self.stack = stack
        self.depth = 0
        self.free = free
        self.policy = policy

    def flush(self) -> None:
        stack, append = self.stack, self.html.append
        if self.free:
            free_start = self.policy.free_start
            for element, opened_in_paid in stack[self.depth :]:
                append(free_start(element, opened_in_paid))
        else:
            full_start = self.policy.full_start
            for element, _ in stack[self.depth :]:
                append(full_start(element))
        self.depth = len(stack)

    def close(self, element: Any) -> None:
        """Close ``element``, the innermost this half opened (the caller checks that it
        did), before the caller pops it off the shared stack."""
        self.depth -= 1
        name = _free_name(element) if self.free else element.tag
        self.html.append(f"</{name}>")
        if name in BLOCKS:
            self.text.append("\n")

    def content(self, markup: str, text: str | None = None) -> None:
        if self.depth < len(self.stack):
            self.flush()
        self.html.append(markup)
        if text:
            self.text.append(text)


def _empty_markup(
    element: Any, free: bool, opened_in_paid: bool, policy: _AttrPolicy
) -> tuple[str, str | None]:
    """An element without children (void or empty) and what it adds to the text."""
    if free:
        name = _free_name(element)
        start = policy.free_start(element, opened_in_paid)
    else:
        name = element.tag
        start = policy.full_start(element)
    text = "\n" if name == "br" else ("\n" if name in BLOCKS else None)
    if name in _VOID:
        return start, text
    return start + f"</{name}>", text


def _tidy_text(parts: list[str]) -> str:
    """Lines stripped, blank ones dropped (builtins only: this runs twice per page)."""
    return "\n".join(filter(None, map(str.strip, "".join(parts).splitlines())))


def _squash(text: str) -> str:
    return "".join(text.split())


def _head_markup(head: Any, title: str | None, kinds: NodeKinds, policy: _AttrPolicy) -> str:
    """The free half's <head>, rebuilt from an allow-list: never copied."""
    out = ['<head><meta charset="utf-8">']
    canonical = viewport = False
    for child in head.children:
        if kinds.get(type(child)) != ELEMENT_NODE or not policy.head_child_is_free(child):
            continue
        attrs = child.attrs
        if child.tag == "meta" and not viewport:
            content = _attr_text(attrs.get("content"))
            if _attr_text(attrs.get("name")).lower() == "viewport" and _VIEWPORT.match(content):
                out.append(f'<meta name="viewport" content="{html.escape(content)}">')
                viewport = True
        elif child.tag == "link" and (href := _attr_text(attrs.get("href"))):
            rel = set(_attr_text(attrs.get("rel")).lower().split())
            if _unsafe_url(href):
                continue
            if "canonical" in rel and not canonical:
                out.append(f'<link rel="canonical" href="{html.escape(href)}">')
                canonical = True
            elif rel == {"stylesheet"}:
                out.append(f'<link rel="stylesheet" href="{html.escape(href)}">')
    if title:
        out.append(f"<title>{html.escape(title, quote=False)}</title>")
    out.append("</head>")
    return "".join(out)


def _head_title_is_free(flat: Flat, kinds: NodeKinds, policy: _AttrPolicy) -> bool:
    """Whether the head's own first <title> (the one ``flat.head_title`` reads) was written
    outside every paid region of the source, inert markers' regions included. Its text is
    no visible text, so the markers around it bound nothing the page shows."""
    if flat.head_title is None:
        return False
    for kind, node in zip(flat.kinds, flat.items, strict=True):
        if kind != HEAD:
            continue
        for child in node.children:
            if kinds.get(type(child)) == ELEMENT_NODE and child.tag == "title":
                return policy.head_child_is_free(child)
        return False
    return False


@dataclass(slots=True)
class _Span:
    """Where an element's content lies: token indices and visible-text offsets."""

    first: int  # index of its START (or EMPTY) token
    last: int  # index of its END token (== first for EMPTY)
    start: int  # visible offset of its first character
    end: int  # visible offset past its last character


def _span(flat: Flat, element: Any) -> _Span | None:
    """The span of a visible element; None when it is not visible content (hidden, in
    the head, in code). List and bytearray searches run at C speed."""
    try:
        first = flat.items.index(element)
    except ValueError:
        return None
    kind = flat.kinds[first]
    if kind == EMPTY:
        last = first
    elif kind == START:
        last = flat.items.index(element, first + 1)  # its END token
    else:
        return None
    return _Span(first, last, flat.offset_at(first), flat.offset_at(last))


def _heaviest(flat: Flat) -> Any:
    """The element whose direct paragraphs hold the most visible text."""
    kinds, items, starts = flat.kinds, flat.items, flat.starts
    open_: list[tuple[Any, int]] = []  # (element, visible offset at its start)
    weights: dict[Any, int] = {}
    offset = text_number = 0
    for index in range(len(kinds)):
        kind = kinds[index]
        if kind == TEXT:
            offset = starts[text_number] + len(items[index])
            text_number += 1
        elif kind == START:
            open_.append((items[index], offset))
        elif kind == END:
            element, start = open_.pop()
            if element.tag == "p" and open_:
                parent = open_[-1][0]
                weights[parent] = weights.get(parent, 0) + offset - start
    return max(weights.items(), key=lambda item: item[1])[0] if weights else None


def _first_visible(flat: Flat, names: tuple[str, ...]) -> dict[str, Any]:
    """The first visible element of each name (START or EMPTY tokens)."""
    found: dict[str, Any] = {}
    kinds, items = flat.kinds, flat.items
    for index in range(len(kinds)):
        if kinds[index] in (START, EMPTY):
            tag = items[index].tag
            if tag in names and tag not in found:
                found[tag] = items[index]
                if len(found) == len(names):
                    break
    return found


def _foster_windows(flat: Flat, sentinel: str) -> tuple[list[tuple[int, int]], bool]:
    """Visible-text spans (in a variant tree) of tables whose stray content the parser
    moved before them, together with the moved content; and whether a sentinel itself was
    moved (then the spans cannot be trusted).

    In the variant, a ``<wbr SENTINEL>`` precedes every ``<table`` of the source; content
    that lands between that sentinel and its table was foster-parented out of the table. Two
    sentinels without a table between them (or one with none after it) mean a sentinel was
    moved too (a ``<table`` written in a table's stray content): the windows then say
    nothing reliable, and the caller refuses any page with markers.
    """
    kinds, items = flat.kinds, flat.items
    windows: list[tuple[int, int]] = []
    misplaced = False
    awaiting = False  # a sentinel was seen; its table must come next
    # Per open element: visible offset where the current sibling window starts.
    window: list[int] = [0]
    tables: list[tuple[int, bool]] = []  # (window start, moved text?) per open table
    offset = 0
    last_ink = -1  # visible offset just past the last non-space character
    for index in range(len(kinds)):
        kind = kinds[index]
        if awaiting and kind in (START, EMPTY) and getattr(items[index], "tag", None) == "table":
            awaiting = False
        if kind == TEXT:
            text = items[index]
            stripped = text.rstrip()
            if stripped:
                last_ink = offset + len(stripped)
            offset += len(text)
        elif kind == START:
            element = items[index]
            if element.tag == "table":
                tables.append((window[-1], last_ink > window[-1]))
            window.append(offset)
        elif kind == END:
            element = items[index]
            window.pop()
            if element.tag == "table":
                start, moved = tables.pop()
                if moved:
                    windows.append((start, offset))
                window[-1] = offset
        elif kind == EMPTY:
            element = items[index]
            if element.tag == "wbr" and sentinel in element.attrs:
                misplaced = misplaced or awaiting  # two sentinels, no table between
                awaiting = True
                window[-1] = offset
            elif element.tag == "table":
                if last_ink > window[-1]:
                    windows.append((window[-1], offset))
                window[-1] = offset
    return windows, misplaced or awaiting


# Formatting elements the parser re-creates (reconstruction) until their end tag.
_FORMATTING_NAMES = frozenset(
    {"a", "b", "big", "code", "em", "font", "i", "nobr", "s", "small", "strike", "strong"}
) | frozenset({"tt", "u"})
# Tags whose name could be one of them (the scan's cheap first cut: a short name starting
# with one of their letters); the loop keeps the formatting ones.
_FORMATTING_TAG = re.compile(r"<(/?)([abcefinstuABCEFINSTU][a-zA-Z]{0,5})(?=[\s/>])[^>]*>?")
# Elements the parser may make per source tag beyond the tag's own: implied ones and a
# bounded number of copies (Noah's ark keeps three identical formatting elements). A real
# page stays far below it; re-created elements beyond it make the work superlinear.
ELEMENTS_PER_TAG = 8
_ELEMENTS_SLACK = 256
# Re-created elements are bounded in the bytes they write (a start and an end tag each),
# not in their number: seven long-named formatting elements left open stayed under a
# bound of elements and wrote ~27 bytes per input byte (adversary2 F5).
_CLONE_BYTES_PER_BYTE = 16  # an estimate: it counts a round per tag of a gap
_CLONE_SLACK = 65_536
# And every split's outputs together (both halves, HTML and text) against its input.
OUTPUT_BYTES_PER_BYTE = 8
_OUTPUT_SLACK = 8_192  # the rebuilt head, a doctype: a small page's fixed cost
_MAX_OPEN_FORMATTING = 4096
_NO_DEPTH_LIMIT = 10**9
_OUT_OF_PROPORTION = (
    "the parser re-creates elements (formatting elements left open, copied into every "
    "following block) out of proportion to the page's own tags: refused, so the work "
    "and the outputs stay proportional to the input"
)


def _clone_budget(document: str) -> int:
    return _CLONE_BYTES_PER_BYTE * len(document) + _CLONE_SLACK


def _variant_elements(variant: str) -> int:
    """The element bound for walking a variant tree (with no depth limit). A variant's
    inserted line breaks and <wbr> sentinels are character and void-element tokens,
    which re-open formatting elements the source leaves open: its tree can nest deeper
    than the page's (already checked against MAX_DEPTH) and hold more copies, but never
    out of proportion."""
    return 2 * (ELEMENTS_PER_TAG * variant.count("<") + _ELEMENTS_SLACK)


def _reconstruction_bound(document: str) -> int:
    """An estimate, before parsing, of how many bytes the elements the parser will
    re-create (reconstruction of the active formatting elements) write: formatting
    elements left open, with Noah's ark, each costing its start and end tag, times the
    text runs and tags that re-open them. A source scan at C speed per tag, Python only
    per formatting tag. Past the caller's budget the page is refused before the parser (C,
    but without a bound of its own) builds the copies."""
    by_name: dict[str, list[str]] = {}
    counts: dict[str, int] = {}
    open_now = 0
    open_bytes = 0  # what one round of copies of the open elements writes
    estimate = 0
    previous = 0
    budget = _clone_budget(document)
    for match in _FORMATTING_TAG.finditer(document):
        name = match.group(2).lower()
        if name not in _FORMATTING_NAMES:
            continue
        cost = 2 * len(name) + 5  # <name></name>
        if open_now:
            # Copies are made when text or a tag follows a closed copy; copies close only
            # at a tag: at most one round per tag of the gap, and one more.
            estimate += open_bytes * (document.count("<", previous, match.start()) + 1)
            if estimate > budget:
                return estimate
        previous = match.end()
        keys = by_name.setdefault(name, [])
        if match.group(1):  # an end tag: its latest element leaves the list
            if keys:
                key = keys.pop()
                counts[key] -= 1
                open_now -= 1
                open_bytes -= cost
            continue
        if name in ("a", "nobr") and keys:  # a new one closes the open one first
            key = keys.pop()
            counts[key] -= 1
            open_now -= 1
            open_bytes -= cost
        key = match.group(0).lower()
        if counts.get(key, 0) >= 3:  # Noah's ark: the earliest identical one goes
            keys.remove(key)
        else:
            counts[key] = counts.get(key, 0) + 1
            open_now += 1
            open_bytes += cost
            if open_now > _MAX_OPEN_FORMATTING:
                return budget + 1
        keys.append(key)
    if open_now:
        estimate += open_bytes * (document.count("<", previous) + 1)
    return estimate


# The only characters a region may hold and still count as holding no text: HTML's own
# whitespace (str.strip() also drops U+1680 OGHAM SPACE MARK, a visible dash, and other
# spaces a reader sees).
_HTML_SPACE = " \t\n\f\r"
# Stand-ins for the markers of the source in the CMS-reading variant: private-use
# characters (never marker characters, never whitespace), an index in base 1024.
_SENTINEL = re.compile("\ue001([\ue400-\ue7ff]{3})\ue002")


def _sentinel(index: int) -> str:
    digits = "".join(chr(0xE400 + (index >> shift) % 1024) for shift in (20, 10, 0))
    return f"\ue001{digits}\ue002"


def _sentinel_index(digits: str) -> int:
    return sum((ord(c) - 0xE400) << shift for c, shift in zip(digits, (20, 10, 0), strict=True))


def _normalized(document: str) -> str:
    """The source as the parser's offsets count it (a CRLF or a lone CR is one LF)."""
    if "\r" not in document:
        return document
    return document.replace("\r\n", "\n").replace("\r", "\n")


def _node_strings(node: Any, kinds: NodeKinds) -> list[str]:
    """Every string a node holds: its attribute values and its subtree's strings."""
    kind = kinds.get(type(node))
    if kind == ELEMENT_NODE:
        return [_attr_text(v) for v in node.attrs.values()] + list(tree_strings(node, kinds))
    if kind == DOCTYPE_NODE:
        return [node.name or "", node.public_id or "", node.system_id or ""]
    return [getattr(node, "data", "") or ""]


def _cms_regions(raw: list[MarkerHit], size: int) -> list[tuple[int, int]]:
    """The CMS's reading of the raw source: each begin marker to the next end marker (or
    the end of the source), markers included, in source offsets."""
    regions: list[tuple[int, int]] = []
    open_at: int | None = None
    for hit in raw:
        if hit.kind == "begin" and open_at is None:
            open_at = hit.start
        elif hit.kind == "end" and open_at is not None:
            regions.append((open_at, hit.end))
            open_at = None
    if open_at is not None:
        regions.append((open_at, size))
    return regions


def _source_markers(
    source: str,
    markers: Markers,
    seen: list[MarkerHit],
    parse_document: Callable[[str], Any],
    kinds: NodeKinds,
) -> tuple[list[MarkerHit], None] | tuple[None, tuple[Status, str]]:
    """Where each visible marker (``seen``, in page order) is written in the source, and
    proof that the CMS reads the same regions as the page, or why not.

    The CMS splits the *raw* source: every marker counts there, in comments, attribute
    values and code too, paired as written (a begin opens a region, the next end closes
    it). When all the source's markers are the visible ones, both readings agree. Else a
    variant of the source, each marker replaced by a numbered stand-in, is parsed: each
    stand-in lands in visible text or in inert strings; the stand-ins must come in source
    order (nothing moved or copied), and every region the CMS reads must be one the page
    reads too, or lie where no visible text is (a state script quoting a whole article).
    Anything else -- a lone begin in a comment, a region closed by an attribute, inert
    markers around visible text -- is a region the CMS makes paid and the page shows (or
    the reverse): ``hidden_marker``.
    """
    raw = marker_hits(source, markers)
    if [h.kind for h in raw] == [h.kind for h in seen]:
        return raw, None  # every marker of the source is a visible one, in the same order
    pieces: list[str] = []
    at = 0
    for index, hit in enumerate(raw):
        pieces.append(source[at : hit.start])
        pieces.append(_sentinel(index))
        at = hit.end
    pieces.append(source[at:])
    variant = "".join(pieces)
    table_mark = f"data-paywall-{secrets.token_hex(6)}"
    has_table = _TABLE_OPEN.search(variant) is not None
    if has_table:
        variant = _TABLE_OPEN.sub(lambda m: f"<wbr {table_mark}>{m.group()}", variant)
    disagree = (
        Status.HIDDEN_MARKER,
        "a marker in a comment, an attribute value or code (where the CMS, which splits "
        "the raw source, honours it) bounds visible text: the CMS and the page disagree "
        "on which text is paid",
    )
    try:
        flat = flatten(
            parse_document(variant),
            kinds,
            max_depth=_NO_DEPTH_LIMIT,
            max_elements=_variant_elements(variant),
        )
    except TooLarge:
        return None, (Status.INVALID_HTML, _OUT_OF_PROPORTION)
    if has_table:
        windows, misplaced = _foster_windows(flat, table_mark)
        if windows or misplaced:
            return None, (
                Status.INVALID_HTML,
                "a marker sits outside the visible text and a <table>'s stray content "
                "moves (foster parenting): which text it bounds cannot be proved; refused",
            )
    # (source index, visible?, visible ink since the previous stand-in), in page order.
    events: list[tuple[int, bool, bool]] = []
    ink = False

    def scan(text: str, visible: bool) -> None:
        nonlocal ink
        last = 0
        for match in _SENTINEL.finditer(text):
            if visible and not ink and text[last : match.start()].strip(_HTML_SPACE):
                ink = True
            events.append((_sentinel_index(match.group(1)), visible, ink))
            ink = False
            last = match.end()
        if visible and not ink and text[last:].strip(_HTML_SPACE):
            ink = True

    for kind, item in zip(flat.kinds, flat.items, strict=True):
        if kind == TEXT:
            scan(item, True)
        elif kind in (START, EMPTY):
            for value in item.attrs.values():
                scan(_attr_text(value), False)
        elif kind != END:  # hidden content, code, comments, the head, the doctype
            for string in _node_strings(item, kinds):
                scan(string, False)
    if [e[0] for e in events] != list(range(len(raw))):
        return None, (
            Status.HIDDEN_MARKER,
            "a marker outside the visible text is moved, copied or dropped by the parser: "
            "the CMS and the page cannot be proved to read the same regions",
        )
    visible = [raw[index] for index, shown, _ in events if shown]
    if [h.kind for h in visible] != [h.kind for h in seen]:
        return None, (
            Status.BROKEN_MARKER,
            "the markers the page shows are not the ones written in the source",
        )
    # The CMS's pairing over every marker of the source.
    opened: tuple[int, bool] | None = None  # (source index, visible?)
    between = False  # visible text since the open begin
    for index, shown, ink_before in events:
        if opened is not None:
            between = between or ink_before
        if raw[index].kind == "begin":
            if opened is None:
                opened, between = (index, shown), False
            continue
        if opened is None:
            continue  # an end with no open region: the CMS ignores it, and so do we
        if not (opened[1] and shown) and (opened[1] or shown or between):
            return None, disagree
        opened = None
    if opened is not None and not opened[1] and (between or ink):
        return None, disagree  # an inert begin the CMS leaves open over visible text
    return visible, None


def _variant_problem(
    document: str,
    markers: Markers,
    kinds_seen: list[str],
    parse_document: Callable[[str], Any],
    kinds: NodeKinds,
) -> tuple[Status, str] | None:
    """Prove every marker of the source accounted for, or say why not.

    The variant source keeps every tag where it was (the tree has the same shape) but no
    character reference decodes, NULs stay as characters and a line break follows every
    ``>``: a marker merged across a tag, or spelled with references, does not survive
    there, so the visible markers of both trees must be the same. Every literal marker of
    the source must then be one of those, or sit where markers are inert (code, comments,
    attribute values): one inside markup the tree drops or cannot hold (a tag or attribute
    name, a duplicate attribute, an end tag's attributes) is refused. A sentinel before each
    ``<table`` shows which text the parser moved out of it (foster parenting).
    """
    sentinel = f"data-paywall-{secrets.token_hex(6)}"
    variant = document.replace("&", _PLACEHOLDER).replace("\x00", _PLACEHOLDER)
    has_table = _TABLE_OPEN.search(variant) is not None
    if has_table:
        variant = _TABLE_OPEN.sub(lambda m: f"<wbr {sentinel}>{m.group()}", variant)
    variant = variant.replace(">", ">\n")
    tree = parse_document(variant)
    try:
        flat = flatten(
            tree, kinds, max_depth=_NO_DEPTH_LIMIT, max_elements=_variant_elements(variant)
        )
    except TooLarge:
        return Status.INVALID_HTML, _OUT_OF_PROPORTION
    visible = flat.visible_text()
    if markers.lenient:
        literal_kinds = [h.kind for h in find_markers(visible, markers)[0]]
        same = literal_kinds == kinds_seen
    else:
        # Every marker in the variant's visible text is literal and visible in the page
        # too, so equal counts prove all the page's visible markers literal (str.count:
        # C speed; the page's own markers do not overlap, or it was refused already).
        begins, ends = visible.count(markers.begin), visible.count(markers.end)
        same = (begins, ends) == (kinds_seen.count("begin"), kinds_seen.count("end"))
        literal_kinds = ["?"] * (begins + ends)
    if not same:
        return Status.BROKEN_MARKER, (
            f"{len(kinds_seen)} marker(s) in the visible text but {len(literal_kinds)} written "
            "literally in the source: a marker is spelled with character references, "
            "holds a NUL or is split by markup the browser drops"
        )
    literal = count_markers(document, markers)
    if literal != len(kinds_seen):
        held = count_markers("\x00".join(tree_strings(tree, kinds)), markers)
        if held != literal:
            return Status.BROKEN_MARKER, (
                f"{literal} marker(s) in the source but {held} in the page's text, code, "
                "comments and attribute values: a marker sits inside markup (a tag or "
                "attribute name, an attribute the parser drops)"
            )
    windows, misplaced = _foster_windows(flat, sentinel) if has_table else ([], False)
    if misplaced and kinds_seen:
        return Status.INVALID_HTML, (
            "a <table> written inside another table's stray content moved with it "
            "(foster parenting): where the markers fall cannot be proved; refused"
        )
    windows.sort()
    if not windows:
        return None
    hits, _ = find_markers(visible, markers)
    starts = [h.start for h in hits]
    for start, end in windows:
        at = bisect.bisect_left(starts, start)
        if at < len(hits) and hits[at].start < end:
            return Status.INVALID_HTML, (
                f"a marker ({hits[at].kind}) sits in or beside a <table> whose stray "
                "content browsers move before it (foster parenting): the source and the "
                "page order the text around the marker differently"
            )
    return None


def visible_text(document: str) -> str:
    """The text a reader sees (no head, code, comments or hidden content): where markers
    count. The whole document when it nests too deep to walk the usual way."""
    try:
        return flatten(parse(_browser_text(document))).visible_text()
    except TooDeep:
        return flatten(parse(_browser_text(document)), max_depth=10**9).visible_text()


def _browser_text(document: str) -> str:
    """What a browser's decoder could have produced: no lone surrogates (each becomes
    U+FFFD, so a surrogate inside a marker still breaks it, visibly)."""
    if _SURROGATE.search(document):
        return _SURROGATE.sub("\ufffd", document)
    return document


def split_html(
    document: str,
    markers: Markers | None = None,
    *,
    no_markers: NoMarkersPolicy = NoMarkersPolicy.QUARANTINE,
    cut_class: str = "paywall-paid",
    extract: bool = False,
    body_selector: str | None = None,
    title_selector: str | None = None,
) -> HtmlSplit:
    """Split an HTML document (already decoded) into free and paid HTML and text.

    With ``extract``, only the article element is split and output (the page chrome is
    dropped): the ``body_selector`` match, else the first visible ``<article>``, ``<main>``
    or the element holding the most paragraph text. A marker outside it is refused.
    """
    return _split_with(
        parse,
        TURBOHTML_KINDS,
        document,
        markers or Markers(),
        no_markers=no_markers,
        cut_class=cut_class,
        extract=extract,
        body_selector=body_selector,
        title_selector=title_selector,
    )


def _split_with(
    parse_document: Callable[[str], Any],
    kinds: NodeKinds,
    document: str,
    markers: Markers,
    *,
    no_markers: NoMarkersPolicy = NoMarkersPolicy.QUARANTINE,
    cut_class: str = "paywall-paid",
    extract: bool = False,
    body_selector: str | None = None,
    title_selector: str | None = None,
) -> HtmlSplit:
    """The splitter over any parser whose tree has turbohtml's shape (tests bring html5lib)."""
    document = _browser_text(document)
    out_of_proportion = _OUT_OF_PROPORTION
    if _reconstruction_bound(document) > _clone_budget(document):
        return _refuse(Status.INVALID_HTML, out_of_proportion)
    tree = parse_document(document)
    try:
        flat = flatten(
            tree,
            kinds,
            source=document,
            max_elements=ELEMENTS_PER_TAG * document.count("<") + _ELEMENTS_SLACK,
        )
    except TooDeep:
        return _refuse(
            Status.TOO_DEEP,
            f"elements nest deeper than {MAX_DEPTH} levels: browsers disagree on such trees",
        )
    except TooLarge:
        return _refuse(Status.INVALID_HTML, out_of_proportion)

    # Which element is the article, and which may give the title.
    root: Any = None
    if extract:
        if body_selector:
            try:
                root = tree.select_one(body_selector)
            except ValueError as exc:
                return _refuse(Status.EMPTY, f"invalid body selector {body_selector!r}: {exc}")
            if root is None:
                return _refuse(
                    Status.EMPTY, f"no element matches the body selector {body_selector!r}"
                )
        else:
            first = _first_visible(flat, ("article", "main"))
            root = first.get("article", first.get("main")) or _heaviest(flat)
    titled: Any = None
    if title_selector:
        try:
            titled = tree.select_one(title_selector)
        except ValueError:
            titled = None

    kinds_, items = flat.kinds, flat.items
    texts, starts = flat.texts, flat.starts
    visible_all = "".join(texts)

    # Hidden content with a marker or a marker's fragment (in any case, width or spacing).
    if flat.hidden:
        lenient = Markers(markers.begin, markers.end, lenient=True)
        hidden_hits, hidden_damage = find_markers("\n".join(flat.hidden), lenient)
        if hidden_hits or hidden_damage:
            what = f"the {hidden_hits[0].kind} marker" if hidden_hits else f"a {hidden_damage}"
            return _refuse(
                Status.HIDDEN_MARKER,
                f"{what} in content a reader is not shown (head, <noscript>, <template>, "
                "<iframe>, <select>, SVG, hidden...): ambiguous",
            )

    if root is not None:
        span = _span(flat, root)
        if span is None:  # matched inside hidden content, or in the head
            return _refuse(Status.EMPTY, "the article element is not visible content")
        first_token, last_token, root_start, root_end = span.first, span.last, span.start, span.end
    else:
        first_token, last_token, root_start, root_end = 0, len(kinds_) - 1, 0, len(visible_all)
    visible = visible_all[root_start:root_end]
    if not visible.strip():
        return _refuse(Status.EMPTY, "the page has no visible text")

    hits_all, damage = find_markers(visible_all, markers)
    # A marker across two text nodes is cut by markup. A NUL between the nodes (never in a
    # parsed text) breaks such a marker and forms none: equal counts mean none is cut.
    if hits_all and count_markers("\x00".join(texts), markers) != len(hits_all):
        for hit in hits_all:
            token = bisect.bisect_right(starts, hit.start) - 1
            if hit.end > starts[token] + len(texts[token]):
                damage = damage or f"{hit.kind} marker at offset {hit.start} is split by markup"
                break
    literal = count_markers(document, markers) if damage is None else 0
    if damage is None and (hits_all or literal):
        problem = _variant_problem(
            document, markers, [h.kind for h in hits_all], parse_document, kinds
        )
        if problem is not None:
            return _refuse(problem[0], problem[1], len(hits_all))
    if flat.open_ended and hits_all:
        return _refuse(
            Status.INVALID_HTML,
            f"a <{flat.open_ended}> the source does not close: parsers and browser "
            "generations disagree on where it ends, and so on which text the markers bound",
            len(hits_all),
        )
    if flat.shadow_roots and hits_all:
        return _refuse(
            Status.HIDDEN_MARKER,
            "the page declares a shadow root: a browser shows its content instead of the "
            "markup's own text, so the markers bound text a reader may not see",
            len(hits_all),
        )
    outside = [h for h in hits_all if h.start < root_start or h.end > root_end]
    if outside:
        return _refuse(
            Status.HIDDEN_MARKER,
            f"the {outside[0].kind} marker at offset {outside[0].start} lies outside the "
            "extracted article element: the extraction and the markers disagree",
            len(hits_all),
        )
    # Where each visible marker is written, proving the CMS reads the same regions.
    source = _normalized(document)
    located: list[MarkerHit] = []
    # Every region the CMS reads (inert markers included): nothing written in one -- a
    # start tag's attributes, a head element, the title -- reaches the free half.
    exact = Markers(markers.begin, markers.end)
    cms_regions = _cms_regions(marker_hits(source, exact), len(source))
    if damage is None and (hits_all or literal):
        found_at, disagreement = _source_markers(source, markers, hits_all, parse_document, kinds)
        if disagreement is not None:
            return _refuse(disagreement[0], disagreement[1], len(hits_all))
        located = found_at or []
    hits = hits_all
    if root_start:
        hits = [MarkerHit(h.kind, h.start - root_start, h.end - root_start) for h in hits_all]
    plan = plan_regions(visible, hits, damage, no_markers)
    if plan.reason is not None:
        return _refuse(plan.status, plan.reason, len(hits))

    # Cut points in article-visible offsets: (cut from, resume at, entering a region).
    begin_at = {h.end: h.start for h in hits if h.kind == "begin"}
    end_len = {h.start: h.end - h.start for h in hits if h.kind == "end"}
    boundaries: list[tuple[int, int, bool]] = []
    for region_start, region_end in plan.regions:
        boundaries.append((begin_at.get(region_start, region_start), region_start, True))
        boundaries.append((region_end, region_end + end_len.get(region_end, 0), False))
    paid_spans = _paid_spans(boundaries)
    paid_plain = "".join(visible[a:b] for a, b in plan.regions)
    free_pieces, cursor = [], 0
    for cut_from, resume in paid_spans:
        free_pieces.append(visible[cursor:cut_from])
        cursor = resume
    free_plain = "".join(free_pieces) + visible[cursor:]

    def proven_free(candidate: str | None) -> str | None:
        """Public metadata may repeat free text, never text only the paid half holds."""
        if not candidate:
            return None
        squashed = _squash(candidate)
        if not squashed:
            return None
        if squashed in _squash(paid_plain) and squashed not in _squash(free_plain):
            return None
        return " ".join(candidate.split())

    def span_is_free(span: _Span) -> bool:
        a, b = span.start - root_start, span.end - root_start
        if b <= 0 or a >= len(visible):
            return True  # page chrome outside the article: no marker there (refused above)
        if any(h.start < b and h.end > a for h in hits):
            return False
        return not any(cut_from < b and a < resume for cut_from, resume in paid_spans)

    # The regions in source offsets: an attribute reaches the free half only from a start
    # tag written outside them (a region without a located marker runs to the source's
    # start or end), and outside every region the CMS reads.
    if len(located) == len(hits):
        begin_src = {h.end: located[i].start for i, h in enumerate(hits) if h.kind == "begin"}
        end_src = {h.start: located[i].end for i, h in enumerate(hits) if h.kind == "end"}
    else:
        begin_src, end_src = {}, {}
    policy = _AttrPolicy(
        [(begin_src.get(a, 0), end_src.get(b, len(source))) for a, b in plan.regions] + cms_regions,
        source,
    )

    title = None
    if titled is not None and (span := _span(flat, titled)) is not None and span_is_free(span):
        title = proven_free(visible_all[span.start : span.end])
    if title is None and _head_title_is_free(flat, kinds, policy):
        title = proven_free(flat.head_title)
    if title is None and (h1 := _first_visible(flat, ("h1",)).get("h1")) is not None:
        span = _span(flat, h1)
        if span is not None and root_start <= span.start <= span.end <= root_end:
            title = proven_free(visible_all[span.start : span.end]) if span_is_free(span) else None

    # The visible text of each half and the segments follow from the plan alone.
    segments = _segments(visible, paid_spans, plan.regions)

    # One pass writes both halves.
    stack: list[tuple[Any, bool]] = []
    free, paid = _Half(stack, True, policy), _Half(stack, False, policy)
    current = free
    section = 0
    b_index = 0
    safe_class = html.escape(cut_class, quote=True)
    escape = html.escape

    def add_text(chunk: str) -> None:
        if chunk:
            half = current
            if half.depth < len(stack):
                half.flush()
            half.html.append(escape(chunk, quote=False))
            half.text.append(chunk)

    def switch(entering: bool) -> None:
        nonlocal current, section
        if entering:
            section += 1
            free.content(
                f'<span class="{safe_class} {safe_class}-{section}" '
                f'data-paywall-section="{section}"></span>'
            )
            current = paid
        else:
            current = free

    # A region entered at offset 0 with no begin marker (all_paid policy).
    while b_index < len(boundaries) and boundaries[b_index][:2] == (0, 0):
        switch(boundaries[b_index][2])
        b_index += 1

    text_number = bisect.bisect_left(starts, root_start) if root is not None else 0
    no_cut = len(visible) + 1
    next_cut = boundaries[b_index][0] if b_index < len(boundaries) else no_cut
    for kind, node in zip(
        kinds_[first_token : last_token + 1], items[first_token : last_token + 1], strict=True
    ):
        if kind == TEXT:
            string: str = node
            base = starts[text_number] - root_start
            text_number += 1
            if base + len(string) <= next_cut:  # no cut inside: the common case
                if string:
                    half = current
                    if half.depth < len(stack):
                        half.flush()
                    half.html.append(escape(string, quote=False))
                    half.text.append(string)
                continue
            local = 0
            while b_index < len(boundaries) and boundaries[b_index][0] < base + len(string):
                cut_from, cut_to, entering = boundaries[b_index]
                add_text(string[local : cut_from - base])
                switch(entering)
                local = cut_to - base
                b_index += 1
            add_text(string[local:])
            next_cut = boundaries[b_index][0] if b_index < len(boundaries) else no_cut
        elif kind == START:  # opened lazily in each half: see _Half
            stack.append((node, current is paid))
        elif kind == END:
            depth = len(stack)
            if free.depth == depth:
                free.close(node)
            if paid.depth == depth:
                paid.close(node)
            stack.pop()
        elif kind == EMPTY:
            if current is free:
                free.content(*_empty_markup(node, True, False, policy))
            else:
                paid.content(*_empty_markup(node, False, True, policy))
        elif kind == OPAQUE:
            if current is paid:  # private: hidden content and code stay with their region
                paid.content(node.html)
        elif kind == HEAD:
            free.content(_head_markup(node, title, kinds, policy))
        elif kind == DOCTYPE:
            free.content("<!doctype html>")

    free_html, paid_html = "".join(free.html), "".join(paid.html)
    free_text, paid_text = _tidy_text(free.text), _tidy_text(paid.text)
    written = len(free_html) + len(paid_html) + len(free_text) + len(paid_text)
    if written > OUTPUT_BYTES_PER_BYTE * len(document) + _OUTPUT_SLACK:
        return _refuse(Status.INVALID_HTML, _OUT_OF_PROPORTION, len(hits))
    return HtmlSplit(
        plan.status,
        None,
        free_html,
        paid_html,
        free_text,
        paid_text,
        tuple(segments),
        len(hits),
        title,
        section,
        free_plain,
        paid_plain,
        plan.warnings,
    )


def _segments(
    visible: str, paid_spans: list[tuple[int, int]], regions: tuple[tuple[int, int], ...]
) -> list[Segment]:
    """Free and paid segments in marker-free offsets (a paid one even when empty)."""
    segments: list[Segment] = []
    clean = cursor = 0
    for (cut_from, resume), (region_start, region_end) in zip(paid_spans, regions, strict=True):
        if cut_from > cursor:
            segments.append(Segment("free", clean, clean + cut_from - cursor))
            clean += cut_from - cursor
        segments.append(Segment("paid", clean, clean + region_end - region_start))
        clean += region_end - region_start
        cursor = resume
    if len(visible) > cursor:
        segments.append(Segment("free", clean, clean + len(visible) - cursor))
    return segments


def _paid_spans(boundaries: list[tuple[int, int, bool]]) -> list[tuple[int, int]]:
    """Each region from its begin marker's first character to past its end marker."""
    return [(boundaries[i][0], boundaries[i + 1][1]) for i in range(0, len(boundaries) - 1, 2)]
