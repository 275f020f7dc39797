"""The browser's tree of an HTML page, flattened into one stream for the splitter.

One parser, the browser's: :func:`parse` builds the tree a WHATWG-conformant parser builds
(turbohtml: foster parenting, implied ``<body>``, ``--!>`` comments, templates, foreign
content, the customizable ``<select>``), **with scripting on**, as in a reader's browser:
``<noscript>`` holds one raw text node. Declarative shadow roots are left as ``<template>``
elements; a page that uses them is flagged (a browser would show the shadow tree instead of
the markup's own text).

:func:`flatten` walks that tree once, without recursion, and sorts every node by what a
reader sees:

* **visible** elements and text (the article; markers count only here);
* **hidden** content, rendered never or not as article text: ``<head>``, ``<title>``,
  ``<template>``, ``<noscript>``, ``<iframe>`` (and its ``srcdoc``), ``<noembed>``,
  ``<noframes>``, ``<textarea>``, ``<select>``/``<option>``/``<datalist>``, ``<rp>``,
  ``<object>``/``<video>``/``<audio>``/``<canvas>`` fallback, ``<progress>``/``<meter>``, a
  closed ``<dialog>``, the ``hidden`` attribute, inline ``display:none`` /
  ``visibility:hidden``, and all SVG and MathML content. Its text is collected so the
  splitter can refuse a marker there (ambiguous), and it is never copied into a free half;
* **code**: ``<script>``, ``<style>`` and comments. Marker-like strings there are inert
  (pages embed their own source in state scripts), and code never reaches a free half.

Nesting deeper than :data:`MAX_DEPTH` raises :class:`TooDeep`: browsers stop following the
spec well before pathological depths (Chromium re-parents elements past 512 levels, which
turbohtml mirrors), so such a page has no single reading.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import turbohtml
from turbohtml import Comment, Doctype, DocumentFragment, Element, Namespace, Text

__all__ = [
    "CODE_TAGS",
    "COMMENT_NODE",
    "DOCTYPE",
    "DOCTYPE_NODE",
    "ELEMENT_NODE",
    "EMPTY",
    "END",
    "FRAGMENT_NODE",
    "HEAD",
    "HIDDEN_TAGS",
    "MAX_DEPTH",
    "OPAQUE",
    "START",
    "TEXT",
    "TEXT_NODE",
    "TURBOHTML_KINDS",
    "Flat",
    "NodeKinds",
    "TooDeep",
    "TooLarge",
    "all_strings",
    "flatten",
    "parse",
    "tree_strings",
]

# Deeper nesting is refused (``too_deep``): no real article comes close, Chromium's parser
# re-parents past 512 levels (so browsers disagree with the spec tree there) and the walk's
# memory stays bounded. Counted in elements from <html>.
MAX_DEPTH = 256

# Token kinds of the flat stream (one byte each in Flat.kinds).
START, END, TEXT, EMPTY, OPAQUE, HEAD, DOCTYPE = range(7)

# Node kinds, by Python type of the tree's nodes (a test adapter brings its own types).
ELEMENT_NODE, TEXT_NODE, COMMENT_NODE, DOCTYPE_NODE, FRAGMENT_NODE = range(5)
NodeKinds = Mapping[type, int]
TURBOHTML_KINDS: NodeKinds = {
    Element: ELEMENT_NODE,
    Text: TEXT_NODE,
    Comment: COMMENT_NODE,
    Doctype: DOCTYPE_NODE,
    DocumentFragment: FRAGMENT_NODE,
    turbohtml.CData: COMMENT_NODE,
    turbohtml.ProcessingInstruction: COMMENT_NODE,
}

# Code: never rendered, never scanned for markers, never copied into a free half.
CODE_TAGS = frozenset({"script", "style"})
# Not rendered as article text: markers inside are ambiguous, content stays out of free.
HIDDEN_TAGS = frozenset(
    {
        "audio",
        "canvas",
        "datalist",
        "embed",
        "fencedframe",
        "frameset",
        "iframe",
        "meter",
        "noembed",
        "noframes",
        "noscript",
        "object",
        "optgroup",
        "option",
        "portal",
        "progress",
        "rp",
        "select",
        "selectedcontent",
        "template",
        "textarea",
        "title",
        "video",
    }
)
# Void or metadata elements that carry no text; kept only where they are structure.
_OPAQUE_VOIDS = frozenset(
    {"base", "basefont", "bgsound", "frame", "input", "keygen", "link", "meta", "param"}
)
_HIDDEN_STYLE = re.compile(
    r"(?:^|[;{\s])(?:display\s*:\s*none|visibility\s*:\s*(?:hidden|collapse)"
    r"|content-visibility\s*:\s*hidden)",
    re.IGNORECASE,
)
# Roles of an element in a visible context.
_VISIBLE, _HIDDEN, _CODE, _HEAD, _DROP = range(5)
_ROLE_BY_TAG: dict[str, int] = (
    {tag: _HIDDEN for tag in HIDDEN_TAGS}
    | {tag: _CODE for tag in CODE_TAGS}
    | {tag: _DROP for tag in _OPAQUE_VOIDS}
    | {"head": _HEAD}
)


class TooDeep(Exception):
    """The tree nests deeper than :data:`MAX_DEPTH` elements."""


class TooLarge(Exception):
    """The tree holds more elements than the caller's bound: the parser re-created
    elements (reconstruction of active formatting elements, adoption agency) out of
    proportion to the source's tags."""


@dataclass(slots=True)
class Flat:
    """A page as one stream of tokens in document order.

    ``kinds[i]`` is the token kind and ``items[i]`` its payload: the element (START, END,
    EMPTY, HEAD), the string (TEXT), the node (OPAQUE: hidden content, code or a comment)
    or the doctype. Parallel arrays, not tuples: a 5 MB page has millions of tokens.
    """

    kinds: bytearray = field(default_factory=bytearray)
    items: list[Any] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)  # the TEXT payloads, in order
    starts: list[int] = field(default_factory=list)  # visible offset of each of them
    hidden: list[str] = field(default_factory=list)  # text a reader is not shown
    head_title: str | None = None  # the text of the first <title> child of <head>
    shadow_roots: bool = False  # a <template shadowrootmode>: a browser renders it instead
    # The first hidden container the source leaves unclosed: where it ends is exactly
    # where parsers and browser generations disagree.
    open_ended: str | None = None

    def visible_text(self) -> str:
        return "".join(self.texts)

    def offset_at(self, index: int) -> int:
        """The visible offset where token ``index`` starts."""
        before = self.kinds.count(TEXT, 0, index)  # C speed
        if before < len(self.starts):
            return self.starts[before]
        return self.starts[-1] + len(self.texts[-1]) if self.texts else 0


def parse(document: str) -> Any:
    """The WHATWG tree of a page, scripting on, as a reader's browser builds it."""
    return turbohtml.parse(
        document,
        scripting=True,
        positions=False,
        source_locations=True,
        allow_declarative_shadow_roots=False,
    )


_VOID_TAGS = frozenset(
    {
        "area", "base", "basefont", "bgsound", "br", "col", "embed", "frame", "hr", "image",
        "img", "input", "keygen", "link", "meta", "param", "source", "track", "wbr",
    }
)  # fmt: skip
# Which text a hidden container holds depends on where it ends; when the source does not
# close it, parsers and browser generations disagree there (foreign content's breakout
# rules changed, <dialog> and <search> now close a <p>, <select> parsing changed in 2025,
# html5lib mishandles template content left open). So the outermost hidden container and
# a template's content must be closed by the source itself.


class _Closure:
    """Whether the source closes an element itself (end tag, or ``/>`` on foreign content),
    from the parser's source locations; a tree without them (a test's reference parser)
    has nothing to check."""

    __slots__ = ("_normalized", "source")

    def __init__(self, source: str | None) -> None:
        self.source = source
        self._normalized: str | None = None

    def closed(self, node: Any) -> bool:
        location = getattr(node, "source_location", None)
        if location is None or self.source is None or location.end_tag is not None:
            return True
        if node.tag in _VOID_TAGS:
            return True
        if self._normalized is None:  # offsets count a CRLF once
            self._normalized = self.source.replace("\r\n", "\n").replace("\r", "\n")
        end = location.start_tag.end_offset
        return self._normalized[end - 2 : end] == "/>"


def _role(node: Any) -> int:
    if node.namespace is not Namespace.HTML:
        return _HIDDEN  # <svg>, <math>: foreign content is not article text
    role = _ROLE_BY_TAG.get(node.tag)
    if role is not None:
        return role
    attrs = node.attrs
    if attrs:
        if "hidden" in attrs:
            return _HIDDEN
        style = attrs.get("style")
        if style and _HIDDEN_STYLE.search(style if isinstance(style, str) else " ".join(style)):
            return _HIDDEN
        if node.tag == "dialog" and "open" not in attrs:
            return _HIDDEN
    elif node.tag == "dialog":
        return _HIDDEN
    return _VISIBLE


def flatten(
    document: Any,
    kinds: NodeKinds = TURBOHTML_KINDS,
    max_depth: int = MAX_DEPTH,
    source: str | None = None,
    max_elements: int | None = None,
) -> Flat:
    """Walk a parsed document once (no recursion) into a :class:`Flat` stream.

    With the ``source`` the tree was parsed from, containers the source leaves unclosed
    are reported in :attr:`Flat.open_ended`. More than ``max_elements`` visible elements
    raise :class:`TooLarge` as soon as the walk meets them (the work stays bounded).
    """
    flat = Flat()
    closure = _Closure(source)
    out_kinds, items = flat.kinds, flat.items
    add_kind, add_item = out_kinds.append, items.append
    add_text, add_start = flat.texts.append, flat.starts.append
    offset = 0
    kind_of = kinds.get
    budget = -1 if max_elements is None else max_elements
    stack: list[tuple[Iterator[Any], Any]] = [(iter(document.children), None)]
    while stack:
        children, parent = stack[-1]
        node = next(children, None)
        if node is None:
            stack.pop()
            if parent is not None:
                add_kind(END)
                add_item(parent)
            continue
        kind = kind_of(type(node))
        if kind == TEXT_NODE:
            data = node.data
            add_kind(TEXT)
            add_item(data)
            add_text(data)
            add_start(offset)
            offset += len(data)
        elif kind == ELEMENT_NODE:
            role = _role(node)
            if role == _VISIBLE:
                if len(stack) > max_depth:
                    raise TooDeep
                budget -= 1
                if budget == -1:
                    raise TooLarge
                if len(node.children):
                    add_kind(START)
                    add_item(node)
                    stack.append((iter(node.children), node))
                else:
                    add_kind(EMPTY)
                    add_item(node)
                continue
            if role == _HEAD:
                add_kind(HEAD)
                flat.head_title = _head_title(node, kind_of)
            else:
                add_kind(OPAQUE)
            add_item(node)
            if role in (_HIDDEN, _HEAD):
                if role == _HIDDEN and flat.open_ended is None and not closure.closed(node):
                    flat.open_ended = node.tag
                _collect_hidden(node, flat, kind_of, len(stack), max_depth, closure)
        elif kind == DOCTYPE_NODE:
            add_kind(DOCTYPE)
            add_item(node)
        else:  # comments, processing instructions, CDATA: code, inert
            add_kind(OPAQUE)
            add_item(node)
    return flat


def _collect_hidden(
    root: Any,
    flat: Flat,
    kind_of: Callable[[type], int | None],
    depth: int,
    max_depth: int,
    closure: _Closure,
) -> None:
    """Append the text of a hidden subtree (template content included, code excluded);
    note a template whose content the source leaves unclosed."""
    hidden = flat.hidden
    stack: list[tuple[Iterator[Any], bool]] = [(iter((root,)), False)]
    while stack:
        children, in_template = stack[-1]
        node = next(children, None)
        if node is None:
            stack.pop()
            continue
        kind = kind_of(type(node))
        if kind == TEXT_NODE:
            hidden.append(node.data)
        elif kind == ELEMENT_NODE:
            tag = node.tag
            if in_template and flat.open_ended is None and not closure.closed(node):
                flat.open_ended = "template"
            if tag in CODE_TAGS:
                continue
            if depth + len(stack) > max_depth:
                raise TooDeep
            if tag == "iframe" or tag == "template":
                attrs = node.attrs
                if tag == "iframe" and (srcdoc := attrs.get("srcdoc")):
                    hidden.append(srcdoc)  # a document of its own, rendered in the page
                if "shadowrootmode" in attrs or "shadowroot" in attrs:
                    flat.shadow_roots = True
            if len(node.children):
                stack.append((iter(node.children), in_template or tag == "template"))
        elif kind == FRAGMENT_NODE:
            stack.append((iter(node.children), in_template))


def _head_title(head: Any, kind_of: Callable[[type], int | None]) -> str | None:
    """The text of the head's own first <title> (never one in the body or in an <svg>)."""
    for child in head.children:
        if (
            kind_of(type(child)) == ELEMENT_NODE
            and child.tag == "title"
            and child.namespace is Namespace.HTML
        ):
            return "".join(c.data for c in child.children if kind_of(type(c)) == TEXT_NODE)
    return None


def tree_strings(tree: Any, kinds: NodeKinds = TURBOHTML_KINDS) -> Iterator[str]:
    """Every string a parsed tree holds, in document order: text (visible, hidden or
    code), comments, attribute values and the doctype's ids (template content included)."""
    stack: list[Iterator[Any]] = [iter(tree.children)]
    while stack:
        node = next(stack[-1], None)
        if node is None:
            stack.pop()
            continue
        kind = kinds.get(type(node))
        if kind == ELEMENT_NODE:
            for value in node.attrs.values():
                yield " ".join(value) if isinstance(value, list) else str(value or "")
            stack.append(iter(node.children))
        elif kind == FRAGMENT_NODE:
            stack.append(iter(node.children))
        elif kind == DOCTYPE_NODE:
            yield from (node.name or "", node.public_id or "", node.system_id or "")
        else:
            yield node.data


def all_strings(document: str) -> list[str]:
    """Every string of an HTML document as a browser decodes it (references resolved):
    for a gate that must see attribute values and head content, not only visible text."""
    return list(tree_strings(parse(document)))
