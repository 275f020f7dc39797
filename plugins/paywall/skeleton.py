"""The skeleton of a text: what a reader sees, with every invisible or look-alike difference gone.

Two uses share it. The marker scanner (:mod:`paywall.segmentation`) looks for anything
marker-like in the skeleton that is not an exact marker in the original; the last gate
(:mod:`paywall.gate`) compares free outputs with the paid text on the skeleton's letters and
digits, so markup, spacing, case, width or homoglyph differences cannot hide a copy.

Per code point, in this order:

1. compatibility decomposition (NFKD: full-width and mathematical letters, ligatures, ...);
2. vanishing code points are dropped: default-ignorable ones (zero-width spaces and joiners,
   soft hyphen, bidi controls, variation selectors, tags, Hangul fillers, ...), every other
   format or control character, combining marks and all whitespace (NBSP and U+3000
   included), plus the blank braille pattern;
3. case folding;
4. the Unicode confusables prototype (UTS #39: Cyrillic ``а`` becomes ``a``, ``ǀ`` becomes
   ``l``), then steps 1-3 again on the result.

The mapping is per code point (no composition across characters), so a skeleton can be taken
piece by piece and still equal the skeleton of the whole; it is a ``str.translate`` table,
built once per process from :mod:`unicodedata` (Python 3.11: Unicode 14) and the bundled
confusables data (Unicode 13).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from functools import lru_cache

from paywall._confusables import DATA as _CONFUSABLES_DATA

__all__ = [
    "Runs",
    "runs_pattern",
    "skeleton",
    "skeleton_of",
    "table",
    "vanishes",
    "word_stream",
]

# Default_Ignorable_Code_Point (DerivedCoreProperties.txt), plus U+2800 BRAILLE PATTERN BLANK.
_IGNORABLE_RANGES = (
    (0x00AD, 0x00AD), (0x034F, 0x034F), (0x061C, 0x061C), (0x115F, 0x1160),
    (0x17B4, 0x17B5), (0x180B, 0x180F), (0x200B, 0x200F), (0x202A, 0x202E),
    (0x2060, 0x206F), (0x2800, 0x2800), (0x3164, 0x3164), (0xFE00, 0xFE0F),
    (0xFEFF, 0xFEFF), (0xFFA0, 0xFFA0), (0xFFF0, 0xFFF8), (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A), (0xE0000, 0xE0FFF),
)  # fmt: skip
# Blocks no step changes: unified ideographs, Hangul syllables (kept composed on both sides
# of every comparison), surrogates, private use and the unassigned planes. Skipping them
# keeps the one-time table build short.
_UNCHANGED_RANGES = (
    (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xAC00, 0xD7A3), (0xD800, 0xF8FF),
    (0x20000, 0x2F7FF), (0x2FA20, 0xDFFFF), (0xE1000, 0x10FFFF),
)  # fmt: skip
_VANISHING_CATEGORIES = frozenset({"Cc", "Cf", "Mn", "Me", "Zs", "Zl", "Zp"})
# Symbols, letters and punctuation whose Name property says they draw nothing (U+1D159
# MUSICAL SYMBOL NULL NOTEHEAD, U+2800 BRAILLE PATTERN BLANK, the Hangul and gap fillers):
# no category marks them, their names do. Folding a visible one too (U+2422 BLANK SYMBOL)
# only fails closed: a marker with it inside is a look-alike.
_BLANK_NAME_WORDS = frozenset({"BLANK", "NULL", "FILLER", "INVISIBLE"})
_NAMED_CATEGORIES = frozenset({"So", "Sk", "Lo", "Lm", "Po"})
_NON_WORD = re.compile(r"[\W_]+")
_ASTRAL = re.compile("[\U00010000-\U0010ffff]")


_IGNORABLE = frozenset(cp for lo, hi in _IGNORABLE_RANGES for cp in range(lo, hi + 1))


def _noncharacter(cp: int) -> bool:
    """The 66 noncharacters: never assigned, never text (the gate uses two as separators)."""
    return 0xFDD0 <= cp <= 0xFDEF or (cp & 0xFFFE) == 0xFFFE


def vanishes(char: str) -> bool:
    """True for a code point a reader does not see as a character of its own, decided on
    Unicode properties, not a list, so the next unseen invisible folds too: default-ignorable
    code points; every format, control, space, separator and non-spacing mark; a code point
    this Unicode version has not assigned yet (a later one may make it an invisible format
    character, and a reader's newer browser would draw nothing); a symbol, letter or
    punctuation mark whose name calls it blank, null, a filler or invisible."""
    category = unicodedata.category(char)
    if category in _VANISHING_CATEGORIES:
        return True
    cp = ord(char)
    if cp in _IGNORABLE or char.isspace():
        return True
    if category == "Cn":
        return not _noncharacter(cp)
    if category in _NAMED_CATEGORIES:
        name = unicodedata.name(char, "")
        return "ZERO WIDTH" in name or not _BLANK_NAME_WORDS.isdisjoint(name.split())
    return False


def _simple(text: str) -> str:
    """Steps 1-3 of the module docstring."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not vanishes(ch)).casefold()


@lru_cache(maxsize=1)
def _confusables() -> dict[str, str]:
    mapping: dict[str, str] = {}
    for line in _CONFUSABLES_DATA.splitlines():
        source, _, target = line.partition(";")
        if source and target:
            mapping[chr(int(source, 16))] = "".join(chr(int(cp, 16)) for cp in target.split())
    return mapping


def _candidates() -> list[int]:
    cps: list[int] = []
    start = 0
    for lo, hi in _UNCHANGED_RANGES:
        cps.extend(range(start, lo))
        start = hi + 1
    cps.extend(range(start, 0x110000))
    cps.extend(range(0xF900, 0xFB00))  # compatibility ideographs (inside a skipped range)
    cps.extend(cp for lo, hi in _IGNORABLE_RANGES for cp in range(lo, hi + 1))
    return sorted(set(cps))


def _rule(char: str, confusables: dict[str, str], known: bool = False) -> str | None:
    """One code point's skeleton, or None when it maps to itself (``known``: the caller
    took it from the candidates already)."""
    if not known and not _candidate(ord(char)) and char not in confusables:
        return None
    if vanishes(char):
        return ""
    if not unicodedata.decomposition(char) and char not in confusables and char.casefold() == char:
        return None  # the common case, decided without normalising
    first = _simple(char)
    mapped = "".join(confusables.get(ch, ch) for ch in first)
    result = _simple(mapped) if mapped != first else first
    return None if result == char else result


def _candidate(cp: int) -> bool:
    if cp in _IGNORABLE or 0xF900 <= cp < 0xFB00:
        return True
    return not any(lo <= cp <= hi for lo, hi in _UNCHANGED_RANGES)


@lru_cache(maxsize=1)
def table() -> dict[int, str]:
    """``str.translate`` table: code point -> its skeleton, for every code point that changes.
    Built once per process (a fraction of a second); :func:`skeleton_of` needs no table."""
    confusables = _confusables()
    out: dict[int, str] = {}
    for cp in [*_candidates(), *(ord(c) for c in confusables)]:
        result = _rule(chr(cp), confusables, known=True)
        if result is not None:
            out[cp] = result
    return out


@lru_cache(maxsize=256)
def skeleton_of(text: str) -> str:
    """The skeleton of a short string (a marker), computed without building the table:
    configuration checks run at DAG parse time and must stay cheap."""
    confusables = _confusables()
    out = "".join(char if (result := _rule(char, confusables)) is None else result for char in text)
    return _far_unassigned().sub("", out) if _ASTRAL.search(out) else out


@lru_cache(maxsize=1)
def _ascii_steps() -> tuple[re.Pattern[str], tuple[tuple[str, str], ...]]:
    """The table's ASCII entries as C-speed steps: vanishing characters, then the few
    confusables (``m`` -> ``rn``, ``1`` -> ``l``...), applied after ``str.lower``."""
    entries = {chr(cp): target for cp, target in table().items() if cp < 128}
    gone = "".join(re.escape(c) for c, target in entries.items() if not target)
    pending = {c: t for c, t in entries.items() if t and t != c.lower()}
    # A swap whose target holds another swap's source must run after that one ("%" gives
    # "o/0", and "0" gives "o"): translate maps each character once.
    swaps: list[tuple[str, str]] = []
    while pending:
        ready = sorted(c for c, t in pending.items() if not any(o in t for o in pending if o != c))
        if not ready:  # pragma: no cover - the data has no such cycle
            raise RuntimeError("cyclic ASCII skeleton entries")
        swaps.extend((c, pending.pop(c)) for c in ready)
    return re.compile(f"[{gone}]+"), tuple(swaps)


@lru_cache(maxsize=1)
def _far_unassigned() -> re.Pattern[str]:
    """Unassigned code points outside the table's candidates (the ideograph planes' gaps and
    the empty planes): built on first need, as one character class."""
    ranges: list[tuple[int, int]] = []
    for lo, hi in _UNCHANGED_RANGES:
        for cp in range(max(lo, 0x10000), min(hi, 0x3FFFF) + 1):  # planes 2-3, by property
            if unicodedata.category(chr(cp)) == "Cn" and not _noncharacter(cp):
                if ranges and ranges[-1][1] == cp - 1:
                    ranges[-1] = (ranges[-1][0], cp)
                else:
                    ranges.append((cp, cp))
    # Planes 4-13 and the rest of plane 14 hold no assigned code point (checked at import
    # by the tests); planes 15-16 are private use.
    ranges.extend((plane << 16, (plane << 16) + 0xFFFD) for plane in range(4, 14))
    ranges.append((0xE1000, 0xEFFFD))
    return re.compile("[" + "".join(f"{chr(lo)}-{chr(hi)}" for lo, hi in ranges) + "]+")


def skeleton(text: str) -> str:
    """The skeleton of a text (see the module docstring)."""
    if not text.isascii():
        text = text.translate(table())
        if _ASTRAL.search(text):
            text = _far_unassigned().sub("", text)
        return text
    # str.translate looks every character up in a dict; ASCII needs a handful of C passes.
    gone, swaps = _ascii_steps()
    text = gone.sub("", text.lower())
    for char, target in swaps:
        if char in text:
            text = text.replace(char, target)
    return text


def word_stream(text: str, keep: re.Pattern[str] = _NON_WORD) -> str:
    """Letters and digits of the skeleton only: what the last gate compares.

    Punctuation, symbols, markup characters and spacing differ between a plain-text half and
    its HTML rendering; letters and digits do not. ``keep`` is the pattern of what to drop
    (by default every non-word character; a caller may spare its own separators).
    """
    return keep.sub("", skeleton(keep.sub("", text)))


def _char_class(cps: set[int]) -> str:
    ranges: list[tuple[int, int]] = []
    for cp in sorted(cps):
        if ranges and ranges[-1][1] == cp - 1:
            ranges[-1] = (ranges[-1][0], cp)
        else:
            ranges.append((cp, cp))
    return "".join(
        re.escape(chr(lo)) if lo == hi else f"{re.escape(chr(lo))}-{re.escape(chr(hi))}"
        for lo, hi in ranges
    )


@lru_cache(maxsize=64)
def _run_patterns(alphabet: frozenset[str]) -> tuple[re.Pattern[str], re.Pattern[str]]:
    mapping = table()
    members = {ord(c) for c in alphabet if ord(c) not in mapping}
    members |= {cp for cp, target in mapping.items() if any(ch in alphabet for ch in target)}
    vanishing = {cp for cp, target in mapping.items() if not target}
    bmp = _char_class({cp for cp in members if cp < 0x10000})
    both = _char_class({cp for cp in members | vanishing if cp < 0x10000})
    quiet = _char_class({cp for cp in vanishing if cp < 0x10000})
    # BMP-only classes compile to bitmaps: one class repeated is the fastest scan sre has.
    fast = re.compile(f"[{bmp}][{both}]*")
    # With astral code points around, every one counts as a member (rare: emoji, maths).
    general = re.compile(f"(?:(?:[{bmp}]|[\U00010000-\U0010ffff])[{quiet}]*)+")
    return fast, general


class Runs:
    """Runs of code points that can make up a skeleton string over an alphabet.

    A run starts with a code point whose skeleton shares a character with the alphabet and
    goes on over such code points and vanishing ones. Any other code point maps to
    characters outside the alphabet, so no skeleton string of alphabet characters spans one:
    scanning the runs alone is exact.
    """

    __slots__ = ("fast", "general")

    def __init__(self, alphabet: frozenset[str]) -> None:
        self.fast, self.general = _run_patterns(alphabet)

    def _pattern(self, text: str) -> re.Pattern[str]:
        return self.general if _ASTRAL.search(text) else self.fast

    def findall(self, text: str) -> list[str]:
        return self._pattern(text).findall(text)

    def finditer(self, text: str) -> Iterator[re.Match[str]]:
        return self._pattern(text).finditer(text)


def runs_pattern(alphabet: frozenset[str]) -> Runs:
    """The run scanner for an alphabet (see :class:`Runs`)."""
    return Runs(alphabet)
