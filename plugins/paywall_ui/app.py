"""The Paywall page: a server-rendered FastAPI app the Airflow api-server mounts at /paywall.

Every response -- pages, errors, static files -- carries ``Cache-Control: no-store`` and a
strict CSP (only the page's own static script, nothing inline; frames only from ``srcdoc``,
sandboxed); see :data:`SECURITY_HEADERS`.

Tiers (``access.Access``): no credential, or one the auth manager refuses: 401 and nothing
else. Signed in without read access to the pipeline's DAG: 403. Read access: runs, counts,
quarantine reasons, the public side of an article. Edit access to the DAG: paid halves, raw
quarantined input, the override, the editor log and the actions; every other request for
them is refused with 403 before anything private is read.

Airflow-free: the services (auth manager, REST trigger, DAG runs) come in through
:class:`Services`; ``paywall_ui.airflow_binding`` builds the real ones.
"""

from __future__ import annotations

import hmac
import json
import logging
import threading
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.resources import files
from typing import Any
from urllib.parse import parse_qs, quote, urlencode

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FunctionLoader, select_autoescape
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from paywall.config import Settings
from paywall.editor import (
    EditorAction,
    Kind,
    delete_override,
    new_action,
    record_action,
    retract_now,
    write_override,
)
from paywall.errors import PaywallError
from paywall.layout import Layout, interval_slug
from paywall.metadata import sha256_hex
from paywall.model import Outcome, Override, OverrideAction, Role
from paywall.segmentation import Status
from paywall.store import Store
from paywall_ui.access import (
    Authorizer,
    DagRunInfo,
    DagRuns,
    NotAuthenticated,
    Trigger,
    Viewer,
)
from paywall_ui.sanitize import FRAME_SANDBOX, frame_document, sanitize
from paywall_ui.views import (
    ArticleState,
    Index,
    Snapshot,
    cut_pieces,
    full_record,
    highlighted,
    history_of,
    interval_of,
    private_article,
    public_article,
)

__all__ = ["SECURITY_HEADERS", "Services", "create_app"]

log = logging.getLogger("paywall_ui")
COOKIE = "_token"  # Airflow's session cookie (airflow...base_auth_manager.COOKIE_NAME_JWT_TOKEN)
MAX_FORM_BYTES = 16_384
STATIC = {"paywall.css": "text/css; charset=utf-8", "paywall.js": "text/javascript; charset=utf-8"}
SECURITY_HEADERS: tuple[tuple[str, str], ...] = (
    ("cache-control", "no-store, private, max-age=0"),
    ("pragma", "no-cache"),
    ("expires", "0"),
    ("vary", "Cookie, Authorization"),
    (
        "content-security-policy",
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "frame-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'self'",
    ),
    ("x-content-type-options", "nosniff"),
    # same-origin, not no-referrer: with no-referrer a browser's form POST says "Origin: null"
    ("referrer-policy", "same-origin"),
    ("x-frame-options", "SAMEORIGIN"),
    ("cross-origin-resource-policy", "same-origin"),
)


class SecurityHeaders:
    """Pure ASGI, outermost: the headers reach every response, errors and 500s included."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                names = {name.lower().encode() for name, _ in SECURITY_HEADERS}
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() not in names]
                headers += [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS]
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            log.exception("paywall page: unhandled error on %s", scope.get("path"))
            if not started:  # else the app's own 500 went out, with these headers
                await _plain(500, "internal error (see the api-server log)")(
                    scope, receive, send_with_headers
                )


def _plain(status: int, text: str) -> Response:
    return Response(text + "\n", status_code=status, media_type="text/plain; charset=utf-8")


@dataclass
class Services:
    """What the page needs from outside; built once per api-server process."""

    settings: Settings
    store_factory: Callable[[], Store]  # called once, on first use (a connection look-up)
    authorizer: Authorizer
    trigger: Trigger
    dag_runs: DagRuns
    airflow_base: str = ""  # path prefix of Airflow's UI ("" at the root)
    _store: Store | None = field(default=None, init=False, repr=False)
    _index: Index | None = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    @property
    def dag_id(self) -> str:
        return self.settings.pipeline.name

    @property
    def layout(self) -> Layout:
        storage = self.settings.storage
        return Layout(storage.public_bucket, storage.private_bucket, self.settings.pipeline.name)

    def store(self) -> Store:
        with self._lock:
            if self._store is None:
                self._store = self.store_factory()
            return self._store

    def index(self) -> Index:
        store = self.store()
        with self._lock:
            if self._index is None:
                self._index = Index(store, self.layout)
            return self._index


def _load_template(name: str) -> str | None:
    resource = files("paywall_ui").joinpath("templates", name)
    return resource.read_text(encoding="utf-8") if resource.is_file() else None


def _environment() -> Environment:
    env = Environment(
        loader=FunctionLoader(_load_template),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["pretty"] = lambda data: json.dumps(data, ensure_ascii=False, indent=2)
    env.filters["q"] = lambda value: quote(str(value), safe="")
    env.filters["counts"] = _counts_line
    return env


def create_app(services: Services) -> ASGIApp:
    """The page's ASGI app (FastAPI inside the security-headers wrapper)."""
    app = FastAPI(
        title="Paywall page",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    templates = _environment()

    def render(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        body = templates.get_template(name).render(
            base=root,
            airflow=services.airflow_base,
            dag_id=services.dag_id,
            **context,
        )
        return HTMLResponse(body, status_code=status)

    # ------------------------------------------------------------------ who is asking

    async def who(request: Request) -> Viewer:
        header = request.headers.get("authorization", "")
        scheme, _, credential = header.partition(" ")
        if scheme.lower() == "bearer" and credential.strip():
            token, via_cookie = credential.strip(), False
        else:
            token, via_cookie = request.cookies.get(COOKIE) or "", True
        if not token:
            raise HTTPException(401, "not authenticated", {"WWW-Authenticate": "Bearer"})
        try:
            return await services.authorizer.viewer(token, via_cookie=via_cookie)
        except NotAuthenticated:
            raise HTTPException(401, "not authenticated", {"WWW-Authenticate": "Bearer"}) from None

    async def reader(request: Request) -> Viewer:
        viewer = await who(request)
        if not viewer.can_read:
            raise HTTPException(403, f"no read access to the DAG {services.dag_id}")
        return viewer

    async def editor(request: Request) -> Viewer:
        viewer = await who(request)
        if not viewer.can_edit:
            raise HTTPException(
                403, f"paid text and editor actions need edit access to the DAG {services.dag_id}"
            )
        return viewer

    async def form_of(request: Request, viewer: Viewer) -> dict[str, str]:
        """The posted form, after the cross-site checks: a browser session (cookie) must
        send this page's CSRF token, and no request may come from another origin."""
        # A browser says where a request comes from: Sec-Fetch-Site (every current
        # browser), else Origin ("null" when a no-referrer policy hides it).
        site = request.headers.get("sec-fetch-site")
        origin = request.headers.get("origin")
        if site is not None:
            if site != "same-origin":
                raise HTTPException(403, "cross-site request refused")
        elif origin is not None and origin != f"{request.url.scheme}://{request.url.netloc}":
            raise HTTPException(403, "cross-origin request refused")
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_FORM_BYTES:
                raise HTTPException(413, "form too large")
        try:
            pairs = parse_qs(body.decode("utf-8"), max_num_fields=20, strict_parsing=False)
        except (UnicodeDecodeError, ValueError):
            raise HTTPException(400, "unreadable form") from None
        form = {k: v[-1] for k, v in pairs.items() if v}
        if viewer.via_cookie and not hmac.compare_digest(form.get("csrf", ""), viewer.csrf):
            raise HTTPException(403, "missing or stale form token: reload the page")
        return form

    def snapshot() -> Snapshot:
        return services.index().snapshot()

    def article_state(snap: Snapshot, article_id: str) -> ArticleState:
        state = snap.articles.get(article_id)
        if state is None:
            raise HTTPException(404, "no committed record of this article")
        return state

    # ------------------------------------------------------------------------ pages

    @app.get("/", response_class=HTMLResponse)
    async def overview(request: Request, reason: str = "", source: str = "") -> HTMLResponse:
        viewer = await reader(request)
        snap = snapshot()
        runs = _dag_runs(services)
        reasons, sources = snap.quarantine_facets()
        return render(
            request,
            "overview.html",
            viewer=viewer,
            runs=_run_table(snap, runs, services.layout),
            queue=snap.quarantine(reason=reason or None, source=source or None),
            reasons=reasons,
            sources=sources,
            reason=reason,
            source=source,
        )

    @app.get("/manifest", response_class=HTMLResponse)
    async def manifest(request: Request, key: str) -> HTMLResponse:
        viewer = await reader(request)
        snap = snapshot()
        row = next((r for r in snap.runs if r.manifest_key == key), None)
        if row is None:
            raise HTTPException(404, "no such manifest")
        store, layout = services.store(), services.layout
        body = store.get(layout.public_bucket, row.manifest_key)
        lines: list[Any] = []
        for line in (body or b"").splitlines():
            if line.strip():
                try:
                    lines.append(json.loads(line))
                except ValueError:
                    lines.append({"unreadable line": line[:200].decode("utf-8", "replace")})
        return render(request, "manifest.html", viewer=viewer, row=row, lines=lines)

    @app.get("/article/{article_id}", response_class=HTMLResponse)
    async def article(request: Request, article_id: str, done: str = "") -> HTMLResponse:
        viewer = await reader(request)
        snap = snapshot()
        state = article_state(snap, article_id)
        store, layout = services.store(), services.layout
        settings = services.settings
        public = public_article(store, layout, state)
        private = None
        if viewer.can_edit:
            private = private_article(
                store, layout, state, settings.markers.build(), services.index().editor_log
            )
        placeholder = settings.output.text_placeholder
        pieces = None
        if public.free_txt is not None:
            pieces = cut_pieces(
                public.free_txt,
                private.paid_txt if private is not None else None,
                public.segments,
                placeholder,
            )
        frames: dict[str, str] = {}
        title = state.record.title or state.record.source_id
        cut_class = settings.output.cut_class
        if public.free_html is not None:
            frames["free"] = frame_document(
                sanitize(public.free_html), title=title, cut_class=cut_class
            )
        if private is not None and private.paid_html is not None:
            frames["paid"] = frame_document(
                sanitize(private.paid_html), title=title, cut_class=cut_class
            )
        done_action = None
        if private is not None and done:
            done_action = next((a for a in private.actions if a.action_id == done), None)
        return render(
            request,
            "article.html",
            viewer=viewer,
            state=state,
            record=state.record,
            public=public,
            private=private,
            pieces=pieces,
            frames=frames,
            sandbox=FRAME_SANDBOX,
            raw=highlighted(private.raw_text, private.highlights)
            if private is not None and private.raw_text is not None
            else None,
            history=history_of(state),
            interval=interval_of(state.slug),
            done=done_action,
            can_resolve=_can_resolve(state),
            can_retract=state.record.live,
            Outcome=Outcome,
        )

    @app.get("/article/{article_id}/paid")
    async def paid(request: Request, article_id: str) -> Response:
        """The paid halves as JSON (editors only): what the page shows, for tools."""
        await editor(request)
        state = article_state(snapshot(), article_id)
        private = private_article(
            services.store(), services.layout, state, services.settings.markers.build()
        )
        data = {"article_id": article_id, "txt": private.paid_txt, "html": private.paid_html}
        return Response(
            json.dumps(data, ensure_ascii=False), media_type="application/json; charset=utf-8"
        )

    @app.get("/article/{article_id}/raw")
    async def raw(request: Request, article_id: str) -> Response:
        """The quarantined raw input as stored (editors only), checked against the digest
        its committed private line holds, as a download."""
        await editor(request)
        state = article_state(snapshot(), article_id)
        store, layout = services.store(), services.layout
        full = full_record(store, layout, state)
        obj = full.object(Role.INPUT) if full is not None else None
        if obj is None:
            raise HTTPException(404, "this article has no quarantined input")
        body = store.get(layout.private_bucket, obj.key)
        if body is None or sha256_hex(body) != obj.sha256:
            raise HTTPException(409, "the stored input does not match its committed digest")
        return Response(
            body,
            media_type="application/octet-stream",
            headers={"content-disposition": f'attachment; filename="{article_id}.input"'},
        )

    # ---------------------------------------------------------------------- actions

    async def act(
        request: Request,
        article_id: str,
        perform: Callable[[Viewer, ArticleState, dict[str, str]], Awaitable[EditorAction]],
    ) -> Response:
        viewer = await editor(request)
        form = await form_of(request, viewer)
        state = article_state(snapshot(), article_id)
        action = await perform(viewer, state, form)
        record_action(services.store(), services.layout, action)
        log.info(
            "paywall page: %s on %s/%s by %s (%s)",
            action.kind.value,
            action.source,
            action.article_id,
            action.by,
            action.action_id,
        )
        target = f"{request.scope.get('root_path', '')}/article/{quote(article_id)}"
        return RedirectResponse(f"{target}?{urlencode({'done': action.action_id})}", 303)

    async def reprocess_run(viewer: Viewer, state: ArticleState, why: str) -> dict[str, Any]:
        """Trigger the DAG for the article's own interval, as the signed-in user."""
        interval = interval_of(state.slug)
        if interval is None:
            return {"triggered": False, "error": f"no interval in {state.manifest_key}"}
        record = state.record
        conf = {"article_ids": [record.article_id], "force": True, "sources": [record.source]}
        for _attempt in range(3):
            # logical_date is unique per DAG; the interval the run compares with is the
            # article's, given explicitly (Airflow uses it as the run's data interval).
            body = {
                "logical_date": datetime.now(UTC).isoformat(),
                "data_interval_start": interval.start.isoformat(),
                "data_interval_end": interval.end.isoformat(),
                "conf": conf,
                "note": f"Paywall page: {why} {record.source}/{record.article_id}",
            }
            result = await services.trigger(viewer.token, services.dag_id, body)
            if result.status != 409:
                break
        details: dict[str, Any] = {
            "triggered": result.ok,
            "interval": interval.to_json(),
            "conf": conf,
        }
        if result.ok:
            details["dag_run_id"] = result.run_id
        else:
            details["error"] = f"Airflow answered {result.status}: {result.detail}"
        return details

    @app.post("/article/{article_id}/reprocess")
    async def reprocess(request: Request, article_id: str) -> Response:
        async def perform(
            viewer: Viewer, state: ArticleState, form: dict[str, str]
        ) -> EditorAction:
            details = await reprocess_run(viewer, state, "reprocess")
            return new_action(
                Kind.REPROCESS, state.record, viewer.name, details=details, note=form.get("note")
            )

        return await act(request, article_id, perform)

    @app.post("/article/{article_id}/resolve")
    async def resolve(request: Request, article_id: str) -> Response:
        async def perform(
            viewer: Viewer, state: ArticleState, form: dict[str, str]
        ) -> EditorAction:
            choice = form.get("action", "")
            if choice not in (OverrideAction.ALL_FREE.value, OverrideAction.ALL_PAID.value):
                raise HTTPException(400, "action must be all_free or all_paid")
            if not _can_resolve(state):
                raise HTTPException(
                    409, "only a quarantined article without markers can be resolved"
                )
            now = datetime.now(UTC)
            override = Override(OverrideAction(choice), viewer.name, now.isoformat())
            key = write_override(
                services.store(), services.layout, state.record.source, state.record.source_id,
                override,
            )  # fmt: skip
            details: dict[str, Any] = {"override": override.to_json(), "override_key": key}
            if form.get("reprocess"):
                details["reprocess"] = await reprocess_run(viewer, state, f"resolve {choice}")
            return new_action(
                Kind.RESOLVE, state.record, viewer.name, details=details, note=form.get("note"),
                now=now,
            )  # fmt: skip

        return await act(request, article_id, perform)

    @app.post("/article/{article_id}/retract")
    async def retract(request: Request, article_id: str) -> Response:
        async def perform(
            viewer: Viewer, state: ArticleState, form: dict[str, str]
        ) -> EditorAction:
            if form.get("confirm") != "yes":
                raise HTTPException(400, "tick the confirmation to retract")
            now = datetime.now(UTC)
            done = retract_now(
                services.store(), services.layout, state.record, viewer.name, now=now
            )
            details: dict[str, Any] = {
                "override_key": done.override_key,
                "deleted_public": list(done.deleted_public),
                "deleted_private": list(done.deleted_private),
                "catalog": done.catalog,
                # The committed manifest still lists the deleted objects: a run records the
                # retraction (the override makes it delete everything again, publish nothing).
                "reprocess": await reprocess_run(viewer, state, "record the retraction of"),
            }
            return new_action(
                Kind.RETRACT, state.record, viewer.name, details=details, note=form.get("note"),
                now=now,
            )  # fmt: skip

        return await act(request, article_id, perform)

    @app.post("/article/{article_id}/clear-override")
    async def clear_override(request: Request, article_id: str) -> Response:
        async def perform(
            viewer: Viewer, state: ArticleState, form: dict[str, str]
        ) -> EditorAction:
            key = delete_override(
                services.store(), services.layout, state.record.source, state.record.source_id
            )
            # force=true: a retraction deleted objects the committed manifest may still list.
            details = {
                "override_key": key,
                "reprocess": await reprocess_run(viewer, state, "clear the override of"),
            }
            return new_action(
                Kind.CLEAR_OVERRIDE, state.record, viewer.name, details=details,
                note=form.get("note"),
            )  # fmt: skip

        return await act(request, article_id, perform)

    @app.get("/static/{name}")
    async def static(request: Request, name: str) -> Response:
        await reader(request)
        if name not in STATIC:
            raise HTTPException(404, "no such file")
        body = files("paywall_ui").joinpath("static", name).read_text(encoding="utf-8")
        return Response(body, media_type=STATIC[name])

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        response = _plain(exc.status_code, str(exc.detail))
        for name, value in (exc.headers or {}).items():
            response.headers[name] = value
        return response

    @app.exception_handler(PaywallError)
    async def paywall_error(request: Request, exc: PaywallError) -> Response:
        log.warning("paywall page: %s (%s)", exc, exc.code.value)
        return _plain(503, f"storage or configuration problem ({exc.code.value}): {exc}")

    return SecurityHeaders(app)


def _can_resolve(state: ArticleState) -> bool:
    record = state.record
    return record.outcome is Outcome.QUARANTINED and record.status == Status.NO_MARKERS.value


def _dag_runs(services: Services) -> list[DagRunInfo]:
    try:
        return list(services.dag_runs(services.dag_id))
    except Exception:  # the page still shows what storage holds
        log.exception("paywall page: could not read the DAG runs")
        return []


@dataclass(frozen=True, slots=True)
class RunTableRow:
    slug: str
    start: str | None
    end: str | None
    manifests: list[Any]  # RunRow
    dag_runs: list[DagRunInfo]


def _run_table(snap: Snapshot, runs: list[DagRunInfo], layout: Layout) -> list[RunTableRow]:
    """One row per interval: its manifests (interval and partial) and its DAG runs."""
    by_slug: MutableMapping[str, RunTableRow] = {}
    for row in snap.runs:
        interval = row.interval
        entry = by_slug.setdefault(
            row.slug,
            RunTableRow(
                row.slug,
                interval.start.isoformat() if interval else None,
                interval.end.isoformat() if interval else None,
                [],
                [],
            ),
        )
        entry.manifests.append(row)
    for info in runs:
        if not info.start or not info.end:
            continue
        try:
            start = datetime.fromisoformat(info.start)
            end = datetime.fromisoformat(info.end)
        except ValueError:
            continue
        if end <= start:
            continue
        slug = interval_slug(start, end)
        entry = by_slug.setdefault(slug, RunTableRow(slug, info.start, info.end, [], []))
        entry.dag_runs.append(info)
    return sorted(by_slug.values(), key=lambda r: r.slug, reverse=True)


def _counts_line(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in counts.items() if v) or "none"
