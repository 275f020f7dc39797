"""The last gate: no run of the paid text in any public output, whatever the splitter did."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from paywall.gate import (
    HOT_LIMIT,
    WINDOW,
    find_paid_text,
    html_parts,
    raw_paid_regions,
    record_strings,
)
from paywall.segmentation import Markers

B, E = "##paidbegin##", "##paidend##"

# Two disjoint pools of common Chinese characters: free text never shares a run by chance.
PAID_POOL = (
    "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动"
    "同工也能下过子说产种面而方后多定行学法所民得经十三之进着等部度家电力里如水化高自"
    "二理起小物现实加量都两体制机当使点从业本去把性好应开它合还因由其些然前外天政四日"
    "那社义事平形相全表间样与关各重新线内数正心反你明看原又么利比或但质气第向道命此变"
    "条只没结解问意建月公无系军很情者最立代想已通并提直题党程展五果料象员革位入常文总"
    "次品式活设及管特件长求老头基资边流路级少图山统接知较将组见计别她手角期根论运农指"
    "几九区强放决西被干做必战先回则任取据处队南给色光门即保治北造百规热领七海口东导器"
    "压志世金增争济阶油思术极交受联什认六共权收证改清己美再采转更单风切打白教速花带安"
    "场身车例真务具万每目至达走积示议声报斗完类八离华名确才科张信马节话米整空元况今集"
    "温传土许步群广石记需段研界拉林律叫且究观越织装影算低持音众书布复容儿须际商非验连"
    "断深难近矿千周委素技备半办青省列习响约支般史感劳便团往酸历市克何除消构府称太准精"
    "值号率族维划选标写存候毛亲快效斯院查江型眼王按格养易置派层片始却专状育厂京识适属"
    "圆包火住调满县局照参红细引听该铁价严"
)
FREE_POOL = (
    "首龙友雪松鹤梅竹兰菊春夏秋冬晨昏朝暮风霜雨露云霞星辰日月湖泊溪涧峰峦岭谷泉瀑舟桥"
    "亭阁楼台琴棋诗画酒茶笔墨纸砚灯烛帘幕窗扉庭院篱笆鸟鱼虫兽蝶蜂燕莺鹊雁鸥鹭"
)


def paid_text(rng: random.Random, size: int) -> str:
    return "".join(rng.choice(PAID_POOL) for _ in range(size))


def free_text(rng: random.Random, size: int) -> str:
    return "".join(rng.choice(FREE_POOL) for _ in range(size))


def test_a_run_of_the_window_is_a_hit_one_less_is_not() -> None:
    rng = random.Random(1)
    paid = paid_text(rng, 400)
    free = free_text(rng, 200)
    for start in (0, 5, 11, 100, 400 - WINDOW):
        leak = paid[start : start + WINDOW]
        assert find_paid_text([paid], {"free txt": [free + leak + free]}) is not None
        short = paid[start : start + WINDOW - 1]
        assert find_paid_text([paid], {"free txt": [free + short + free]}) is None


def test_whitespace_punctuation_case_width_and_markup_do_not_hide_a_copy() -> None:
    paid = "Subscribers learn the secret recipe: three eggs, one cup of flour, no sugar."
    copies = [
        "subscribers LEARN the secret   recipe three eggs",
        "Ｓｕｂｓｃｒｉｂｅｒｓ ｌｅａｒｎ ｔｈｅ ｓｅｃｒｅｔ ｒｅｃｉｐｅ",
        "Sub\u200bscribers learn the se\u00adcret recipe, three",
        "Subscr\u0456bers learn the secret rec\u0456pe three eggs",  # Cyrillic і
    ]
    for copy in copies:
        assert find_paid_text([paid], {"free txt": [copy]}) is not None, copy
    page = "<p>Sub<b>scribers</b> learn the <i>secret</i> re&#99;ipe: three</p>"
    assert find_paid_text([paid], {"free html": html_parts(page)}) is not None


@pytest.mark.parametrize(
    "page",
    [
        '<html><head><meta name="description" content="{leak}"></head><body><p>free</p>',
        "<head><title>{leak}</title></head><p>free</p>",
        '<p>free <a href="/x" title="{leak}">link</a></p>',
        '<p data-preview="{leak}">free</p>',
        "<p>free</p><!-- {leak} -->",
        '<script type="application/ld+json">{{"articleBody": "{leak}"}}</script><p>free</p>',
        "<style>/* {leak} */</style><p>free</p>",
        "<p>free</p><p>{leak_entities}</p>",
        "<p>free</p><textarea>{leak}</textarea>",
    ],
)
def test_paid_text_anywhere_in_free_html_is_found(page: str) -> None:
    rng = random.Random(2)
    paid = paid_text(rng, 300)
    leak = paid[40:80]
    entities = "".join(f"&#{ord(c)};" for c in leak)
    document = page.format(leak=leak, leak_entities=entities)
    assert find_paid_text([paid], {"free html": html_parts(document)}) is not None


def test_a_short_region_is_protected_whole() -> None:
    assert find_paid_text(["731 904"], {"free txt": ["call 731904 now"]}) is not None
    assert find_paid_text(["731904"], {"free txt": ["call 731905 now"]}) is None
    # Several regions: each one counts on its own.
    regions = ["短", paid_text(random.Random(3), 100)]
    assert find_paid_text(regions, {"free txt": ["这里短"]}) is not None


def test_no_run_is_formed_across_two_parts_or_two_regions() -> None:
    rng = random.Random(4)
    paid = paid_text(rng, 200)
    half = WINDOW // 2 + 2
    split_leak = [paid[:half], paid[half : 2 * half]]
    assert find_paid_text([paid], {"metadata": split_leak}) is None
    regions = [paid[:100], paid[100:]]
    across = paid[100 - WINDOW // 2 : 100 + WINDOW // 2]
    assert find_paid_text(regions, {"free txt": [across]}) is None
    assert find_paid_text([paid], {"free txt": [across]}) is not None


def test_the_trade_off_shared_boilerplate_fails_closed() -> None:
    slogan = "坚持以习近平新时代中国特色社会主义思想为指导全面贯彻"  # 25 characters
    rng = random.Random(5)
    paid = paid_text(rng, 300) + slogan + paid_text(rng, 100)
    assert find_paid_text([paid], {"free txt": [free_text(rng, 50) + slogan]}) is not None
    name = "区委理论学习中心组"  # the user's sample shares this name between its halves
    paid = paid_text(rng, 300) + name + paid_text(rng, 100)
    assert find_paid_text([paid], {"free txt": [free_text(rng, 50) + name]}) is None


def test_degenerate_repetition_stays_linear_and_fails_closed() -> None:
    paid = "哈" * 5000
    assert find_paid_text([paid], {"free txt": ["哈" * (WINDOW // 2)]}) is not None
    assert len({"哈" * (WINDOW // 2)}) == 1 and HOT_LIMIT < 5000 // (WINDOW // 2)


def test_raw_regions_need_no_parser() -> None:
    markers = Markers()
    text = "a##paidbegin##x<b>y</b>&amp;z##paidend##b##paidbegin##tail"
    assert raw_paid_regions(text, markers, markup=False) == ["x<b>y</b>&amp;z", "tail"]
    assert raw_paid_regions(text, markers, markup=True) == ["xy&z", "tail"]
    # Unpaired markers still protect what follows them.
    assert raw_paid_regions("##paidend##a##paidbegin##b##paidbegin##c", markers, markup=False) == [
        "b##paidbegin##c"
    ]


def test_html_parts_is_linear_on_unclosed_markup() -> None:
    noise = "&#169;<" * 200_000
    parts = html_parts(noise + "<p>end</p>")
    assert parts[0].startswith("©<©<") and parts[0].endswith("end")  # "<&" is text
    assert html_parts("<p " + "a" * 200_000)[1].startswith("<p aaa")  # a tag that never ends


def test_a_lt_before_a_non_letter_is_text_as_in_browsers() -> None:
    rng = random.Random(7)
    paid = paid_text(rng, 200)
    page = f"<p>free <{paid[10:50]}> and <3 {paid[60:100]}</p>"
    parts = html_parts(page)
    assert paid[10:50] in parts[0] and paid[60:100] in parts[0]
    assert find_paid_text([paid], {"free html": parts}) is not None


def test_record_strings_walks_everything() -> None:
    record = {"a": "x", "b": [{"c": "y"}, ("z",)], "n": 3, "none": None}
    assert sorted(record_strings(record)) == ["x", "y", "z"]


@settings(max_examples=150, deadline=None)
@given(
    st.integers(0, 2**32),
    st.integers(WINDOW, 120),
    st.sampled_from(["plain", "spaced", "html", "entities"]),
)
def test_property_any_copied_window_is_found(seed: int, length: int, form: str) -> None:
    rng = random.Random(seed)
    paid = paid_text(rng, 500)
    start = rng.randrange(0, len(paid) - length)
    leak = paid[start : start + length]
    if form == "spaced":
        leak = " ".join(leak)
    elif form == "html":
        leak = "<b>".join(leak[i : i + 5] for i in range(0, len(leak), 5))
    elif form == "entities":
        leak = "".join(f"&#x{ord(c):x};" for c in leak)
    page = f"<p>{free_text(rng, 60)}</p><p>{leak}</p><p>{free_text(rng, 60)}</p>"
    assert find_paid_text([paid], {"free html": html_parts(page)}) is not None


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 2**32))
def test_property_disjoint_text_is_never_a_hit(seed: int) -> None:
    rng = random.Random(seed)
    paid = [paid_text(rng, rng.randint(1, 300)) for _ in range(rng.randint(1, 4))]
    assert find_paid_text(paid, {"free txt": [free_text(rng, 400)]}) is None


def test_a_planted_separator_does_not_cut_a_run() -> None:
    rng = random.Random(6)
    paid = paid_text(rng, 200)
    planted = "\uffff".join(paid[40:80])  # the gate's own separators, planted by the input
    assert find_paid_text([paid], {"free txt": [planted]}) is not None
    assert find_paid_text(["\ufffe".join(paid)], {"free txt": [paid[40:80]]}) is not None


def test_own_markup_is_not_article_text() -> None:
    page = '<p>free</p><span class="paywall-paid paywall-paid-1" data-paywall-section="1"></span>'
    assert find_paid_text(["paid"], {"free html": html_parts(page)}) is not None
    own = html_parts(page, ("paywall-paid", "data-paywall-section"))
    assert find_paid_text(["paid"], {"free html": own}) is None


@pytest.mark.parametrize(
    "opener",
    ["<!-->", "<!--->", "<!-- a --!>", "<!---->", "<!-- a -- b --!>", "<!--!-->", "<!-- <!-- -->"],
)
def test_the_raw_scan_ends_comments_where_a_browser_does(opener: str) -> None:
    # Abrupt empty comments and '--!>' close a comment at once (adversary2 F8): the text
    # after them is visible paid text the backstop must protect.
    source = f"<p>free{B}{opener}PAIDTOKEN<!-- c -->{E}tail</p>"
    regions = raw_paid_regions(source, Markers(B, E), markup=True)
    assert any("PAIDTOKEN" in region for region in regions), regions


def test_many_comments_closed_by_bang_stay_linear() -> None:
    # One scan per comment to its own closer, never to the end of the page.
    source = f"<p>free{B}" + "<!-- c --!>x" * 50_000 + f"{E}tail</p>"
    regions = raw_paid_regions(source, Markers(B, E), markup=True)
    assert regions == ["x" * 50_000]


@pytest.mark.parametrize(
    "element", ["textarea", "title", "xmp", "iframe", "noembed", "noframes", "noscript"]
)
def test_the_raw_scan_reads_raw_text_elements_as_text(element: str) -> None:
    # Inside these a '<!--' is text: a browser ends the element at its own end tag and
    # shows what follows; the backstop must not take it for a comment swallowing the
    # visible paid text after it.
    source = f"<p>free{B}<{element}><!--</{element}>PAIDTOKEN visible-->{E}tail</p>"
    regions = raw_paid_regions(source, Markers(B, E), markup=True)
    assert any("PAIDTOKEN" in region for region in regions), regions


def test_the_raw_scan_reads_everything_after_plaintext_as_text() -> None:
    source = f"<p>free{B}<plaintext><!-- <b>PAIDTOKEN</b> -->{E}tail"
    regions = raw_paid_regions(source, Markers(B, E), markup=True)
    assert any("PAIDTOKEN" in region for region in regions), regions


@pytest.mark.parametrize(
    "script",
    [
        "<script>a</scriptx><!--</script>",  # '</scriptx' ends no script
        "<script><!--<script>x</script>y<!--z</script>",  # double-escaped, then escaped
        "<script><!--<script>x</script>-->y</script>",
        "<script><!--> <script> </script>",  # '<!-->' escapes nothing
        "<script><!---><script></script>",
        "<style>a</stylex><!--</style>",
    ],
)
def test_the_raw_scan_ends_scripts_where_a_browser_does(script: str) -> None:
    # The visible text after the script's real end is protected: never taken for part of
    # a comment or of the script.
    source = f"<p>free{B}{script}PAIDTOKEN visible -->{E}tail</p>"
    regions = raw_paid_regions(source, Markers(B, E), markup=True)
    assert any("PAIDTOKEN" in region for region in regions), regions


def test_script_escapes_keep_an_escaped_end_tag_inside_the_script() -> None:
    # Control: inside '<!-- <script>', '</script>' does not end the script (a browser runs
    # on): the text there is code, not visible text.
    source = f"<p>free{B}<script><!--<script>PAIDCODE</script>--></script>PAIDTOKEN{E}</p>"
    (region,) = raw_paid_regions(source, Markers(B, E), markup=True)
    assert "PAIDTOKEN" in region and "PAIDCODE" not in region, region
