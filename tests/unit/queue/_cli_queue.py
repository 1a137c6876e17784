"""Queues for the ``mediz-infra worker`` option tests (in memory; nothing runs)."""

from __future__ import annotations

from mediz_infra.queue import Queue

plain = Queue("cli-plain", "memory://")
limited = Queue("cli-limited", "memory://", rate_limit=5.0)
