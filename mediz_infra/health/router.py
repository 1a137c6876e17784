"""``HealthRouter``: liveness, readiness and detailed health as ``application/health+json``.

==========================  ===================================================================
path                        answers
==========================  ===================================================================
``/health/live``            ``200`` while the process answers; checks no dependency
``/health/ready``           ``200`` when every critical check passes (or warns), else ``503``;
                            ``503`` while draining
``/health``                 every check: ``pass``, ``warn`` (degraded: a non-critical check
                            failed or a figure crossed its threshold) or ``fail`` (``503``)
``/health/checks/<name>``   one check (``503`` when it fails)
==========================  ===================================================================

Public callers get ``{"status": ...}`` only. A request with admin credentials (the core
:class:`~mediz_infra.guard.AdminGuard`'s token or ``check``) gets each check's status,
``observedValue``/``observedUnit`` and output, and with ``?verbose`` its details and timing;
wrong credentials get ``403``. ``?exclude=name`` (repeatable, or comma-separated) leaves checks
out. Results come from :class:`~.checks.CheckRunner`'s cache.

Draining: :meth:`HealthRouter.lifespan` wraps the app's lifespan. On ``SIGTERM`` the router
turns readiness to ``503`` at once and only after ``drain_delay`` seconds passes the signal on to
the server (uvicorn then stops accepting, finishes in-flight requests and runs the lifespan's
shutdown, which closes pools and workers): load balancers see the 503 and stop sending before
anything closes.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import os
import signal
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from types import FrameType
from typing import Any

from pydantic import SecretStr
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ..errors import ConfigError
from ..guard import AdminCheck, AdminGuard
from ..problems import problem_response
from ..types import Receive, Scope, Send
from .checks import Check, CheckResult, CheckRunner, Status, worst

__all__ = ["HEALTH_JSON", "HealthRouter"]

log = logging.getLogger("mediz_infra.health")

HEALTH_JSON = "application/health+json"

Lifespan = Callable[[Any], AbstractAsyncContextManager[Any]]


class HealthRouter:
    """Health endpoints over a set of checks.

    Args:
        checks: the :class:`~.checks.Check` values (names unique).
        prefix: the paths' prefix (``/health``).
        cache_ttl: seconds a check's result is reused (probe storms reach a dependency once).
        failure_threshold: failures in a row before a check reports ``fail`` (per-check
            ``Check.failure_threshold`` wins).
        drain_delay: seconds readiness answers ``503`` after ``SIGTERM`` before the server is
            told to stop.
        token: the admin token for the detailed views (see :class:`AdminGuard`).
        check: or your own admission check for them.
        runner: a :class:`CheckRunner` to share (its cache and threshold win).

    Raises:
        ConfigError: duplicate check names, a bad prefix or a negative delay.
    """

    def __init__(
        self,
        checks: Sequence[Check] = (),
        *,
        prefix: str = "/health",
        cache_ttl: float = 2.0,
        failure_threshold: int = 1,
        drain_delay: float = 5.0,
        token: str | SecretStr | None = None,
        check: AdminCheck | None = None,
        runner: CheckRunner | None = None,
    ) -> None:
        names = [c.name for c in checks]
        if len(set(names)) != len(names):
            raise ConfigError("checks", f"check names must be unique, got {names}")
        if not prefix.startswith("/") or prefix.endswith("/"):
            raise ConfigError("prefix", f"{prefix!r} must start and not end with '/'")
        if drain_delay < 0:
            raise ConfigError("drain_delay", f"expected seconds >= 0, got {drain_delay!r}")
        self.checks = {c.name: c for c in checks}
        self.prefix = prefix
        self.drain_delay = drain_delay
        self.runner = runner or CheckRunner(
            cache_ttl=cache_ttl, failure_threshold=failure_threshold
        )
        self._admin_check = check
        # without a token or a check there is no admin view: everyone gets the public one
        self._guard = (
            AdminGuard(self._detail, token=token, check=check)
            if token is not None or check is not None
            else None
        )
        #: set once draining started (readiness answers 503 from then on)
        self.draining = False
        self.drained = asyncio.Event()

    def add(self, check: Check) -> None:
        """Add a check (a component that starts later: the queue, backups).

        Raises:
            ConfigError: a check of that name exists.
        """
        if check.name in self.checks:
            raise ConfigError("checks", f"a check named {check.name!r} exists")
        self.checks[check.name] = check

    @property
    def routes(self) -> list[BaseRoute]:
        """The routes to put in the app (``Starlette(routes=[*health.routes, ...])``)."""
        p, methods = self.prefix, ["GET", "HEAD"]
        return [
            Route(p + "/live", _View(self, "live"), methods=methods),
            Route(p + "/ready", _View(self, "ready"), methods=methods),
            Route(p, _View(self, "all"), methods=methods),
            Route(p + "/checks/{name}", _View(self, "one"), methods=methods),
        ]

    # -- evaluation ----------------------------------------------------------------------

    def selected(self, view: str, scope: Scope) -> list[Check] | None:
        """The checks a view runs (``None``: an unknown per-check name)."""
        if view == "one":
            found = self.checks.get(scope["path_params"]["name"])
            return None if found is None else [found]
        excluded = _excluded(Request(scope))
        return [
            c
            for c in self.checks.values()
            if c.name not in excluded and (view != "ready" or c.critical)
        ]

    async def evaluate(self, checks: list[Check]) -> tuple[Status, list[CheckResult]]:
        """The overall status of ``checks`` and their results (run concurrently, cached)."""
        results = await self.runner.run_all(checks)
        statuses: list[Status] = []
        for r in results:
            statuses.append("warn" if r.status == "fail" and not r.critical else r.status)
        return worst(statuses), results

    # -- endpoints -----------------------------------------------------------------------

    async def serve(self, view: str, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer one of the views (``live``, ``ready``, ``all``, ``one``)."""
        if view == "live":  # no dependency, no credentials: the process answers
            await _health({"status": "pass"}, 200)(scope, receive, send)
            return
        scope["mediz.health.view"] = view
        if self._guard is not None and await self._is_admin_request(scope):
            await self._guard(scope, receive, send)
            return
        await self._answer(scope, receive, send, admin=False)

    async def _detail(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._answer(scope, receive, send, admin=True)

    async def _is_admin_request(self, scope: Scope) -> bool:
        """Whether to show details: credentials were presented (the guard then checks them)."""
        if any(name == b"authorization" for name, _ in scope.get("headers", ())):
            return True
        if self._admin_check is None:
            return False
        allowed = self._admin_check(Request(scope))
        if inspect.isawaitable(allowed):
            allowed = await allowed
        return bool(allowed)

    async def _answer(self, scope: Scope, receive: Receive, send: Send, *, admin: bool) -> None:
        view = scope["mediz.health.view"]
        checks = self.selected(view, scope)
        if checks is None:
            detail = "No such health check." if admin else None
            await problem_response(404, detail=detail)(scope, receive, send)
            return
        status, results = await self.evaluate(checks)
        if view == "one" and results and results[0].status == "fail":
            status = "fail"  # asked about it alone: its own verdict, critical or not
        body: dict[str, Any] = {"status": status}
        if view == "ready" and self.draining:
            body["status"] = "fail"
            if admin:
                body["output"] = "draining: the server is shutting down"
        if admin:
            verbose = "verbose" in Request(scope).query_params
            body["checks"] = {r.name: [r.as_json(verbose=verbose)] for r in results}
        code = 503 if body["status"] == "fail" else 200
        await _health(body, code)(scope, receive, send)

    # -- draining ------------------------------------------------------------------------

    async def drain(self) -> None:
        """Turn readiness to 503 and wait ``drain_delay`` seconds (once; later calls return)."""
        if self.draining:
            await self.drained.wait()
            return
        self.draining = True
        log.info("draining: readiness answers 503 for %g s before shutdown", self.drain_delay)
        await asyncio.sleep(self.drain_delay)
        self.drained.set()

    def lifespan(self, inner: Lifespan | None = None) -> Lifespan:
        """A lifespan around ``inner`` (say ``infra.lifespan``) that drains on ``SIGTERM``.

        At start-up it takes over ``SIGTERM`` (when run in the main thread): the signal turns
        readiness to 503 at once and reaches the server's own handler ``drain_delay`` seconds
        later; the server then stops accepting, finishes in-flight requests and runs the
        shutdown, which closes ``inner`` last. A shutdown without the signal (tests, a
        programmatic stop) closes at once: nothing routes traffic by readiness then.
        """

        @asynccontextmanager
        async def run(app: Any) -> AsyncIterator[Any]:
            self.drained = asyncio.Event()
            restore = self._take_sigterm(asyncio.get_running_loop())
            try:
                if inner is None:
                    yield None
                else:
                    async with inner(app) as state:
                        yield state
                        if self.draining:  # a second signal cut the delay short: finish it
                            await self.drained.wait()
            finally:
                restore()

        return run

    def _take_sigterm(self, loop: asyncio.AbstractEventLoop) -> Callable[[], None]:
        if threading.current_thread() is not threading.main_thread():
            return lambda: None
        previous = signal.getsignal(signal.SIGTERM)

        def pass_on(signum: int, frame: FrameType | None) -> None:
            if callable(previous):
                previous(signum, frame)
            elif previous == signal.SIG_DFL:
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                os.kill(os.getpid(), signal.SIGTERM)

        async def drain_then_pass_on(signum: int) -> None:
            await self.drain()
            pass_on(signum, None)

        def on_sigterm(signum: int, frame: FrameType | None) -> None:
            if self.draining:  # a second SIGTERM: stop waiting
                pass_on(signum, frame)
                return
            loop.call_soon_threadsafe(lambda: loop.create_task(drain_then_pass_on(signum)))

        signal.signal(signal.SIGTERM, on_sigterm)

        def restore() -> None:
            if signal.getsignal(signal.SIGTERM) is on_sigterm:
                signal.signal(signal.SIGTERM, previous)

        return restore


class _View:
    """One view as an ASGI app (a plain function would be taken for a request handler)."""

    __slots__ = ("router", "view")

    def __init__(self, router: HealthRouter, view: str) -> None:
        self.router = router
        self.view = view

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.router.serve(self.view, scope, receive, send)


def _excluded(request: Request) -> set[str]:
    out: set[str] = set()
    for value in request.query_params.getlist("exclude"):
        out.update(name.strip() for name in value.split(",") if name.strip())
    return out


def _health(body: dict[str, Any], status: int) -> Response:
    return Response(
        json.dumps(body, separators=(",", ":")),
        status_code=status,
        media_type=HEALTH_JSON,
        headers={"cache-control": "no-store"},
    )
