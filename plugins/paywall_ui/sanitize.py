"""Rendered HTML halves, made safe to show: an allowlist sanitiser and a sandboxed frame.

Three independent layers, so one mistake is not enough for an article's script to run in the
Airflow origin:

1. :func:`sanitize` keeps an allowlist of text and structure tags (ammonia, through ``nh3``)
   with no attribute that loads, links or runs anything: no ``src``, ``href``, ``style`` or
   event handler, no ``<script>``, ``<style>``, ``<iframe>``, ``<form>``, ``<svg>``...
   (their content is dropped, not shown as text);
2. :func:`frame_document` wraps the result in a document whose own CSP allows no script, no
   network and no form;
3. the page puts it in ``<iframe sandbox srcdoc=...>`` with no ``allow-scripts`` and no
   ``allow-same-origin`` (an opaque origin), under the page's own strict CSP.
"""

from __future__ import annotations

import re

import nh3

__all__ = ["FRAME_CSP", "FRAME_SANDBOX", "frame_document", "sanitize"]

FRAME_SANDBOX = ""  # the sandbox attribute's value: every restriction, no exception
FRAME_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'none'; script-src 'none'; "
    "form-action 'none'; base-uri 'none'"
)
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_TAGS = {
    "a", "abbr", "article", "aside", "b", "blockquote", "br", "caption", "cite", "code",
    "dd", "del", "details", "dfn", "div", "dl", "dt", "em", "figcaption", "figure",
    "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "i", "img", "ins", "kbd",
    "li", "main", "mark", "ol", "p", "pre", "q", "rp", "rt", "ruby", "s", "samp", "section",
    "small", "span", "strong", "sub", "summary", "sup", "table", "tbody", "td", "tfoot", "th",
    "thead", "time", "tr", "u", "ul", "var",
}  # fmt: skip
# Dropped with everything inside them (otherwise their text would show).
_DROP_WITH_CONTENT = {
    "script", "style", "template", "noscript", "iframe", "object", "embed", "svg", "math",
    "title", "head", "textarea", "select", "button", "form", "frameset", "noembed",
    "noframes", "xmp", "plaintext", "video", "audio", "canvas",
}  # fmt: skip
_ATTRIBUTES = {
    "*": {"class", "lang", "dir", "title"},
    "img": {"alt"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan", "scope"},
    "ol": {"start", "reversed"},
    "time": {"datetime"},
}


def sanitize(html: str) -> str:
    """An HTML half reduced to inert markup: text, structure and class names only."""
    return nh3.clean(
        html,
        tags=_TAGS,
        clean_content_tags=_DROP_WITH_CONTENT,
        attributes=_ATTRIBUTES,
        url_schemes=set(),
        strip_comments=True,
        link_rel=None,
    )


_FRAME_STYLE = """
body { font: 15px/1.6 system-ui, "Noto Sans CJK SC", sans-serif; margin: 12px; color: #1a1a1a; }
.CUT { display: block; margin: 8px 0; padding: 4px 8px; border: 2px dashed #c0392b;
  color: #c0392b; font-size: 12px; }
.CUT::before { content: "\\2702  paid region cut here"; }
"""


def frame_document(fragment: str, *, title: str, cut_class: str = "paywall-paid") -> str:
    """A complete document for a sandboxed frame's ``srcdoc``; ``fragment`` must come from
    :func:`sanitize`. The title is escaped here; ``cut_class`` (the configured class of the
    element marking each cut, validated by the config as a CSS identifier) is outlined."""
    from html import escape

    if not _IDENT.match(cut_class):
        raise ValueError(f"not a CSS class name: {cut_class!r}")
    style = _FRAME_STYLE.replace("CUT", cut_class)
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{FRAME_CSP}">'
        f"<title>{escape(title)}</title><style>{style}</style></head>"
        f"<body>{fragment}</body></html>"
    )
