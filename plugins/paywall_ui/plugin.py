"""The plugin class: a FastAPI app mounted at ``/paywall`` and an entry in the UI's navigation.

Airflow 3.3 offers two ways to put a page in its UI: a React app bundle loaded into the UI
itself, or an *external view* the UI shows in a frame. The page is an external view over a
server-rendered app, because the server then decides what reaches the browser: paid text is
never sent to a user without edit access (no client-side hiding to get wrong), the page works
without JavaScript (one small static script only routes links to Airflow's own pages through
the UI's router; the CSP allows no other), and nothing has to be built with npm.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from airflow.plugins_manager import AirflowPlugin
from starlette.types import Receive, Scope, Send

__all__ = ["URL_PREFIX", "LazyApp", "PaywallUIPlugin"]

URL_PREFIX = "/paywall"
log = logging.getLogger("paywall_ui")


class LazyApp:
    """An ASGI app that builds the page on its first request (in the api-server only).

    A build that fails (a bad pipeline config, no connection) answers 503 with the page's
    security headers and is tried again on the next request; the api-server keeps running.
    """

    def __init__(self) -> None:
        self._app: Any = None
        self._lock = threading.Lock()

    def _build(self) -> Any:
        with self._lock:
            if self._app is None:
                from paywall_ui.airflow_binding import build

                self._app = build()
            return self._app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            return  # nothing to start or stop
        try:
            app = self._build()
        except Exception:
            log.exception("paywall page: cannot start")
            from paywall_ui.app import SECURITY_HEADERS

            message = b"the Paywall page cannot start (the api-server log says why)\n"
            await send(
                {
                    "type": "http.response.start",
                    "status": 503,
                    "headers": [
                        (b"content-type", b"text/plain; charset=utf-8"),
                        *((k.encode(), v.encode()) for k, v in SECURITY_HEADERS),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": message})
            return
        await app(scope, receive, send)


class PaywallUIPlugin(AirflowPlugin):
    name = "paywall_ui"
    fastapi_apps = [  # noqa: RUF012 (Airflow's plugin interface is class attributes)
        {"app": LazyApp(), "url_prefix": URL_PREFIX, "name": "Paywall page"}
    ]
    external_views = [  # noqa: RUF012
        {
            "name": "Paywall",
            "href": f"{URL_PREFIX}/",
            "url_route": "paywall",
            "destination": "nav",
            "category": "browse",
        }
    ]
