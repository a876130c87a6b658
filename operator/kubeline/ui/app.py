"""The web application: routes, templates, static files and the security rules every response follows.

User text reaches pages only through Jinja2 with autoescape on, and the browser script sets text with
textContent; the Content-Security-Policy forbids inline scripts, so an escaping slip cannot run code. Actions
are POST forms carrying a token derived from a per-process secret, and are refused from other origins; a UI
bound to the loopback interface also refuses requests naming another host (DNS rebinding).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import Awaitable, Callable, Collection
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web

from kubeline.ui.rows import format_seconds, iso
from kubeline.ui.sources import ActionRefused, Source

log = logging.getLogger("kubeline.ui")

CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-src 'self'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    # same-origin, not no-referrer: under no-referrer a browser sends `Origin: null` with this UI's own form
    # POSTs, and null (a sandboxed frame, a data: page) is an origin actions must refuse
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}
#: Host names a UI bound to the loopback interface answers to.
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "[::1]", "::1"})

SOURCE: web.AppKey[Source] = web.AppKey("source", Source)
TEMPLATES: web.AppKey[jinja2.Environment] = web.AppKey("templates", jinja2.Environment)
CSRF: web.AppKey[str] = web.AppKey("csrf", str)
BASE: web.AppKey[str] = web.AppKey("base", str)
#: The response a handler has sent its headers of (a stream): nothing else can be sent for that request.
PREPARED: web.RequestKey[web.StreamResponse] = web.RequestKey("prepared", web.StreamResponse)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def static_folder() -> Path:
    return Path(str(resources.files("kubeline.ui") / "static"))


def templates() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("kubeline.ui"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["when"] = iso
    environment.filters["seconds"] = format_seconds
    environment.filters["phase_class"] = lambda phase: f"phase-{str(phase or 'none').lower()}"
    return environment


def make_app(
    source: Source,
    *,
    base_path: str = "",
    allowed_hosts: Collection[str] | None = None,
    secret: bytes | None = None,
) -> web.Application:
    """The UI over ``source``. ``base_path``: a prefix every route and link carries (e.g. ``/kubeline`` behind an
    Ingress that keeps it); ``allowed_hosts``: host names the Host header may name (None: any, as behind an
    Ingress); ``secret``: the key of the action tokens (random per process by default)."""
    base = "/" + base_path.strip("/") if base_path.strip("/") else ""
    app = web.Application(middlewares=[_host_check(allowed_hosts), _errors])
    app[SOURCE] = source
    app[TEMPLATES] = templates()
    app[CSRF] = hmac.new(secret or secrets.token_bytes(32), b"kubeline-ui actions", hashlib.sha256).hexdigest()
    app[BASE] = base
    app.on_response_prepare.append(_security_headers)
    app.on_startup.append(_start_source)
    app.on_cleanup.append(_stop_source)
    from kubeline.ui import views  # the handlers use this module's helpers

    views.add_routes(app, base)
    app.router.add_static(f"{base}/static/", static_folder(), append_version=False)
    return app


async def _start_source(app: web.Application) -> None:
    await app[SOURCE].start()


async def _stop_source(app: web.Application) -> None:
    await app[SOURCE].stop()


async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """The headers every response carries, unless its handler set a stricter one (a download's or a web
    app's sandboxing CSP)."""
    for header, value in SECURITY_HEADERS.items():
        response.headers.setdefault(header, value)


def _host_check(allowed: Collection[str] | None) -> Any:
    allowed_names = {name.lower() for name in allowed} if allowed is not None else None

    @web.middleware
    async def host_check(request: web.Request, handler: Handler) -> web.StreamResponse:
        if allowed_names is not None and _host_name(request.host) not in allowed_names:
            return error_page(request, 421, "Wrong host", f"this UI answers to {', '.join(sorted(allowed_names))}")
        return await handler(request)

    return host_check


def _host_name(host: str) -> str:
    host = host.lower()
    if host.startswith("["):
        return host.split("]")[0] + "]"
    return host.rsplit(":", 1)[0] if ":" in host else host


async def prepare(request: web.Request, response: web.StreamResponse) -> web.StreamResponse:
    """Sends ``response``'s headers (a stream begins); a failure after this ends the stream, not as a page."""
    await response.prepare(request)
    request[PREPARED] = response
    return response


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every failure as a page naming the problem; tracebacks go to the server's log only. A stream whose
    browser left (a closed tab) just ends; no page can follow a stream's headers."""
    try:
        return await handler(request)
    except Exception as error:
        if PREPARED not in request:
            return _error_page(request, error)
        if not isinstance(error, ConnectionResetError):
            log.error("error streaming %s", request.path, exc_info=error)
        return request[PREPARED]


def _error_page(request: web.Request, error: Exception) -> web.Response:
    if isinstance(error, ActionRefused):
        return error_page(request, error.status, "Not allowed" if error.status == 403 else "Refused", str(error))
    if isinstance(error, web.HTTPException):
        if error.status < 400:
            raise error
        text = error.text if error.text and error.text != error.reason else ""
        return error_page(request, error.status, error.reason, text)
    log.error("error serving %s", request.path, exc_info=error)
    return error_page(request, 500, "Internal error", f"{type(error).__name__}; the server's log has the details")


def error_page(request: web.Request, status: int, title: str, message: str) -> web.Response:
    text = render(request, "error.html", title=title, message=message, status=status)
    return web.Response(status=status, text=text, content_type="text/html")


def render(request: web.Request, template: str, **context: Any) -> str:
    app = request.app
    source = app[SOURCE]
    return (
        app[TEMPLATES]
        .get_template(template)
        .render(base=app[BASE], csrf=app[CSRF], source_label=source.label, writable=source.writable, **context)
    )


def page(request: web.Request, template: str, **context: Any) -> web.Response:
    return web.Response(text=render(request, template, **context), content_type="text/html")


def check_action(request: web.Request, form: Any) -> None:
    """A POST action must carry the token and come from this UI's own pages."""
    origin = request.headers.get("Origin")
    if origin and (origin == "null" or origin.split("://", 1)[-1].lower() != request.host.lower()):
        raise ActionRefused(f"actions are accepted only from this UI's own pages, not from {origin}")
    if request.headers.get("Sec-Fetch-Site", "same-origin") not in ("same-origin", "none"):
        raise ActionRefused("actions are accepted only from this UI's own pages")
    token = form.get("csrf", "") if form is not None else ""
    if not isinstance(token, str) or not hmac.compare_digest(token, request.app[CSRF]):
        raise ActionRefused("the form's token is missing or stale: reload the page and try again")
    if not request.app[SOURCE].writable:
        raise ActionRefused("this UI is read-only (started with --read-only)")
