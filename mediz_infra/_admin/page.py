"""An admin page built once from package data and served as one self-contained response.

No CDN and no build step: the shared layout (``templates/layout.html``) gets the page's markup
(``<package>/templates/<name>.html``), the shared stylesheet and script (``static/admin.css``,
``static/admin.js``) followed by the page's own (``<package>/static/<name>.css`` and ``.js``),
all inlined when the page is built, so serving it is one response with no second request to
guard. The script reads its settings from the ``<body>``'s ``data-*`` attributes.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping
from importlib.resources import files

from starlette.responses import Response

from ..errors import ConfigError
from ..types import Receive, Scope, Send

__all__ = ["HEADERS", "MIN_INTERVAL", "AdminPage"]

_SHARED = "mediz_infra._admin"
_SLOT = re.compile(r"/\*([A-Z]+)\*/")

MIN_INTERVAL = 0.2
"""The shortest poll interval a page accepts, in seconds."""

HEADERS = {
    "cache-control": "no-store",
    "content-security-policy": (
        "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
        "connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'"
    ),
    "x-content-type-options": "nosniff",
}
"""Every admin page's response headers: never cached, nothing loaded from elsewhere, not framed."""


def _read(package: str, path: str) -> str:
    return files(package).joinpath(path).read_text(encoding="utf-8")


class AdminPage:
    """One admin page as an ASGI app (unguarded: the component's routes put it behind the guard).

    Args:
        package: the package holding ``templates/<name>.html`` (what the ``<body>`` shows
            between the shared header and the script) and ``static/<name>.css`` and ``.js``.
        name: the page's file name, without its extension.
        title: shown in the header and as the window's title.
        data: ``<body>`` attributes for the script (``{"api": "/admin/queues/api"}`` becomes
            ``data-api="/admin/queues/api"``), escaped.
        interval: seconds between two polls (``data-interval``, in milliseconds).

    Raises:
        ConfigError: ``interval`` is below :data:`MIN_INTERVAL`.
    """

    def __init__(
        self,
        package: str,
        name: str,
        *,
        title: str,
        data: Mapping[str, str],
        interval: float,
    ) -> None:
        if interval < MIN_INTERVAL:
            raise ConfigError("interval", f"expected at least {MIN_INTERVAL} s, got {interval!r}")
        attributes = [
            f'data-{key}="{html.escape(value, quote=True)}"' for key, value in data.items()
        ]
        attributes.append(f'data-interval="{json.dumps(round(interval * 1000))}"')
        script = _read(_SHARED, "static/admin.js") + _read(package, f"static/{name}.js")
        slots = {
            "TITLE": html.escape(title),
            "CSS": _read(_SHARED, "static/admin.css") + _read(package, f"static/{name}.css"),
            "DATA": " ".join(attributes),
            "BODY": _read(package, f"templates/{name}.html"),
            "JS": script.replace("</", "<\\/"),
        }
        # One pass over the layout: nothing inlined is searched for slots again.
        page = _SLOT.sub(lambda m: slots[m.group(1)], _read(_SHARED, "templates/layout.html"))
        self.body = page.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = Response(self.body, media_type="text/html", headers=HEADERS)
        await response(scope, receive, send)
