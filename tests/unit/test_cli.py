"""`paywall split`: exit codes, files written, and nothing free for a quarantined article."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import SAMPLES, USER_SAMPLE


def paywall(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "paywall.cli", *args], input=stdin, capture_output=True, timeout=60
    )


def test_split_text_to_folder(tmp_path: Path) -> None:
    result = paywall("split", str(USER_SAMPLE), "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    text = USER_SAMPLE.read_text()
    begin, end = text.index("##paidbegin##"), text.index("##paidend##")
    assert (tmp_path / "free.txt").read_text() == text[:begin] + "\n"
    assert (tmp_path / "paid.txt").read_text() == text[begin + 13 : end]
    assert json.loads((tmp_path / "metadata.json").read_text())["status"] == "ok"


def test_split_html_writes_four_files(tmp_path: Path) -> None:
    page = SAMPLES / "2026/11/20/html-demo.html"
    assert paywall("split", str(page), "--out", str(tmp_path)).returncode == 0
    assert {p.name for p in tmp_path.iterdir()} == {
        "free.html", "paid.html", "free.txt", "paid.txt", "metadata.json"
    }  # fmt: skip


def test_quarantine_exit_3_one_line_reason_and_no_free_file(tmp_path: Path) -> None:
    result = paywall("split", "-", "--out", str(tmp_path), stdin=b"a##paidend##b")
    assert result.returncode == 3
    assert result.stderr.decode().count("\n") == 1
    assert "unmatched_end" in result.stderr.decode()
    assert not (tmp_path / "free.txt").exists()


def test_metadata_to_stdout_without_out() -> None:
    result = paywall("split", str(USER_SAMPLE))
    assert result.returncode == 0
    assert json.loads(result.stdout)["title"].startswith("Xx区委书记")


def test_usage_and_io_errors_exit_2(tmp_path: Path) -> None:
    assert paywall("split").returncode == 2
    missing = paywall("split", str(tmp_path / "nope.txt"))
    assert missing.returncode == 2 and b"cannot read" in missing.stderr
