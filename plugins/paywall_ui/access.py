"""Who is asking, and what they may see: the page's three tiers, and the services it needs.

Airflow-free: :mod:`paywall_ui.airflow_binding` implements these protocols with Airflow's auth
manager, its REST API and its database; the unit tests with fakes.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, Protocol

__all__ = [
    "Access",
    "Authorizer",
    "DagRunInfo",
    "DagRuns",
    "NotAuthenticated",
    "Trigger",
    "TriggerResult",
    "Viewer",
    "csrf_token",
]


class Access(IntEnum):
    """What a signed-in user may see of the pipeline's DAG."""

    NONE = 0  # signed in, but may not read the DAG: nothing
    READ = 1  # may read the DAG: runs, counts, quarantine reasons, the public side
    EDIT = 2  # may edit the DAG: paid text, raw quarantined input, editor actions


class NotAuthenticated(Exception):
    """No credential, or one the auth manager does not accept (expired, forged)."""


@dataclass(frozen=True, slots=True)
class Viewer:
    name: str
    access: Access
    token: str = field(repr=False)  # the credential the request carried (JWT)
    via_cookie: bool  # the browser's session cookie (so state changes need a CSRF token)

    @property
    def can_read(self) -> bool:
        return self.access >= Access.READ

    @property
    def can_edit(self) -> bool:
        return self.access >= Access.EDIT

    @property
    def csrf(self) -> str:
        return csrf_token(self.token)


def csrf_token(token: str) -> str:
    """A form token bound to the session's credential: a page from another site cannot know
    it (the cookie is HttpOnly), so it cannot post an action in the user's name."""
    key = hashlib.sha256(b"paywall-ui-csrf\x00" + token.encode()).digest()
    return hmac.new(key, b"paywall-ui-actions", hashlib.sha256).hexdigest()[:40]


class Authorizer(Protocol):
    async def viewer(self, token: str, *, via_cookie: bool) -> Viewer:
        """The user behind a token and their access to the pipeline's DAG; raises
        NotAuthenticated."""
        ...


@dataclass(frozen=True, slots=True)
class TriggerResult:
    status: int  # the HTTP status Airflow's API answered
    body: Mapping[str, Any]

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def run_id(self) -> str | None:
        value = self.body.get("dag_run_id")
        return str(value) if value else None

    @property
    def detail(self) -> str:
        detail = self.body.get("detail")
        return str(detail)[:300] if detail else f"HTTP {self.status}"


class Trigger(Protocol):
    async def __call__(self, token: str, dag_id: str, body: Mapping[str, Any]) -> TriggerResult:
        """POST /api/v2/dags/{dag_id}/dagRuns as the token's user."""
        ...


@dataclass(frozen=True, slots=True)
class DagRunInfo:
    run_id: str
    state: str
    run_type: str
    start: str | None  # data interval, ISO 8601
    end: str | None
    conf: Mapping[str, Any] = field(default_factory=dict)
    triggered_by: str | None = None
    verify: str | None = None  # state of the run's verify task
    verify_result: Mapping[str, Any] | None = None  # its XCom (counts of findings)


class DagRuns(Protocol):
    def __call__(self, dag_id: str, limit: int = 200) -> Sequence[DagRunInfo]: ...
