"""The page's pure parts: the HTML sanitiser, the cut marks, the problem locator, and how
Airflow loads the plugin."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest

from paywall.segmentation import Markers
from paywall_ui.sanitize import FRAME_CSP, frame_document, sanitize
from paywall_ui.views import Piece, cut_pieces, highlighted, locate_problems
from tests.conftest import REPO

# Each would run script, load something or navigate if it survived the sanitiser.
HOSTILE = [
    "<script>top.x=1</script>",
    "<SCRIPT SRC=//evil.test/x.js></SCRIPT>",
    '<img src="x" onerror="top.x=1">',
    "<img src=x onerror=top.x=1//",
    '<svg onload="top.x=1"><script>top.x=1</script></svg>',
    '<a href="javascript:top.x=1">x</a>',
    '<a href="jav&#x09;ascript:top.x=1">x</a>',
    '<iframe src="javascript:top.x=1"></iframe>',
    '<iframe srcdoc="<script>top.x=1</script>"></iframe>',
    '<object data="data:text/html,<script>top.x=1</script>"></object>',
    '<embed src="data:text/html,<script>top.x=1</script>">',
    '<form action="//evil.test"><button>go</button></form>',
    '<meta http-equiv="refresh" content="0;url=//evil.test">',
    '<base href="//evil.test/">',
    '<link rel="stylesheet" href="//evil.test/x.css">',
    "<style>@import '//evil.test/x.css'; body{background:url(//evil.test)}</style>",
    '<div style="background:url(//evil.test/x)">d</div>',
    '<p onclick="top.x=1" onmouseover="top.x=1">p</p>',
    "<math><mtext><table><mglyph><style><img src=x onerror=top.x=1>"
    "</style></mglyph></table></mtext></math>",
    "<noscript><p title=\"</noscript><img src=x onerror=top.x=1>\"></noscript>",
    "<template><script>top.x=1</script></template>",
    '<video><source onerror="top.x=1"></video>',
    '<details open ontoggle="top.x=1">d</details>',
    '<body onload="top.x=1">b</body>',
    "<!--><script>top.x=1</script>-->",
    '<a href="https://evil.test/" target="_top">out</a>',
    '<img srcset="//evil.test/a.png 1x" alt="a">',
    '<input autofocus onfocus="top.x=1">',
    '<xmp><script>top.x=1</script></xmp>',
]  # fmt: skip
_DANGEROUS = re.compile(
    r"<\s*(script|iframe|object|embed|form|meta|base|link|style|svg|math|input|video|source)\b"
    r"|\son\w+\s*=|javascript:|\b(src|srcset|href|style|action|srcdoc|data)\s*=|url\(",
    re.I,
)


@pytest.mark.parametrize("markup", HOSTILE)
def test_the_sanitiser_leaves_nothing_that_runs_loads_or_navigates(markup: str) -> None:
    clean = sanitize(f"<p>before</p>{markup}<p>after</p>")
    assert not _DANGEROUS.search(clean), clean
    assert "top.x" not in clean
    assert "before" in clean and "after" in clean
    assert sanitize(clean) == clean  # stable: nothing left to remove


def test_the_sanitiser_keeps_text_structure_and_the_cut_marks() -> None:
    clean = sanitize(
        '<article><h1 id="t">标题</h1><p class="lead">导语<strong>重点</strong></p>'
        '<span class="paywall-paid paywall-paid-1" data-paywall-section="1"></span>'
        '<table><tr><td colspan=2>格</td></tr></table><img alt="图" src="a.png"></article>'
    )
    assert '<span class="paywall-paid paywall-paid-1"></span>' in clean
    assert "<h1>标题</h1>" in clean and "<strong>重点</strong>" in clean
    assert '<td colspan="2">格</td>' in clean and '<img alt="图">' in clean


def test_a_frame_document_forbids_script_and_network_itself() -> None:
    doc = frame_document("<p>x</p>", title="</title><script>top.x=1</script>")
    assert f'content="{FRAME_CSP}"' in doc
    assert "script-src 'none'" in FRAME_CSP and "default-src 'none'" in FRAME_CSP
    assert "<script>" not in doc
    with pytest.raises(ValueError):
        frame_document("<p>x</p>", title="t", cut_class="x}body{display:none")


# ------------------------------------------------------------------------------ cut marks


def test_the_cuts_are_marked_where_the_segments_say() -> None:
    segments = [
        {"kind": "free", "start": 0, "end": 3},
        {"kind": "paid", "start": 3, "end": 6},
        {"kind": "free", "start": 6, "end": 8},
        {"kind": "paid", "start": 8, "end": 8},  # an empty region keeps its cut
    ]
    free, paid = cut_pieces("abcgh", "DEF", segments, None) or ([], [])
    assert free == [Piece("text", "abc"), Piece("cut", region=1, length=3),
                    Piece("text", "gh"), Piece("cut", region=2, length=0)]  # fmt: skip
    assert paid == [Piece("paid", "DEF", 1, 3), Piece("paid", "", 2, 0)]
    # with a placeholder in the free half, and for a reader (no paid text)
    free, paid = cut_pieces("abc[…]gh[…]", None, segments, "[…]") or ([], [])
    assert [p.kind for p in free] == ["text", "cut", "text", "cut"] and paid == []


FREE3 = {"kind": "free", "start": 0, "end": 3}
PAID3 = {"kind": "paid", "start": 3, "end": 6}


@pytest.mark.parametrize(
    ("free", "paid", "segments"),
    [
        ("abcX", "DEF", [FREE3, PAID3]),
        ("abc", "DEFX", [FREE3, PAID3]),
        ("ab", "DEF", [FREE3]),
        ("abc", None, [FREE3, {"kind": "secret", "start": 3, "end": 4}]),
        ("abc", None, [{"kind": "free", "start": 3, "end": 0}]),
        ("abc", None, [{"kind": "free"}]),
    ],
)  # fmt: skip
def test_segments_that_do_not_add_up_give_no_marks(
    free: str, paid: str | None, segments: list[dict[str, Any]]
) -> None:
    assert cut_pieces(free, paid, segments, None) is None


# ------------------------------------------------------------------------ problem locator


def spans(text: str, reason: str | None = None) -> list[tuple[str, str]]:
    found = locate_problems(text, Markers(), reason)
    return [(h.kind, text[h.start : h.end]) for h in found]


def test_markers_and_damaged_markers_are_located_in_any_variant() -> None:
    assert spans("a##paidbegin##b##paidend##c") == [
        ("begin", "##paidbegin##"),
        ("end", "##paidend##"),
    ]
    assert spans("a##paidbegin b##paidend##") == [
        ("damaged", "##paidbegin"),
        ("end", "##paidend##"),
    ]
    assert spans("a paidend## b") == [("damaged", "paidend##")]
    assert spans("x ##PaidBegin## y") == [("begin", "##PaidBegin##")]  # lenient: case
    assert spans("x ＃＃paidbegin＃＃ y") == [("begin", "＃＃paidbegin＃＃")]  # full width
    assert spans("x ## paid begin ## y")[0][0] in ("begin", "damaged")
    assert spans("no markers at all") == []
    assert spans("offset here", "damaged marker at offset 3 (line 1)") == [("problem", "s")]
    assert spans("short", "at offset 999") == []  # out of range: ignored


def test_highlighted_text_rebuilds_the_input() -> None:
    text = "a##paidbegin b##paidend##c ##paidend##"
    found = locate_problems(text, Markers(), "offset 1")
    pieces = highlighted(text, found)
    assert "".join(p.text for p in pieces) == text
    assert [p.kind for p in pieces if p.kind] == ["damaged", "end", "end"]


# ------------------------------------------------------------------------- the plugin


def test_airflow_loads_the_plugin_file_and_never_the_package_modules() -> None:
    from airflow._shared.module_loading import find_path_from_directory

    plugins = REPO / "plugins"
    found = {
        Path(p).relative_to(plugins).as_posix()
        for p in find_path_from_directory(plugins, ".airflowignore", "glob")
        if p.endswith(".py")
    }
    # The two plugin files (the Paywall page, the pool guard); never a module of a package.
    assert found == {"paywall_ui_plugin.py", "paywall_ops.py"}


def test_the_plugin_declares_its_app_and_its_view() -> None:
    from airflow._shared.plugins_manager import is_valid_plugin

    from paywall_ui.plugin import URL_PREFIX, LazyApp, PaywallUIPlugin

    assert is_valid_plugin(PaywallUIPlugin)
    (app,) = PaywallUIPlugin.fastapi_apps
    assert isinstance(app["app"], LazyApp) and app["url_prefix"] == URL_PREFIX
    assert not URL_PREFIX.startswith(("/api/v2", "/ui", "/execution", "/auth", "/pluginsv2"))
    (view,) = PaywallUIPlugin.external_views
    assert view["href"] == f"{URL_PREFIX}/" and view["destination"] == "nav"


def test_a_page_that_cannot_start_answers_503_with_its_headers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from paywall_ui import airflow_binding
    from paywall_ui.app import SECURITY_HEADERS
    from paywall_ui.plugin import LazyApp

    def broken() -> Any:
        raise RuntimeError("secret-looking detail")

    monkeypatch.setattr(airflow_binding, "build", broken)
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    scope = {"type": "http", "method": "GET", "path": "/paywall/", "headers": []}
    asyncio.run(LazyApp()(scope, receive, send))
    start, body = sent
    assert start["status"] == 503
    headers = {k.decode(): v.decode() for k, v in start["headers"]}
    assert all(headers[k] == v for k, v in SECURITY_HEADERS)
    assert b"secret-looking" not in body["body"]
