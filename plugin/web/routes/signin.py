"""Signing in and out, and the bot picker.

The sign-in form is protected against login CSRF with a double-submit token:
the page sets a random cookie and puts the same value in the form, and a
sign-in whose field does not match the cookie is refused.
"""

from __future__ import annotations

import hmac
import secrets

from aiohttp import web

from plugin.access.keys import Role
from plugin.access.sessions import find_session, sign_in, sign_out
from plugin.audience.bot_list import list_bots
from plugin.core.errors import Unauthorized
from plugin.core.events import utc_now
from plugin.http.appkeys import DATABASE, SETTINGS
from plugin.web.guard import SESSION_COOKIE, page, redirect, render, session_of

routes = web.RouteTableDef()

_SIGNIN_COOKIE = "audience_signin"


@routes.get("/")
@page(role=None)
async def signin_page(request: web.Request) -> web.StreamResponse:
    app = request.app
    if await find_session(app[DATABASE], request.cookies.get(SESSION_COOKIE),
                          app[SETTINGS].admin_key):
        return redirect("/bots")
    return _signin_form(request, error=None, status=200)


@routes.post("/")
@page(role=None)
async def signin(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    sent, expected = form.get("signin_token"), request.cookies.get(_SIGNIN_COOKIE)
    if not (isinstance(sent, str) and expected
            and hmac.compare_digest(sent.encode(), expected.encode())):
        return _signin_form(request, status=403, error="This sign-in form has expired or did "
                            "not come from this site: try again.")
    key = form.get("api_key")
    settings = request.app[SETTINGS]
    try:
        token, session = await sign_in(request.app[DATABASE],
                                       key if isinstance(key, str) else "",
                                       settings.admin_key)
    except Unauthorized as exc:
        return _signin_form(request, error=exc.message, status=401)
    response = redirect("/bots")
    response.set_cookie(SESSION_COOKIE, token,
                        max_age=int((session.expires_at - utc_now()).total_seconds()),
                        httponly=True, samesite="Strict", secure=request.secure, path="/")
    response.del_cookie(_SIGNIN_COOKIE, path="/")
    return response


@routes.post("/signout")
@page(role=Role.VIEWER)
async def signout(request: web.Request) -> web.StreamResponse:
    await sign_out(request.app[DATABASE], request.cookies.get(SESSION_COOKIE))
    response = redirect("/")
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


@routes.get("/bots")
@page(role=Role.VIEWER)
async def bot_picker(request: web.Request) -> web.StreamResponse:
    bots = await list_bots(request.app[DATABASE], session_of(request).principal.bots)
    return render("bots.html", request, {"bots": bots})


def _signin_form(request: web.Request, *, error: str | None, status: int) -> web.Response:
    token = secrets.token_urlsafe(24)
    response = render(
        "signin.html", request, {"error": error, "signin_token": token}, status=status)
    response.set_cookie(_SIGNIN_COOKIE, token, max_age=3600, httponly=True, samesite="Strict",
                        secure=request.secure, path="/")
    return response
