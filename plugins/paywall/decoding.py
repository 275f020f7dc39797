"""Turn article bytes into text, or refuse with a specific reason.

Order of evidence: byte-order mark, declared charset (HTTP header), the document's own
declaration (``<meta charset>`` / XML prolog), strict UTF-8, then detection restricted to the
encodings Chinese publishers actually use. Line ends are never normalised.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

import charset_normalizer

# GBK and GB2312 are subsets of GB18030: decoding with the superset never loses a character.
_ALIASES = {
    "gbk": "gb18030",
    "gb2312": "gb18030",
    "gb_2312-80": "gb18030",
    "x-gbk": "gb18030",
    "cp936": "gb18030",
    "big5-hkscs": "big5hkscs",
    "utf8": "utf-8",
}
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_DETECT_CANDIDATES = ["gb18030", "big5", "utf_16_le", "utf_16_be"]
_META_CHARSET = re.compile(
    rb"""<meta[^>]+charset\s*=\s*["']?\s*([a-zA-Z0-9_\-:.]+)""", re.IGNORECASE
)
_XML_ENCODING = re.compile(rb"""^<\?xml[^>]+encoding\s*=\s*["']([a-zA-Z0-9_\-.]+)""")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")


class DecodeError(ValueError):
    """The bytes are not an article we can read; ``reason`` is a stable status name."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Decoded:
    text: str
    encoding: str
    evidence: str  # bom | declared | document | utf-8 | detected


def normalize_encoding(name: str) -> str | None:
    """Return a Python codec name for a charset label, or None when unknown."""
    label = name.strip().strip("\"'").lower()
    label = _ALIASES.get(label, label)
    try:
        codec = codecs.lookup(label)
    except LookupError:
        return None
    return _ALIASES.get(codec.name, codec.name)


def charset_from_content_type(content_type: str | None) -> str | None:
    """Extract ``charset=`` from an HTTP Content-Type header value."""
    if not content_type:
        return None
    match = re.search(r"charset\s*=\s*[\"']?([^\s;\"']+)", content_type, re.IGNORECASE)
    return match.group(1) if match else None


def _strict(data: bytes, encoding: str) -> str | None:
    try:
        return data.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        return None


def _looks_like_utf16(data: bytes) -> str | None:
    """UTF-16 without a BOM: NULs concentrated on one byte parity."""
    sample = data[:4096]
    if len(sample) < 4:
        return None
    even = sample[0::2].count(0)
    odd = sample[1::2].count(0)
    half = len(sample) / 2
    if odd > 0.3 * half and even < 0.05 * half:
        return "utf-16-le"
    if even > 0.3 * half and odd < 0.05 * half:
        return "utf-16-be"
    return None


def _check_text(text: str, encoding: str) -> Decoded | None:
    # A decode that yields many control characters is binary data in disguise.
    if text and len(_CONTROL.findall(text[:8192])) > max(2, len(text[:8192]) // 100):
        return None
    return Decoded(text, encoding, "")


def decode(data: bytes, declared: str | None = None) -> Decoded:
    """Decode article bytes; raise DecodeError with reason empty/binary/undecodable."""
    if not data or not data.strip():
        raise DecodeError("empty", "the input has no content")

    for bom, encoding in _BOMS:
        if data.startswith(bom):
            text = _strict(data[len(bom) :], encoding)
            if text is None:
                raise DecodeError("undecodable", f"bytes after the {encoding} BOM are invalid")
            return Decoded(text, encoding.replace("-le", "").replace("-be", ""), "bom")

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
    if declared and (codec := normalize_encoding(declared)):
        candidates.append((codec, "declared"))
    head = data[:4096]
    match = _META_CHARSET.search(head) or _XML_ENCODING.search(head)
    if match and (codec := normalize_encoding(match.group(1).decode("ascii", "replace"))):
        candidates.append((codec, "document"))

    for codec, evidence in candidates:
        text = _strict(data, codec)
        if text is not None:
            checked = _check_text(text, codec)
            if checked is None:
                raise DecodeError("binary", "control characters dominate: not a text article")
            return Decoded(text, codec, evidence)

    best = charset_normalizer.from_bytes(data, cp_isolation=_DETECT_CANDIDATES).best()
    if best is not None:
        codec = normalize_encoding(best.encoding) or best.encoding
        text = _strict(data, codec)
        if text is not None and _check_text(text, codec) is not None:
            return Decoded(text, codec, "detected")
    for codec in ("gb18030", "big5"):
        text = _strict(data, codec)
        if text is not None and _check_text(text, codec) is not None:
            return Decoded(text, codec, "detected")
    raise DecodeError(
        "undecodable",
        "not valid in the declared charset, UTF-8, GB18030, Big5 or UTF-16",
    )
