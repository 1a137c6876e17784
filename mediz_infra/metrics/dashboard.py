"""The ``/admin/metrics`` page: HTML, CSS and a small SVG chart script, shipped in the package.

No CDN and no build step: ``templates/dashboard.html`` gets ``static/dashboard.css`` and
``static/dashboard.js`` inlined once, when the page is built, so serving it is one response
with no second request to guard. The script polls ``<admin_path>.json`` every
``interval`` seconds and redraws.
"""

from __future__ import annotations

import html
import json
from importlib.resources import files

from starlette.responses import Response

from ..errors import ConfigError
from ..types import Receive, Scope, Send

__all__ = ["DashboardPage"]

_ROOT = files("mediz_infra.metrics")


class DashboardPage:
    """The dashboard page as an ASGI app (guard it: :func:`~.endpoints.metrics_routes` does).

    Args:
        source: the JSON endpoint the page polls (same origin).
        interval: seconds between two polls.

    Raises:
        ConfigError: ``interval`` is below 0.2 s.
    """

    def __init__(self, source: str, *, interval: float = 2.0) -> None:
        if interval < 0.2:
            raise ConfigError("interval", f"expected at least 0.2 s, got {interval!r}")
        page = _ROOT.joinpath("templates/dashboard.html").read_text(encoding="utf-8")
        css = _ROOT.joinpath("static/dashboard.css").read_text(encoding="utf-8")
        js = _ROOT.joinpath("static/dashboard.js").read_text(encoding="utf-8")
        page = page.replace("/*CSS*/", css).replace("/*JS*/", js.replace("</", "<\\/"))
        page = page.replace("/*SOURCE*/", html.escape(source, quote=True))
        page = page.replace("/*INTERVAL*/", json.dumps(round(interval * 1000)))
        self.body = page.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = Response(
            self.body,
            media_type="text/html",
            headers={
                "cache-control": "no-store",
                "content-security-policy": (
                    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                    "connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'"
                ),
                "x-content-type-options": "nosniff",
            },
        )
        await response(scope, receive, send)
