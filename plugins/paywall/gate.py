"""The last gate: no run of the paid text in anything that is about to be published.

It does not trust the splitter. Before an article is published, every public output -- the
free text, the free HTML *as stored* (text, attribute values, head, comments, scripts), and
the public record's text (title, JSON-LD, warnings; the caller picks the fields) -- is
searched for the paid text. The paid text is taken
twice: the splitter's paid half, and an independent raw scan of the decoded input (whatever
lies between a begin marker and the next end marker in the source, tags stripped), so a
parser that misread the structure is caught too.

**What is compared.** Both sides become the letters and digits of their skeleton
(:func:`paywall.skeleton.word_stream`: NFKC-style folding, case folded, confusables mapped,
invisible characters, whitespace, punctuation and markup characters dropped, HTML character
references decoded first). So ``付费，内容`` in ``paid.txt`` matches
``付费<b>内容</b>`` or ``&#20184;&#36153;内容`` in ``free.html``.

**The window.** A hit is a run of :data:`WINDOW` (24) consecutive letters/digits of one paid
region found in a public output. 24 is about one Chinese clause (each CJK character is a word)
or four to five English words: long enough that names, dates and set phrases shared by
both halves do not trip it (the user's sample shares 9 at most: 区委理论学习中心组; the
longest common political slogans run 13-22 characters), short enough that a copied sentence
cannot hide. A paid region shorter than the window is protected whole: the entire region
(its letters and digits) must not appear in a public output -- a six-digit code is a region
too.

**The trade-off, failing closed.** Boilerplate of 24+ letters/digits that the author put in
both the preview and a paid region (a repeated lead sentence, a long slogan, a signature) is
indistinguishable from a leak, so such an article is quarantined (``paid_text_in_free``) for
an editor to look at, never published. Likewise a very short region (one word, one digit)
that also occurs in the preview. A block of 12 letters/digits that the paid text repeats more
than :data:`HOT_LIMIT` times is treated as a hit wherever it appears in a public output
(degenerate text; this keeps the time linear).

**Cost.** Linear: the paid text is cut into aligned blocks of ``WINDOW // 2`` characters
(every run of ``WINDOW`` contains one), the public text is slid over at C speed (one set
lookup per position), and each candidate is verified by binary search on slices.
"""

from __future__ import annotations

import html
import itertools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from paywall.segmentation import Markers, marker_hits
from paywall.skeleton import word_stream

__all__ = [
    "HOT_LIMIT",
    "WINDOW",
    "GateHit",
    "find_paid_text",
    "html_parts",
    "raw_paid_regions",
    "record_strings",
]

WINDOW = 24
HOT_LIMIT = 16
# Separators that survive normalisation (non-word, mapped to themselves by the skeleton) and
# are stripped from every input first: one between public parts, another between paid
# regions, so no run is ever formed across two of them.
_PUBLIC_SEP = "\uffff"
_PAID_SEP = "\ufffe"
_KEEP_SEPS = re.compile("[^\\w\\ufffe\\uffff]+|_+")
_COMMENT_CLOSE = re.compile("--!?>")
# An end tag closes a raw text element only when its name is followed by whitespace, '/'
# or '>' ("</scriptx>" closes nothing), as in the WHATWG tokenizer.
_END = "(?=[\\t\\n\\f\\r />])"
_CLOSERS = {name: re.compile(f"</{name}{_END}", re.IGNORECASE) for name in ("script", "style")}
# Inside a script, "<!--" starts an escaped run in which "<script" starts a double-escaped
# one that "</script" only ends (it does not end the script) and "-->" ends either.
_DASHES_GT = re.compile("-*>")
_SCRIPT_TOKENS = re.compile(f"<!--|-->|</script{_END}|<script{_END}", re.IGNORECASE)
# Elements whose content a browser reads as text up to their own end tag (RCDATA and
# RAWTEXT; <noscript> with scripting on): a '<!--' or a tag in there is text, never markup.
_TEXT_CLOSERS = {
    name: re.compile(f"</{name}{_END}", re.IGNORECASE)
    for name in ("textarea", "title", "xmp", "iframe", "noembed", "noframes", "noscript")
}


@dataclass(frozen=True, slots=True)
class GateHit:
    """Where paid text was found: the public output and how much (normalised characters)."""

    output: str
    length: int
    whole_region: bool  # a region shorter than the window, found whole

    def reason(self) -> str:
        what = (
            f"a whole paid region ({self.length} letters/digits)"
            if self.whole_region
            else f"a run of {self.length}+ letters/digits of the paid text"
        )
        return f"{what} appears in the public {self.output}: refused before publication"


def _normalise(parts: Iterable[str], sep: str) -> list[str]:
    """Each part's letters and digits (see the module docstring), in one pass for all."""
    cleaned = sep.join(p.replace(_PUBLIC_SEP, "").replace(_PAID_SEP, "") for p in parts)
    return word_stream(cleaned, keep=_KEEP_SEPS).split(sep)


# ------------------------------------------------------------------- where paid text is
def raw_paid_regions(text: str, markers: Markers, *, markup: bool) -> list[str]:
    """The text between each begin marker and the next end marker (or the end of the
    input), found in the raw decoded input without any parser; with ``markup``, tags,
    comments, scripts and styles are stripped and character references decoded."""
    regions: list[str] = []
    open_at: int | None = None
    for hit in marker_hits(text, markers):
        if hit.kind == "begin" and open_at is None:
            open_at = hit.end
        elif hit.kind == "end" and open_at is not None:
            regions.append(text[open_at : hit.start])
            open_at = None
    if open_at is not None:
        regions.append(text[open_at:])
    if markup:
        regions = [_markup_parts(region)[0] for region in regions]
    return regions


# ---------------------------------------------------------------- what is to be public
def html_parts(document: str, own_markup: Sequence[str] = ()) -> list[str]:
    """Everything a free HTML document holds that someone could read, as separate parts:
    its text (tags removed, so inline markup does not cut a run), then each tag with its
    attribute values, each comment, each script and style body -- character references
    decoded. Linear: each ``<`` is looked at once.

    ``own_markup`` lists strings the pipeline itself writes into tags (the cut marker's
    class, ``data-paywall-section``): they are vocabulary, not article text, and are cut out
    of the tag parts (a run never spans the cut).
    """
    text, others = _markup_parts(document)
    for word in own_markup:
        if word:
            others = [piece for part in others for piece in part.split(word)]
    return [text, *others]


def _markup_parts(document: str) -> tuple[str, list[str]]:
    """(text, [tag, comment, script/style body, ...]), as an HTML tokenizer cuts a page: a
    ``<`` opens markup only before an ASCII letter, ``/``, ``!`` or ``?`` (otherwise a
    browser shows it as text, and so it is text here)."""
    texts: list[str] = []
    others: list[str] = []
    at, size = 0, len(document)
    while at < size:
        lt = document.find("<", at)
        if lt < 0:
            texts.append(document[at:])
            break
        texts.append(document[at:lt])
        following = document[lt + 1 : lt + 2]
        opens = (
            following != "" and following.isascii() and (following.isalpha() or following in "/!?")
        )
        if not opens:
            texts.append("<")
            at = lt + 1
            continue
        if document.startswith("<!--", lt):
            stop = _comment_end(document, lt + 4)
            others.append(document[lt:stop])
            at = stop
            continue
        gt = document.find(">", lt + 1)
        if gt < 0:  # the tag never ends: a browser drops it; it is kept here all the same
            others.append(document[lt:])
            break
        tag = document[lt : gt + 1]
        others.append(tag)  # the whole tag: values, and names too (public bytes all the same)
        at = gt + 1
        name = tag[1:].split(None, 1)[0].rstrip("/>").lower()
        if name == "script":
            stop = _script_end(document, at)
            others.append(document[at:stop])
            at = stop
        elif name in _CLOSERS:
            closer = _CLOSERS[name].search(document, at)
            stop = size if closer is None else closer.start()
            others.append(document[at:stop])
            at = stop
        elif name in _TEXT_CLOSERS:
            closer = _TEXT_CLOSERS[name].search(document, at)
            stop = size if closer is None else closer.start()
            texts.append(document[at:stop])
            at = stop
        elif name == "plaintext":  # everything after it is text
            texts.append(document[at:])
            break
    return html.unescape("".join(texts)), [html.unescape(o) for o in others]


def _script_end(document: str, at: int) -> int:
    """Where the script whose body starts at ``at`` ends (the start of its end tag), with
    the tokenizer's script data escaped and double-escaped states: an end tag written
    inside ``<!-- <script> ... -->`` does not end the script."""
    escaped = double = False
    for token in _SCRIPT_TOKENS.finditer(document, at):
        word = token.group().lower()
        if word == "<!--":
            if _DASHES_GT.match(document, token.end()):  # "<!-->", "<!--->": over at once
                escaped = double = False
            else:
                escaped = True  # (a double-escaped run stays one)
        elif word == "-->":
            escaped = double = False
        elif word.startswith("</"):
            if not double:
                return token.start()
            double = False
        elif escaped:  # "<script" in an escaped run
            double = True
    return len(document)


def _comment_end(document: str, body: int) -> int:
    """Where a comment whose body starts at ``body`` (just past ``<!--``) ends, as the
    WHATWG tokenizer reads it: ``<!-->`` and ``<!--->`` are empty comments closed at once
    (abrupt closing), and ``--!>`` closes a comment as ``-->`` does."""
    if document.startswith(">", body):
        return body + 1
    if document.startswith("->", body):
        return body + 2
    close = _COMMENT_CLOSE.search(document, body)  # one scan to the first closer
    return len(document) if close is None else close.end()


def record_strings(value: Any) -> list[str]:
    """Every string in a public record (keys excluded), depth first."""
    out: list[str] = []
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            out.append(item)
        elif isinstance(item, Mapping):
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
    return out


# --------------------------------------------------------------------------- the search
def find_paid_text(
    paid_regions: Sequence[str],
    public: Mapping[str, Sequence[str]],
    *,
    window: int = WINDOW,
) -> GateHit | None:
    """The first run of paid text found in a public output, or None.

    ``public`` maps an output's name ("free txt", "free html", "metadata") to its parts;
    parts are searched separately (no run spans two).
    """
    unique = list(dict.fromkeys(paid_regions))  # the raw scan mostly repeats the splitter
    regions = sorted({p for p in _normalise(unique, _PAID_SEP) if p})
    if not regions:
        return None
    long_regions = [p for p in regions if len(p) >= window]
    short_regions = [p for p in regions if len(p) < window]
    block = max(1, window // 2)
    index = _BlockIndex(long_regions, block)
    for output, parts in public.items():
        stream = _PUBLIC_SEP.join(_normalise(parts, _PUBLIC_SEP))
        if long_regions and (length := index.search(stream, window)):
            return GateHit(output, length, whole_region=False)
        if short_regions and (length := _search_whole(stream, short_regions)):
            return GateHit(output, length, whole_region=True)
    return None


def _slide(stream: str, width: int, keys: set[str] | dict[str, Any]) -> Iterable[int]:
    """Positions where a ``width``-long slice of ``stream`` is a key: one C-level pass."""
    count = len(stream) - width + 1
    if count <= 0:
        return ()
    slices = map(stream.__getitem__, map(slice, range(count), range(width, count + width)))
    return itertools.compress(itertools.count(), map(keys.__contains__, slices))


class _BlockIndex:
    """Aligned blocks of the long paid regions: every run of ``2 * block`` holds one."""

    def __init__(self, regions: list[str], block: int) -> None:
        self.regions = regions
        self.block = block
        self.blocks: dict[str, list[tuple[int, int]]] = {}
        self.hot: set[str] = set()
        for number, region in enumerate(regions):
            for offset in range(0, len(region) - block + 1, block):
                key = region[offset : offset + block]
                places = self.blocks.setdefault(key, [])
                if len(places) < HOT_LIMIT:
                    places.append((number, offset))
                else:
                    self.hot.add(key)

    def search(self, stream: str, window: int) -> int | None:
        block = self.block
        if len(self.blocks) * len(stream) <= _FIND_BUDGET:
            # Few blocks, a short stream: str.find per block (C, no per-position Python) is
            # faster than sliding a window; the product bounds the work, so it stays linear.
            places = sorted(at for key in self.blocks for at in _find_all(stream, key))
        else:
            places = list(_slide(stream, block, self.blocks))
        for at in places:
            key = stream[at : at + block]
            for number, offset in self.blocks[key]:
                region = self.regions[number]
                right = _common_prefix(stream, at + block, region, offset + block, window)
                left = _common_suffix(stream, at, region, offset, window)
                if left + block + right >= window:
                    return left + block + right
            if key in self.hot:
                return block
        return None


_FIND_BUDGET = 4_000_000  # blocks x stream characters below which str.find beats sliding


def _find_all(stream: str, key: str) -> Iterable[int]:
    at = stream.find(key)
    while at >= 0:
        yield at
        at = stream.find(key, at + 1)


def _common_prefix(a: str, i: int, b: str, j: int, cap: int) -> int:
    """How many characters a[i:] and b[j:] share at their start (at most ``cap``)."""
    lo, hi = 0, min(cap, len(a) - i, len(b) - j)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[i : i + mid] == b[j : j + mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _common_suffix(a: str, i: int, b: str, j: int, cap: int) -> int:
    """How many characters a[:i] and b[:j] share at their end (at most ``cap``)."""
    lo, hi = 0, min(cap, i, j)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[i - mid : i] == b[j - mid : j]:
            lo = mid
        else:
            hi = mid - 1
    return lo


# Short regions are found whole, in a few passes: one per band of lengths, keyed by the
# prefix as long as the band's shortest, then checked by exact length (a set lookup each).
_BANDS = ((1, 1), (2, 3), (4, 7), (8, 15), (16, 31), (32, 63))


_FEW = 16  # up to this many short regions, str.find (C, no per-position Python) wins


def _search_whole(stream: str, regions: list[str]) -> int | None:
    if len(regions) <= _FEW:
        return next((len(r) for r in regions if r in stream), None)
    by_length: dict[int, set[str]] = {}
    for region in regions:
        by_length.setdefault(len(region), set()).add(region)
    for low, high in _BANDS:
        lengths = sorted(n for n in by_length if low <= n <= high)
        if not lengths:
            continue
        width = lengths[0]
        prefixes = {r[:width] for n in lengths for r in by_length[n]}
        for at in _slide(stream, width, prefixes):
            for n in lengths:
                if stream[at : at + n] in by_length[n]:
                    return n
    return None
