"""A refused form's problem, named by the field people see and shown where
they are looking.

The services and the schemas name a field by its key in the request body
(``url``, ``properties/0/choices/2``); a form names it by its label ("Webhook
URL", "Choices"). :func:`named` rewords an :class:`InvalidRequest` so its
message starts with the label. :func:`problem_in` shows it inside the open
dialog the form came from: the page's ``#alerts`` (where
:mod:`plugin.web.guard` puts errors) sits under a modal dialog's backdrop.
"""

from __future__ import annotations

from collections.abc import Mapping

from aiohttp import web

from plugin.core.errors import AudienceError, InvalidRequest
from plugin.web.guard import is_htmx, render

__all__ = ["named", "problem_in"]


def named(exc: InvalidRequest, labels: Mapping[str, str], *,
          prefix: str = "", field: str | None = None) -> InvalidRequest:
    """``exc`` with its message starting with the label of the field it is
    about: ``field`` if given, else the ``field`` of its details, else the
    first part after ``prefix`` of its first schema error's path. Unchanged
    when no field of ``labels`` is named."""
    errors = exc.details.get("errors")
    first = errors[0] if isinstance(errors, list) and errors else None
    key = field or exc.details.get("field")
    if key is None and isinstance(first, Mapping):
        path = str(first.get("path", ""))
        if path.startswith(prefix):
            key = path[len(prefix):].split("/")[0]
    if not isinstance(key, str) or key not in labels:
        return exc
    reason = str(first["message"]) if isinstance(first, Mapping) else exc.message
    return InvalidRequest(f"{labels[key]}: {reason}", **{**exc.details, "field": key})


def problem_in(request: web.Request, target: str, exc: AudienceError) -> web.Response:
    """For htmx, the problem as an alert in the element ``target`` (a CSS
    selector inside the form's dialog), the form left as it was typed.

    Raises:
        AudienceError: ``exc``, for a plain form post (the error page shows it).
    """
    if not is_htmx(request):
        raise exc
    response = render("_alert.html", request, {"message": exc.message, "details": exc.details})
    response.headers["HX-Retarget"] = target
    response.headers["HX-Reswap"] = "innerHTML"
    response.headers["HX-Push-Url"] = "false"
    return response
