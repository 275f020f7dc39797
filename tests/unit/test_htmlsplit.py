"""HTML splitting: visible-text markers only, structure kept on both sides, no leaks."""

from __future__ import annotations

import pytest
from bs4 import BeautifulSoup
from hypothesis import given, settings
from hypothesis import strategies as st

from paywall.htmlsplit import split_html, visible_text
from paywall.segmentation import Status, rebuild

B, E = "##paidbegin##", "##paidend##"


def _texts(html: str) -> str:
    return visible_text(html)


def squash(text: str) -> str:
    return "".join(text.split())


def test_region_across_elements_keeps_structure_on_both_sides() -> None:
    page = (
        "<html><head><title>标题</title></head><body><article><h1>标题</h1>"
        f"<p>免费一</p><p>免费二{B}付费<b>加粗</b>更多</p>"
        f"<div><p>深层付费</p>{E}尾部免费</div></article></body></html>"
    )
    result = split_html(page)
    assert result.status is Status.OK and result.sections == 1
    assert result.title == "标题"
    free = BeautifulSoup(result.free_html, "lxml")
    paid = BeautifulSoup(result.paid_html, "lxml")
    # The <p> that crosses the cut is in both halves, each with only its own part.
    assert [p.get_text() for p in free.find_all("p")] == ["免费一", "免费二"]
    assert [p.get_text() for p in paid.find_all("p")] == ["付费加粗更多", "深层付费"]
    assert free.find("div").get_text() == "尾部免费"
    assert paid.find("b").get_text() == "加粗"
    assert free.select_one(".paywall-paid-1") is not None
    assert "付费" not in result.free_html and "付费" not in result.free_text
    assert result.free_text == "标题\n免费一\n免费二\n尾部免费"
    assert result.paid_text == "付费加粗更多\n深层付费"


@pytest.mark.parametrize(
    ("page", "status"),
    [
        # Not markers for the page, but for the CMS (it splits the raw source): a lone
        # begin there opens a region over visible text, so the readings disagree.
        (f"<p>a<!-- {B} -->b</p>", Status.HIDDEN_MARKER),  # comment
        (f'<p title="{B}">a</p>', Status.HIDDEN_MARKER),  # attribute
        (f'<script>var m="{B}"</script><p>a</p>', Status.HIDDEN_MARKER),  # script
        (f"<p>a<!-- {B} --></p>", Status.NO_MARKERS),  # nothing visible after it
        (f"<style>/* {E} */</style><p>a</p>", Status.NO_MARKERS),  # a lone end: ignored
        (f'<script>var m="{B}x{E}"</script><p>a</p>', Status.NO_MARKERS),  # a quoted pair
        (f'<p title="{B}x{E}">a</p>', Status.NO_MARKERS),
        (f"<p>a &#35;&#35;paidbegin&#35;&#35; b {E}</p>", Status.BROKEN_MARKER),  # escaped
        ("<p>a &#x23;&#x23;paidbegin&#x23;&#x23; b</p>", Status.BROKEN_MARKER),
        (f"<p>a ##paid<b>begin</b>## b {E}</p>", Status.BROKEN_MARKER),  # cut by a tag
        # Escaped, with literal markers in a comment making the source's count come out
        # equal: the fast literal count must not be fooled.
        (f"<p>&#35;&#35;paidbegin&#35;&#35;x{E}</p><!-- {B} -->", Status.BROKEN_MARKER),
        (f"<p>&num;&num;paidbegin&num;&num;x{E}</p><!-- {B} -->", Status.BROKEN_MARKER),
        (f"<noscript>{B}</noscript><p>a {B} b {E}</p>", Status.HIDDEN_MARKER),  # hidden one
        (f"<p>a {E} b</p>", Status.UNMATCHED_END),
        (f"<p>a {B} b {B} c {E}</p>", Status.NESTED_BEGIN),
        (f"<p>a {B} b</p>", Status.UNCLOSED),
        ("<html><body></body></html>", Status.EMPTY),
        ("<p>   </p>", Status.EMPTY),
    ],
)
def test_html_status_table(page: str, status: Status) -> None:
    assert split_html(page).status is status


def test_marker_like_strings_in_code_and_attributes_are_inert_and_code_stays_out() -> None:
    page = f'<script>x="{E}"</script><p title="{B} {E}">a{B}secret{E}b</p>'
    result = split_html(page)
    assert result.status is Status.OK
    assert "secret" not in result.free_html
    # The script is code: never copied. The <p>'s start tag holds a region the CMS reads
    # (between the markers of its title): nothing written there reaches the free half, so
    # the element keeps no attribute (adversary2 F1).
    assert "<script" not in result.free_html and "title=" not in result.free_html
    assert "<p>a<span" in result.free_html
    # A lone begin in the attribute would open a region for the CMS over "a": refused.
    lone = split_html(f'<script>x="{E}"</script><p title="{B}">a{B}secret{E}b</p>')
    assert lone.status is Status.HIDDEN_MARKER and not lone.free_html


def test_deep_nesting_and_multiple_sections() -> None:
    deep = "<div>" * 50 + f"x{B}p1{E}y" + "</div>" * 50
    page = f"<body>{deep}<p>m{B}p2{E}n</p></body>"
    result = split_html(page)
    assert result.status is Status.OK and result.sections == 2
    assert result.free_visible == "xymn" and result.paid_visible == "p1p2"
    assert "p1" not in result.free_html and "p2" not in result.free_html


def test_nesting_past_the_limit_is_too_deep() -> None:
    page = "<div>" * 5000 + f"a{B}b{E}" + "</div>" * 5000
    result = split_html(page)
    assert result.status is Status.TOO_DEEP and result.reason and not result.free_html


def test_hundred_thousand_levels_of_nesting_neither_crash_nor_leak() -> None:
    page = "<div>" * 100_000 + f"a{B}SECRET{E}b" + "</div>" * 100_000
    result = split_html(page)
    assert "SECRET" not in result.free_html and "SECRET" not in result.free_text


def test_paid_images_and_scripts_leave_the_free_half() -> None:
    page = f'<p>a{B}<img src="paid.png"><script>paid()</script>{E}b</p>'
    result = split_html(page)
    assert "paid.png" not in result.free_html and "paid()" not in result.free_html
    assert "paid.png" in result.paid_html


def test_title_never_comes_from_the_paid_region() -> None:
    assert split_html(f"<p>{B}<h1>paid heading</h1>{E}</p><p>x</p>").title is None
    assert split_html(f"<h1>free heading</h1><p>a{B}b{E}</p>").title == "free heading"


# ---------------------------------------------------------------------------- properties
FREE = st.text(st.sampled_from(list("abc 公开")), min_size=0, max_size=8)
PAID = st.text(st.sampled_from(list("XYZ秘")), min_size=0, max_size=8)
TAGS = st.sampled_from(["p", "div", "span", "b", "li", "section"])


@st.composite
def html_articles(draw: st.DrawFn) -> tuple[str, str, str]:
    """Random nesting with markers at arbitrary depths; returns (page, free, paid) text."""
    out: list[str] = []
    stack: list[str] = []
    free_parts: list[str] = []
    paid_parts: list[str] = []
    in_paid = False
    for _ in range(draw(st.integers(1, 25))):
        action = draw(st.sampled_from(["open", "close", "text", "marker"]))
        if action == "open":
            tag = draw(TAGS)
            stack.append(tag)
            out.append(f'<{tag} class="c">')
        elif action == "close" and stack:
            out.append(f"</{stack.pop()}>")
        elif action == "marker":
            out.append(E if in_paid else B)
            in_paid = not in_paid
        else:
            text = draw(PAID if in_paid else FREE)
            (paid_parts if in_paid else free_parts).append(text)
            out.append(text)
    out.extend(f"</{t}>" for t in reversed(stack))
    return "<body>" + "".join(out) + "</body>", "".join(free_parts), "".join(paid_parts)


@settings(max_examples=1000, deadline=None)
@given(html_articles())
def test_property_html_never_leaks_and_rebuilds(case: tuple[str, str, str]) -> None:
    page, free, paid = case
    result = split_html(page)
    if not result.published:
        assert result.free_html == "" and result.reason
        return
    assert not set(result.free_html) & set("XYZ秘")
    # libxml2 may collapse whitespace-only text nodes, so compare text without white space.
    assert squash(result.free_visible) == squash(free)
    assert squash(result.paid_visible) == squash(paid)
    assert squash(_texts(result.free_html)) == squash(free)  # the free HTML shows the free text
    assert squash(_texts(result.paid_html)) == squash(paid)
    clean = _texts(page).replace(B, "").replace(E, "")
    assert rebuild(result.free_visible, result.paid_visible, result.segments) == clean
    assert B not in _texts(result.free_html) and E not in _texts(result.free_html)


def test_extracted_article_keeps_the_page_title_and_drops_the_chrome() -> None:
    page = (
        "<html><head><title>页面标题</title></head><body><nav>导航</nav>"
        f"<article><p>免费{B}付费{E}</p></article><footer>页脚</footer></body></html>"
    )
    result = split_html(page, extract=True)
    assert result.title == "页面标题"
    assert result.free_text == "免费" and "导航" not in result.free_html


@pytest.mark.parametrize(
    "href",
    [
        "java\tscript:alert(1)",
        "JaVa\nScRiPt:alert(1)",
        "javascript\t:alert(1)",
        "\x0c\x01 javascript:alert(1)",
        "java&#9;script&#10;:x",
        "vb&#13;script:x",
        "data:text/html,<script>alert(1)</script>",
        "d&#10;ata:text/html;base64,PHNjcmlwdD4=",
        "livescript:x",
    ],
)
def test_script_urls_are_dropped_as_a_browser_reads_them(href: str) -> None:
    # The WHATWG URL parser strips leading C0 controls and spaces and removes every ASCII
    # tab and newline before it reads the scheme (adversary2 F6).
    head = f"<head><link rel=canonical href='{href}'></head>"
    doc = head + f"<p><a href='{href}'>a</a><img src='{href}'>{B}x{E}</p>"
    result = split_html(doc)
    assert result.published, result.reason
    assert "href=" not in result.free_html and "src=" not in result.free_html, result.free_html


def test_ordinary_urls_are_kept() -> None:
    doc = "<p><a href='https://example.com/a:b'>a</a><a href='/x?y=javascript:'>b</a>"
    result = split_html(doc + f"<a href='mailto:a@b'>c</a>{B}x{E}</p>")
    assert result.published, result.reason
    for url in ("https://example.com/a:b", "/x?y=javascript:", "mailto:a@b"):
        assert f'href="{url}"' in result.free_html, result.free_html
