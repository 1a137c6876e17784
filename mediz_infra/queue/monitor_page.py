"""The queue monitor's page: ``templates/monitor.html``, ``static/monitor.css`` and
``static/monitor.js`` in the shared admin layout, inlined once, when the page is built.

The script polls the monitor's JSON API every ``interval`` seconds and posts its actions there.
"""

from __future__ import annotations

from .._admin import AdminPage

__all__ = ["MonitorPage"]


class MonitorPage(AdminPage):
    """The page as an ASGI app (guard it: :func:`~.monitor.monitor_routes` does).

    Args:
        api: the JSON API's path (same origin).
        interval: seconds between two polls.

    Raises:
        ConfigError: ``interval`` is below 0.2 s.
    """

    def __init__(self, api: str, *, interval: float = 2.0) -> None:
        super().__init__(
            "mediz_infra.queue", "monitor", title="Queues", data={"api": api}, interval=interval
        )
