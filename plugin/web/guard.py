"""Who may open a page: the session cookie, the role, the bot, the CSRF token.

Every page handler is declared with :func:`page`, which records the role it
needs; :func:`page_middleware` reads that record, so a page cannot be shown
one way and guarded another (as :mod:`plugin.http.endpoint` does for the API).
In order, for a page handler:

1. the session named by the cookie (none, expired or its key revoked: a GET
   is sent to the sign-in page, anything else answers 401);
2. the ``{bot}`` of the path against the bot-id rule, then the key's bots and
   role (404 for a bot the key does not cover, as the API does; 403 for a
   role too low);
3. for every request that is not GET or HEAD, the CSRF token of the session,
   sent as the ``X-CSRF-Token`` header (htmx) or the ``csrf`` form field,
   compared in constant time (403 otherwise);

and then the page. Errors become an HTML page (or, for htmx, an alert in
place) with the status :func:`plugin.http.errors.status_of` gives. Every
answer of the web tab carries the security headers (:data:`SECURITY_HEADERS`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp_jinja2
from aiohttp import web

from plugin.access.keys import Role
from plugin.access.sessions import WebSession, find_session
from plugin.core.bot_ids import check_bot_id
from plugin.core.errors import AudienceError, Forbidden
from plugin.http.appkeys import DATABASE, SETTINGS
from plugin.http.errors import status_of

__all__ = ["PageRule", "page", "page_middleware", "session_of", "SESSION_COOKIE",
           "SECURITY_HEADERS", "is_htmx", "can_edit", "STATIC_PREFIX", "redirect", "render"]

log = logging.getLogger(__name__)

SESSION_COOKIE = "audience_session"
STATIC_PREFIX = "/static/"
_ATTR = "__audience_page__"
WEB_SESSION = web.RequestKey("web_session", WebSession)
# No inline script or style anywhere: scripts and styles come from /static only.
_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
        "object-src 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": _CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}

Handler = TypeVar("Handler", bound=Callable[[web.Request], Awaitable[web.StreamResponse]])
_Next = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class PageRule:
    role: Role | None  # None: open (the sign-in page)


def page(role: Role | None) -> Callable[[Handler], Handler]:
    """Declare a handler a page of the web tab that needs ``role`` (None: open)."""
    rule = PageRule(role)

    def decorate(handler: Handler) -> Handler:
        setattr(handler, _ATTR, rule)
        return handler

    return decorate


def session_of(request: web.Request) -> WebSession:
    found: WebSession = request[WEB_SESSION]
    return found


def can_edit(request: web.Request) -> bool:
    return session_of(request).principal.role.rank >= Role.EDITOR.rank


def is_htmx(request: web.Request) -> bool:
    return request.headers.get("HX-Request") == "true"


def redirect(location: str) -> web.Response:
    """See Other: returned, not raised (the API's error middleware would make a
    raised one a JSON error)."""
    return web.Response(status=303, headers={"Location": location})


def render(template: str, request: web.Request, context: Mapping[str, Any], *,
           status: int = 200) -> web.Response:
    """``template`` with ``context`` and what every page shows: the session,
    its CSRF token, whether it may change things."""
    session = request.get(WEB_SESSION)
    common = {"session": session, "csrf": session.csrf_token if session else "",
              "can_edit": can_edit(request) if session else False}
    return aiohttp_jinja2.render_template(template, request, {**common, **context},
                                          status=status)


@web.middleware
async def page_middleware(request: web.Request, handler: _Next) -> web.StreamResponse:
    rule: PageRule | None = getattr(request.match_info.handler, _ATTR, None)
    if rule is None:
        if request.path.startswith(STATIC_PREFIX):
            response = await handler(request)
            response.headers.update(SECURITY_HEADERS)
            return response
        return await handler(request)
    try:
        refused = await _admit(request, rule.role) if rule.role is not None else None
        response = refused or await handler(request)
    except AudienceError as exc:
        response = await _error_page(request, exc)
    if not response.prepared:  # a stream (live events) set its own as it started
        response.headers.update(SECURITY_HEADERS)
        response.headers.setdefault("Cache-Control", "no-store")
    return response


async def _admit(request: web.Request, role: Role) -> web.StreamResponse | None:
    """None when the request may go on; else the answer that sends it to sign in."""
    app = request.config_dict
    session = await find_session(app[DATABASE], request.cookies.get(SESSION_COOKIE),
                                 app[SETTINGS].admin_key)
    if session is None:
        if request.method in ("GET", "HEAD") and not is_htmx(request):
            return redirect("/")
        # htmx follows HX-Redirect to the sign-in page; a plain form post gets the page.
        ended = render(
            "error.html", request, {"status": 401, "message": "Your session has ended: sign "
                                    "in again."}, status=401)
        ended.headers["HX-Redirect"] = "/"
        return ended
    if "bot" in request.match_info:
        bot_id = check_bot_id(request.match_info["bot"])
        session.principal.authorize(bot_id, role)
    else:
        session.principal.authorize_role(role)
    if request.method not in ("GET", "HEAD"):
        sent = request.headers.get("X-CSRF-Token")
        if sent is None and request.content_type in ("application/x-www-form-urlencoded",
                                                     "multipart/form-data"):
            field = (await request.post()).get("csrf")
            sent = field if isinstance(field, str) else None
        if not session.csrf_matches(sent):
            raise Forbidden("this form has expired or did not come from this site (CSRF "
                            "token missing or wrong): reload the page and try again")
    request[WEB_SESSION] = session
    return None


async def _error_page(request: web.Request, exc: AudienceError) -> web.StreamResponse:
    status = status_of(exc)
    if status >= 500:
        log.warning("%s %s: %s", request.method, request.path, exc.message)
    context = {"status": status, "message": exc.message, "details": exc.details}
    if is_htmx(request):
        # In place: the alert region of the page shows it; nothing else changes.
        response = render("_alert.html", request, context,
                                                  status=200)
        response.headers["HX-Retarget"] = "#alerts"
        response.headers["HX-Reswap"] = "innerHTML"
        response.headers["HX-Push-Url"] = "false"
        return response
    return render("error.html", request, context, status=status)
