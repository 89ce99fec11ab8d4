"""The web tab: server-rendered pages over the same services as the JSON API.

A face, like :mod:`plugin.http` and :mod:`plugin.cli`: its handlers call the
services (:mod:`plugin.audience`, :mod:`plugin.handover`, …) directly, never
the API over HTTP, and no service imports it. :func:`install_web` adds it to
the app :func:`plugin.http.app.create_app` builds; ``audience serve`` does so.
"""

from plugin.web.app import install_web

__all__ = ["install_web"]
