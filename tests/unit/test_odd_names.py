"""Odd file names (not UTF-8, control characters) never fail a plan or the CLI's split."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from paywall.config import LocalSource
from paywall.sources.local import LocalFolderSource

ARTICLE = "标题\n免费导语\n##paidbegin##付费内容##paidend##\n".encode()
ODD = [b"caf\xe9.txt", b"\xff\xfe.txt", b"a\nb.txt", b"\x1b[31mred.txt", b"tab\there.txt",
       "bidi\u202eeman.txt".encode(), b"back\\slash.txt", b"zw\xe2\x80\x8bsp.txt"]  # fmt: skip


@pytest.fixture
def odd_folder(tmp_path: Path) -> Path:
    root = tmp_path / "in"
    root.mkdir()
    for name in ODD:
        with open(os.path.join(os.fsencode(root), name), "wb") as handle:
            handle.write(ARTICLE)
    (root / "plain.txt").write_bytes(ARTICLE)
    return root


def test_local_listing_gives_stable_serialisable_ids_and_fetches_them(odd_folder: Path) -> None:
    source = LocalFolderSource(LocalSource(name="l", kind="local", path=odd_folder))
    refs = source.list(None)
    assert len(refs) == len(ODD) + 1
    # The plan is stored as JSON: every id must survive a UTF-8 round trip unchanged.
    plan = json.dumps([r.to_dict() for r in refs], ensure_ascii=False).encode("utf-8")
    assert [r["source_id"] for r in json.loads(plan)] == [r.source_id for r in refs]
    assert all(r.source_id.isprintable() for r in refs)
    assert "plain.txt" in {r.source_id for r in refs}
    assert [r.source_id for r in source.list(None)] == [r.source_id for r in refs]  # stable
    for ref in refs:
        assert source.fetch(ref).data == ARTICLE


def test_a_file_that_vanishes_or_cannot_be_read_does_not_fail_the_listing(
    odd_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pathlib import Path as RealPath

    real_stat = RealPath.stat

    def flaky(self: Path, *args: object, **kwargs: object) -> os.stat_result:
        if self.name == "plain.txt":
            raise PermissionError(13, "Permission denied")
        return real_stat(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(RealPath, "stat", flaky)
    source = LocalFolderSource(LocalSource(name="l", kind="local", path=odd_folder))
    assert "plain.txt" not in {r.source_id for r in source.list(None)}


@pytest.mark.parametrize("name", ODD, ids=lambda n: repr(n))
def test_cli_split_of_an_odd_name(name: bytes, tmp_path: Path) -> None:
    path = os.path.join(os.fsencode(tmp_path), name)
    with open(path, "wb") as handle:
        handle.write(ARTICLE)
    result = subprocess.run(
        [os.fsencode(sys.executable), b"-m", b"paywall.cli", b"split", path],
        capture_output=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["status"] == "ok" and record["source_id"].isprintable()
