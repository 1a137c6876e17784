"""The queue's admin monitor: an HTML page and a JSON API beside it, every route behind the
admin guard.

:func:`monitor_routes` returns Starlette routes for a list of queues (add them to your app's
routes, as the metrics dashboard's). Under ``path`` (``/admin/queues``):

====================================================  ==========================================
``GET  path``                                          the page (polls the API)
``GET  path/api``                                      every queue: paused, counts; live workers
``GET  path/api/{queue}?minutes=60&limit=20``          one queue: counts, throughput per minute,
                                                       recent failures, dead letters, workers
``GET  path/api/{queue}/jobs/{id}``                    one job
``POST path/api/{queue}/pause`` and ``/resume``        stop or restart leasing
``POST path/api/{queue}/jobs/{id}/retry``              a dead job back to waiting
``POST path/api/{queue}/jobs/{id}/delete``             a job removed wherever it is
====================================================  ==========================================

Answers are JSON; every error is ``application/problem+json``: an unknown queue or job 404, a
bad parameter 422 naming it, retrying a job that is not dead 409, the broker unreachable 503,
never a 500. Errors and tracebacks shown have URL passwords and secret-looking values masked.

Actions are POSTs with no body. They are refused (403) when the browser says the request comes
from another site (``Sec-Fetch-Site`` other than ``same-origin``, or without it an ``Origin``
whose host is neither ``Host`` nor ``X-Forwarded-Host``): a token in an ``Authorization``
header cannot be forged by another site, but an admission ``check=`` reading a cookie could
be, and this closes that.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict
from typing import Any
from urllib.parse import urlsplit

from pydantic import SecretStr
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route, Router

from .._urls import redact_text
from ..backends import BACKEND_ERRORS
from ..errors import ConfigError
from ..guard import AdminCheck, AdminGuard
from ..problems import problem_response, problem_type
from .brokers.base import FAILURES_KEPT, MINUTES_KEPT
from .heartbeat import WorkerInfo, live_workers
from .jobs import JobInfo
from .monitor_page import MonitorPage
from .queue import Queue

__all__ = ["QueueMonitor", "monitor_routes"]

_MAX_JOB_ID = 200
_NO_JOB = "No such job in this queue (never enqueued, deleted, or expired)."


def _masked(text: str | None) -> str | None:
    """``text`` with URL passwords and ``password=...``-style values replaced by ``***``."""
    if not text:
        return text
    return redact_text(text)


def _json(data: Any, status: int = 200) -> Response:
    body = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()
    return Response(
        body, status, media_type="application/json", headers={"cache-control": "no-store"}
    )


def _invalid(name: str, reason: str) -> Response:
    return problem_response(
        422,
        title="Invalid parameter",
        detail=f"{name}: {reason}",
        type=problem_type("invalid-parameter"),
        invalid_params=[{"name": name, "reason": reason}],
    )


def _not_found(detail: str) -> Response:
    return problem_response(404, detail=detail)


def _unavailable() -> Response:
    return problem_response(
        503,
        detail="The queue's broker is unavailable; retry later.",
        type=problem_type("backend-unavailable"),
        headers={"Retry-After": "5"},
    )


def _bounded_int(request: Request, name: str, default: int, top: int) -> int | Response:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= top:
        return _invalid(name, f"expected a whole number from 1 to {top}")
    return int(raw)


def _cross_site(request: Request) -> bool:
    """Whether the browser says this request was sent by a page of another site.

    ``Sec-Fetch-Site`` (which a page cannot forge) decides when present, so a proxy that
    rewrites ``Host`` does not break the page; otherwise the ``Origin`` must name the host the
    request was sent to (``Host``, or ``X-Forwarded-Host``: a cross-site page cannot set it).
    """
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None:
        return fetch_site not in ("same-origin", "none")
    origin = request.headers.get("origin")
    if origin is None:
        return False  # not sent by a browser's fetch or form (curl, a script): the token rules
    if origin == "null":
        return True
    netloc = urlsplit(origin).netloc.lower()
    hosts = (request.headers.get("host", ""), request.headers.get("x-forwarded-host", ""))
    return netloc not in {h.strip().lower() for h in hosts if h}


def _job(info: JobInfo) -> dict[str, Any]:
    return {
        "id": info.id,
        "task": info.task,
        "status": info.status,
        "attempts": info.attempts,
        "error": _masked(info.error),
        "traceback": _masked(info.traceback),
    }


def _worker(info: WorkerInfo) -> dict[str, Any]:
    return {**asdict(info), "queues": list(info.queues)}


Endpoint = Callable[[Request], Awaitable[Response]]


class QueueMonitor:
    """The monitor's endpoints over some queues (unguarded: :func:`monitor_routes` guards
    them).

    Args:
        queues: the queues to show; their names must differ.

    Raises:
        ConfigError: no queue, or two with one name.
    """

    def __init__(self, queues: Sequence[Queue]) -> None:
        if not queues:
            raise ConfigError("queues", "give at least one queue to monitor")
        self.queues: dict[str, Queue] = {}
        for queue in queues:
            if queue.name in self.queues:
                raise ConfigError("queues", f"two queues are named {queue.name!r}")
            self.queues[queue.name] = queue

    def _queue(self, request: Request) -> Queue | Response:
        name = request.path_params["queue"]
        queue = self.queues.get(name)
        if queue is None:
            return _not_found("No such queue is monitored here.")
        return queue

    async def _workers(self, queues: Sequence[Queue]) -> list[dict[str, Any]]:
        seen: dict[str, WorkerInfo] = {}
        for queue in queues:
            for info in await live_workers(queue.broker):
                seen.setdefault(info.id, info)
        return [_worker(w) for w in sorted(seen.values(), key=lambda w: (w.host, w.pid, w.id))]

    async def overview(self, request: Request) -> Response:
        """``GET path/api``: every queue's name, paused flag and counts; the live workers."""
        try:
            rows = []
            for name, queue in self.queues.items():
                paused = await queue.broker.is_paused()
                rows.append({"name": name, "paused": paused, "counts": await queue.counts()})
            workers = await self._workers(list(self.queues.values()))
        except BACKEND_ERRORS:
            return _unavailable()
        return _json({"queues": rows, "workers": workers})

    async def detail(self, request: Request) -> Response:
        """``GET path/api/{queue}``: counts, throughput, failures, dead letters, workers."""
        queue = self._queue(request)
        if isinstance(queue, Response):
            return queue
        minutes = _bounded_int(request, "minutes", 60, MINUTES_KEPT)
        if isinstance(minutes, Response):
            return minutes
        limit = _bounded_int(request, "limit", 20, FAILURES_KEPT)
        if isinstance(limit, Response):
            return limit
        broker = queue.broker
        try:
            now = queue.clock()
            counts = await queue.counts()
            paused = await broker.is_paused()
            minute_counts = await broker.throughput(now, minutes)
            failures = await broker.failures(limit)
            dead = await queue.dead_letters(limit)
            workers = await self._workers([queue])
        except BACKEND_ERRORS:
            return _unavailable()
        completed = sum(m.completed for m in minute_counts)
        failed = sum(m.failed for m in minute_counts)
        return _json(
            {
                "name": queue.name,
                "now": now,
                "paused": paused,
                "counts": counts,
                "throughput": {
                    "minutes": minutes,
                    "completed_per_minute": round(completed / minutes, 3),
                    "failed_per_minute": round(failed / minutes, 3),
                    "series": [asdict(m) for m in minute_counts],
                },
                "failures": [{**asdict(f), "error": _masked(f.error)} for f in failures],
                "dead": [_job(info) for info in dead],
                "workers": workers,
            }
        )

    def _job_id(self, request: Request) -> str | Response:
        job_id = str(request.path_params["job_id"])
        if not job_id or len(job_id) > _MAX_JOB_ID:
            return _invalid("job_id", f"expected 1 to {_MAX_JOB_ID} characters")
        return job_id

    async def job(self, request: Request) -> Response:
        """``GET path/api/{queue}/jobs/{id}``: one job's state (error and traceback masked)."""
        queue = self._queue(request)
        if isinstance(queue, Response):
            return queue
        job_id = self._job_id(request)
        if isinstance(job_id, Response):
            return job_id
        try:
            info = await queue.job(job_id).info()
        except BACKEND_ERRORS:
            return _unavailable()
        if info is None:
            return _not_found(_NO_JOB)
        return _json(_job(info))

    async def _action(
        self, request: Request, act: Callable[[Queue, str | None], Awaitable[Response]]
    ) -> Response:
        if _cross_site(request):
            return problem_response(
                403, detail="Admin actions are refused when sent from another site."
            )
        queue = self._queue(request)
        if isinstance(queue, Response):
            return queue
        job_id: str | None = None
        if "job_id" in request.path_params:
            checked = self._job_id(request)
            if isinstance(checked, Response):
                return checked
            job_id = checked
        try:
            return await act(queue, job_id)
        except BACKEND_ERRORS:
            return _unavailable()

    async def pause(self, request: Request) -> Response:
        """``POST path/api/{queue}/pause``."""

        async def act(queue: Queue, _: str | None) -> Response:
            await queue.pause()
            return _json({"name": queue.name, "paused": True})

        return await self._action(request, act)

    async def resume(self, request: Request) -> Response:
        """``POST path/api/{queue}/resume``."""

        async def act(queue: Queue, _: str | None) -> Response:
            await queue.resume()
            return _json({"name": queue.name, "paused": False})

        return await self._action(request, act)

    async def retry(self, request: Request) -> Response:
        """``POST path/api/{queue}/jobs/{id}/retry``: a dead job back to waiting."""

        async def act(queue: Queue, job_id: str | None) -> Response:
            assert job_id is not None  # the route has it
            if await queue.retry_dead(job_id):
                return _json({"id": job_id, "status": "waiting"})
            info = await queue.job(job_id).info()
            if info is None:
                return _not_found(
                    "No such job in this queue (never enqueued, deleted, or expired)."
                )
            return problem_response(
                409,
                detail=f"Only a dead job can be retried; this one is {info.status}.",
                type=problem_type("job-not-dead"),
            )

        return await self._action(request, act)

    async def delete(self, request: Request) -> Response:
        """``POST path/api/{queue}/jobs/{id}/delete``: remove a job wherever it is."""

        async def act(queue: Queue, job_id: str | None) -> Response:
            assert job_id is not None  # the route has it
            if not await queue.delete(job_id):
                return _not_found(
                    "No such job in this queue (never enqueued, deleted, or expired)."
                )
            return _json({"id": job_id, "deleted": True})

        return await self._action(request, act)

    def routes(self, path: str, page: MonitorPage) -> list[Route]:
        """The unguarded routes under ``path`` (for :func:`monitor_routes`)."""
        api = path + "/api"
        job = api + "/{queue}/jobs/{job_id:path}"
        endpoints: list[tuple[str, Any, str]] = [
            (path, page, "GET"),
            (api, self.overview, "GET"),
            (api + "/{queue}/pause", self.pause, "POST"),
            (api + "/{queue}/resume", self.resume, "POST"),
            (job + "/retry", self.retry, "POST"),
            (job + "/delete", self.delete, "POST"),
            (job, self.job, "GET"),
            (api + "/{queue}", self.detail, "GET"),
        ]
        return [Route(p, app, methods=[m]) for p, app, m in endpoints]


def monitor_routes(
    queues: Sequence[Queue],
    *,
    token: str | SecretStr | None = None,
    check: AdminCheck | None = None,
    path: str = "/admin/queues",
    interval: float = 2.0,
) -> list[BaseRoute]:
    """Routes for the queue monitor's page and JSON API, each behind the admin guard.

    Add them to the app's routes beside :func:`~mediz_infra.metrics.metrics_routes`; without
    a token (or ``check=``) every request is refused (403), so they cannot be opened by
    mistake.

    Args:
        queues: the queues to show (their names must differ).
        token: the admin token (``Settings().admin_token``); see :class:`AdminGuard`.
        check: or your own admission check.
        path: where the page lives; the API is under ``<path>/api``.
        interval: seconds between two polls of the page.

    Raises:
        ConfigError: no queue, two queues with one name, a path without a leading ``/``, a
            short token, or ``interval`` below 0.2 s.
    """
    if not path.startswith("/") or path.endswith("/"):
        raise ConfigError("path", f"must start with '/' and not end with one, got {path!r}")
    monitor = QueueMonitor(queues)
    page = MonitorPage(path + "/api", interval=interval)
    inner = monitor.routes(path, page)
    # One guard in front of a router of the same routes: each request is matched by the outer
    # route, admitted (or refused) once, then dispatched by the inner router.
    guard = AdminGuard(Router(routes=list(inner)), token=token, check=check)
    return [Route(r.path, guard, methods=sorted(r.methods or ())) for r in inner]
