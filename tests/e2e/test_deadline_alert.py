"""Issue 16: a run still not finished N hours after it was queued raises an alert, live.

A real ``airflow standalone`` (scheduler, triggerer, api-server) runs the test-only DAG
``e2e_deadline_alert`` (``tests/e2e/dags/deadline_alert_dag.py``), whose ``deadline`` is the
production ``adapter.deadline_for`` with an 18 s deadline. Its task holds the run open while a
flag file exists. The scheduler must notice the missed deadline, the triggerer must run the
``PaywallNotifier`` callback, and a real SMTP server on loopback must receive a mail naming
the DAG and the run, with none of the paid text the run carried in its conf and note (both
are in the context Airflow hands the callback).
"""

from __future__ import annotations

import html
import time
import urllib.parse
from email.message import Message
from pathlib import Path

import pytest

from tests.e2e.conftest import Standalone
from tests.fixtures.smtp import SmtpServer, text_of

pytestmark = pytest.mark.slow
DAG = "e2e_deadline_alert"
PAID = "付费绝密哨兵内容DEADLINE-QQZ-4417"
MAIL_TIMEOUT = 180  # 18 s deadline + a scheduler loop + the triggerer's pick-up, on a busy box


def mails_for(smtp: SmtpServer, run_id: str) -> list[Message]:
    return [m for m in list(smtp.messages) if run_id in html.unescape(text_of(m))]


def run_state(st: Standalone, run_id: str) -> str:
    path = f"/api/v2/dags/{DAG}/dagRuns/{urllib.parse.quote(run_id)}"
    return str(st.api.get(path)["state"])


def test_a_run_past_its_deadline_mails_an_alert(
    standalone: Standalone, e2e_smtp: SmtpServer
) -> None:
    st = standalone
    st.api.wait_for_dag(DAG, 300)
    st.api.unpause(DAG)
    flag = Path(st.airflow.env["PAYWALL_DEADLINE_FLAG"])
    flag.write_text("hold")
    try:
        run = st.api.post(
            f"/api/v2/dags/{DAG}/dagRuns",
            {"logical_date": None, "conf": {"article": f"##paidbegin##{PAID}##paidend##"},
             "note": f"operator pasted {PAID}"},
        )  # fmt: skip
        run_id = str(run["dag_run_id"])
        until = time.monotonic() + MAIL_TIMEOUT
        while not mails_for(e2e_smtp, run_id) and time.monotonic() < until:
            time.sleep(2)
        mails = mails_for(e2e_smtp, run_id)
        assert mails, f"no deadline mail for {run_id} within {MAIL_TIMEOUT}s"
        # The alert came while the run was still held open, i.e. not because it ended.
        assert run_state(st, run_id) in {"queued", "running"}
    finally:
        flag.unlink(missing_ok=True)

    (mail,) = mails
    text = html.unescape(text_of(mail))
    assert f"{DAG}: not committed 0.005 h after it was due" in text
    assert f"DAG:      {DAG}" in text and f"Run:      {run_id}" in text
    assert mail["To"] == "ops@example.test"
    assert PAID not in text and PAID.encode() not in mail.as_bytes()
    # Released, the run finishes; the alert is sent once, not on every scheduler loop.
    _, tis = st.api.wait_run(DAG, run_id, timeout=120)
    assert run_state(st, run_id) == "success", tis
    assert len(mails_for(e2e_smtp, run_id)) == 1
