"""Running one embedded cluster: initdb, ``pg_ctl start``, shutdown, and the files it keeps.

Everything here is blocking and runs in the caller's thread (a worker thread for the async API).
The cluster's state file (``mediz-embedded.json``: password, port, owner pid; mode 0600) and the
postmaster's ``postmaster.pid`` tell a later start whether a server runs and whose it is; a
``<data_dir>.lock`` file keeps two processes from starting or stopping one cluster at once.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ...errors import BackendUnavailable
from .binaries import FIX, Account

log = logging.getLogger("mediz_infra.embedded")

_STATE_FILE = "mediz-embedded.json"  # password, port and owner pid, mode 0600
_LOG_FILE = "server.log"


@dataclass(slots=True)
class Server:
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


@contextlib.contextmanager
def dir_lock(path: Path, *, timeout: float) -> Iterator[None]:
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


def _run(cmd: list[str], account: Account, timeout: float, path: Path) -> None:
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
                f"{_log_tail(path)}; fix the cause or delete {path} to start afresh, {FIX}"
            ) from exc


def initdb(path: Path, bindir: Path, account: Account, password: str, timeout: float) -> None:
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


def pg_ctl_start(path: Path, bindir: Path, account: Account, port: int, timeout: float) -> int:
    cmd = [str(bindir / "pg_ctl"), "-D", str(path), "-l", str(path / _LOG_FILE)]
    cmd += ["-o", f"-p {port}", "-w", "-t", str(max(1, round(timeout))), "start"]
    _run(cmd, account, timeout + 5, path)
    deadline = time.monotonic() + timeout
    while True:
        running = running_postmaster(path)
        if running is not None and accepts(port):
            return running[0]
        if time.monotonic() > deadline:
            raise BackendUnavailable(
                f"embedded Postgres in {path} does not accept connections on 127.0.0.1:{port} "
                f"after {timeout} s{_log_tail(path)}"
            )
        time.sleep(0.02)


def shutdown(server: Server) -> None:
    """Fast shutdown (SIGINT), then immediate (SIGQUIT), then SIGKILL, each with a deadline."""
    started = time.monotonic()
    for sig, wait in ((signal.SIGINT, 15.0), (signal.SIGQUIT, 5.0), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.kill(server.pid, sig)
        if _exited(server.pid, timeout=wait):
            break
        log.warning("embedded Postgres in %s ignored %s", server.data_dir, sig.name)
    elapsed = time.monotonic() - started
    log.info("stopped embedded Postgres in %s in %.2f s", shown(server.data_dir), elapsed)


def _exited(pid: int, *, timeout: float) -> bool:
    """Wait for ``pid`` to exit (not just to remove postmaster.pid, which it does a bit earlier)."""
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(ChildProcessError):  # reap it when we are its parent (pid 1)
            os.waitpid(pid, os.WNOHANG)
        if not pid_alive(pid):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)


def running_postmaster(path: Path) -> tuple[int, int] | None:
    """``(pid, port)`` of a live postmaster of ``path``, read from its ``postmaster.pid``."""
    try:
        lines = (path / "postmaster.pid").read_text().splitlines()
        pid, port = int(lines[0]), int(lines[3])
    except (OSError, ValueError, IndexError):
        return None
    if not pid_alive(pid):
        return None
    with contextlib.suppress(OSError):  # Linux: a recycled pid is not our postmaster
        if b"postgres" not in Path(f"/proc/{pid}/cmdline").read_bytes():
            return None
    return pid, port


def pid_alive(pid: int) -> bool:
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


def cluster_version(path: Path) -> int:
    try:
        return int((path / "PG_VERSION").read_text().strip())
    except (OSError, ValueError):
        return 0


def read_state(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((path / _STATE_FILE).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and "password" in data else None


def write_state(path: Path, state: dict[str, Any]) -> None:
    tmp = path / f".{_STATE_FILE}.tmp"
    with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as out:
        json.dump(state, out)
    os.replace(tmp, path / _STATE_FILE)


def pick_port(preferred: int) -> int:
    """``preferred`` if it is free (a stable URL across restarts), else a free port."""
    if preferred and port_free(preferred):
        return preferred
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        # as Postgres does, so a port in TIME_WAIT after our own restart counts as free
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def accepts(port: int) -> bool:
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


def shown(path: Path) -> str:
    """``path`` relative to the working directory when it lies under it, for log lines."""
    with contextlib.suppress(ValueError):
        return str(path.relative_to(Path.cwd()))
    return str(path)
