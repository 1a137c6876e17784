"""What the admin pages share: one layout, one stylesheet and script base, one way to serve them.

The metrics dashboard and the queue monitor are each an :class:`AdminPage` over their own
markup, styles and script; nothing here knows either component.
"""

from __future__ import annotations

from .page import AdminPage

__all__ = ["AdminPage"]
