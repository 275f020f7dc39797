"""Pools: every deployment path creates the configured one; the guard is a registered plugin."""

from __future__ import annotations

from pathlib import Path

from paywall.config import load_settings
from paywall_dev import devstack
from tests.conftest import REPO, write_config


def test_the_pool_command_comes_from_the_config(tmp_path: Path) -> None:
    none = write_config(tmp_path / "a.yaml")
    assert devstack.pool_command(none) is None
    named = write_config(tmp_path / "b.yaml", pipeline={"pool": "paywall_s3", "pool_slots": 12})
    assert devstack.pool_command(named)[:4] == ["pools", "set", "paywall_s3", "12"]
    assert load_settings(named).pipeline.pool_slots == 12


def test_the_pool_guard_is_an_airflow_plugin_with_a_dag_run_listener() -> None:
    import sys

    sys.path.insert(0, str(REPO / "plugins"))
    try:
        import paywall_ops
    finally:
        sys.path.remove(str(REPO / "plugins"))
    assert paywall_ops.PaywallOpsPlugin.name == "paywall_ops"
    assert paywall_ops in paywall_ops.PaywallOpsPlugin.listeners
    message = paywall_ops.missing_pool_message("d", ["p1"])
    assert "pool 'p1' does not exist" in message and "airflow pools set p1" in message
