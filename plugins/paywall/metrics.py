"""The run's metrics as plain points; the Airflow adapter sends them through Airflow's own
metrics client (StatsD or OpenTelemetry, as ``[metrics]`` configures Airflow).

Names hold the dimensions, so a plain StatsD server without tags keeps them apart; the same
dimensions are passed as tags for tag-aware backends (OpenTelemetry, DogStatsD, InfluxDB):

- ``paywall.<pipeline>.<source>.published`` / ``.unchanged`` / ``.written`` / ``.retracted``
- ``paywall.<pipeline>.<source>.quarantined.<status>``
- ``paywall.<pipeline>.<source>.failed.<kind>`` (``http_401``, ``timeout``, ``proxy``...)
- ``paywall.<pipeline>.<source>.bytes_written``
- ``paywall.<pipeline>.run_duration`` (a timer, milliseconds) and ``.articles`` (a gauge)

Every name part is a configured name (``[a-z0-9_-]``) or a closed vocabulary; anything else
is replaced, so no article text can become a metric name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from paywall.runstats import RunStats

__all__ = ["Metric", "run_metrics", "safe_part"]

_UNSAFE = re.compile(r"[^a-z0-9_-]")


def safe_part(value: str) -> str:
    """A metric name segment: lower case letters, digits, ``_`` and ``-`` only (≤ 64)."""
    return _UNSAFE.sub("_", value.lower())[:64] or "_"


@dataclass(frozen=True, slots=True)
class Metric:
    kind: Literal["incr", "gauge", "timing"]
    name: str
    value: float
    tags: dict[str, str] = field(default_factory=dict)


def run_metrics(
    pipeline: str, stats: RunStats, duration_seconds: float | None, prefix: str = "paywall"
) -> list[Metric]:
    base = f"{safe_part(prefix)}.{safe_part(pipeline)}"
    points: list[Metric] = []
    for name, source in sorted(stats.sources.items()):
        src = safe_part(name)
        tags = {"pipeline": safe_part(pipeline), "source": src}
        for outcome in ("published", "unchanged", "written", "retracted"):
            points.append(Metric("incr", f"{base}.{src}.{outcome}", getattr(source, outcome),
                                 tags | {"outcome": outcome}))  # fmt: skip
        for status, count in sorted(source.quarantined.items()):
            reason = safe_part(status)
            points.append(Metric("incr", f"{base}.{src}.quarantined.{reason}", count,
                                 tags | {"outcome": "quarantined", "reason": reason}))  # fmt: skip
        for kind, count in sorted(source.failed.items()):
            reason = safe_part(kind)
            points.append(Metric("incr", f"{base}.{src}.failed.{reason}", count,
                                 tags | {"outcome": "failed", "reason": reason}))  # fmt: skip
        points.append(Metric("incr", f"{base}.{src}.bytes_written", source.bytes_written, tags))
    pipeline_tags = {"pipeline": safe_part(pipeline)}
    points.append(Metric("gauge", f"{base}.articles", stats.articles, pipeline_tags))
    if duration_seconds is not None:
        points.append(
            Metric("timing", f"{base}.run_duration", duration_seconds * 1000.0, pipeline_tags)
        )
    return points
