"""Throwaway servers for fault tests: redis-server, Postgres (initdb + pg_ctl) and pgbouncer.

Each starts on a free loopback port in a temporary directory, is polled for readiness with a
deadline (never a fixed sleep) and is stopped at exit even when a test forgets. Postgres refuses
to run as root, so as root the cluster is owned by and run as the ``postgres`` user.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg

__all__ = [
    "PgBouncerServer",
    "PostgresServer",
    "RedisServer",
    "counting_silent_server",
    "free_port",
    "missing_binary",
    "scratch_database",
    "silent_server",
    "wait_for_port",
]

_LIVE: list[object] = []
_CLUSTER_MAX_PORT = 55535


@contextlib.asynccontextmanager
async def counting_silent_server() -> AsyncIterator[tuple[int, list[int]]]:
    """:func:`silent_server` that also counts the connections it accepted: ``(port, [count])``."""
    accepted = [0]

    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted[0] += 1
        try:
            while await reader.read(4096):
                pass
        finally:
            writer.close()

    server = await asyncio.start_server(swallow, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1], accepted
    finally:
        server.close()
        await server.wait_closed()


@contextlib.asynccontextmanager
async def silent_server() -> AsyncIterator[int]:
    """A loopback server that accepts connections and never answers (a hung Redis); its port."""
    async with counting_silent_server() as (port, _):
        yield port


@contextlib.contextmanager
def scratch_database(url: str, prefix: str) -> Iterator[str]:
    """A new database ``<prefix>_<random>`` on the server of ``url``; yields its URL and drops
    it at the end, closing what is still connected to it."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"

    async def admin(sql: str) -> None:
        con = await asyncpg.connect(url)
        try:
            await con.execute(sql)
        finally:
            await con.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        yield url.rsplit("/", 1)[0] + "/" + name
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def free_port(highest: int = 65535) -> int:
    """A TCP port on 127.0.0.1, at most ``highest``, that nothing listens on right now."""
    for _ in range(200):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port <= highest:
            return port
    raise RuntimeError(f"no free port at or below {highest}")


def wait_for_port(
    port: int,
    *,
    timeout: float = 15.0,
    host: str = "127.0.0.1",
    proc: subprocess.Popen[bytes] | None = None,
) -> None:
    """Poll until ``host:port`` accepts a TCP connection, or raise TimeoutError.

    With ``proc``, a process that exits while we wait raises RuntimeError at once.
    """
    deadline = time.monotonic() + timeout
    while True:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server for port {port} exited with code {proc.returncode}")
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listens on {host}:{port} after {timeout} s") from None
            time.sleep(0.02)


def wait_port_closed(port: int, *, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                pass
        except OSError:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"127.0.0.1:{port} still accepts connections after {timeout} s")
        time.sleep(0.02)


def _pg_bindir() -> Path | None:
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (candidate / "pg_ctl").exists():
            return candidate
    found = shutil.which("pg_ctl")
    return Path(found).parent if found else None


def missing_binary(kind: str) -> str | None:
    """Why a throwaway ``kind`` (redis | postgres | pgbouncer) cannot start, or None if it can."""
    if kind == "redis":
        found = shutil.which("redis-server")
        return None if found else "redis-server not found: apt-get install redis-server"
    if kind == "postgres":
        return None if _pg_bindir() else "pg_ctl not found: apt-get install postgresql"
    if kind == "pgbouncer":
        present = bool(shutil.which("pgbouncer")) or Path("/usr/sbin/pgbouncer").exists()
        return None if present else "pgbouncer not found: apt-get install pgbouncer"
    raise ValueError(kind)


def _as_postgres_user() -> list[str]:
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


def _own(path: Path) -> None:
    if os.geteuid() == 0:
        shutil.chown(path, "postgres", "postgres")


@dataclass
class RedisServer:
    """A redis-server on a free port. ``restart()`` keeps the port; data is not kept."""

    port: int = field(default_factory=free_port)
    extra: tuple[str, ...] = ()
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        first = self not in _LIVE
        if first and "--cluster-enabled" in self.extra and self.port > _CLUSTER_MAX_PORT:
            self.port = free_port(_CLUSTER_MAX_PORT)  # the cluster bus listens on port + 10000
        for attempt in range(3):
            log = Path(tempfile.gettempdir()) / f"mediz-redis-{self.port}.log"
            self.proc = subprocess.Popen(
                ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                 "--appendonly", "no", "--dir", tempfile.gettempdir(), "--logfile", str(log),
                 "--dbfilename", f"mediz-redis-{self.port}.rdb", *self.extra],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
            try:
                wait_for_port(self.port, proc=self.proc)
                break
            except RuntimeError:
                err = log.read_text(errors="replace") if log.exists() else ""
                # Another process took the free port between free_port() and the bind: on a
                # first start, try another; a restart must keep its port.
                if first and attempt < 2 and "Address already in use" in err:
                    cluster = "--cluster-enabled" in self.extra
                    self.port = free_port(_CLUSTER_MAX_PORT if cluster else 65535)
                    continue
                raise RuntimeError(f"redis-server on :{self.port} failed: {err[-500:]}") from None
        if first:
            _LIVE.append(self)
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None
        wait_port_closed(self.port)

    def restart(self) -> None:
        self.stop()
        self.start()


@dataclass
class PostgresServer:
    """A Postgres cluster of its own (initdb) on a free port, trust auth, database ``postgres``.

    ``settings`` are extra server settings (``{"shared_preload_libraries": "pg_stat_statements"}``).
    """

    port: int = field(default_factory=free_port)
    settings: dict[str, str] = field(default_factory=dict)
    datadir: Path | None = None
    _tmp: str | None = None

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _bin(self, name: str) -> str:
        bindir = _pg_bindir()
        if bindir is None:
            raise RuntimeError(missing_binary("postgres"))
        return str(bindir / name)

    def init(self) -> PostgresServer:
        self._tmp = tempfile.mkdtemp(prefix="mediz-pg-")
        _own(Path(self._tmp))
        self.datadir = Path(self._tmp) / "data"
        subprocess.run(
            [*_as_postgres_user(), self._bin("initdb"), "-D", str(self.datadir), "-U", "postgres",
             "--auth=trust", "--no-sync", "-E", "UTF8"],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        return self

    def start(self) -> PostgresServer:
        if self.datadir is None:
            self.init()
        opts = (f"-p {self.port} -k {self._tmp} -c listen_addresses=127.0.0.1 "
                "-c fsync=off -c full_page_writes=off -c max_connections=100")
        opts += "".join(f" -c {name}={value}" for name, value in self.settings.items())
        subprocess.run(
            [*_as_postgres_user(), self._bin("pg_ctl"), "-D", str(self.datadir), "-o", opts,
             "-l", f"{self._tmp}/log", "-w", "-t", "30", "start"],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        wait_for_port(self.port)
        if self not in _LIVE:
            _LIVE.append(self)
        return self

    def stop(self, mode: str = "fast") -> None:
        if self.datadir is None or not (self.datadir / "postmaster.pid").exists():
            return
        subprocess.run(
            [*_as_postgres_user(), self._bin("pg_ctl"), "-D", str(self.datadir), "-m", mode,
             "-w", "-t", "30", "stop"],
            check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        wait_port_closed(self.port)

    def restart(self) -> None:
        self.stop()
        self.start()

    def standby(self) -> PostgresServer:
        """A hot standby of this server (``pg_basebackup -R``, streaming), started."""
        standby = PostgresServer()
        standby._tmp = tempfile.mkdtemp(prefix="mediz-pg-standby-")
        _own(Path(standby._tmp))
        standby.datadir = Path(standby._tmp) / "data"
        subprocess.run(
            [*_as_postgres_user(), self._bin("pg_basebackup"), "-h", "127.0.0.1",
             "-p", str(self.port), "-U", "postgres", "-D", str(standby.datadir), "-R",
             "-X", "stream", "--no-sync"],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        return standby.start()

    def _pids(self) -> list[int]:
        """The postmaster and every process it started (backends, walsender, ...)."""
        assert self.datadir is not None
        postmaster = int((self.datadir / "postmaster.pid").read_text().split()[0])
        children = subprocess.run(
            ["pgrep", "-P", str(postmaster)], capture_output=True, text=True, check=False
        ).stdout.split()
        return [postmaster, *map(int, children)]

    def freeze(self) -> None:
        """SIGSTOP the whole cluster: connections stay open and nothing answers (a hung host)."""
        for pid in self._pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGSTOP)

    def thaw(self) -> None:
        for pid in self._pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)

    def cleanup(self) -> None:
        with contextlib.suppress(OSError, ValueError, IndexError, AssertionError):
            self.thaw()
        self.stop("immediate")
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None


@dataclass
class PgBouncerServer:
    """A pgbouncer in front of ``target_port`` (trust auth), transaction pooling by default."""

    target_port: int
    pool_mode: str = "transaction"
    pool_size: int = 20
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    _tmp: str | None = None

    def url(self, database: str = "test", user: str = "postgres") -> str:
        return f"postgresql://{user}@127.0.0.1:{self.port}/{database}"

    def start(self) -> PgBouncerServer:
        self._tmp = tempfile.mkdtemp(prefix="mediz-pgb-")
        tmp = Path(self._tmp)
        (tmp / "users.txt").write_text('"postgres" ""\n"root" ""\n')
        (tmp / "pgbouncer.ini").write_text(
            "[databases]\n"
            f"* = host=127.0.0.1 port={self.target_port}\n"
            "[pgbouncer]\n"
            f"listen_addr = 127.0.0.1\nlisten_port = {self.port}\n"
            f"unix_socket_dir = {tmp}\n"
            "auth_type = trust\n"
            f"auth_file = {tmp}/users.txt\n"
            f"pool_mode = {self.pool_mode}\n"
            f"default_pool_size = {self.pool_size}\nmax_client_conn = 500\n"
            "ignore_startup_parameters = extra_float_digits,statement_timeout,application_name\n"
            f"logfile = {tmp}/pgbouncer.log\n"
        )
        _own(tmp)
        for child in tmp.iterdir():
            _own(child)
        binary = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
        self.proc = subprocess.Popen(
            [*_as_postgres_user(), binary, str(tmp / "pgbouncer.ini")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        try:
            wait_for_port(self.port, proc=self.proc)
        except RuntimeError as exc:
            log = (tmp / "pgbouncer.log").read_text() if (tmp / "pgbouncer.log").exists() else ""
            raise RuntimeError(f"{exc}; pgbouncer log:\n{log}") from None
        if self not in _LIVE:
            _LIVE.append(self)
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None


@atexit.register
def _cleanup_all() -> None:
    for server in reversed(_LIVE):
        with contextlib.suppress(Exception):
            if isinstance(server, PostgresServer):
                server.cleanup()
            elif isinstance(server, RedisServer | PgBouncerServer):
                server.stop()
