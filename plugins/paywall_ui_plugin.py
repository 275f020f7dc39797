"""Airflow plugin: the Paywall page (runs, quarantine review, article halves, editor actions).

This is the only file of the page that Airflow's plugin loader imports (``plugins/.airflowignore``
keeps it out of ``paywall_ui/``). It stays cheap to import, because every Airflow process loads
plugins: the FastAPI app is built on the api-server's first request to ``/paywall``.
"""

from __future__ import annotations

from paywall_ui.plugin import PaywallUIPlugin

__all__ = ["PaywallUIPlugin"]
