"""The page's services, from the Airflow api-server it runs in.

- :class:`AirflowAuthorizer`: the request's JWT (the UI's ``_token`` cookie, or a Bearer
  header) checked by Airflow's auth manager; *read* = GET on the pipeline's DAG, *edit* = PUT
  on it (``is_authorized_dag``), whatever auth manager is configured.
- :class:`AirflowApiTrigger`: a DAG run created through Airflow's own REST API
  (``POST /api/v2/dags/{id}/dagRuns``) with the user's token, in process (the api-server's
  app, over ASGI): Airflow checks the user's permission, validates the params and records the
  run as theirs -- nothing is re-implemented or bypassed, and nothing leaves the process.
- :func:`dag_runs`: the DAG's runs and their verify task from the metadata database (the
  api-server may read it; task code may not).
- :func:`store_for`: the S3 store from the pipeline's Airflow connection.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from paywall.config import Settings, load_settings
from paywall.s3 import endpoint_from_connection
from paywall.storage import S3Store
from paywall.store import Store
from paywall_ui.access import Access, DagRunInfo, NotAuthenticated, TriggerResult, Viewer
from paywall_ui.app import Services, create_app

__all__ = [
    "AirflowApiTrigger",
    "AirflowAuthorizer",
    "build",
    "dag_runs",
    "store_for",
]

log = logging.getLogger("paywall_ui")


class AirflowAuthorizer:
    def __init__(self, dag_id: str) -> None:
        self.dag_id = dag_id

    async def viewer(self, token: str, *, via_cookie: bool) -> Viewer:
        from airflow.api_fastapi.app import get_auth_manager
        from airflow.api_fastapi.auth.managers.models.resource_details import DagDetails

        manager = get_auth_manager()
        try:
            user = await manager.get_user_from_token(token)
        except Exception as exc:  # expired, forged, revoked, unknown user: all unauthenticated
            log.info("paywall page: token refused (%s)", type(exc).__name__)
            raise NotAuthenticated(type(exc).__name__) from None
        details = DagDetails(id=self.dag_id)
        access = Access.NONE
        if manager.is_authorized_dag(method="GET", user=user, details=details):
            access = Access.READ
            if manager.is_authorized_dag(method="PUT", user=user, details=details):
                access = Access.EDIT
        return Viewer(str(user.get_name()), access, token, via_cookie)


def _api_app() -> Any:
    """The api-server's own app (every way Airflow starts it loads ``...main:app``)."""
    module = sys.modules.get("airflow.api_fastapi.main")
    return getattr(module, "app", None)


class AirflowApiTrigger:
    async def __call__(self, token: str, dag_id: str, body: Mapping[str, Any]) -> TriggerResult:
        import httpx
        from airflow.api_fastapi.app import API_ROOT_PATH

        app = _api_app()
        if app is None:
            return TriggerResult(503, {"detail": "Airflow's API app is not loaded here"})
        path = f"{API_ROOT_PATH.rstrip('/')}/api/v2/dags/{quote(dag_id, safe='')}/dagRuns"
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api-server") as client:
            response = await client.post(
                path, json=dict(body), headers={"Authorization": f"Bearer {token}"}, timeout=60
            )
        try:
            data = response.json()
        except ValueError:
            data = {"detail": response.text[:300]}
        return TriggerResult(response.status_code, data if isinstance(data, dict) else {})


def dag_runs(dag_id: str, limit: int = 200) -> Sequence[DagRunInfo]:
    """The DAG's latest runs, each with its verify task's state and result."""
    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        runs = session.scalars(
            select(DagRun)
            .where(DagRun.dag_id == dag_id)
            .order_by(DagRun.run_after.desc())
            .limit(limit)
        ).all()
        ids = [r.run_id for r in runs]
        verify: dict[str, Any] = dict(
            session.execute(
                select(TaskInstance.run_id, TaskInstance.state).where(
                    TaskInstance.dag_id == dag_id,
                    TaskInstance.task_id == "verify",
                    TaskInstance.run_id.in_(ids),
                )
            ).all()
        )
        results: dict[str, Any] = dict(
            session.execute(
                select(XComModel.run_id, XComModel.value).where(
                    XComModel.dag_id == dag_id,
                    XComModel.task_id == "verify",
                    XComModel.key == "return_value",
                    XComModel.run_id.in_(ids),
                )
            ).all()
        )
        return [
            DagRunInfo(
                run_id=r.run_id,
                state=str(r.state),
                run_type=str(r.run_type),
                start=r.data_interval_start.isoformat() if r.data_interval_start else None,
                end=r.data_interval_end.isoformat() if r.data_interval_end else None,
                conf=dict(r.conf or {}),
                triggered_by=r.triggering_user_name,
                verify=str(verify[r.run_id]) if verify.get(r.run_id) else None,
                verify_result=_xcom(results.get(r.run_id)),
            )
            for r in runs
        ]


def _xcom(value: Any) -> Mapping[str, Any] | None:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    return value if isinstance(value, dict) else None


def store_for(settings: Settings) -> Store:
    """The store behind the pipeline's Airflow connection (read in the api-server)."""
    from airflow.models.connection import Connection

    conn = Connection.get_connection_from_secrets(settings.storage.connection_id)
    endpoint = endpoint_from_connection(
        {"login": conn.login, "password": conn.password, "extra": conn.extra_dejson}
    )
    return S3Store.connect(endpoint, settings.storage)


def build() -> Any:
    """The page's ASGI app with Airflow's services (called once, on the first request)."""
    from airflow.api_fastapi.app import API_ROOT_PATH

    settings = load_settings()
    return create_app(
        Services(
            settings=settings,
            store_factory=lambda: store_for(settings),
            authorizer=AirflowAuthorizer(settings.pipeline.name),
            trigger=AirflowApiTrigger(),
            dag_runs=dag_runs,
            airflow_base=API_ROOT_PATH.rstrip("/"),
        )
    )
