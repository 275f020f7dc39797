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

from bs4 import BeautifulSoup, Tag
from bs4.element import (
    NavigableString,
    RubyParenthesisString,
    RubyTextString,
)

from paywall.segmentation import (
    Markers,
    NoMarkersPolicy,
    Segment,
    Status,
    count_markers,
    find_markers,
    plan_regions,
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
    """One output document; elements are opened lazily when content arrives."""

    __slots__ = ("emitted", "html", "open", "text")

    def __init__(self) -> None:
        self.html: list[str] = []
        self.text: list[str] = []
        self.open: list[Tag] = []  # document stack
        self.emitted: list[bool] = []

    def flush(self) -> None:
        emitted = self.emitted
        if emitted and not emitted[-1]:
            for i, done in enumerate(emitted):
                if not done:
                    self.html.append(_start_tag(self.open[i]))
                    emitted[i] = True

    def start(self, tag: Tag) -> None:
        self.open.append(tag)
        self.emitted.append(False)

    def end(self, tag: Tag) -> None:
        self.open.pop()
        if self.emitted.pop():
            self.html.append(f"</{tag.name}>")
            if tag.name in BLOCKS:
                self.text.append("\n")

    def content(self, markup: str, text: str | None = None) -> None:
        self.flush()
        self.html.append(markup)
        if text:
            self.text.append(text)


def _leaf_markup(node: object) -> tuple[str, str | None]:
    if isinstance(node, Tag):
        if node.name == "br":
            return "<br/>", "\n"
        if node.name in OPAQUE:
            return node.decode(), None
        if node.is_empty_element:
            return _start_tag(node)[:-1] + "/>", "\n" if node.name in BLOCKS else None
        return _start_tag(node) + f"</{node.name}>", None
    return node.output_ready(), None  # type: ignore[attr-defined]


def _tidy_text(parts: list[str]) -> str:
    lines = (line.strip() for line in "".join(parts).splitlines())
    return "\n".join(line for line in lines if line)


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
    if damage is None and hits:
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

    free, paid = _Half(), _Half()
    current = free
    section = 0
    free_stream: list[str] = []
    paid_stream: list[str] = []
    clean = 0
    segments: list[Segment] = []
    b_index = 0
    text_number = 0

    def cut_marker(n: int) -> str:
        return f'<span class="{cut_class} {cut_class}-{n}" data-paywall-section="{n}"></span>'

    def add_text(chunk: str) -> None:
        nonlocal clean
        if not chunk:
            return
        current.content(html.escape(chunk, quote=False), chunk)
        (free_stream if current is free else paid_stream).append(chunk)
        kind = "free" if current is free else "paid"
        if segments and segments[-1].kind == kind and segments[-1].end == clean:
            segments[-1] = Segment(kind, segments[-1].start, clean + len(chunk))
        else:
            segments.append(Segment(kind, clean, clean + len(chunk)))
        clean += len(chunk)

    def switch(entering: bool) -> None:
        nonlocal current, section
        if entering:
            section += 1
            free.content(cut_marker(section))
            segments.append(Segment("paid", clean, clean))
            current = paid
        else:
            current = free

    # A region entered at offset 0 with no begin marker (all_paid policy).
    while b_index < len(boundaries) and boundaries[b_index][1] == 0 and boundaries[b_index][0] == 0:
        switch(boundaries[b_index][2])
        b_index += 1

    for kind, node in tokens:
        if kind == TEXT:
            string: str = node  # type: ignore[assignment]
            base = starts[text_number]
            text_number += 1
            local = 0
            # Handle every boundary that falls inside this string.
            while b_index < len(boundaries) and boundaries[b_index][0] < base + len(string):
                cut_from, cut_to, entering = boundaries[b_index]
                add_text(string[local : cut_from - base])
                switch(entering)
                local = cut_to - base
                b_index += 1
            add_text(string[local:])
        elif kind == START:
            free.start(node)  # type: ignore[arg-type]
            paid.start(node)  # type: ignore[arg-type]
        elif kind == END:
            free.end(node)  # type: ignore[arg-type]
            paid.end(node)  # type: ignore[arg-type]
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
        tuple(s for s in segments if s.end > s.start or s.kind == "paid"),
        len(hits),
        title,
        section,
        "".join(free_stream),
        "".join(paid_stream),
        plan.warnings,
    )
