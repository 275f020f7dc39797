"""Every DAG imports cleanly, is well-formed, and does no look-ups at import time."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, write_config

DAGS = REPO / "dags"

# Runs in a fresh interpreter: the DagBag must not see this test process's imports, and the
# probe makes any Variable, Connection or network look-up during import fail loudly.
PROBE = r"""
import json, socket, sys
from unittest import mock

def forbidden(*args, **kwargs):
    raise AssertionError("look-up at DAG import time: %r" % (args[:1],))

with mock.patch("airflow.sdk.Variable.get", forbidden), \
     mock.patch("airflow.sdk.BaseHook.get_connection", forbidden), \
     mock.patch.object(socket, "create_connection", forbidden), \
     mock.patch.object(socket, "getaddrinfo", forbidden):
    from airflow.dag_processing.dagbag import DagBag
    bag = DagBag(dag_folder=sys.argv[1])
out = {"errors": {k: str(v) for k, v in bag.import_errors.items()}, "dags": {}}
for dag_id, dag in bag.dags.items():
    out["dags"][dag_id] = {
        "tags": sorted(dag.tags),
        "tasks": {
            t.task_id: {
                "owner": t.owner,
                "retries": t.retries,
                "upstream": sorted(t.upstream_task_ids),
                "outlets": sorted(getattr(o, "name", str(o)) for o in t.outlets),
            }
            for t in dag.tasks
        },
        "doc_md": bool(dag.doc_md),
    }
print(json.dumps(out))
"""


def load_dagbag(tmp_path: Path, config: Path | None = None, dags: Path = DAGS) -> dict:
    import json

    env = dict(os.environ)
    env |= {
        "AIRFLOW_HOME": str(tmp_path / "airflow"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "True",
        "PAYWALL_CONFIG": str(config or REPO / "config" / "pipeline.yaml"),
    }
    result = subprocess.run(
        [sys.executable, "-c", PROBE, str(dags)],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def dagbag(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return load_dagbag(tmp_path_factory.mktemp("dagbag"))


def test_every_dag_imports_without_errors(dagbag: dict) -> None:
    assert dagbag["errors"] == {}
    assert set(dagbag["dags"]) == {"paywall_articles", "paywall_catalog"}


def test_dags_have_tags_owner_retries_and_docs(dagbag: dict) -> None:
    for dag_id, dag in dagbag["dags"].items():
        assert dag["tags"], dag_id
        assert dag["doc_md"], dag_id
        for task_id, task in dag["tasks"].items():
            assert task["owner"] and task["owner"] != "airflow", (dag_id, task_id)
            assert task["retries"] >= 2, (dag_id, task_id)


def test_pipeline_wiring(dagbag: dict) -> None:
    tasks = dagbag["dags"]["paywall_articles"]["tasks"]
    assert set(tasks) == {"plan", "chunks", "process", "publish", "verify", "notify", "thresholds"}
    assert tasks["publish"]["upstream"] == ["chunks", "plan", "process"] or set(
        tasks["publish"]["upstream"]
    ) >= {"plan", "process"}
    # The asset event belongs to publish, which the webhook can no longer fail: notify is a
    # task of its own, after verify, and nothing waits for it.
    assert tasks["publish"]["outlets"] == ["paywall_manifests_paywall_articles"]
    assert tasks["verify"]["upstream"] == ["publish"]
    assert set(tasks["notify"]["upstream"]) == {"publish", "verify"}
    assert not any("notify" in t["upstream"] for t in tasks.values())
    assert all(not t["outlets"] for name, t in tasks.items() if name != "publish")
    # The threshold alert reads publish's counts; verify does not wait for it.
    assert tasks["thresholds"]["upstream"] == ["publish"]
    assert not any("thresholds" in t["upstream"] for t in tasks.values())


def test_bad_config_is_an_import_error_naming_file_and_key(tmp_path: Path) -> None:
    config = write_config(tmp_path / "broken.yaml", pipeline={"chunk_sise": 5})
    bag = load_dagbag(tmp_path, config)
    assert bag["dags"] == {}
    messages = list(bag["errors"].values())
    assert messages and all(f"{config}: pipeline.chunk_sise: unknown key" in m for m in messages)
    assert all("Traceback" not in m.splitlines()[-1] for m in messages)


def test_the_probe_catches_an_import_time_lookup(tmp_path: Path) -> None:
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "bad_dag.py").write_text(
        "from airflow.sdk import Variable, dag\n"
        "BUCKET = Variable.get('bucket')\n"
        "@dag(schedule=None)\n"
        "def bad():\n    pass\n"
        "bad()\n"
    )
    bag = load_dagbag(tmp_path, dags=dags)
    assert any("look-up at DAG import time" in m for m in bag["errors"].values())


def test_dag_files_import_no_business_modules_beyond_the_package() -> None:
    """DAG files stay thin: only airflow.sdk, the paywall package and the standard library."""
    import ast

    allowed = {"airflow", "paywall", "__future__", "datetime", "typing"}
    for path in DAGS.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = (
                    [node.module]
                    if isinstance(node, ast.ImportFrom)
                    else [a.name for a in node.names]
                )
                for name in names:
                    assert name and name.split(".")[0] in allowed, (path.name, name)


def test_core_package_does_not_import_airflow() -> None:
    """Only the adapter imports Airflow; everything else runs without it."""
    code = (
        "import sys, importlib, pkgutil, paywall\n"
        "for m in pkgutil.walk_packages(paywall.__path__, 'paywall.'):\n"
        "    if m.name != 'paywall.airflow_adapter':\n"
        "        importlib.import_module(m.name)\n"
        "bad = sorted(n for n in sys.modules if n == 'airflow' or n.startswith('airflow.'))\n"
        "assert not bad, bad\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
