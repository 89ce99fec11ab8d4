"""API keys: list them and revoke one (admins only; never the key itself).

The routes have no ``{bot_id}``: a key sees and revokes only the keys whose
bots it covers all of (see :func:`plugin.access.keys.list_keys`).
"""

from __future__ import annotations

from aiohttp import web

from plugin.access import keys
from plugin.access.keys import Role
from plugin.http.appkeys import DATABASE
from plugin.http.auth import principal
from plugin.http.endpoint import Param, endpoint
from plugin.http.jsonio import json_response
from plugin.http.presenters import shown_key

__all__ = ["routes"]

routes = web.RouteTableDef()

KEY_ID = Param("key_id", "path", {"type": "string", "pattern": "^[0-9a-f]{16}$"},
               "The key's id, as listed", required=True)


@routes.get("/v1/keys")
@endpoint("The API keys of the bots this key covers: role, bots, label, when created and "
          "last used (to the minute), whether revoked", role=Role.ADMIN,
          responses={200: "key.list"}, tag="keys")
async def list_keys(request: web.Request) -> web.Response:
    found = await keys.list_keys(request.app[DATABASE], principal(request))
    return json_response({"keys": [shown_key(k) for k in found]})


@routes.delete("/v1/keys/{key_id}")
@endpoint("Revoke a key: it is refused (401) from its next request on", role=Role.ADMIN,
          responses={200: "key", 404: "error"}, params=(KEY_ID,), tag="keys")
async def revoke_key(request: web.Request) -> web.Response:
    revoked = await keys.revoke_key(request.app[DATABASE], principal(request),
                                    request.match_info["key_id"])
    return json_response(shown_key(revoked))
