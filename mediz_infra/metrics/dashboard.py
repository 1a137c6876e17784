"""The ``/admin/metrics`` page: ``templates/dashboard.html``, ``static/dashboard.css`` and
``static/dashboard.js`` (small SVG charts) in the shared admin layout, inlined once, when the
page is built, so serving it is one response with no second request to guard.

The script polls ``<admin_path>.json`` every ``interval`` seconds and redraws.
"""

from __future__ import annotations

from .._admin import AdminPage

__all__ = ["DashboardPage"]


class DashboardPage(AdminPage):
    """The dashboard page as an ASGI app (guard it: :func:`~.endpoints.metrics_routes` does).

    Args:
        source: the JSON endpoint the page polls (same origin).
        interval: seconds between two polls.

    Raises:
        ConfigError: ``interval`` is below 0.2 s.
    """

    def __init__(self, source: str, *, interval: float = 2.0) -> None:
        super().__init__(
            "mediz_infra.metrics",
            "dashboard",
            title="Metrics",
            data={"source": source},
            interval=interval,
        )
