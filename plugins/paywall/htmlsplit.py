"""Split an HTML article at its paywall markers, keeping well-formed structure on both sides.

The page is parsed once (BeautifulSoup with lxml) and flattened into a token list. Markers are
found in the *visible* text only, with the same rules as plain text
(:func:`paywall.segmentation.plan_regions`). One pass over the tokens then writes both halves,
opening an element in a half only when content of that half appears inside it, so an element
that crosses a cut appears in both halves with only its own part -- the semantics of a DOM
Range's ``cloneContents``/``deleteContents``.
"""

from __future__ import annotations

import bisect
import html
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from html.entities import html5

from bs4 import BeautifulSoup, Tag
from bs4.element import (
    NavigableString,
    RubyParenthesisString,
    RubyTextString,
    Script,
    Stylesheet,
    TemplateString,
)

from paywall.segmentation import (
    Markers,
    NoMarkersPolicy,
    Segment,
    Status,
    count_markers,
    find_markers,
    plan_regions,
    variants,
)

# Subtrees whose text is never shown as article text: markers inside them are not markers.
OPAQUE = frozenset({"script", "style", "template", "head", "title", "noscript", "textarea"})
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
_VISIBLE_STRINGS = (NavigableString, RubyTextString, RubyParenthesisString)
_RAW_NOISE = re.compile(
    r"<!--.*?-->|<(script|style|title|template|textarea)\b.*?</\1\s*>|<[^>]*>",
    re.IGNORECASE | re.DOTALL,
)

START, END, TEXT, LEAF = 0, 1, 2, 3


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


def _start_tag(tag: Tag) -> str:
    if not tag.attrs:
        return f"<{tag.name}>"
    parts = [tag.name]
    for key, value in tag.attrs.items():
        if isinstance(value, list):
            value = " ".join(value)
        parts.append(f'{key}="{html.escape(str(value), quote=True)}"')
    return "<" + " ".join(parts) + ">"


def _tokens(root: BeautifulSoup) -> list[tuple[int, object]]:
    """Flatten the tree in document order without recursion (deep pages must not crash)."""
    tokens: list[tuple[int, object]] = []
    stack: list[tuple[Tag, Iterator[object]]] = [(root, iter(root.contents))]
    while stack:
        parent, children = stack[-1]
        child = next(children, None)
        if child is None:
            stack.pop()
            if parent is not root:
                tokens.append((END, parent))
            continue
        if isinstance(child, Tag):
            if child.name in OPAQUE or not child.contents:
                tokens.append((LEAF, child))
            else:
                tokens.append((START, child))
                stack.append((child, iter(child.contents)))
        elif type(child) in _VISIBLE_STRINGS:
            tokens.append((TEXT, child))
        else:  # comments, doctype, CDATA, processing instructions
            tokens.append((LEAF, child))
    return tokens


class _Half:
    """One output document; elements are opened lazily when content arrives.

    Both halves walk the same element stack (shared, owned by the caller). Lazy opening means
    a half has always emitted the start tags of a bottom part of that stack: ``depth`` says
    how many, so opening and closing cost an integer compare instead of per-level flags.
    """

    __slots__ = ("depth", "html", "stack", "text")

    def __init__(self, stack: list[Tag]) -> None:
        self.html: list[str] = []
        self.text: list[str] = []
        self.stack = stack  # the document's open elements, shared by both halves
        self.depth = 0  # how many of them (from the bottom) this half has opened

    def flush(self) -> None:
        stack = self.stack
        if self.depth < len(stack):
            self.html.extend(_start_tag(tag) for tag in stack[self.depth :])
            self.depth = len(stack)

    def end(self, tag: Tag) -> None:
        """Called before the caller pops ``tag`` off the shared stack."""
        if self.depth == len(self.stack):
            self.depth -= 1
            self.html.append(f"</{tag.name}>")
            if tag.name in BLOCKS:
                self.text.append("\n")

    def content(self, markup: str, text: str | None = None) -> None:
        self.flush()
        self.html.append(markup)
        if text:
            self.text.append(text)


def _subtree_markup(root: Tag) -> str:
    """Serialise an opaque element (head, script, ...) without recursion or bs4's slower
    formatter machinery: raw text inside script/style, escaped text elsewhere."""
    out = [_start_tag(root)]
    stack: list[tuple[Tag, Iterator[object]]] = [(root, iter(root.contents))]
    while stack:
        parent, children = stack[-1]
        child = next(children, None)
        if child is None:
            stack.pop()
            out.append(f"</{parent.name}>")
        elif isinstance(child, Tag):
            if child.is_empty_element:
                out.append(_start_tag(child)[:-1] + "/>")
            else:
                out.append(_start_tag(child))
                stack.append((child, iter(child.contents)))
        elif type(child) in _VISIBLE_STRINGS or type(child) is TemplateString:
            out.append(html.escape(child, quote=False))  # type: ignore[arg-type]
        elif isinstance(child, Script | Stylesheet):
            out.append(str(child))
        else:  # comments, doctype, CDATA
            out.append(child.output_ready())  # type: ignore[attr-defined]
    return "".join(out)


def _leaf_markup(node: object) -> tuple[str, str | None]:
    if isinstance(node, Tag):
        if node.name == "br":
            return "<br/>", "\n"
        if node.name in OPAQUE:
            return _subtree_markup(node), None
        if node.is_empty_element:
            return _start_tag(node)[:-1] + "/>", "\n" if node.name in BLOCKS else None
        return _start_tag(node) + f"</{node.name}>", None
    return node.output_ready(), None  # type: ignore[attr-defined]


def _tidy_text(parts: list[str]) -> str:
    """Lines stripped, blank ones dropped (builtins only: this runs twice per page)."""
    return "\n".join(filter(None, map(str.strip, "".join(parts).splitlines())))


def _title_in(node: Tag) -> str | None:
    """The text of <title> when node is it or the <head> holding it (without bs4's find)."""
    if node.name == "title":
        return node.get_text()
    if node.name == "head":
        for child in node.contents:
            if isinstance(child, Tag) and child.name == "title":
                return child.get_text()
    return None


def _article_root(soup: BeautifulSoup, selector: str | None) -> Tag | BeautifulSoup | None:
    if selector:
        return soup.select_one(selector)
    for name in ("article", "main"):
        if (found := soup.find(name)) is not None:
            return found
    # The element whose direct paragraphs hold the most text.
    weights: dict[int, tuple[int, Tag]] = {}
    for paragraph in soup.find_all("p"):
        parent = paragraph.parent
        if isinstance(parent, Tag):
            total, _ = weights.get(id(parent), (0, parent))
            weights[id(parent)] = (total + len(paragraph.get_text()), parent)
    if not weights:
        return soup
    return max(weights.values(), key=lambda item: item[0])[1]


@lru_cache(maxsize=64)
def _references_to(markers: Markers) -> tuple[str, ...]:
    """Every way a character of the markers can be written as a character reference."""
    chars = {v for ch in markers.begin + markers.end for v in variants(ch)}
    named = sorted({name.rstrip(";") for name, value in html5.items() if value in chars})
    return ("&#", *(f"&{name}" for name in named))


def _written_as_seen(document: str, markers: Markers, visible_hits: int) -> bool:
    """True when the page's source shows exactly the markers found in its visible text.

    Without a character reference that could spell a marker character, a visible marker
    inside one text node (the caller checked that) is written literally in the source, so
    the source has at least as many literal markers as the visible text; with exactly as
    many, none hides in a comment, script or attribute either. Else the caller strips the
    markup and counts (slower, and decides).
    """
    if count_markers(document, markers) != visible_hits:
        return False
    return not any(ref in document for ref in _references_to(markers))


def visible_text(document: str) -> str:
    """The text a reader sees (no comments, scripts, styles or head): where markers count."""
    tokens = _tokens(BeautifulSoup(document, "lxml"))
    return "".join(node for kind, node in tokens if kind == TEXT)  # type: ignore[misc]


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
    dropped): the ``body_selector`` match, else ``<article>``, ``<main>`` or the element
    holding the most paragraph text. Markers outside it are ignored.
    """
    markers = markers or Markers()
    soup = BeautifulSoup(document, "lxml")
    root = _article_root(soup, body_selector) if extract else soup
    if root is None:
        return HtmlSplit(
            Status.EMPTY, f"no element matches the body selector {body_selector!r}",
            "", "", "", "", (), 0, None, 0,
        )  # fmt: skip
    tokens = _tokens(root)
    if root is not soup:
        tokens = [(START, root), *tokens, (END, root)]

    starts: list[int] = []  # visible-stream offset where each of those strings starts
    pieces: list[str] = []
    offset = 0
    h1_span: tuple[int, int] | None = None
    h1_start = 0
    page_title: str | None = None
    for kind, node in tokens:
        if kind == TEXT:
            starts.append(offset)
            pieces.append(node)  # type: ignore[arg-type]
            offset += len(node)  # type: ignore[arg-type]
        elif kind == LEAF and page_title is None and isinstance(node, Tag):
            page_title = _title_in(node)
        elif h1_span is None and kind in (START, END) and node.name == "h1":  # type: ignore[attr-defined]
            if kind == START:
                h1_start = offset
            else:
                h1_span = (h1_start, offset)
    visible = "".join(pieces)

    def refuse(status: Status, reason: str, found: int) -> HtmlSplit:
        return HtmlSplit(status, reason, "", "", "", "", (), found, None, 0)

    if not visible.strip():
        return refuse(Status.EMPTY, "the page has no visible text", 0)

    hits, damage = find_markers(visible, markers)
    for hit in hits:
        token = bisect.bisect_right(starts, hit.start) - 1
        if hit.end > starts[token] + len(pieces[token]):
            damage = damage or f"{hit.kind} marker at offset {hit.start} is split by markup"
    if damage is None and hits and not _written_as_seen(document, markers, len(hits)):
        in_markup = count_markers(_RAW_NOISE.sub("", document), markers)
        if in_markup != len(hits):
            damage = (
                f"{len(hits)} marker(s) in the visible text but {in_markup} written literally: "
                "a marker is escaped as a character reference or split by markup"
            )
    plan = plan_regions(visible, hits, damage, no_markers)
    if plan.reason is not None:
        return refuse(plan.status, plan.reason, len(hits))

    # Cut points in visible-stream offsets, in order: (offset, "skip-to"/"enter"/"leave").
    # A region is entered after its begin marker and left before its end marker.
    boundaries: list[tuple[int, int, bool]] = []  # (start, end, entering) per marker/edge
    hit_by_end = {h.end: h for h in hits if h.kind == "begin"}
    for region_start, region_end in plan.regions:
        begin = hit_by_end.get(region_start)
        boundaries.append((begin.start if begin else region_start, region_start, True))
        end_len = 0
        if region_end < len(visible):
            end_len = next(
                h.end - h.start for h in hits if h.start == region_end and h.kind == "end"
            )
        boundaries.append((region_end, region_end + end_len, False))

    stack: list[Tag] = []
    free, paid = _Half(stack), _Half(stack)
    current = free
    section = 0
    free_stream: list[str] = []
    paid_stream: list[str] = []
    clean = 0
    segments: list[list] = []  # [kind, start, end], made Segments at the end
    b_index = 0
    text_number = 0

    def cut_marker(n: int) -> str:
        return f'<span class="{cut_class} {cut_class}-{n}" data-paywall-section="{n}"></span>'

    def add_text(chunk: str) -> None:
        nonlocal clean
        if not chunk:
            return
        half = current
        if half.depth < len(stack):
            half.flush()
        half.html.append(html.escape(chunk, quote=False))
        half.text.append(chunk)
        if half is free:
            kind = "free"
            free_stream.append(chunk)
        else:
            kind = "paid"
            paid_stream.append(chunk)
        end = clean + len(chunk)
        last = segments[-1] if segments else None
        if last is not None and last[0] == kind and last[2] == clean:
            last[2] = end
        else:
            segments.append([kind, clean, end])
        clean = end

    def switch(entering: bool) -> None:
        nonlocal current, section
        if entering:
            section += 1
            free.content(cut_marker(section))
            segments.append(["paid", clean, clean])
            current = paid
        else:
            current = free

    # A region entered at offset 0 with no begin marker (all_paid policy).
    while b_index < len(boundaries) and boundaries[b_index][1] == 0 and boundaries[b_index][0] == 0:
        switch(boundaries[b_index][2])
        b_index += 1

    next_cut = boundaries[b_index][0] if b_index < len(boundaries) else len(visible) + 1
    for kind, node in tokens:
        if kind == TEXT:
            string: str = node  # type: ignore[assignment]
            base = starts[text_number]
            text_number += 1
            if base + len(string) <= next_cut:  # no cut inside: the common case
                add_text(string)
                continue
            local = 0
            # Handle every boundary that falls inside this string.
            while b_index < len(boundaries) and boundaries[b_index][0] < base + len(string):
                cut_from, cut_to, entering = boundaries[b_index]
                add_text(string[local : cut_from - base])
                switch(entering)
                local = cut_to - base
                b_index += 1
            add_text(string[local:])
            next_cut = boundaries[b_index][0] if b_index < len(boundaries) else len(visible) + 1
        elif kind == START:  # opened lazily in each half: see _Half
            stack.append(node)  # type: ignore[arg-type]
        elif kind == END:
            free.end(node)  # type: ignore[arg-type]
            paid.end(node)  # type: ignore[arg-type]
            stack.pop()
        else:
            current.content(*_leaf_markup(node))

    title = None
    if title_selector and (node := soup.select_one(title_selector)) is not None:
        candidate = " ".join(node.get_text(" ").split())
        # Inside the article it must be free text; outside it is page chrome, public anyway.
        inside = any(parent is root for parent in node.parents) or node is root
        if candidate and (not inside or candidate in " ".join(free_stream)):
            title = candidate
    if page_title is None and root is not soup and soup.head is not None:
        page_title = _title_in(soup.head)  # the head lies outside the extracted article
    if title is None and page_title:
        title = " ".join(page_title.split()) or None
    if title is None and h1_span is not None:
        first_cut = plan.regions[0][0] if plan.regions else len(visible)
        # Only a heading wholly before the first paid region may become public metadata.
        if h1_span[1] <= first_cut and not any(h.start < h1_span[1] for h in hits):
            title = " ".join(visible[h1_span[0] : h1_span[1]].split()) or None

    return HtmlSplit(
        plan.status,
        None,
        "".join(free.html),
        "".join(paid.html),
        _tidy_text(free.text),
        _tidy_text(paid.text),
        tuple(Segment(k, a, b) for k, a, b in segments if b > a or k == "paid"),
        len(hits),
        title,
        section,
        "".join(free_stream),
        "".join(paid_stream),
        plan.warnings,
    )
