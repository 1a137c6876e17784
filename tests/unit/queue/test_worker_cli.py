"""``mediz-infra worker``: a wrong target or option value names the cause and exits 2; every
option reaches the worker."""

from __future__ import annotations

import pytest

from mediz_infra.cli import main
from mediz_infra.queue import Worker, WorkerStats


@pytest.mark.parametrize(
    ("target", "says"),
    [
        ("no_colon", "is not module:attribute"),
        ("no_such_module_xyz:queue", "cannot import 'no_such_module_xyz'"),
        ("json:dumps", "not a Queue"),
    ],
)
def test_a_wrong_target_is_a_usage_error_that_names_the_fix(
    target: str, says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["worker", target]) == 2
    err = capsys.readouterr().err
    assert says in err and "target" in err


TARGET = "tests.unit.queue._cli_queue:plain"


@pytest.mark.parametrize(
    ("option", "value", "says"),
    [
        ("--concurrency", "0", "must be >= 1"),
        ("--concurrency", "2.5", "expected a whole number >= 1"),
        ("--lease", "0", "must be > 0 seconds"),
        ("--lease", "nan", "must be > 0 seconds"),
        ("--heartbeat", "-1", "must be > 0 seconds"),
        ("--grace", "-1", "must be >= 0 seconds"),
        ("--grace", "inf", "must be >= 0 seconds"),
        ("--poll", "0", "must be > 0 seconds"),
        ("--poll", "soon", "expected a number > 0 seconds"),
        ("--max-stalls", "-1", "must be >= 0"),
        ("--presence-ttl", "0", "must be > 0 seconds"),
        ("--rate-limit", "0", "must be > 0 jobs per second"),
        ("--rate-burst", "0", "must be >= 1"),
        ("--log-level", "loud", "invalid choice"),
    ],
)
def test_a_bad_option_value_names_the_option_and_exits_2(
    option: str, value: str, says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["worker", TARGET, f"{option}={value}"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {option}: {says}" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--lease", "10", "--heartbeat", "10"], "--heartbeat: must be < --lease (10 s), got 10"),
        (["--rate-burst", "3"], "--rate-burst: needs a rate limit"),
    ],
)
def test_options_that_contradict_each_other_exit_2(
    argv: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["worker", TARGET, *argv]) == 2
    err = capsys.readouterr().err
    assert says in err and "Traceback" not in err


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[Worker]:
    """The workers the CLI builds, their run replaced by an immediate return."""
    built: list[Worker] = []

    async def run(self: Worker, *, handle_signals: bool = False) -> WorkerStats:
        built.append(self)
        return self.stats

    monkeypatch.setattr(Worker, "run", run)
    return built


def test_every_option_reaches_the_worker_and_the_queue(started: list[Worker]) -> None:
    argv = ["--concurrency", "7", "--lease", "12", "--heartbeat", "3", "--grace", "0",
            "--poll", "0.25", "--max-stalls", "0", "--presence-ttl", "9",
            "--rate-limit", "2.5", "--rate-burst", "4"]  # fmt: skip
    assert main(["worker", TARGET, *argv]) == 0
    (worker,) = started
    assert (worker.concurrency, worker.lease, worker.heartbeat_interval) == (7, 12.0, 3.0)
    assert (worker.grace, worker.poll, worker.max_stalls) == (0.0, 0.25, 0)
    assert worker.presence.ttl == 9.0
    assert worker.queue.rate == (2.5, 4)


def test_a_burst_alone_keeps_the_queues_own_rate(started: list[Worker]) -> None:
    assert main(["worker", "tests.unit.queue._cli_queue:limited", "--rate-burst", "1"]) == 0
    (worker,) = started
    assert worker.queue.rate == (5.0, 1)


def test_a_worker_that_raises_exits_1_with_the_error_masked(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    async def run(self: Worker, *, handle_signals: bool = False) -> WorkerStats:
        raise ConnectionError("cannot flush to redis://:rd-s3cret@cache.internal:6379/0")

    monkeypatch.setattr(Worker, "run", run)
    assert main(["worker", TARGET]) == 1
    err = capsys.readouterr().err
    assert "error: the worker stopped: ConnectionError: cannot flush to redis://:***@cache" in err
    assert "rd-s3cret" not in err
