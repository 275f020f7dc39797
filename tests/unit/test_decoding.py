"""Decoding: BOMs, declared charsets, detection of undeclared GBK/GB18030/Big5/UTF-16."""

from __future__ import annotations

import codecs

import pytest

from paywall.decoding import DecodeError, charset_from_content_type, decode, hidden_markers

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
    decoded = decode(page.encode("gbk"), html=True)
    assert decoded.encoding == "gb18030" and decoded.evidence == "document"
    legacy = '<meta http-equiv="Content-Type" content="text/html; charset=GB2312">' + TEXT
    assert decode(legacy.encode("gbk"), html=True).evidence == "document"


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


# ------------------------------------------------- the WHATWG label list, and nothing else
# A document must not pick a Python codec by name: unicode_escape turns "\x23\x23paidend"
# into a marker after decoding; "undefined" raises on use; rot13 or base64 rewrite text.
PYTHON_ONLY_CODECS = ["unicode_escape", "raw_unicode_escape", "undefined", "rot13", "base64",
                      "hex", "zlib", "punycode", "idna", "utf-7", "utf_8_sig", "mbcs", "palmos",
                      "unicode-internal", "quopri", "uu", "bz2", "cp65001", "oem"]  # fmt: skip


@pytest.mark.parametrize("label", PYTHON_ONLY_CODECS)
@pytest.mark.parametrize("html", [True, False])
def test_python_codec_names_are_not_encodings(label: str, html: bool) -> None:
    body = (
        f'<meta charset="{label}"><p>free \\x23\\x23paidbegin\\x23\\x23 paid</p>'
        if html
        else f"<meta charset={label}>\nfree \\x23\\x23paidend\\x23\\x23"
    ).encode("ascii")
    for declared in (None, label):
        decoded = decode(body, declared, html=html)
        assert decoded.encoding == "utf-8"
        assert "##" not in decoded.text  # the escapes stay escapes


def test_meta_charset_counts_only_in_html() -> None:
    page = ('<meta charset="gbk">' + TEXT).encode("gbk")
    assert decode(page, html=True).evidence == "document"
    # In a .txt file the same bytes are just text: detected, not declared by the text itself.
    assert decode(page, html=False).evidence == "detected"


@pytest.mark.parametrize(
    ("label", "encoding"),
    [
        ("GBK", "gb18030"), (" gb2312 ", "gb18030"), ("x-gbk", "gb18030"), ("chinese", "gb18030"),
        ("csGB2312", "gb18030"), ("GB18030", "gb18030"), ("big5-hkscs", "big5"),
        ("x-x-big5", "big5"), ("latin1", "windows-1252"), ("ascii", "windows-1252"),
        ("unicode-1-1-utf-8", "utf-8"), ("utf8", "utf-8"),
    ],
)  # fmt: skip
def test_labels_resolve_as_browsers_do(label: str, encoding: str) -> None:
    from paywall.decoding import resolve_label

    assert resolve_label(label) == encoding


@pytest.mark.parametrize("label", ["undefined", "unicode_escape", "hz-gb-2312", "replacement",
                                   "iso-2022-kr", "", "utf-8\x00", "gbk;", "\udcff"])  # fmt: skip
def test_unknown_and_replacement_labels_resolve_to_nothing(label: str) -> None:
    from paywall.decoding import resolve_label

    assert resolve_label(label) is None


def test_unknown_declared_label_falls_back_to_detection() -> None:
    decoded = decode(TEXT.encode("gbk"), "undefined")
    assert (decoded.encoding, decoded.evidence) == ("gb18030", "detected")


def test_utf16_meta_label_means_utf8_as_in_browsers() -> None:
    page = ('<meta charset="utf-16"><p>' + TEXT + "</p>").encode("gbk")
    page += b" " * (len(page) % 2)  # even length: decodable as UTF-16 if it were honoured
    decoded = decode(page, html=True)
    assert (decoded.encoding, decoded.evidence) == ("gb18030", "detected")


def test_outputs_never_hold_lone_surrogates() -> None:
    # No WHATWG decoder makes them; a BOM'd UTF-16 body with a lone surrogate is refused.
    data = codecs.BOM_UTF16_LE + "ok".encode("utf-16-le") + b"\x00\xd8" + "x".encode("utf-16-le")
    with pytest.raises(DecodeError) as error:
        decode(data)
    assert error.value.reason == "undecodable"


def test_decode_error_is_the_package_error() -> None:
    import pickle

    from paywall import errors

    assert DecodeError is errors.DecodeError
    again = pickle.loads(pickle.dumps(DecodeError("binary", "NUL bytes")))
    assert (again.reason, again.detail) == ("binary", "NUL bytes")
    assert again.code is errors.ErrorCode.DECODE


# ---------------------------------------------------------------- ambiguity fails closed
MARKERS = ("##paidbegin##", "##paidend##")


@pytest.mark.parametrize("charset", ["utf-16", "utf-16le", "utf-16be", "utf-32"])
@pytest.mark.parametrize("codec", ["gb18030", "utf-8", "big5"])
def test_a_decoding_that_hides_the_markers_the_bytes_hold_is_named(
    charset: str, codec: str
) -> None:
    text = BIG5_TEXT if codec == "big5" else TEXT
    data = text.encode(codec)
    decoded = decode(data, charset)
    shown = decoded.text.count("##paidbegin##")
    # Either the decoding shows the marker, or the loss is named.
    assert shown == 1 or hidden_markers(data, decoded.text, MARKERS) is not None


def test_markers_the_decoding_shows_are_no_problem() -> None:
    for codec in ("utf-8", "gb18030", "utf-16-le", "utf-16-be"):
        text = "标题\n免费导语##paidbegin##付费正文##paidend##结尾"
        data = text.encode(codec)
        assert hidden_markers(data, text, MARKERS) is None, codec


def test_markers_written_in_utf16_inside_utf8_bytes_are_named() -> None:
    # A UTF-16 marker inside bytes read another way: any encoding of the marker counts.
    data = b"x" + "##paidend##".encode("utf-16-le")
    assert hidden_markers(data, data.decode("latin-1"), MARKERS) is not None


@pytest.mark.parametrize(
    "text",
    ["免费##paidbegin##付费##paidend##尾", "免费导语", "中文", "付费内容"],
)
def test_short_text_valid_in_gb18030_and_big5_is_refused(text: str) -> None:
    data = text.encode("gb18030")
    assert data.decode("big5hkscs") != text  # valid Big5 too, and different: ambiguous
    with pytest.raises(DecodeError) as info:
        decode(data)
    assert info.value.reason == "undecodable"


def test_longer_text_is_told_apart_both_ways() -> None:
    gbk = "标题\n免费导语，这是免费的部分。付费正文是订阅内容。结尾".encode("gb18030")
    assert decode(gbk).encoding == "gb18030"
    big5 = "中華民國總統府今天舉行記者會，說明經濟發展情況。".encode("big5")
    decoded = decode(big5)
    assert (decoded.encoding, decoded.text) == (
        "big5",
        "中華民國總統府今天舉行記者會，說明經濟發展情況。",
    )


def test_a_meta_charset_after_the_begin_marker_does_not_decide() -> None:
    page = (
        "<p>免费导语，这是免费的部分。##paidbegin##<meta charset='big5'>"
        "付费正文是订阅内容。##paidend##结尾</p>"
    )
    data = page.encode("gb18030")
    assert decode(data, html=True).encoding == "big5"  # the document's own word, unchecked
    decoded = decode(data, html=True, paid_from=data.find(b"##paidbegin##"))
    assert (decoded.encoding, decoded.text) == ("gb18030", page)
    # Before the marker it still counts.
    free_meta = page.replace("<meta charset='big5'>", "").replace("<p>", "<meta charset=gbk><p>")
    data = free_meta.encode("gb18030")
    assert decode(data, html=True, paid_from=data.find(b"##paidbegin##")).evidence == "document"
