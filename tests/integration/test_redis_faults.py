"""The Redis connection layer under faults and bad input, on real and throwaway servers.

Restarts, a stopped and a stalled server, pool exhaustion, READONLY after a demotion and a real
Sentinel failover, the maxmemory-policy self-check, TLS, unix sockets, a one-node cluster, and
configuration errors that must name the field and never the password.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis, RedisCluster
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ReadOnlyError, RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from mediz_infra.backends.redis import (
    as_backend_error,
    check_redis,
    close_redis,
    create_redis,
)
from mediz_infra.errors import BackendTimeout, BackendUnavailable, ConfigError, PoolExhausted
from tests._servers import RedisServer, free_port, wait_for_port

pytestmark = pytest.mark.integration

SECRET = "s3cret-pw"
MARGIN = 1.0  # seconds of slack on a 2-core machine


async def eventually(check: Callable[[], Awaitable[Any]], *, within: float = 5.0) -> Any:
    """Poll ``check`` until it returns something truthy; fail after ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        result = await check()
        if result:
            return result
        assert time.monotonic() < deadline, f"condition not met within {within} s"
        await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def admin(port: int) -> AsyncIterator[Redis]:
    """A plain redis-py client for arranging a test, closed afterwards."""
    client = Redis(port=port, socket_timeout=5)
    try:
        yield client
    finally:
        await client.aclose()


@contextlib.contextmanager
def server(*extra: str) -> Iterator[RedisServer]:
    started = RedisServer(extra=extra).start()
    try:
        yield started
    finally:
        started.stop()


# -- configuration ------------------------------------------------------------------------

BAD_CONFIG = [
    ("empty", "", {}, "url", "empty"),
    ("port", f"redis://:{SECRET}@127.0.0.1:notaport/0", {}, "url", "port"),
    ("scheme", f"mongodb://:{SECRET}@db/0", {}, "url", "known: redis://, rediss://"),
    ("option", f"redis://:{SECRET}@h/0?max_conections=5", {}, "url?max_conections", "known"),
    ("negative", f"redis://:{SECRET}@h/0?max_connections=-1", {}, "url?max_connections", ">= 1"),
    ("bad-seconds", f"redis://:{SECRET}@h/0?timeout=soon", {}, "url?timeout", "soon"),
    ("zero-timeout", f"redis://:{SECRET}@h/0?socket_timeout=0", {}, "url?socket_timeout", "> 0"),
    ("bad-bool", f"redis://:{SECRET}@h/0?decode_responses=maybe", {}, "url?decode_responses", ""),
    ("db-name", f"redis://:{SECRET}@h/zero", {}, "url", "must be a number"),
    ("sentinel-service", f"redis+sentinel://:{SECRET}@h1:26379,h2", {}, "url", "service name"),
    ("cluster-db", f"redis+cluster://:{SECRET}@h1:7000,h2:7001/3", {}, "url", "database 0"),
    ("unix-path", "unix://", {}, "url", "socket path"),
    ("tls-option", f"redis://:{SECRET}@h/0?ssl_ca_certs=/ca.pem", {}, "url?ssl_ca_certs", "rediss"),
    ("kw-max", f"redis://:{SECRET}@h/0", {"max_connections": -1}, "max_connections", "-1"),
    ("kw-max-bool", "redis://h/0", {"max_connections": True}, "max_connections", ">= 1"),
    ("kw-timeout", "redis://h/0", {"timeout": 0}, "timeout", "> 0"),
    ("kw-retries", "redis://h/0", {"retries": -2}, "retries", ">= 0"),
    ("kw-socket-timeout", "redis://h/0", {"socket_timeout": -1.0}, "socket_timeout", "-1.0"),
    (
        "settings-field",
        f"redis://:{SECRET}@h/0?max_connections=0",
        {"field_name": "REDIS_URL"},
        "REDIS_URL?max_connections",
        "redis://:***@h/0",
    ),
]


@pytest.mark.parametrize(
    ("url", "kwargs", "field", "fragment"),
    [c[1:] for c in BAD_CONFIG],
    ids=[c[0] for c in BAD_CONFIG],
)
def test_bad_configuration_names_the_field_not_the_password(
    url: str, kwargs: dict[str, Any], field: str, fragment: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        create_redis(url, **kwargs)
    assert caught.value.field == field
    assert fragment in str(caught.value)
    assert SECRET not in str(caught.value)
    assert SECRET not in repr(caught.value)


@pytest.mark.parametrize(
    "url",
    [
        f"redis://:{SECRET}@127.0.0.1:1/0",
        "rediss://127.0.0.1:1/0",
        "unix:///nonexistent/redis.sock",
        "redis+sentinel://127.0.0.1:1,127.0.0.1:2/mymaster/2",
        "redis+cluster://127.0.0.1:1,127.0.0.1:2",
    ],
    ids=["redis", "rediss", "unix", "sentinel", "cluster"],
)
async def test_building_a_client_connects_nothing(url: str) -> None:
    client = create_redis(url)  # nothing listens there: only the first command would fail
    assert SECRET not in repr(client)
    await close_redis(client)
    await close_redis(client)  # closing twice is harmless


def test_url_options_override_keywords() -> None:
    client = create_redis(
        "redis://h:1/3?max_connections=7&timeout=2&socket_timeout=30&client_name=web",
        max_connections=50,
        timeout=9,
    )
    assert isinstance(client, Redis)
    pool = client.connection_pool
    assert (pool.max_connections, pool.timeout) == (7, 2.0)  # type: ignore[attr-defined]
    kwargs = pool.connection_kwargs
    assert kwargs["db"] == 3
    assert kwargs["socket_timeout"] == 30.0
    assert kwargs["socket_connect_timeout"] == 2.0
    assert kwargs["client_name"] == "web"
    assert kwargs["socket_keepalive"] is True


# -- restarts, outages and stalls ---------------------------------------------------------


async def test_commands_work_again_after_a_restart(throwaway_redis: RedisServer) -> None:
    client = create_redis(throwaway_redis.url, timeout=1)
    try:
        assert await client.set("k", "before") is True
        throwaway_redis.restart()
        started = time.monotonic()
        failures = 0

        async def writes() -> bool:
            nonlocal failures
            try:
                return bool(await client.set("k", "after"))
            except RedisError:
                failures += 1
                return False

        await eventually(writes, within=5.0)
        assert time.monotonic() - started < 5.0
        assert failures == 0  # the stale pooled connection was replaced on the first try
        assert await client.get("k") == b"after"
    finally:
        await close_redis(client)


async def test_a_stopped_server_fails_fast_and_clearly(throwaway_redis: RedisServer) -> None:
    client = create_redis(throwaway_redis.url, timeout=1)
    try:
        await client.ping()
        throwaway_redis.stop()
        started = time.monotonic()
        with pytest.raises(RedisConnectionError) as raw:
            await client.get("k")
        assert time.monotonic() - started < 1 + MARGIN
        assert f"127.0.0.1:{throwaway_redis.port}" in str(raw.value)
        assert isinstance(as_backend_error(raw.value), BackendUnavailable)

        started = time.monotonic()
        with pytest.raises(BackendUnavailable, match="redis is unavailable") as ours:
            await check_redis(client)
        assert isinstance(ours.value.__cause__, RedisConnectionError)
        assert time.monotonic() - started < 1 + MARGIN
    finally:
        await close_redis(client)


async def test_a_stalled_server_times_out_and_never_hangs(throwaway_redis: RedisServer) -> None:
    client = create_redis(throwaway_redis.url, timeout=0.5)
    proc = throwaway_redis.proc
    assert proc is not None
    try:
        await client.ping()
        os.kill(proc.pid, signal.SIGSTOP)  # accepts TCP (the kernel does) but never answers
        started = time.monotonic()
        with pytest.raises(RedisTimeoutError):
            await client.get("k")
        assert time.monotonic() - started < 0.5 + MARGIN
        started = time.monotonic()
        with pytest.raises(BackendTimeout, match="did not answer in time"):
            await check_redis(client)
        assert time.monotonic() - started < 0.5 + MARGIN
    finally:
        os.kill(proc.pid, signal.SIGCONT)
        await close_redis(client)


async def test_pool_exhaustion_names_the_limit(redis_url: str) -> None:
    key = f"mediz-test:{uuid.uuid4().hex}"
    name = f"exhaust-{uuid.uuid4().hex[:8]}"
    client = create_redis(
        f"{redis_url}?max_connections=2&timeout=0.5&socket_timeout=10&client_name={name}"
    )
    arrange = create_redis(redis_url)
    assert isinstance(arrange, Redis)
    try:
        holders = [asyncio.ensure_future(client.blpop(key, 8)) for _ in range(2)]

        async def both_blocked() -> bool:
            clients = await arrange.client_list()
            return sum(c["name"] == name and c["cmd"] == "blpop" for c in clients) == 2

        await eventually(both_blocked)
        started = time.monotonic()
        with pytest.raises(PoolExhausted) as caught:
            await client.blpop(key, 8)
        waited = time.monotonic() - started
        assert 0.45 <= waited < 0.5 + MARGIN
        assert (caught.value.size, caught.value.in_use, caught.value.timeout) == (2, 2, 0.5)
        message = str(caught.value)
        assert "2/2 connections in use" in message
        assert "MEDIZ_REDIS_MAX_CONNECTIONS" in message
        assert isinstance(caught.value, TimeoutError)
        await arrange.rpush(key, "a", "b")  # let the holders go
        results = await asyncio.wait_for(asyncio.gather(*holders), 5)
        assert sorted(map(repr, results)) == [
            f"({key.encode()!r}, b'a')",
            f"({key.encode()!r}, b'b')",
        ]
    finally:
        await arrange.delete(key)
        await close_redis(client)
        await close_redis(arrange)


async def test_a_saturated_pool_serves_every_waiter(redis_url: str) -> None:
    # 40 callers on 2 connections: the fast path (free slot, nobody queued) and the queue
    # (BlockingConnectionPool's condition) must hand over without a lost wake-up.
    client = create_redis(redis_url, max_connections=2, timeout=2)
    key = f"mediz-test:{uuid.uuid4().hex}"

    async def caller() -> None:
        for _ in range(25):
            await client.incr(key)

    try:
        await asyncio.wait_for(asyncio.gather(*(caller() for _ in range(40))), 10)
        assert await client.get(key) == b"1000"
        report = await check_redis(client)
        assert report["pool"]["in_use"] == 0
        assert report["pool"]["idle"] <= 2
    finally:
        await client.delete(key)
        await close_redis(client)


# -- READONLY after a demotion, and a real Sentinel failover -----------------------------


async def test_readonly_drops_stale_connections_and_recovers(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with server() as primary, server() as other:
        client = create_redis(f"{other.url}?client_name=ro-test", timeout=2)
        async with admin(other.port) as arrange:
            try:
                # three pooled connections to the server that is about to become a replica
                await asyncio.gather(*(client.blpop("nothing", 0.05) for _ in range(3)))

                async def ours() -> int:
                    return sum(c["name"] == "ro-test" for c in await arrange.client_list())

                assert await ours() == 3
                await arrange.replicaof("127.0.0.1", str(primary.port))
                await arrange.config_resetstat()
                with caplog.at_level(logging.WARNING, "mediz_infra.redis"):
                    with pytest.raises(ReadOnlyError):
                        await client.set("k", "refused")
                # refused, retried once on a fresh connection, refused again: two rejections
                stats = await arrange.info("commandstats")
                assert stats["cmdstat_set"]["rejected_calls"] == 2
                assert [r.message for r in caplog.records if "READONLY" in r.message] != []
                # the idle stale connections were dropped; only the retry's is left
                await eventually(lambda: _equals(ours(), 1))

                await arrange.replicaof("NO", "ONE")
                assert await client.set("k", "accepted") is True  # same client, no rebuild
                assert await arrange.get("k") == b"accepted"
            finally:
                await close_redis(client)


async def _equals(value: Awaitable[int], expected: int) -> bool:
    return await value == expected


@contextlib.contextmanager
def sentinel(tmp_path: Path, master_port: int) -> Iterator[int]:
    """A throwaway Sentinel (redis-server --sentinel) watching ``mymaster``; yields its port."""
    port = free_port()
    conf = tmp_path / "sentinel.conf"
    conf.write_text(
        f"port {port}\nbind 127.0.0.1\ndir {tmp_path}\n"
        f"sentinel monitor mymaster 127.0.0.1 {master_port} 1\n"
        "sentinel down-after-milliseconds mymaster 1000\n"
        "sentinel failover-timeout mymaster 3000\n"
    )
    proc = subprocess.Popen(
        ["redis-server", str(conf), "--sentinel"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, proc=proc)
        yield port
    finally:
        proc.kill()
        proc.wait(10)


@pytest.mark.slow
async def test_sentinel_failover_moves_writes_to_the_new_master(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with contextlib.AsyncExitStack() as stack:
        old = stack.enter_context(server("--repl-diskless-sync-delay", "0"))
        new = stack.enter_context(server("--replicaof", "127.0.0.1", str(old.port)))
        old_admin = await stack.enter_async_context(admin(old.port))
        new_admin = await stack.enter_async_context(admin(new.port))

        async def in_sync() -> bool:
            info = await new_admin.info("replication")
            return info.get("master_link_status") == "up"

        await eventually(in_sync)
        sentinel_port = stack.enter_context(sentinel(tmp_path, old.port))
        watcher = await stack.enter_async_context(admin(sentinel_port))
        client = create_redis(f"redis+sentinel://127.0.0.1:{sentinel_port}/mymaster", timeout=2)
        stack.push_async_callback(close_redis, client)

        assert (await check_redis(client))["backend"] == "redis-sentinel"
        await asyncio.gather(*(client.blpop("nothing", 0.05) for _ in range(3)))  # 3 pooled
        assert await client.set("k", "on-old") is True

        async def failover_started() -> bool:
            try:
                return bool(await watcher.sentinel_failover("mymaster"))
            except RedisError:  # NOGOODSLAVE until Sentinel has seen the replica
                return False

        async def switched() -> bool:
            # SENTINEL MASTERS (what redis-py asks) changes at +switch-master, the end of the
            # failover; get-master-addr-by-name already answers the new one midway.
            masters: Any = await watcher.sentinel_masters()
            state = masters["mymaster"]
            return bool(state["port"] == new.port and "failover" not in state["flags"])

        await eventually(failover_started, within=10)
        await eventually(switched, within=10)
        # Demote the old master as Sentinel would, but keep our connections to it open, so
        # the next writes on them get READONLY instead of a dropped connection.
        await old_admin.replicaof("127.0.0.1", str(new.port))

        with caplog.at_level(logging.WARNING, "mediz_infra.redis"):
            written = await asyncio.gather(*(client.set(f"k{i}", i) for i in range(3)))
        assert written == [True, True, True]
        assert any("READONLY" in r.message for r in caplog.records)
        assert await new_admin.mget("k0", "k1", "k2") == [b"0", b"1", b"2"]
        assert (await client.info("server"))["tcp_port"] == new.port


# -- the maxmemory-policy self-check ------------------------------------------------------


async def test_evicting_policy_is_reported(caplog: pytest.LogCaptureFixture) -> None:
    with server("--maxmemory-policy", "allkeys-lru") as evicting:
        client = create_redis(evicting.url)
        try:
            with caplog.at_level(logging.WARNING, "mediz_infra.redis"):
                report = await check_redis(client)
        finally:
            await close_redis(client)
    assert report["maxmemory_policy"] == "allkeys-lru"
    assert report["version"].count(".") == 2
    assert report["latency_ms"] > 0
    assert report["pool"] == {"max_connections": 50, "in_use": 0, "idle": 1}
    [warning] = report["warnings"]
    assert "allkeys-lru" in warning and "noeviction" in warning
    assert any(r.levelno == logging.WARNING and "allkeys-lru" in r.message for r in caplog.records)


async def test_policy_is_read_from_info_when_config_is_disabled() -> None:
    with server("--maxmemory-policy", "allkeys-lfu", "--rename-command", "CONFIG", "") as locked:
        client = create_redis(locked.url)
        try:
            report = await check_redis(client)
        finally:
            await close_redis(client)
    assert report["maxmemory_policy"] == "allkeys-lfu"
    assert len(report["warnings"]) == 1


async def test_safe_policies_are_not_reported(throwaway_redis: RedisServer) -> None:
    client = create_redis(throwaway_redis.url)
    assert isinstance(client, Redis)
    try:
        assert (await check_redis(client))["warnings"] == []
        await client.config_set("maxmemory-policy", "volatile-lru")
        report = await check_redis(client)
        assert (report["maxmemory_policy"], report["warnings"]) == ("volatile-lru", [])
    finally:
        await close_redis(client)


# -- TLS, unix sockets, cluster, close ----------------------------------------------------


def _make_certs(folder: Path) -> None:
    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=folder)

    openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "1",
        "-subj",
        "/CN=mediz-test-ca",
    )
    openssl(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    )
    (folder / "san.cnf").write_text("subjectAltName=IP:127.0.0.1\n")
    openssl(
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.crt",
        "-days",
        "1",
        "-extfile",
        "san.cnf",
    )


async def test_rediss_verifies_the_server_certificate(tmp_path: Path) -> None:
    if not shutil.which("openssl"):
        pytest.skip("openssl not found: apt-get install openssl")
    _make_certs(tmp_path)
    port = free_port()
    tls = RedisServer(
        port=port,
        extra=(
            "--port",
            "0",
            "--tls-port",
            str(port),
            "--tls-auth-clients",
            "no",
            "--tls-cert-file",
            str(tmp_path / "server.crt"),
            "--tls-key-file",
            str(tmp_path / "server.key"),
            "--tls-ca-cert-file",
            str(tmp_path / "ca.crt"),
        ),
    ).start()
    trusted = create_redis(f"rediss://127.0.0.1:{port}/0?ssl_ca_certs={tmp_path}/ca.crt")
    untrusted = create_redis(f"rediss://127.0.0.1:{port}/0", timeout=2)
    try:
        assert await trusted.set("k", "over tls") is True
        assert await trusted.get("k") == b"over tls"
        with pytest.raises(RedisConnectionError, match="CERTIFICATE_VERIFY_FAILED"):
            await untrusted.ping()
    finally:
        await close_redis(trusted)
        await close_redis(untrusted)
        tls.stop()


async def test_unix_socket_url(tmp_path: Path) -> None:
    socket_path = tmp_path / "redis.sock"
    with server("--unixsocket", str(socket_path), "--unixsocketperm", "700"):
        client = create_redis(f"unix://{socket_path}?db=2")
        try:
            assert await client.set("k", "v") is True
            assert "db2" in await client.info("keyspace")
        finally:
            await close_redis(client)


@pytest.mark.slow
async def test_one_node_cluster(tmp_path: Path) -> None:
    with server("--dir", str(tmp_path), "--cluster-enabled", "yes") as node:
        async with admin(node.port) as arrange:
            await arrange.execute_command("CLUSTER ADDSLOTSRANGE", 0, 16383)  # type: ignore[no-untyped-call]

            async def ready() -> bool:
                info = await arrange.execute_command("CLUSTER INFO")  # type: ignore[no-untyped-call]
                return bool(info["cluster_state"] == "ok")

            await eventually(ready, within=10)
        client = create_redis(f"redis+cluster://127.0.0.1:{node.port}", max_connections=4)
        try:
            assert isinstance(client, RedisCluster)
            assert await client.set("{user:1}:name", "ada") is True
            assert await client.get("{user:1}:name") == b"ada"
            report = await check_redis(client)
            assert report["backend"] == "redis-cluster"
            assert report["maxmemory_policy"] == "noeviction"
        finally:
            await close_redis(client)


async def test_close_redis_closes_the_pool(throwaway_redis: RedisServer) -> None:
    client = create_redis(f"{throwaway_redis.url}?client_name=closing")
    await asyncio.gather(*(client.blpop("nothing", 0.05) for _ in range(2)))
    async with admin(throwaway_redis.port) as arrange:

        async def connected() -> int:
            return sum(c["name"] == "closing" for c in await arrange.client_list())

        assert await connected() == 2
        await close_redis(client)
        await eventually(lambda: _equals(connected(), 0))
        await close_redis(client)
