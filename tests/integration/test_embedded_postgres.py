"""Embedded Postgres: start, query, stop, restart on the same data; reuse; errors that name a fix.

Each test uses a fresh directory from ``tempfile.mkdtemp`` rather than ``tmp_path``: as root the
cluster runs as the ``postgres`` user, who cannot enter pytest's private ``/tmp/pytest-of-root``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import asyncpg
import pytest

from mediz_infra.backends.embedded import (
    EmbeddedPostgres,
    handle,
    server,
    start_embedded_postgres,
    start_embedded_postgres_sync,
)
from mediz_infra.errors import ConfigError

pytestmark = pytest.mark.integration

T = TypeVar("T")

ROOT = Path(__file__).resolve().parents[2]
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="only root runs Postgres as another user")


@pytest.fixture
def data_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="mediz-embedded-"))
    yield path
    running = server.running_postmaster(path)
    if running is not None:  # a failed test left it running
        os.kill(running[0], signal.SIGQUIT)
        _wait_until(lambda: server.running_postmaster(path) is None)
    shutil.rmtree(path, ignore_errors=True)
    path.with_name(path.name + ".lock").unlink(missing_ok=True)


def _wait_until(condition: object, timeout: float = 10.0) -> None:
    assert callable(condition)
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


async def _fetchval(pg: EmbeddedPostgres, query: str) -> object:
    conn = await asyncpg.connect(pg.url, timeout=5)
    try:
        return await conn.fetchval(query)
    finally:
        await conn.close()


async def test_start_query_stop_and_restart_keeps_data(
    data_dir: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.INFO, logger="mediz_infra.embedded")
    # initdb and pg_ctl block for ~0.7 s: they must run in a worker thread. Each one, while it
    # runs, asks the event loop to answer; on the loop's own thread no answer could come.
    loop = asyncio.get_running_loop()
    answered: list[str] = []

    def while_loop_answers(name: str, blocking: Callable[..., T]) -> Callable[..., T]:
        def wrapped(*args: object, **kwargs: object) -> T:
            done = threading.Event()
            loop.call_soon_threadsafe(done.set)
            if done.wait(10):  # a failsafe, not a timing: the loop answers at once when free
                answered.append(name)
            return blocking(*args, **kwargs)

        return wrapped

    monkeypatch.setattr(handle, "initdb", while_loop_answers("initdb", handle.initdb))
    monkeypatch.setattr(
        handle, "pg_ctl_start", while_loop_answers("pg_ctl_start", handle.pg_ctl_start)
    )
    pg = await start_embedded_postgres(data_dir)
    assert answered == ["initdb", "pg_ctl_start"]

    password = pg.url.split(":")[2].split("@")[0]
    assert pg.url == f"postgresql://postgres:{password}@127.0.0.1:{pg.port}/postgres"
    assert not pg.reused
    assert password not in repr(pg) and password not in caplog.text
    assert "ready at postgresql://postgres:***@127.0.0.1" in caplog.text

    conn = await asyncpg.connect(pg.url, timeout=5)
    try:
        await conn.execute("CREATE TABLE kept (x int); INSERT INTO kept VALUES (42)")
        version_num = int(await conn.fetchval("SHOW server_version_num"))
    finally:
        await conn.close()
    assert version_num // 10000 == pg.version

    pid, port = pg.pid, pg.port
    await pg.aclose()
    assert not server.pid_alive(pid)
    assert not server.accepts(port)
    await pg.aclose()  # idempotent

    again = await start_embedded_postgres(data_dir)
    try:
        assert not again.reused and again.pid != pid
        assert again.url == pg.url  # same password, same port while it stays free
        assert await _fetchval(again, "SELECT x FROM kept") == 42
    finally:
        await again.aclose()
    assert not server.accepts(port)


async def test_handles_in_one_process_share_one_server(data_dir: Path) -> None:
    first, second = await asyncio.gather(
        start_embedded_postgres(data_dir), start_embedded_postgres(data_dir)
    )
    assert first.pid == second.pid and first.url == second.url
    assert sorted([first.reused, second.reused]) == [False, True]

    await first.aclose()
    await first.aclose()  # a second close of one handle must not release the other
    assert await _fetchval(second, "SELECT 1") == 1
    await second.aclose()
    assert not server.pid_alive(second.pid)


async def test_server_of_a_live_process_is_reused_and_one_left_by_a_dead_one_adopted(
    data_dir: Path,
) -> None:
    code = (
        "import os, sys\n"
        "from mediz_infra.backends.embedded import start_embedded_postgres_sync\n"
        "pg = start_embedded_postgres_sync(sys.argv[1])\n"
        "print(pg.pid, flush=True)\n"
        "sys.stdin.readline()\n"
        "os._exit(0)  # dies without stopping it, like a killed demo\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen(  # noqa: ASYNC220 (a fast spawn; the waits below use threads)
        [sys.executable, "-c", code, str(data_dir)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        assert child.stdout is not None and child.stdin is not None
        pid = int(await asyncio.wait_for(asyncio.to_thread(child.stdout.readline), 60))

        borrowed = await start_embedded_postgres(data_dir)
        assert borrowed.reused and borrowed.pid == pid
        await borrowed.aclose()  # its owner is alive: left running
        assert await asyncio.to_thread(server.running_postmaster, data_dir) is not None

        child.stdin.write("\n")
        child.stdin.close()
        assert await asyncio.to_thread(child.wait, 30) == 0
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        if child.stdout is not None:
            child.stdout.close()

    adopted = await start_embedded_postgres(data_dir)
    assert adopted.reused and adopted.pid == pid
    assert await _fetchval(adopted, "SELECT 1") == 1
    await adopted.aclose()  # its owner died: ours to stop
    assert not server.pid_alive(pid)


def test_no_binaries_is_a_config_error_naming_the_extra(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(handle, "candidate_bindirs", list)
    with pytest.raises(ConfigError, match=r"pip install 'mediz-infra\[pg\]'") as caught:
        start_embedded_postgres_sync(data_dir)
    assert caught.value.field == "DATABASE_URL"
    assert "set DATABASE_URL" in str(caught.value)


def test_a_directory_with_other_files_is_refused(data_dir: Path) -> None:
    (data_dir / "notes.txt").write_text("not a cluster")
    with pytest.raises(ConfigError, match="not empty and not a Postgres data directory"):
        start_embedded_postgres_sync(data_dir)


@as_root
def test_root_without_a_postgres_user_names_the_fix(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(handle, "_SERVICE_USER", "mediz-no-such-user")
    with pytest.raises(ConfigError, match="cannot run as root") as caught:
        start_embedded_postgres_sync(data_dir)
    assert "useradd" in str(caught.value)


@as_root
def test_root_with_a_data_dir_the_postgres_user_cannot_reach(data_dir: Path) -> None:
    data_dir.chmod(0o755)
    private = data_dir / "private"
    private.mkdir(mode=0o700)
    with pytest.raises(ConfigError, match="cannot reach") as caught:
        start_embedded_postgres_sync(private / "pg")
    assert f"chmod o+x {private}" in str(caught.value)
