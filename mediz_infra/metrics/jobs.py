"""Failed queue jobs into the error tracking: a failure listener for a queue.

``queue.on_failure(JobErrorTracker(recorder))`` reports every failed attempt of a job (each
retry and the final dead letter) like an unhandled request error: grouped by fingerprint,
counted, with the redacted traceback, on the current span and to Sentry when it is set up.
The event's route is ``job <task>`` and its context the queue, job id and attempt. The job's
arguments are never attached: they may hold personal data or secrets, and the job id finds
them in the queue when they are needed.

The listener takes any object with the attributes of :class:`~mediz_infra.types.FailedJob`,
so this module does not import the queue.
"""

from __future__ import annotations

from ..types import FailedJob
from .recorder import Recorder
from .tracking import capture

__all__ = ["JobErrorTracker"]


class JobErrorTracker:
    """Records failed job attempts in a :class:`~.recorder.Recorder` (and so in its store).

    Args:
        recorder: where the errors go; the app's recorder, or one of the worker's own on the
            same store (it flushes about once a second; close it with the worker).
        final_only: report only the attempt that dead-letters a job, not each retry.
    """

    def __init__(self, recorder: Recorder, *, final_only: bool = False) -> None:
        self.recorder = recorder
        self.final_only = final_only

    def __repr__(self) -> str:
        return f"JobErrorTracker({self.recorder!r}, final_only={self.final_only})"

    def __call__(self, failure: FailedJob) -> None:
        if self.final_only and not failure.final:
            return
        context = {
            "queue": failure.queue,
            "job_id": failure.job_id,
            "attempt": f"{failure.attempt}/{failure.max_attempts}",
            "outcome": "dead" if failure.final else "retry",
        }
        self.recorder.record_error(
            capture(failure.error, route=f"job {failure.task}", context=context)
        )
