"""Decoding: BOMs, declared charsets, detection of undeclared GBK/GB18030/Big5/UTF-16."""

from __future__ import annotations

import codecs

import pytest

from paywall.decoding import DecodeError, charset_from_content_type, decode

TEXT = (
    "县域经济高质量发展座谈会：坚持规划引领，一张蓝图绘到底。\n##paidbegin##付费内容##paidend##\n"
)
BIG5_TEXT = (
    "縣域經濟高質量發展座談會：堅持規劃引領，一張藍圖繪到底。\n##paidbegin##付費內容##paidend##\n"
)


@pytest.mark.parametrize(
    ("data", "declared", "encoding", "evidence"),
    [
        (TEXT.encode("utf-8"), None, "utf-8", "utf-8"),
        (codecs.BOM_UTF8 + TEXT.encode("utf-8"), None, "utf-8", "bom"),
        (codecs.BOM_UTF16_LE + TEXT.encode("utf-16-le"), None, "utf-16", "bom"),
        (codecs.BOM_UTF16_BE + TEXT.encode("utf-16-be"), None, "utf-16", "bom"),
        (TEXT.encode("utf-16-le"), None, "utf-16", "detected"),
        (TEXT.encode("utf-16-be"), None, "utf-16", "detected"),
        (TEXT.encode("gbk"), None, "gb18030", "detected"),
        (TEXT.encode("gb18030") + "𠀀".encode("gb18030"), None, "gb18030", "detected"),
        (BIG5_TEXT.encode("big5"), None, "big5", "detected"),
        (TEXT.encode("gbk"), "GBK", "gb18030", "declared"),
        (TEXT.encode("gbk"), "gb2312", "gb18030", "declared"),
        (BIG5_TEXT.encode("big5"), "big5", "big5", "declared"),
        # A wrong declaration loses to valid UTF-8.
        (TEXT.encode("utf-8"), "gbk", "utf-8", "utf-8"),
    ],
)
def test_encodings(data: bytes, declared: str | None, encoding: str, evidence: str) -> None:
    decoded = decode(data, declared)
    assert (decoded.encoding, decoded.evidence) == (encoding, evidence)
    expected = BIG5_TEXT if "縣" in decoded.text else TEXT
    assert decoded.text.startswith(expected[:20])


def test_meta_charset_in_the_document() -> None:
    page = '<html><head><meta charset="gbk"></head><body>' + TEXT + "</body></html>"
    decoded = decode(page.encode("gbk"))
    assert decoded.encoding == "gb18030" and decoded.evidence == "document"
    legacy = '<meta http-equiv="Content-Type" content="text/html; charset=GB2312">' + TEXT
    assert decode(legacy.encode("gbk")).evidence == "document"


def test_line_ends_are_preserved() -> None:
    assert decode(b"a\r\nb\rc\n").text == "a\r\nb\rc\n"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty"),
        (b"  \n ", "empty"),
        (bytes(range(256)) * 8, "binary"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 64, "binary"),
        (b"abc \x80\xff" * 50, "undecodable"),
        (codecs.BOM_UTF8 + b"\xff\xfe\xfa", "undecodable"),
    ],
)
def test_refusals(data: bytes, reason: str) -> None:
    with pytest.raises(DecodeError) as error:
        decode(data)
    assert error.value.reason == reason


def test_charset_from_header() -> None:
    assert charset_from_content_type("text/html; charset=GBK") == "GBK"
    assert charset_from_content_type('text/plain;charset="utf-8"') == "utf-8"
    assert charset_from_content_type("text/html") is None
