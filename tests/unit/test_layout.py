"""The layout: article keys are injective, readable, safe, and bounded; one owner of every key."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from paywall.layout import (
    MAX_ENCODED_BYTES,
    MAX_SEGMENT_BYTES,
    Layout,
    article_key,
    decode_article_key,
)

LAYOUT = Layout("pub", "priv", "pipe")

# Ids built from the characters that broke the old key function: separators, dots, escapes,
# case, CJK, controls, surrogates as they come from undecodable file names, and long runs.
_PIECES = st.sampled_from(
    ["a", "A", ".", "..", "/", "//", "\\", "%", "%2F", "%2E", "~", " ", "-", "_", "x.txt",
     "x.html", "新闻", "稿件", "\u200b", "\x00", "\x1f", "\x7f", "\udcff", "é", "e\u0301",
     "?", "#", "+", "=", "&", ":", "*", "x" * 120]
)  # fmt: skip
IDS = st.lists(_PIECES | st.text(max_size=6), max_size=12).map("".join)


def _segments(key: str) -> list[str]:
    return key.split("/")


@settings(max_examples=800, deadline=None)
@given(IDS, IDS)
@example("2026/11/20/a.txt", "2026/11/20/a.html")  # the extensions used to be dropped
@example("x/a//b.txt", "x/a/b.txt")  # empty segments used to vanish
@example("../etc/p.txt", "etc/p.txt")  # dot segments used to vanish
@example("site/2026/11/a.html", "site/2026/11/a")
@example("A", "a")
@example("a b", "a%20b")
@example("a\\b", "a/b")
@example("/".join(["x" * 240] * 6) + ".txt", "/".join(["x" * 240] * 6) + ".html")
def test_distinct_ids_never_share_a_key(one: str, other: str) -> None:
    if one == other:
        return
    assert article_key(one) != article_key(other)
    # ... nor any object key of any kind: free, paid, meta, quarantine, any extension.
    assert not LAYOUT.article_keys("s", one) & LAYOUT.article_keys("s", other)


@settings(max_examples=500, deadline=None)
@given(IDS, IDS)
@example("a", "a.txt~/b")
@example("a.txt", "a.txt~/free.txt")
@example("x", "x/y")
def test_no_object_key_is_the_folder_of_another(one: str, other: str) -> None:
    # A key that is an object and a folder at once (a.txt beside a.txt/b) is lost by
    # file-system backed servers (MinIO keeps one, lists one): never let it happen.
    keys = LAYOUT.article_keys("s", one) | LAYOUT.article_keys("s", other)
    for key in keys:
        assert not any(other_key.startswith(key + "/") for other_key in keys), key


@settings(max_examples=500, deadline=None)
@given(IDS)
def test_keys_are_safe_bounded_and_reversible(source_id: str) -> None:
    key = article_key(source_id)
    assert len(key.encode("utf-8")) <= MAX_ENCODED_BYTES
    for segment in _segments(key):
        assert segment not in ("", ".", ".."), key
        assert len(segment.encode("utf-8")) <= MAX_SEGMENT_BYTES, key
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in key), key
    for full in LAYOUT.article_keys("some-source", source_id):
        assert len(full.encode("utf-8")) <= 1024
    hashed = any(segment.startswith("~") and segment != "~" for segment in _segments(key))
    assert decode_article_key(key) == (None if hashed else source_id)


def test_keys_stay_readable() -> None:
    assert article_key("2026/11/20/000_ef8617fb664c5123.txt") == (
        "2026/11/20/000_ef8617fb664c5123.txt"
    )
    assert article_key("新闻/稿件 1.html") == "新闻/稿件%201.html"
    assert article_key("news.example/2026/11/a?id=3") == "news.example/2026/11/a%3Fid%3D3"
    assert article_key("../etc/p.txt") == "%2E%2E/etc/p.txt"
    assert article_key("x/a//b.txt") == "x/a/~/b.txt"
    assert LAYOUT.free("desk", "2026/11/20/a.txt", "txt") == "free/desk/2026/11/20/a.txt~/free.txt"
    assert LAYOUT.meta("desk", "2026/11/20/a.txt") == "meta/desk/2026/11/20/a.txt~/meta.json"
    assert LAYOUT.quarantine_input("desk", "a.txt") == "quarantine/desk/a.txt~/input"


def test_long_ids_keep_a_readable_prefix_and_a_hash() -> None:
    long_id = "/".join(["段落" * 60] * 8)
    key = article_key(long_id)
    assert key.startswith("段落段落") and "/~" in key
    assert len(key.encode()) <= MAX_ENCODED_BYTES
    # One segment over SeaweedFS's 255-byte limit is enough to hash the id.
    assert (
        "/~" in article_key("a/" + "b" * 256) and article_key("a/" + "b" * 200) == "a/" + "b" * 200
    )
    assert decode_article_key(key) is None  # hashed keys are not decodable
    assert article_key(long_id + "x") != key


@pytest.mark.parametrize(
    "key",
    [
        "free/desk/2026/11/20/a.txt~/free.txt",
        "meta/desk/2026/11/20/a.txt~/meta.json",
        "paid/desk/%2E%2E/x~/paid.html",
        "quarantine/desk/x/~/y~/reason.json",
        "overrides/desk/a~/override.json",
    ],
)
def test_owner_of_inverts_the_layout(key: str) -> None:
    owner = LAYOUT.owner_of(key)
    assert owner is not None
    source, source_id = owner
    assert key in LAYOUT.article_keys(source, source_id)


def test_owner_of_refuses_what_no_article_maps_to() -> None:
    # Layout-1 keys (no article folder) and what the encoding never produces.
    assert LAYOUT.owner_of("free/desk/2026/11/20/a.txt") is None
    assert LAYOUT.owner_of("free/desk/a b~/free.txt") is None
    assert LAYOUT.owner_of("free/desk/a%2~/free.txt") is None
    assert LAYOUT.owner_of("runs/pipe/x/manifest.jsonl") is None
    assert LAYOUT.owner_of("free/desk/a~/free.pdf") is None
    assert LAYOUT.owner_of("free/desk/a~/paid.txt") is None


def test_run_keys_and_markers_round_trip() -> None:
    manifest = LAYOUT.manifest("20261120T000000Z_20261121T000000Z")
    assert LAYOUT.manifest_of(LAYOUT.commit_marker(manifest)) == manifest
    partial = LAYOUT.partial_manifest("slug", "0123456789abcdef")
    assert LAYOUT.manifest_of(LAYOUT.commit_marker(partial)) == partial
    assert LAYOUT.private_manifest(manifest).endswith("manifest.private.jsonl")
    assert LAYOUT.manifest_of("runs/pipe/slug/manifest.jsonl") is None


def _reference_segment(segment: str) -> str:
    """The segment encoding by its definition, one character at a time."""
    from paywall import layout

    if segment == "":
        return "~"
    out = []
    for char in segment:
        if layout._keep(char):
            out.append(char)
        else:
            out.extend(f"%{b:02X}" for b in char.encode("utf-8", "surrogatepass"))
    encoded = "".join(out)
    return encoded.replace(".", "%2E") if encoded in (".", "..") else encoded


_EDGES = "aZ09._-~ %/\\\u4e00\u9fff\u3400\u4dbf\u4dc0\u3399\ua000é\n\x00"  # range ends


@settings(max_examples=3000, deadline=None)
@given(st.text(alphabet=_EDGES, max_size=8) | st.text(max_size=8))
def test_the_fast_path_of_a_segment_encodes_as_the_definition_does(segment: str) -> None:
    from paywall import layout

    assert layout._encode_segment(segment) == _reference_segment(segment)
