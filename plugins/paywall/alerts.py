"""Alert texts: a task or DAG failure, a run over its quarantine/failure threshold, an interval
not committed in time. Airflow-free; the adapter sends them through Airflow's notifiers.

**No paid text, by construction.** An alert is made of names and numbers only: the DAG, run,
interval, task and try, counts per source and reason (status names and fetch kinds), and the
reason of a failure *only* when it is one of our own errors (:class:`PaywallError` and the
adapter's fail exceptions, whose messages name keys, URLs and counts, never article text).
Any other exception is named by its type alone: a library's message may quote the input it
choked on (a parser's excerpt of a page), so it stays in the task log.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from paywall.config import AlertSettings
from paywall.errors import PaywallError
from paywall.runstats import RunStats

__all__ = [
    "Alert",
    "Threshold",
    "deadline_alert",
    "failure_alert",
    "safe_reason",
    "threshold_alert",
    "thresholds_crossed",
]

# Exceptions whose message is ours (raised by the adapter with our own text).
_OWN_MESSAGES = frozenset({"AirflowFailException", "AirflowTaskTimeout"})
MAX_REASON = 500


@dataclass(frozen=True, slots=True)
class Alert:
    subject: str
    body: str  # plain text

    def html(self) -> str:
        from html import escape

        return f"<pre>{escape(self.body)}</pre>"


def safe_reason(error: BaseException | None, *, trusted: Iterable[str] = _OWN_MESSAGES) -> str:
    """What an alert may say about an exception."""
    if error is None:
        return "no exception recorded (see the task log)"
    name = type(error).__name__
    if isinstance(error, PaywallError):
        text = f"{name} [{error.code.value}]: {error.message}"
    elif name in trusted:
        text = f"{name}: {error}"
    else:
        return f"{name} (message withheld from alerts; see the task log)"
    text = " ".join(text.split())
    return text if len(text) <= MAX_REASON else text[: MAX_REASON - 1] + "…"


def _interval(start: str | None, end: str | None) -> str:
    if not start or not end:
        return "(no data interval)"
    return f"{start} .. {end}"


def failure_alert(
    prefix: str,
    *,
    dag_id: str,
    run_id: str,
    interval: tuple[str | None, str | None],
    task_id: str | None,
    try_number: int | None,
    error: BaseException | None,
    airflow_reason: str | None = None,
    log_url: str | None = None,
) -> Alert:
    """``airflow_reason`` is Airflow's word for a failed DAG run (``task_failure``...): an
    identifier, or it is not shown."""
    what = f"task {task_id}" if task_id else "DAG run"
    subject = f"{prefix} {dag_id}: {what} failed ({_interval(*interval)})"
    lines = [
        f"DAG:      {dag_id}",
        f"Run:      {run_id}",
        f"Interval: {_interval(*interval)}",
        f"Task:     {task_id or '(the DAG run)'}" + (f", try {try_number}" if try_number else ""),
        f"Reason:   {safe_reason(error)}",
    ]
    if error is None and airflow_reason and airflow_reason.isidentifier():
        lines[-1] = f"Reason:   Airflow: {airflow_reason}"
    if log_url:
        lines.append(f"Log:      {log_url}")
    return Alert(subject, "\n".join(lines) + "\n")


@dataclass(frozen=True, slots=True)
class Threshold:
    outcome: str  # quarantined or failed
    count: int
    articles: int
    ratio: float
    limit: float


def thresholds_crossed(stats: RunStats, settings: AlertSettings) -> list[Threshold]:
    articles = stats.articles
    if articles == 0 or articles < settings.min_articles:
        return []
    crossed = []
    for outcome, count, limit in (
        ("quarantined", stats.quarantined, settings.max_quarantined_ratio),
        ("failed", stats.failed, settings.max_failed_ratio),
    ):
        if limit is not None and count / articles > limit:
            crossed.append(Threshold(outcome, count, articles, count / articles, limit))
    return crossed


def threshold_alert(
    prefix: str,
    *,
    dag_id: str,
    run_id: str,
    interval: tuple[str | None, str | None],
    stats: RunStats,
    crossed: list[Threshold],
) -> Alert:
    summary = ", ".join(
        f"{t.count} of {t.articles} {t.outcome} ({t.ratio:.0%} > {t.limit:.0%})" for t in crossed
    )
    subject = f"{prefix} {dag_id}: {summary} ({_interval(*interval)})"
    lines = [
        f"DAG:      {dag_id}",
        f"Run:      {run_id}",
        f"Interval: {_interval(*interval)}",
        f"Crossed:  {summary}",
        "",
        "Per source and reason:",
    ]
    for name, source in sorted(stats.sources.items()):
        lines.append(
            f"  {name}: {source.articles} article(s), {source.published} published, "
            f"{sum(source.quarantined.values())} quarantined, {sum(source.failed.values())} failed"
        )
        for status, count in sorted(source.quarantined.items()):
            lines.append(f"    quarantined {status}: {count}")
        for kind, count in sorted(source.failed.items()):
            lines.append(f"    failed {kind}: {count}")
    return Alert(subject, "\n".join(lines) + "\n")


def deadline_alert(
    prefix: str,
    *,
    dag_id: str,
    run_id: str,
    interval: tuple[str | None, str | None],
    hours: float,
    deadline: str | None,
) -> Alert:
    subject = (
        f"{prefix} {dag_id}: not committed {hours:g} h after it was due ({_interval(*interval)})"
    )
    lines = [
        f"DAG:      {dag_id}",
        f"Run:      {run_id}",
        f"Interval: {_interval(*interval)}",
        f"Deadline: {deadline or '?'} ({hours:g} h after the run was queued, which for a "
        "scheduled run is the end of its interval)",
        "The run has not finished successfully: nothing new is committed for this interval.",
    ]
    return Alert(subject, "\n".join(lines) + "\n")
