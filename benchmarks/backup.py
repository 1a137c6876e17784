"""The ``backup`` benchmark: ``mediz-infra backup`` against the shell pipelines people use.

Every contender is a real process run from scratch once per round, on the same seeded database,
and the figure is the dump's raw size (what ``pg_dump -Fc -Z0`` writes) divided by the wall time,
in MB/s, so the same bytes are counted for everyone:

- **local disk**: ``mediz-infra backup run --to file://DIR`` against ``pg_dump -Fc -Z0 | zstd``
  into a file (the pipeline limit: pg_dump without compression and the zstd CLI at its default
  level 3, the level ours defaults to).
- **S3**: ``mediz-infra backup run --to s3://bucket/prefix`` against ``pg_dump -Fc | aws s3 cp -``
  (awscli from PyPI, its default settings), both to the same moto server started as its own
  process on loopback. awscli pins botocore exactly and conflicts with aiobotocore, so it lives
  in a venv of its own under the cache directory, created on first use.
- **restore**: ``mediz-infra backup restore ID --to file://DIR`` against ``pg_restore`` from a
  local file made by ``pg_dump -Fc`` (its default compression) and by ``pg_dump -Fc -Z0``; every
  restore goes into a freshly created empty database, with the same pg_restore flags as ours
  (``--single-transaction --no-owner``).
- **peak RSS**: the high-water mark of each ``mediz-infra`` process of the rounds above, read
  from ``os.wait4`` (Linux ``ru_maxrss``, which for the waited-for process also covers its
  reaped children, so pg_dump/pg_restore count if they are larger), against the 150 MB limit.

The data lives in its own database next to ``TEST_DATABASE_URL``'s (``<db>_bench_backup``,
``<db>_bench_backup_quick`` with ``--quick``), seeded once and reused while its shape matches:

- ``bench.blobs``: random bytes in ``bytea`` (1 KiB a row), which pg_dump writes as hex text:
  incompressible apart from the hex encoding (zstd gets about 2:1 from the alphabet alone);
- ``bench.notes``: text and numbers in patterns, with a primary key: compressible about 5:1.

The runner's time budget does not apply: one measurement is one whole backup or restore.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import venv
from collections import defaultdict
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from benchmarks._runner import (
    ROOT,
    Benchmark,
    Budget,
    Case,
    Check,
    Contender,
    Group,
    Measure,
    Metric,
    Options,
    Sample,
    postgres_version,
)

__all__ = ["BENCHMARK", "SHAPES", "Shape", "peak_rss", "seed"]

DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "mediz-infra-bench"
OURS = "mediz-infra"
LOCAL_PEER = "pg_dump -Z0 + zstd"
S3_PEER = "pg_dump + aws s3 cp"
RESTORE_PEER = "pg_restore (-Fc file)"
RESTORE_PEER_Z0 = "pg_restore (-Fc -Z0 file)"
LIMIT = "limit"
RSS_LIMIT = 150_000_000  # bytes: the 150 MB
RUN_TIMEOUT = 1800.0  # seconds any one process may take before the benchmark fails
BUCKET = "bench-backup"
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@dataclass(frozen=True)
class Scaled(Metric):
    """A metric read as ``ops / seconds / scale``: MB/s from bytes, MB from a byte count."""

    scale: float = 1.0

    def value(self, sample: Sample) -> float:
        return super().value(sample) / self.scale


MB_PER_SECOND = Scaled("MB/s", higher_is_better=True, scale=1e6)
PEAK_MB = Scaled("MB peak RSS", higher_is_better=False, scale=1e6)


@dataclass(frozen=True)
class Shape:
    """How much data to seed: ``blobs`` rows of 1 KiB random bytes, ``notes`` patterned rows."""

    name: str
    blobs: int
    notes: int

    @property
    def tag(self) -> str:
        return f"blobs={self.blobs} notes={self.notes} v1"


SHAPES = {
    # about 620 MB of hex text + 420 MB of notes: a dump of about 1 GB (raw, -Z0)
    "full": Shape("full", blobs=300_000, notes=2_600_000),
    "quick": Shape("quick", blobs=2_000, notes=20_000),
}

NOTES_SQL = """
CREATE TABLE bench.notes (
    id bigint PRIMARY KEY, patient text NOT NULL, kind int NOT NULL,
    body text NOT NULL, taken timestamptz NOT NULL
);
INSERT INTO bench.notes
SELECT g, 'patient ' || (g % 50000), g % 7,
       'blood pressure ' || (100 + g % 60) || '/' || (60 + g % 30) || ', pulse ' || (50 + g % 50)
       || '; ' || repeat('no change since the last visit, follow up in six weeks. ', 2 + g % 2),
       timestamptz '2026-01-01' + g * interval '1 second'
FROM generate_series(1, {rows}) AS g;
"""


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


async def seed(admin_url: str, name: str, shape: Shape) -> bool:
    """Create and fill database ``name`` unless it already holds ``shape``; True if it seeded."""
    admin = await asyncpg.connect(admin_url)
    try:
        exists = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if exists:
            conn = await asyncpg.connect(with_database(admin_url, name))
            try:
                tag = await conn.fetchval(
                    "SELECT obj_description('bench.blobs'::regclass, 'pg_class')"
                )
            except asyncpg.PostgresError:
                tag = None
            finally:
                await conn.close()
            if tag == shape.tag:
                return False
            await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    conn = await asyncpg.connect(with_database(admin_url, name))
    try:
        await conn.execute("CREATE SCHEMA bench")
        await conn.execute("CREATE TABLE bench.blobs (id int NOT NULL, payload bytea NOT NULL)")
        batch = 10_000
        for start in range(0, shape.blobs, batch):
            rows = [(i, os.urandom(1024)) for i in range(start, min(start + batch, shape.blobs))]
            await conn.copy_records_to_table("blobs", schema_name="bench", records=rows)
        await conn.execute(NOTES_SQL.format(rows=shape.notes))
        await conn.execute(f"COMMENT ON TABLE bench.blobs IS '{shape.tag}'")
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()
    return True


# --------------------------------------------------------------------------- processes


# Runs the command as its child and writes the child's ru_maxrss (KiB) to the file named first.
# Measuring through this small process matters: a child forked from a large one (pytest, this
# runner) inherits the parent's high-water mark in ru_maxrss, since it carries over exec().
_MEASURER = """
import os, subprocess, sys
proc = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(proc.pid, 0)
proc.returncode = os.waitstatus_to_exitcode(status)
with open(sys.argv[1], "w") as out:
    out.write(str(usage.ru_maxrss))
sys.exit(1 if proc.returncode else 0)
"""


def peak_rss(argv: Sequence[str], env: Mapping[str, str], *, timeout: float) -> tuple[float, int]:
    """Run ``argv`` to completion; ``(wall seconds, peak RSS in bytes)`` of that process.

    The peak is ``ru_maxrss`` from ``os.wait4`` (KiB on Linux): the process's own high-water
    mark, or that of a reaped child of it (pg_dump) if larger. Output goes to a temporary file,
    shown if the command fails; one still running after ``timeout`` seconds is killed.
    """
    with tempfile.TemporaryDirectory() as tmp:
        figure = Path(tmp) / "maxrss"
        with open(Path(tmp) / "output", "w+b") as output:
            started = time.perf_counter()
            proc = subprocess.Popen(
                [sys.executable, "-c", _MEASURER, str(figure), *argv],
                env=dict(env),
                stdout=output,
                stderr=output,
                start_new_session=True,
            )
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, 9)
                proc.wait()
            seconds = time.perf_counter() - started
            if proc.returncode != 0 or not figure.exists():
                output.seek(0)
                text = output.read().decode(errors="replace")[-1500:]
                raise RuntimeError(f"{shlex.join(argv[:6])}... failed ({proc.returncode}): {text}")
        return seconds, int(figure.read_text()) * 1024


def _run(argv: Sequence[str], env: Mapping[str, str]) -> tuple[float, int]:
    return peak_rss(argv, env, timeout=RUN_TIMEOUT)


def _shell(script: str, env: Mapping[str, str]) -> float:
    seconds, _ = _run(["bash", "-o", "pipefail", "-c", script], env)
    return seconds


# --------------------------------------------------------------------------- the setup


@dataclass
class Setup:
    source: str  # the seeded database
    target: str  # a restore target, recreated empty before each restore
    admin: str
    raw_size: int
    work: Path
    endpoint: str
    aws: Path | None
    restore_id: str
    dump_fc: Path
    dump_z0: Path
    env: dict[str, str]
    rss: dict[str, list[int]]


def _mediz(*args: str) -> list[str]:
    return [sys.executable, "-m", "mediz_infra.cli", "backup", *args]


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.asynccontextmanager
async def _moto(env: Mapping[str, str]) -> AsyncIterator[str]:
    """moto's standalone S3 server as its own process on loopback; yields its endpoint URL."""
    port = _free_port()
    proc = subprocess.Popen(  # noqa: ASYNC220  (starts a server: returns at once)
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env=dict(env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("moto's server did not start") from None
                await asyncio.sleep(0.1)
        yield endpoint
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def awscli(*, create: bool) -> Path | None:
    """The ``aws`` executable of the benchmark's own venv (created when ``create``)."""
    home = CACHE / "awscli-venv"
    exe = home / "bin" / "aws"
    if exe.exists():
        return exe
    if not create:
        return None
    print("[backup] creating a venv for awscli under " + str(home), file=sys.stderr, flush=True)
    venv.create(home, with_pip=True, clear=True)
    subprocess.run(
        [str(home / "bin" / "python"), "-m", "pip", "install", "-q", "awscli"],
        check=True,
        timeout=600,
    )
    return exe


async def _s3_clear(endpoint: str, prefix: str) -> None:
    from mediz_infra.backends import S3Store

    store = S3Store(
        f"s3://testing:testing@{BUCKET}/{prefix}?endpoint_url={endpoint}&region=us-east-1"
    )
    try:
        for info in await store.list():
            await store.delete(info.key)
        await store.abort_incomplete()
    finally:
        await store.aclose()


async def _recreate(admin: str, name: str) -> None:
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


def _clear_dir(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)


def _files(source: str, work: Path, shape: Shape, env: Mapping[str, str]) -> str:
    """The peers' dump files and ours' backup to restore from (made once per seed); its id."""
    work.mkdir(parents=True, exist_ok=True)
    files = work / "files"
    files.mkdir(exist_ok=True)
    stamp = files / "shape"
    dump_fc, dump_z0 = files / "dump.pgc", files / "dump-z0.pgc"
    if not stamp.exists() or stamp.read_text() != shape.tag:  # dumps of an older seed
        _clear_dir(files)
    if not dump_z0.exists():
        _shell(f"pg_dump -Fc -Z0 -d {shlex.quote(source)} > {shlex.quote(str(dump_z0))}", env)
    if not dump_fc.exists():
        _shell(f"pg_dump -Fc -d {shlex.quote(source)} > {shlex.quote(str(dump_fc))}", env)
    store = files / "backups"
    listed = subprocess.run(
        _mediz("list", "--json", "--to", f"file://{store}"),
        env=env,
        capture_output=True,
        check=True,
        timeout=60,
    )
    entries = json.loads(listed.stdout)
    if entries:
        restore_id = entries[-1]["id"]
    else:
        done = subprocess.run(
            _mediz("run", "--to", f"file://{store}", "--database-url", source),
            env=env,
            capture_output=True,
            check=True,
            timeout=RUN_TIMEOUT,
        )
        restore_id = done.stdout.decode().strip()
    stamp.write_text(shape.tag)
    return restore_id


async def _prepare(options: Options, endpoint: str, env: dict[str, str]) -> Setup:
    shape = SHAPES["quick" if options.quick else "full"]
    base = database_name(DATABASE_URL)
    name = f"{base}_bench_backup" + ("_quick" if options.quick else "")
    started = time.perf_counter()
    seeded = await seed(DATABASE_URL, name, shape)
    if seeded:
        shutil.rmtree(CACHE / name / "files", ignore_errors=True)  # dumps of the old data
        print(
            f"[backup] seeded {name} ({shape.tag}) in {time.perf_counter() - started:.0f} s",
            file=sys.stderr,
            flush=True,
        )
    source = with_database(DATABASE_URL, name)
    target_name = f"{name}_restore"
    work = CACHE / name
    restore_id = await asyncio.to_thread(_files, source, work, shape, env)
    files = work / "files"
    dump_fc, dump_z0 = files / "dump.pgc", files / "dump-z0.pgc"
    aws = await asyncio.to_thread(awscli, create=not options.quick)
    if aws is None:
        print(
            "[backup] --quick: no awscli venv in the cache (a full run creates it); "
            f"the {S3_PEER} contender is left out",
            file=sys.stderr,
            flush=True,
        )
    return Setup(
        source=source,
        target=with_database(DATABASE_URL, target_name),
        admin=DATABASE_URL,
        raw_size=dump_z0.stat().st_size,
        work=work,
        endpoint=endpoint,
        aws=aws,
        restore_id=restore_id,
        dump_fc=dump_fc,
        dump_z0=dump_z0,
        env=env,
        rss=defaultdict(list),
    )


# --------------------------------------------------------------------------- contenders


def _sample(setup: Setup, seconds: float) -> Sample:
    return Sample(ops=setup.raw_size, seconds=seconds)


def ours_local(setup: Setup) -> Measure:
    out = setup.work / "ours-local"

    async def measure(budget: Budget) -> Sample:
        _clear_dir(out)
        argv = _mediz("run", "--to", f"file://{out}", "--database-url", setup.source)
        seconds, rss = await asyncio.to_thread(_run, argv, setup.env)
        setup.rss["backup to file://"].append(rss)
        return _sample(setup, seconds)

    return measure


def peer_local(setup: Setup) -> Measure:
    out = setup.work / "peer-local"

    async def measure(budget: Budget) -> Sample:
        _clear_dir(out)
        script = (
            f"pg_dump -Fc -Z0 -d {shlex.quote(setup.source)} | zstd -q -o "
            f"{shlex.quote(str(out / 'dump.pgc.zst'))}"
        )
        return _sample(setup, await asyncio.to_thread(_shell, script, setup.env))

    return measure


def ours_s3(setup: Setup) -> Measure:
    url = f"s3://{BUCKET}/ours?endpoint_url={setup.endpoint}&region=us-east-1"

    async def measure(budget: Budget) -> Sample:
        await _s3_clear(setup.endpoint, "ours")
        argv = _mediz("run", "--to", url, "--database-url", setup.source)
        seconds, rss = await asyncio.to_thread(_run, argv, setup.env)
        setup.rss["backup to s3://"].append(rss)
        return _sample(setup, seconds)

    return measure


def peer_s3(setup: Setup, aws: Path) -> Measure:
    async def measure(budget: Budget) -> Sample:
        await _s3_clear(setup.endpoint, "awscli")
        script = (
            f"pg_dump -Fc -d {shlex.quote(setup.source)} | {shlex.quote(str(aws))} s3 cp - "
            f"s3://{BUCKET}/awscli/dump.pgc --endpoint-url {setup.endpoint} --only-show-errors"
        )
        return _sample(setup, await asyncio.to_thread(_shell, script, setup.env))

    return measure


def ours_restore(setup: Setup) -> Measure:
    store = setup.work / "files" / "backups"

    async def measure(budget: Budget) -> Sample:
        await _recreate(setup.admin, database_name(setup.target))
        argv = _mediz("restore", setup.restore_id, "--to", f"file://{store}", "--target",
                      setup.target)  # fmt: skip
        seconds, rss = await asyncio.to_thread(_run, argv, setup.env)
        setup.rss["restore from file://"].append(rss)
        return _sample(setup, seconds)

    return measure


def peer_restore(setup: Setup, dump: Path) -> Measure:
    async def measure(budget: Budget) -> Sample:
        await _recreate(setup.admin, database_name(setup.target))
        argv = ["pg_restore", "--single-transaction", "--exit-on-error", "--no-owner", "-d",
                setup.target, str(dump)]  # fmt: skip
        seconds, _ = await asyncio.to_thread(_run, argv, setup.env)
        return _sample(setup, seconds)

    return measure


def recorded_rss(setup: Setup, what: str) -> Measure:
    """Replays the peaks recorded by the timed runs of ``what``, one per call, in order."""
    taken = 0

    async def measure(budget: Budget) -> Sample:
        nonlocal taken
        peaks = setup.rss[what]
        if not peaks:
            raise RuntimeError(f"no peak RSS was recorded for {what}")
        value = peaks[min(taken, len(peaks) - 1)]
        taken += 1
        return Sample(ops=value, seconds=1.0)

    return measure


async def _limit(budget: Budget) -> Sample:
    return Sample(ops=RSS_LIMIT, seconds=1.0)


@contextlib.asynccontextmanager
async def _open(options: Options) -> AsyncIterator[Sequence[Case]]:
    for tool in ("pg_dump", "pg_restore", "zstd"):
        if shutil.which(tool) is None:
            raise RuntimeError(f"{tool} is not on PATH (apt-get install postgresql-client zstd)")
    env = dict(os.environ) | CREDENTIALS
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    for name in ("S3_URL", "DATABASE_URL", "MEDIZ_BACKUP_KEY"):
        env.pop(name, None)
    async with _moto(env) as endpoint:
        from mediz_infra.backends import S3Store

        store = S3Store(f"s3://testing:testing@{BUCKET}?endpoint_url={endpoint}&region=us-east-1")
        s3 = await store._s3()
        await s3.create_bucket(Bucket=BUCKET)
        await store.aclose()
        setup = await _prepare(options, endpoint, env)
        print(
            f"[backup] {setup.source.rsplit('/', 1)[-1]}: raw dump {setup.raw_size / 1e6:,.0f} MB"
            f" (pg_dump -Fc -Z0), pg_dump -Fc {setup.dump_fc.stat().st_size / 1e6:,.0f} MB",
            file=sys.stderr,
            flush=True,
        )
        s3_peers = [Contender(S3_PEER, peer_s3(setup, setup.aws))] if setup.aws else []
        rss_cases = [
            Case(
                f"rss/{what}",
                {"measure": f"peak RSS, {what}"},
                PEAK_MB,
                [Contender(OURS, recorded_rss(setup, what), ours=True), Contender(LIMIT, _limit)],
            )
            for what in ("backup to file://", "backup to s3://", "restore from file://")
        ]
        try:
            yield [
                Case(
                    "local",
                    {"measure": "backup to local disk"},
                    MB_PER_SECOND,
                    [
                        Contender(OURS, ours_local(setup), ours=True),
                        Contender(LOCAL_PEER, peer_local(setup)),
                    ],
                ),
                Case(
                    "s3",
                    {"measure": "backup to S3 (moto)"},
                    MB_PER_SECOND,
                    [Contender(OURS, ours_s3(setup), ours=True), *s3_peers],
                ),
                Case(
                    "restore",
                    {"measure": "restore from local disk"},
                    MB_PER_SECOND,
                    [
                        Contender(OURS, ours_restore(setup), ours=True),
                        Contender(RESTORE_PEER, peer_restore(setup, setup.dump_fc)),
                        Contender(RESTORE_PEER_Z0, peer_restore(setup, setup.dump_z0)),
                    ],
                ),
                *rss_cases,
            ]
        finally:
            for sub in ("ours-local", "peer-local"):
                shutil.rmtree(setup.work / sub, ignore_errors=True)
            conn = await asyncpg.connect(setup.admin)
            try:
                await conn.execute(
                    f'DROP DATABASE IF EXISTS "{database_name(setup.target)}" WITH (FORCE)'
                )
            finally:
                await conn.close()


async def _environment() -> Mapping[str, str]:
    server = await postgres_version(DATABASE_URL)
    return {"PostgreSQL": server, **(await asyncio.to_thread(_versions))}


def _versions() -> dict[str, str]:
    zstd = subprocess.run(["zstd", "--version"], capture_output=True, text=True, check=False)
    dump = subprocess.run(["pg_dump", "--version"], capture_output=True, text=True, check=False)
    aws = awscli(create=False)
    aws_version = (
        subprocess.run([str(aws), "--version"], capture_output=True, text=True, check=False)
        .stdout.strip()
        .split(" ")[0]
        if aws
        else "not installed"
    )
    return {
        "pg_dump": " ".join(re.findall(r"\d+\.\d+", dump.stdout)[:1]),
        "zstd CLI": zstd.stdout.strip().split(",")[0].removeprefix("*** "),
        "awscli": aws_version,
    }


NOTES = f"""
MB/s = the raw dump size (what `pg_dump -Fc -Z0` writes for the database) ÷ the wall time of one
whole process run, start-up included; one measurement is one backup or restore, so the runner's
time budget does not apply. Ours runs as `python -m mediz_infra.cli backup run|restore`
(defaults: zstd level 3, S3 parts of 8 MiB, 4 in flight); `{LOCAL_PEER}` is
`pg_dump -Fc -Z0 -d URL | zstd -q -o FILE`; `{S3_PEER}` is
`pg_dump -Fc -d URL | aws s3 cp - s3://bucket/key --endpoint-url URL` (pg_dump's default gzip,
awscli's default transfer settings) to the same moto server (its own process on loopback);
the restores run `pg_restore --single-transaction --exit-on-error --no-owner -d TARGET FILE`
into a freshly created empty database, as ours does. Peak RSS is `ru_maxrss` of the
`mediz-infra` process from `os.wait4` (pg_dump's and pg_restore's included when larger); the
`{LIMIT}` column is the 150 MB goal. Data: `bench.blobs` (1 KiB of random bytes a row, dumped as
hex) and `bench.notes` (patterned text with a primary key), seeded once into
`<db>_bench_backup` next to `TEST_DATABASE_URL`'s database.
"""

BENCHMARK = Benchmark(
    name="backup",
    title="backup: mediz-infra backup against pg_dump pipelines",
    groups=[Group("backup", _open)],
    peers=["mediz-infra", "zstandard", "aiobotocore", "moto"],
    checks=[
        Check(
            "backup to local disk: ours ÷ pg_dump -Fc -Z0 + zstd (goal: at least 0.9x)",
            ("local", OURS),
            ("local", LOCAL_PEER),
            0.9,
        ),
        Check(
            "backup to S3: ours ÷ pg_dump -Fc + aws s3 cp - (goal: at least 1.2x)",
            ("s3", OURS),
            ("s3", S3_PEER),
            1.2,
        ),
        Check(
            "restore: ours ÷ pg_restore from a pg_dump -Fc file (goal: at least 0.9x)",
            ("restore", OURS),
            ("restore", RESTORE_PEER),
            0.9,
        ),
        Check(
            "restore: ours ÷ pg_restore from a pg_dump -Fc -Z0 file (same goal, stricter)",
            ("restore", OURS),
            ("restore", RESTORE_PEER_Z0),
            0.9,
        ),
        *[
            Check(
                f"peak RSS, {what}: 150 MB ÷ ours (goal: under 150 MB)",
                (f"rss/{what}", OURS),
                (f"rss/{what}", LIMIT),
                1.0,
            )
            for what in ("backup to file://", "backup to s3://", "restore from file://")
        ],
    ],
    environment=_environment,
    notes=NOTES,
    code=("mediz_infra/db/backup", "mediz_infra/backends/objectstore"),
)
