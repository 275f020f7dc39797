"""Turn article bytes into text, or refuse with a specific reason.

Order of evidence: byte-order mark, declared charset (HTTP header), the document's own
declaration (``<meta charset>`` / XML prolog, HTML only), strict UTF-8, then detection
restricted to the encodings Chinese publishers actually use. Line ends are never normalised.

Charset labels are resolved as browsers resolve them: the WHATWG Encoding Standard's label
list (``webencodings``), so ``gb2312`` is GBK, ``latin1`` is windows-1252, and a label that
is not on the list (``unicode_escape``, ``undefined``, ``rot13``...) is no encoding at all: it
is ignored and detection decides. No Python codec is ever reachable by name. GBK decodes with
the GB18030 decoder (the standard's GBK decoder is GB18030's). The "replacement" labels
(ISO-2022-KR, HZ...) are ignored too: a browser shows such a page as one U+FFFD.
"""

from __future__ import annotations

import codecs
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import charset_normalizer
import webencodings

from paywall.errors import DecodeError

__all__ = [
    "DecodeError",
    "Decoded",
    "charset_from_content_type",
    "decode",
    "hidden_markers",
    "resolve_label",
]

# WHATWG encoding name -> the Python codec that decodes it. GB18030 decodes every GBK byte
# sequence as the standard's GBK decoder does; WHATWG Big5 is Big5-HKSCS.
_CODECS = {"gbk": "gb18030", "big5": "big5hkscs", "utf-16le": "utf-16-le", "utf-16be": "utf-16-be"}
# Back from the codecs detection may name to WHATWG names.
_DETECTED = {"gb18030": "gb18030", "big5": "big5", "utf_16_le": "utf-16le", "utf_16_be": "utf-16be"}
_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16le"),
    (codecs.BOM_UTF16_BE, "utf-16be"),
)
_DETECT_CANDIDATES = ["gb18030", "big5", "utf_16_le", "utf_16_be"]
_META_CHARSET = re.compile(
    rb"""<meta[^>]+charset\s*=\s*["']?\s*([a-zA-Z0-9_\-:.]+)""", re.IGNORECASE
)
_XML_ENCODING = re.compile(rb"""^<\?xml[^>]+encoding\s*=\s*["']([a-zA-Z0-9_\-.]+)""")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True, slots=True)
class Decoded:
    text: str
    encoding: str  # the WHATWG name of the encoding used (gbk is reported as gb18030)
    evidence: str  # bom | declared | document | utf-8 | detected


def resolve_label(label: str) -> str | None:
    """The WHATWG encoding a charset label names (``gbk`` as ``gb18030``), or None when
    the label is not on the standard's list or names the "replacement" encoding."""
    try:
        encoding = webencodings.lookup(label.strip().strip("\"'"))
    except (UnicodeError, ValueError):  # a label no browser could have sent
        return None
    if encoding is None or encoding.name == "replacement":
        return None
    return "gb18030" if encoding.name == "gbk" else encoding.name


def _strict(data: bytes, encoding: str) -> str | None:
    """Decode with the codec a WHATWG name stands for; None when the bytes are invalid."""
    try:
        if encoding == "x-user-defined":
            info = webencodings.lookup(encoding)
            assert info is not None
            return str(info.codec_info.decode(data)[0])
        return data.decode(_CODECS.get(encoding, webencodings.PYTHON_NAMES.get(encoding, encoding)))
    except (UnicodeError, LookupError):
        return None


def charset_from_content_type(content_type: str | None) -> str | None:
    """Extract ``charset=`` from an HTTP Content-Type header value."""
    if not content_type:
        return None
    match = re.search(r"charset\s*=\s*[\"']?([^\s;\"']+)", content_type, re.IGNORECASE)
    return match.group(1) if match else None


def _looks_like_utf16(data: bytes) -> str | None:
    """UTF-16 without a BOM: NULs concentrated on one byte parity."""
    sample = data[:4096]
    if len(sample) < 4:
        return None
    even = sample[0::2].count(0)
    odd = sample[1::2].count(0)
    half = len(sample) / 2
    if odd > 0.3 * half and even < 0.05 * half:
        return "utf-16le"
    if even > 0.3 * half and odd < 0.05 * half:
        return "utf-16be"
    return None


def _check_text(text: str, encoding: str) -> Decoded | None:
    # A decode that yields many control characters is binary data in disguise.
    if text and len(_CONTROL.findall(text[:8192])) > max(2, len(text[:8192]) // 100):
        return None
    return Decoded(text, encoding, "")


def decode(
    data: bytes,
    declared: str | None = None,
    *,
    html: bool = False,
    paid_from: int | None = None,
) -> Decoded:
    """Decode article bytes; raise DecodeError with reason empty/binary/undecodable.

    ``declared`` is a charset label from the transport (HTTP ``Content-Type``); the
    document's own ``<meta charset>`` or XML prolog counts only for HTML (``html``), and
    only when it is written before byte ``paid_from`` (where a begin marker may be): a declaration
    that may lie in a paid region must not decide how the free half reads, nor be named in
    the public record.
    """
    decoded = _decode(data, declared, html, paid_from)
    # No standard decoder makes a lone surrogate; should one ever appear, it could not be
    # stored as UTF-8 (and would crash every writer downstream): refuse the article here.
    if _SURROGATE.search(decoded.text):
        raise DecodeError("undecodable", "the decoded text holds a lone surrogate")
    return decoded


def _decode(data: bytes, declared: str | None, html: bool, paid_from: int | None) -> Decoded:
    if not data or not data.strip():
        raise DecodeError("empty", "the input has no content")

    for bom, encoding in _BOMS:
        if data.startswith(bom):
            text = _strict(data[len(bom) :], encoding)
            if text is None:
                raise DecodeError("undecodable", f"bytes after the {encoding} BOM are invalid")
            if _check_text(text, encoding) is None:  # e.g. UTF-32, which no browser decodes
                raise DecodeError("binary", "control characters dominate: not a text article")
            return Decoded(text, "utf-16" if encoding.startswith("utf-16") else encoding, "bom")

    utf16 = _looks_like_utf16(data)
    if utf16:
        text = _strict(data, utf16)
        if text is not None:
            return Decoded(text, "utf-16", "detected")

    if b"\x00" in data[:8192]:
        raise DecodeError("binary", "NUL bytes found: this is binary data, not an article")

    # Valid UTF-8 wins over any legacy declaration: GBK or Big5 text of more than a few
    # characters is practically never valid UTF-8, while mis-declared UTF-8 pages are common.
    candidates: list[tuple[str, str]] = [("utf-8", "utf-8")]
    if declared and (transport := resolve_label(declared)):
        candidates.append((transport, "declared"))
    head = data[: 4096 if paid_from is None or paid_from < 0 else min(4096, paid_from)]
    match = (_META_CHARSET.search(head) or _XML_ENCODING.search(head)) if html else None
    if match and (own := resolve_label(match.group(1).decode("ascii", "replace"))):
        # As browsers do: a document cannot declare itself UTF-16 in ASCII-compatible bytes,
        # and x-user-defined from a meta tag means windows-1252.
        if own in ("utf-16le", "utf-16be"):
            own = "utf-8"
        elif own == "x-user-defined":
            own = "windows-1252"
        candidates.append((own, "document"))

    for encoding, evidence in candidates:
        text = _strict(data, encoding)
        if text is not None:
            checked = _check_text(text, encoding)
            if checked is None:
                raise DecodeError("binary", "control characters dominate: not a text article")
            return Decoded(text, encoding, evidence)

    # Bytes valid as both GB18030 and Big5 (most short GBK text is) are not guessed: one
    # reading must be plainly the language and the other plainly not, or the article is
    # refused (a wrong guess publishes mojibake, and the CMS's own reading differs).
    as_gb, as_big5 = _strict(data, "gb18030"), _strict(data, "big5")
    if as_gb is not None and as_big5 is not None and as_gb != as_big5:
        chosen = _plausible(as_gb, as_big5)
        if chosen is None:
            raise DecodeError(
                "undecodable",
                "the bytes are valid GB18030 and valid Big5 and too few or too mixed to tell "
                "which: declare the charset",
            )
        text = as_gb if chosen == "gb18030" else as_big5
        if _check_text(text, chosen) is None:
            raise DecodeError("binary", "control characters dominate: not a text article")
        return Decoded(text, chosen, "detected")

    best = charset_normalizer.from_bytes(data, cp_isolation=_DETECT_CANDIDATES).best()
    if best is not None and (guess := _DETECTED.get(best.encoding)):
        text = _strict(data, guess)
        if text is not None and _check_text(text, guess) is not None:
            return Decoded(text, guess, "detected")
    for encoding in ("gb18030", "big5"):
        text = _strict(data, encoding)
        if text is not None and _check_text(text, encoding) is not None:
            return Decoded(text, encoding, "detected")
    raise DecodeError(
        "undecodable",
        "not valid in the declared charset, UTF-8, GB18030, Big5 or UTF-16",
    )


# Evidence needed to tell GB18030 from Big5 when the bytes are valid in both: enough
# non-ASCII characters, the winner's almost all common, the loser's clearly not.
_MIN_EVIDENCE = 8
_COMMON_SHARE = 0.9
_MARGIN = 0.3
_SAMPLE = 1 << 16


def _common_gb(char: str) -> bool:
    """A CJK punctuation/full-width form, or one of GB2312's 3,755 level-1 hanzi."""
    if "\u3000" <= char <= "\u303f" or "\uff00" <= char <= "\uffef":
        return True
    try:
        code = char.encode("gb2312")
    except UnicodeError:
        return False
    return len(code) == 2 and 0xB0 <= code[0] <= 0xD7


def _common_big5(char: str) -> bool:
    """A CJK punctuation/full-width form, or one of Big5's 5,401 frequently used hanzi."""
    if "\u3000" <= char <= "\u303f" or "\uff00" <= char <= "\uffef":
        return True
    try:
        code = char.encode("big5")
    except UnicodeError:
        return False
    return len(code) == 2 and 0xA440 <= (code[0] << 8 | code[1]) <= 0xC67E


def _share(text: str, common: Callable[[str], bool]) -> tuple[float, int]:
    """The share of non-ASCII characters that are common, and how many there are, over the
    text's first ``_SAMPLE`` characters (plenty of evidence; each distinct character is
    judged once). Only which reading is right depends on it: markers are checked on the
    whole text (:func:`hidden_markers`)."""
    counts = Counter(text[:_SAMPLE])
    wide = {char: n for char, n in counts.items() if not char.isascii()}
    total = sum(wide.values())
    if not total:
        return 0.0, 0
    return sum(n for char, n in wide.items() if common(char)) / total, total


def _plausible(as_gb: str, as_big5: str) -> str | None:
    """Which of two valid readings is the text (GB18030 or Big5), or None when the bytes
    do not say so plainly."""
    gb, count = _share(as_gb, _common_gb)
    big5, _ = _share(as_big5, _common_big5)
    if count < _MIN_EVIDENCE:
        return None
    if gb >= _COMMON_SHARE and big5 <= gb - _MARGIN:
        return "gb18030"
    if big5 >= _COMMON_SHARE and gb <= big5 - _MARGIN:
        return "big5"
    return None


# Encodings an article's bytes may be in: the marker written in any of them, found in the
# bytes, must be found in the decoded text too.
_MARKER_CODECS = ("utf-8", "utf-16-le", "utf-16-be", "gb18030", "big5hkscs")


def hidden_markers(
    data: bytes,
    text: str,
    markers: tuple[str, ...],
    count: Callable[[str], int] | None = None,
) -> str | None:
    """Why a decoding cannot be trusted: the raw bytes spell a marker (in any encoding an
    article may use) more often than the decoded text shows it. The CMS splits its own text
    at markers those bytes plainly hold, so a decoding that makes them vanish (GBK bytes
    labelled UTF-16, say) would publish paid text in disguise. ``count`` (how many markers
    a text holds, variants included) is also asked of every other reading of the bytes:
    none may show more markers than the chosen one. None when every marker survives."""
    for marker in markers:
        shown = text.count(marker)
        for codec in _MARKER_CODECS:
            try:
                needle = marker.encode(codec)
            except UnicodeError:
                continue
            if (held := data.count(needle)) > shown:
                return (
                    f"the bytes hold {held} marker(s) ({codec}) but the chosen decoding "
                    f"shows {shown}: the charset is ambiguous"
                )
    if count is not None:
        shown = count(text)
        for codec in _MARKER_CODECS:
            reading = data.decode(codec, "replace")
            if reading != text and (held := count(reading)) > shown:
                return (
                    f"the bytes read as {codec} show {held} marker(s) but the chosen decoding "
                    f"shows {shown}: the charset is ambiguous"
                )
    return None
