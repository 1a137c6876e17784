"""``mediz-infra worker``: a wrong target names the cause and the fix and exits 2."""

from __future__ import annotations

import pytest

from mediz_infra.cli import main


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
