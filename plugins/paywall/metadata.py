"""Public article metadata: counts, reading time, the free half's digest and JSON-LD.

Everything built here is published, so it is computed from the free half and from counts
only -- never from paid text itself, and never a digest of the paid half or of the original
input (an unkeyed digest is a confirmation oracle: a short paid region falls to brute force).
"""

from __future__ import annotations

import copy
import hashlib
import re
from dataclasses import dataclass, field, fields
from typing import Any

SCHEMA_VERSION = 1
# Reading speeds: Chinese readers manage about 400 characters a minute; Latin-script words
# are counted at 230 a minute. Each CJK character counts on its own, as Ghost does.
CJK_PER_MINUTE = 400
WORDS_PER_MINUTE = 230
_CJK = re.compile(
    r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ebef\u3040-\u30ff\uac00-\ud7af]"
)
_WORD = re.compile(r"[A-Za-z0-9\u00c0-\u024f]+")


def sha256_hex(data: bytes | str) -> str:
    if isinstance(data, str):
        data = data.encode("utf-8")
    return hashlib.sha256(data).hexdigest()


def count_paragraphs(text: str) -> int:
    return sum(1 for line in text.splitlines() if line.strip())


def reading_minutes(text: str) -> float:
    # Counting by deletion is several times faster than findall's list of 1-char strings.
    cjk = len(text) - len(_CJK.sub("", text))
    words = len(_WORD.findall(text))
    return round(cjk / CJK_PER_MINUTE + words / WORDS_PER_MINUTE, 1)


def text_stats(text: str) -> dict[str, Any]:
    return {
        "chars": len(text),  # code points, so each Chinese character counts once
        "paragraphs": count_paragraphs(text),
        "reading_minutes": reading_minutes(text),
    }


@dataclass(frozen=True, slots=True)
class ArticleRecord:
    """The public metadata of one article, as published in ``meta/`` and in manifests."""

    article_id: str
    source: str
    source_id: str
    status: str
    format: str
    title: str | None
    reason: str | None = None
    warnings: tuple[str, ...] = ()
    encoding: str | None = None
    encoding_evidence: str | None = None
    markers: dict[str, Any] = field(default_factory=dict)
    segments: tuple[dict[str, Any], ...] = ()
    # The free half's digest when published; {"free": None} otherwise. Nothing else.
    sha256: dict[str, str | None] = field(default_factory=lambda: {"free": None})
    stats: dict[str, Any] = field(default_factory=dict)
    free_ratio: float | None = None
    published_at: str | None = None  # article timestamp from the source
    origin: dict[str, Any] = field(default_factory=dict)  # url, etag, last_modified
    json_ld: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        # Not dataclasses.asdict: it deep-copies every segment (tens of thousands for a
        # hostile article) and made this the slowest step of a split. Nested dicts are
        # copied one level down, which is all they have besides stats' inner dicts.
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        for key in ("markers", "sha256", "origin"):
            data[key] = dict(data[key])
        data["stats"] = {k: dict(v) if isinstance(v, dict) else v for k, v in self.stats.items()}
        data["json_ld"] = copy.deepcopy(self.json_ld)
        data["schema_version"] = SCHEMA_VERSION
        data["warnings"] = list(self.warnings)
        data["segments"] = [dict(s) for s in self.segments]
        return data


def news_article_json_ld(
    *, title: str | None, url: str | None, published_at: str | None, sections: int, cut_class: str
) -> dict[str, Any]:
    """schema.org markup for paywalled content, one ``hasPart`` per paid section."""
    data: dict[str, Any] = {
        "@context": "https://schema.org",
        "@type": "NewsArticle",
        "isAccessibleForFree": False,
        "hasPart": [
            {
                "@type": "WebPageElement",
                "isAccessibleForFree": False,
                "cssSelector": f".{cut_class}-{n}",
            }
            for n in range(1, sections + 1)
        ],
    }
    if title:
        data["headline"] = title
    if url:
        data["url"] = url
    if published_at:
        data["datePublished"] = published_at
    return data


def load_schema(name: str) -> dict[str, Any]:
    """A published JSON Schema (article, manifest-record, commit) from the package."""
    import json
    from importlib.resources import files

    schema: dict[str, Any] = json.loads(
        files("paywall").joinpath(f"schemas/{name}.schema.json").read_text()
    )
    return schema
