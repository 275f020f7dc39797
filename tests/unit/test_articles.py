"""From bytes to outputs and public records; records validate against the published schemas."""

from __future__ import annotations

import json

import jsonschema
import pytest

from paywall.articles import Format, RawArticle, SplitOptions, split_article
from paywall.metadata import load_schema, reading_minutes
from paywall.segmentation import Markers, NoMarkersPolicy
from tests.conftest import SAMPLES, USER_SAMPLE

ARTICLE_SCHEMA = load_schema("article")


def _split(name: str, data: bytes, fmt: Format = Format.AUTO):
    return split_article(RawArticle("src", name, data, fmt), SplitOptions())


def test_user_sample_record() -> None:
    out = _split("000.txt", USER_SAMPLE.read_bytes())
    record = out.record.to_dict()
    jsonschema.validate(record, ARTICLE_SCHEMA)
    assert record["status"] == "ok"
    assert record["title"] == "Xx区委书记在全市县域经济发展座谈会上的经验交流发言"
    assert record["stats"]["chars"] == 3895 - len("##paidbegin##") - len("##paidend##")
    assert record["stats"]["paid"]["chars"] == 3161
    assert record["free_ratio"] == pytest.approx(710 / 3871, abs=1e-4)
    assert record["stats"]["reading_minutes"] > 5  # ~3,800 Chinese characters at 400/min
    assert record["json_ld"] is None
    # The public record carries no paid text at all.
    paid = out.paid["txt"].decode()
    assert not any(paid[i : i + 8] in json.dumps(record, ensure_ascii=False)
                   for i in range(0, len(paid) - 8, 8))  # fmt: skip


def test_html_record_has_json_ld_per_section() -> None:
    out = _split("html-demo.html", (SAMPLES / "2026/11/20/html-demo.html").read_bytes())
    record = out.record.to_dict()
    jsonschema.validate(record, ARTICLE_SCHEMA)
    assert record["format"] == "html" and record["title"] == "县域经济高质量发展的三点体会"
    ld = record["json_ld"]
    assert ld["@type"] == "NewsArticle" and ld["isAccessibleForFree"] is False
    assert ld["hasPart"] == [
        {"@type": "WebPageElement", "isAccessibleForFree": False, "cssSelector": ".paywall-paid-1"}
    ]
    assert set(out.free) == {"html", "txt"} and set(out.paid) == {"html", "txt"}


@pytest.mark.parametrize(
    ("name", "data", "status"),
    [
        ("a.txt", b"", "empty"),
        ("a.txt", b"\x00\x01\x02binary\x00" * 20, "binary"),
        ("a.txt", b"title\nno markers at all", "no_markers"),
        ("a.txt", "标题\n##paidbegin 坏了".encode(), "broken_marker"),
        ("a.html", b"<p>a ##paidend## b</p>", "unmatched_end"),
    ],
)
def test_quarantined_records_have_reason_and_no_outputs(name: str, data: bytes, status: str):
    out = _split(name, data)
    record = out.record.to_dict()
    jsonschema.validate(record, ARTICLE_SCHEMA)
    assert record["status"] == status and record["reason"]
    assert out.free == {} and out.paid == {} and record["title"] is None


def test_title_is_never_paid_text() -> None:
    out = _split("a.txt", b"##paidbegin##secret title\nmore##paidend##\nfree")
    assert out.record.title is None


def test_format_detection() -> None:
    assert _split("x", b"<!DOCTYPE html><p>a##paidbegin##b</p>").record.format == "html"
    assert _split("x.txt", b"<p>a##paidbegin##b</p>").record.format == "text"


def test_reading_time_counts_each_cjk_character() -> None:
    assert reading_minutes("字" * 400) == 1.0
    assert reading_minutes("word " * 230) == 1.0


@pytest.mark.parametrize("fmt", ["txt", "html"])
def test_a_splitter_bug_that_would_leak_a_marker_quarantines_instead(
    fmt: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The last gate scans each free output as stored: simulate a splitter that leaks."""
    from paywall import articles
    from paywall.htmlsplit import split_html

    if fmt == "txt":
        real = articles.split_text

        def leaky(*args, **kwargs):
            result = real(*args, **kwargs)
            return type(result)(**{**_fields(result), "free": result.free + " ##PaidEnd##"})

        monkeypatch.setattr(articles, "split_text", leaky)
        data = "免费\n##paidbegin##付费##paidend##\n".encode()
    else:

        def leaky(*args, **kwargs):
            result = split_html(*args, **kwargs)
            html = result.free_html.replace("</p>", "<b>##paid</b>begin##</p>", 1)
            return type(result)(**{**_fields(result), "free_html": html})

        monkeypatch.setattr(articles, "split_html", leaky)
        data = "<p>免费</p><p>##paidbegin##付费##paidend##</p>".encode()
    out = split_article(RawArticle("s", f"a.{fmt}", data), SplitOptions())
    assert out.record.status == "broken_marker"
    assert f"the free {fmt} output contains" in (out.record.reason or "")
    assert out.free == {} and out.paid == {}


def _fields(result: object) -> dict:
    import dataclasses

    return {f.name: getattr(result, f.name) for f in dataclasses.fields(result)}


# ----------------------------------------------------------------- the last gate, wired in
SECRET = "订阅用户才能读到的这一整句付费正文内容绝不能出现在免费部分里面"  # 31 characters


def _leaky_text(monkeypatch: pytest.MonkeyPatch, leak: str) -> None:
    from paywall import articles

    real = articles.split_text

    def leaky(*args, **kwargs):
        result = real(*args, **kwargs)
        return type(result)(**{**_fields(result), "free": result.free + leak})

    monkeypatch.setattr(articles, "split_text", leaky)


def test_paid_text_leaked_by_the_splitter_quarantines(monkeypatch: pytest.MonkeyPatch) -> None:
    _leaky_text(monkeypatch, SECRET[3:28])
    data = f"标题\n免费导语\n##paidbegin##{SECRET}##paidend##\n".encode()
    out = split_article(RawArticle("s", "a.txt", data), SplitOptions())
    assert out.record.status == "paid_text_in_free"
    assert "free txt" in (out.record.reason or "") and out.free == {} and out.paid == {}
    jsonschema.validate(out.record.to_dict(), ARTICLE_SCHEMA)
    assert SECRET[:8] not in json.dumps(out.record.to_dict(), ensure_ascii=False)


def test_a_title_taken_from_paid_text_quarantines(monkeypatch: pytest.MonkeyPatch) -> None:
    from paywall import articles

    monkeypatch.setattr(articles, "_text_title", lambda free, first: SECRET)
    data = f"标题\n##paidbegin##{SECRET}##paidend##\n".encode()
    out = split_article(RawArticle("s", "a.txt", data), SplitOptions())
    assert out.record.status == "paid_text_in_free" and "metadata" in (out.record.reason or "")


def test_a_parser_that_misreads_the_page_is_caught_by_the_raw_scan(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The splitter's paid half is empty and its free half holds the region: only the
    independent raw scan of the source knows what lay between the markers."""
    from paywall import articles
    from paywall.htmlsplit import split_html

    def confused(document, *args, **kwargs):
        unmarked = document.replace("##paidbegin##", "").replace("##paidend##", "")
        kwargs["no_markers"] = articles.NoMarkersPolicy.ALL_FREE
        return split_html(unmarked, *args, **kwargs)

    monkeypatch.setattr(articles, "split_html", confused)
    page = f"<p>免费</p><p>##paidbegin##{SECRET}##paidend##</p>".encode()
    out = split_article(RawArticle("s", "a.html", page), SplitOptions())
    assert out.record.status == "paid_text_in_free", out.record.reason


def test_a_short_paid_region_is_protected_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    _leaky_text(monkeypatch, " 验证码 482913")
    data = "取件说明\n##paidbegin##482913##paidend##\n".encode()
    out = split_article(RawArticle("s", "a.txt", data), SplitOptions())
    assert out.record.status == "paid_text_in_free"


def test_boilerplate_in_both_halves_fails_closed() -> None:
    slogan = "坚持以习近平新时代中国特色社会主义思想为指导全面贯彻落实"
    data = f"标题\n{slogan}。\n##paidbegin##正文{slogan}。其余##paidend##\n".encode()
    out = split_article(RawArticle("s", "a.txt", data), SplitOptions())
    assert out.record.status == "paid_text_in_free"


# ------------------------------------------------------------------------------ no oracle
def test_public_record_carries_no_digest_of_paid_or_original() -> None:
    import hashlib

    data = USER_SAMPLE.read_bytes()
    out = _split("000.txt", data)
    record = out.record.to_dict()
    assert set(record["sha256"]) == {"free"}
    text = json.dumps(record)
    paid = out.paid["txt"]
    for secret in (data, paid, paid.decode().encode("utf-16-le")):
        for algorithm in ("sha256", "sha1", "md5", "blake2b"):
            assert hashlib.new(algorithm, secret).hexdigest()[:16] not in text
    # The digests stay available privately, for manifests and reruns.
    assert out.digests["original"] == hashlib.sha256(data).hexdigest()
    assert out.digests["paid"] == hashlib.sha256(paid).hexdigest()
    with pytest.raises(jsonschema.ValidationError):
        oracle = {"sha256": {"free": "0" * 64, "paid": "0" * 64}}
        jsonschema.validate(record | oracle, ARTICLE_SCHEMA)
    quarantined = _split("a.txt", b"title\nno markers").record.to_dict()
    assert quarantined["sha256"] == {"free": None}


# ---------------------------------------------------------------------- no poison pills
@pytest.mark.parametrize("fmt", ["txt", "html"])
def test_an_unexpected_error_quarantines_only_that_article(
    fmt: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from paywall import articles

    def explode(*args, **kwargs):
        message = "paid words: " + SECRET  # what a careless message could quote
        raise KeyError(message)

    monkeypatch.setattr(articles, "split_text" if fmt == "txt" else "split_html", explode)
    data = f"<p>免费</p><p>##paidbegin##{SECRET}##paidend##</p>".encode()
    with caplog.at_level("ERROR", logger="paywall.articles"):
        out = split_article(RawArticle("s", f"a.{fmt}", data), SplitOptions())
    assert out.record.status == "internal_error" and out.free == {} and out.paid == {}
    assert "KeyError" in (out.record.reason or "")
    jsonschema.validate(out.record.to_dict(), ARTICLE_SCHEMA)
    logged = caplog.text
    assert "builtins.KeyError" in logged and "explode" in logged  # type and frames
    assert "paid words" not in logged and SECRET[:6] not in logged  # never the message
    assert SECRET[:6] not in json.dumps(out.record.to_dict(), ensure_ascii=False)


def test_split_article_never_raises_even_on_nonsense_fields() -> None:
    odd = RawArticle("s\udcff", "\udc80\n\x1b", b"\xff\xfe\x00", Format.TEXT)
    out = split_article(odd, SplitOptions())
    json.dumps(out.record.to_dict(), ensure_ascii=False).encode("utf-8")  # storable
    broken = RawArticle("s", "x", None, Format.TEXT)  # type: ignore[arg-type]
    assert split_article(broken, SplitOptions()).record.status == "internal_error"


# ----------------------------------------------------------------------------- odd names
@pytest.mark.parametrize(
    "name",
    [b"caf\xe9.txt", b"a\nb.txt", b"\x1b[31mred.txt", "x\u202eeman.txt".encode(), b"a\\b.txt",
     b"\\x41.txt", "新闻 稿.txt".encode(), b"\xff\xfe", "a\u2028b".encode()],
)  # fmt: skip
def test_odd_names_get_stable_printable_reversible_ids(name: bytes) -> None:
    import os

    from paywall.articles import article_id, name_bytes, safe_id

    ident = safe_id(os.fsdecode(name))
    assert ident == safe_id(name) and ident.isprintable()
    ident.encode("utf-8")
    assert name_bytes(ident) == name
    assert article_id("s", os.fsdecode(name)) == article_id("s", os.fsdecode(name))


def test_clean_names_keep_their_ids() -> None:
    from paywall.articles import safe_id

    for name in ("2026/11/20/000_ef8617fb664c5123.txt", "新闻/稿件 1.html", "a%20b.txt"):
        assert safe_id(name) == name


@pytest.mark.parametrize("region", ["paid", "ok", "text", "begin", "NewsArticle"])
def test_record_vocabulary_is_not_paid_text(region: str) -> None:
    """Marker names, statuses, formats and JSON-LD types are in every record: a tiny region
    that happens to spell one is still published (only article text is searched)."""
    for name, data in (
        ("a.txt", f"标题\n免费\n##paidbegin##{region}##paidend##\n"),
        ("a.html", f"<h1>标题</h1><p>免费</p><p>##paidbegin##{region}##paidend##</p>"),
    ):
        out = split_article(RawArticle("s", name, data.encode()), SplitOptions())
        assert out.record.status == "ok", (name, out.record.reason)


@pytest.mark.parametrize("policy", list(NoMarkersPolicy))
@pytest.mark.parametrize("fmt", ["a.txt", "a.html"])
def test_markers_lost_in_decoding_quarantine_under_every_policy(
    policy: NoMarkersPolicy, fmt: str
) -> None:
    # GBK bytes labelled UTF-16: the bytes hold the markers, the decoded text does not.
    body = "免费导语，这是免费的部分。##paidbegin##付费正文PAIDTOKEN是订阅内容。##paidend##结尾"
    text = f"<p>{body}</p>" if fmt.endswith("html") else f"标题\n{body}"
    raw = RawArticle("desk", fmt, text.encode("gb18030"), content_type="text/html; charset=utf-16")
    out = split_article(raw, SplitOptions(no_markers=policy))
    assert not out.published and out.free == {}
    assert out.record.status == "undecodable" and "ambiguous" in (out.record.reason or "")


def test_a_paid_meta_charset_is_neither_honoured_nor_public() -> None:
    page = (
        "<p>免费导语，这是免费的部分。##paidbegin##<meta charset='big5'>"
        "付费正文是订阅内容。##paidend##结尾</p>"
    )
    out = split_article(RawArticle("desk", "a.html", page.encode("gb18030")), SplitOptions())
    assert out.published, out.record.reason
    assert out.record.to_dict()["encoding"] == "gb18030"
    assert "免费导语" in out.free["txt"].decode()


@pytest.mark.parametrize(
    "page",
    [
        "<p>免费导语##paidbegin##付费 ##PAIDEND## PAIDTOKEN ##paidend##尾</p>",
        "<p>免费导语##paidbegin##付费 <b>##PaidEnd##</b> PAIDTOKEN ##paidend##尾</p>",
        "<p>免费导语##paidbegin##付费 ＃＃ＰＡＩＤＥＮＤ＃＃ PAIDTOKEN</p>",
        # The CMS honours the exact markers wherever they are written, a comment included.
        "<p>免费导语<!--##paidbegin##-->付费 ##PAIDEND## PAIDTOKEN <!--##paidend##-->尾</p>",
    ],
)
def test_a_lenient_end_never_shortens_an_html_region(page: str) -> None:
    options = SplitOptions(markers=Markers(lenient=True))
    out = split_article(RawArticle("desk", "a.html", page.encode()), options)
    assert not out.published and out.free == {}
    assert "PAIDTOKEN" not in json.dumps(out.record.to_dict(), ensure_ascii=False)


def test_lenient_html_markers_that_widen_publish() -> None:
    page = "<p>免费导语##PaidBegin##付费 PAIDTOKEN ##paidend##尾</p>"
    options = SplitOptions(markers=Markers(lenient=True))
    out = split_article(RawArticle("desk", "a.html", page.encode()), options)
    assert out.published, out.record.reason
    assert b"PAIDTOKEN" not in out.free["html"] and "免费导语" in out.free["txt"].decode()


@pytest.mark.parametrize(
    ("begin", "lenient"),
    [
        ("##paidbegin##", False),
        ("<!--##paidbegin##-->", False),  # the CMS honours it in a comment too
        ("##PaidBegin##", True),
        ("## PAID begin ##", True),
    ],
)
def test_no_charset_declared_after_a_begin_marker_decides(begin: str, lenient: bool) -> None:
    page = (
        f"<p>免费导语，这是免费的部分。{begin}<meta http-equiv='Content-Type' "
        "content='text/html; charset=big5'>付费正文是订阅内容。##paidend##结尾</p>"
    )
    options = SplitOptions(markers=Markers(lenient=lenient))
    out = split_article(RawArticle("desk", "a.html", page.encode("gb18030")), options)
    assert out.record.to_dict().get("encoding") != "big5", out.record.to_dict()
    if out.published:
        assert "免费导语" in out.free["txt"].decode()


@pytest.mark.parametrize(
    ("begin", "end"),
    [("##PAIDBEGIN##", "##PaidEnd##"), ("＃＃ｐａｉｄｂｅｇｉｎ＃＃", "＃＃ｐａｉｄｅｎｄ＃＃")],
)
@pytest.mark.parametrize("charset", ["utf-16", "big5"])
def test_lenient_markers_lost_in_decoding_quarantine(begin: str, end: str, charset: str) -> None:
    # The same attack with the variants a lenient source honours: the bytes (read as
    # GB18030) show markers, the declared decoding does not.
    text = f"标题\n免费导语，这是免费的部分。{begin}付费正文PAIDTOKEN是订阅内容。{end}结尾"
    raw = RawArticle(
        "desk", "a.txt", text.encode("gb18030"), content_type=f"text/plain; charset={charset}"
    )
    options = SplitOptions(markers=Markers(lenient=True), no_markers=NoMarkersPolicy.ALL_FREE)
    out = split_article(raw, options)
    if charset == "utf-16":
        assert not out.published and out.free == {}
        assert out.record.status == "undecodable"
    elif out.published:  # a declared Big5 shows the ASCII variants too: split, mis-decoded
        assert "PAIDTOKEN" not in out.free["txt"].decode()
