"""From bytes to outputs and public records; records validate against the published schemas."""

from __future__ import annotations

import json

import jsonschema
import pytest

from paywall.articles import Format, RawArticle, SplitOptions, split_article
from paywall.metadata import load_schema, reading_minutes
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
