"""The reminders' worker in processes of its own, with Redis::

    REDIS_URL=redis://127.0.0.1:6379/0 DATABASE_URL=postgresql://... \\
    MEDIZ_PUSH_URL=http://127.0.0.1:8000/_demo/push/ \\
    mediz-infra worker examples.mediz_app.worker:queue --concurrency 20

Start the app with ``create_app(reminder_worker=False)`` (or keep its in-process worker: any
number of workers share the queue, and the every-minute check still runs once per minute).
This module reads the settings when it is imported, as an app module does; it opens its
database pool and metrics store on the first job.
"""

from __future__ import annotations

import os

from mediz_infra import Settings

from .reminders import Reminders

__all__ = ["queue", "reminders"]

reminders = Reminders(Settings(), push_url=os.environ.get("MEDIZ_PUSH_URL") or None)
queue = reminders.queue
