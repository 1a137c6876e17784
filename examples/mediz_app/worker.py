"""The reminders' worker in processes of its own, with Redis::

    REDIS_URL=redis://127.0.0.1:6379/0 DATABASE_URL=postgresql://... \\
    MEDIZ_PUSH_URL=http://127.0.0.1:8000/_demo/push/ \\
    mediz-infra worker examples.mediz_app.worker:queue --concurrency 20

Start the app with ``create_app(reminder_worker=False)`` (or keep its in-process worker: any
number of workers share the queue, and the every-minute check still runs once per minute).
This module reads the settings when it is imported, as an app module does. The queue's
lifespan opens the worker's database pool and metrics store before the first job and, after
SIGTERM and the last running job, flushes the errors recorded and closes them.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

from mediz_infra import Settings

from .reminders import Reminders

__all__ = ["queue", "reminders", "resources"]

reminders = Reminders(Settings(), push_url=os.environ.get("MEDIZ_PUSH_URL") or None)
queue = reminders.queue


@queue.lifespan
async def resources() -> AsyncIterator[None]:
    """The worker's connections: opened before its first job, closed after its last."""
    await reminders.open()  # fails fast on a wrong DATABASE_URL: no job is taken
    try:
        yield
    finally:
        await reminders.aclose()  # flushes the failed jobs' errors to the metrics store
