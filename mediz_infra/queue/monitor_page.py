"""The queue monitor's page: HTML, CSS and a small script shipped in the package.

No CDN and no build step: ``templates/monitor.html`` gets ``static/monitor.css`` and
``static/monitor.js`` inlined once, when the page is built, so serving it is one response. The
script polls the monitor's JSON API every ``interval`` seconds and posts its actions there.
"""

from __future__ import annotations

import html
import json
from importlib.resources import files

from starlette.responses import Response

from ..errors import ConfigError
from ..types import Receive, Scope, Send

__all__ = ["MonitorPage"]

_ROOT = files("mediz_infra.queue")
_HEADERS = {
    "cache-control": "no-store",
    "content-security-policy": (
        "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
        "connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'"
    ),
    "x-content-type-options": "nosniff",
}


class MonitorPage:
    """The page as an ASGI app (guard it: :func:`~.monitor.monitor_routes` does).

    Args:
        api: the JSON API's path (same origin).
        interval: seconds between two polls.

    Raises:
        ConfigError: ``interval`` is below 0.2 s.
    """

    def __init__(self, api: str, *, interval: float = 2.0) -> None:
        if interval < 0.2:
            raise ConfigError("interval", f"expected at least 0.2 s, got {interval!r}")
        page = _ROOT.joinpath("templates/monitor.html").read_text(encoding="utf-8")
        css = _ROOT.joinpath("static/monitor.css").read_text(encoding="utf-8")
        js = _ROOT.joinpath("static/monitor.js").read_text(encoding="utf-8")
        page = page.replace("/*CSS*/", css).replace("/*JS*/", js.replace("</", "<\\/"))
        page = page.replace("/*API*/", html.escape(api, quote=True))
        page = page.replace("/*INTERVAL*/", json.dumps(round(interval * 1000)))
        self.body = page.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = Response(self.body, media_type="text/html", headers=_HEADERS)
        await response(scope, receive, send)
